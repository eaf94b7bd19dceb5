"""ingest_path end to end: real files into the store, re-ingest, canonical formats, quarantine, CLI."""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import ingest_path, read_path
from perfcast.measurements.schema import SAMPLES_COLUMN, frame_to_records, records_to_frame
from perfcast.measurements.store import MeasurementStore

from perfcast.cli import main as cli_main


@pytest.fixture
def store(tmp_path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "store")


def test_directory_ingest_counts_and_reingest_stores_nothing(datasets_dir, store):
    report = ingest_path(datasets_dir / "kerneltuner_convolution", store, progress=False)
    assert [f.rows_read for f in report.files] == [4_362] * 6
    assert report.stored == 6 * 4_362 and report.duplicates == 0 and report.quarantined == 0
    assert store.summary()["per_status"] == {"ok": 4_201 + 4_201 + 3_889 + 4_362 + 4_362 + 4_246,
                                             "failed": 161 + 161 + 473 + 116}
    again = ingest_path(datasets_dir / "kerneltuner_convolution", store, progress=False)
    assert again.stored == 0 and again.duplicates == 6 * 4_362
    assert len(store) == 6 * 4_362


def test_gpperf_files_into_store(datasets_dir, store):
    report = ingest_path(datasets_dir / "gpperf_cutlass", store, progress=False)
    assert {f.file.rsplit("/", 1)[-1]: (f.rows_read, f.stored) for f in report.files} == {
        "cutlass_profiling_20241111_195357.tar.gz": (32_256, 32_256),
        "tiled_execution_times_all.csv": (195, 195)}
    summary = store.summary()
    assert summary["targets"]["power_w"]["present"] == 2_595 + 195
    assert summary["targets"]["energy_j"]["present"] == 2_595


def _sample_records(datasets_dir, tmp_path) -> pd.DataFrame:
    """Real canonical rows (with samples, failures and timestamps) read back from a store."""
    source = MeasurementStore(tmp_path / "source")
    ingest_path(datasets_dir / "kerneltuner_convolution" / "A100.json.gz", source, progress=False)
    frame = source.read()
    picked = pd.concat([frame[frame["status"] == "ok"].head(40), frame[frame["status"] == "failed"].head(10)])
    return picked.reset_index(drop=True)


def test_canonical_formats_round_trip_to_the_same_records(datasets_dir, tmp_path, store):
    frame = _sample_records(datasets_dir, tmp_path)
    records = frame_to_records(frame)
    for record in records:  # JSON wants plain lists
        if SAMPLES_COLUMN in record:
            record[SAMPLES_COLUMN] = [float(x) for x in record[SAMPLES_COLUMN]]
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    (tmp_path / "a.jsonl").write_text(lines)
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as fh:
        fh.write(lines)
    with lzma.open(tmp_path / "c.jsonl.xz", "wt") as fh:
        fh.write(lines)
    flat = frame.copy()
    flat[SAMPLES_COLUMN] = [json.dumps([float(x) for x in s]) if isinstance(s, list | np.ndarray) else ""
                            for s in frame[SAMPLES_COLUMN]]
    flat.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "e.parquet", index=False)

    first = ingest_path(tmp_path / "a.jsonl", store, progress=False)
    assert (first.rows_read, first.stored, first.quarantined) == (50, 50, 0)
    for name, fmt in (("b.jsonl.gz", "jsonl"), ("c.jsonl.xz", "jsonl"), ("d.csv", "csv"), ("e.parquet", "parquet")):
        report = ingest_path(tmp_path / name, store, progress=False)
        assert report.files[0].format == fmt
        assert (report.rows_read, report.stored, report.duplicates, report.quarantined) == (50, 0, 50, 0), name
    back = store.read().sort_values("params.block_size_x", kind="stable")
    assert len(back) == 50 and back["runtime_ms_samples"].notna().sum() == 40


@pytest.mark.parametrize("reader", ["read_jsonl", "read_parquet"])
def test_chunks_cut_at_a_byte_budget_store_the_same_records(datasets_dir, tmp_path, monkeypatch, reader):
    """Ingest reads record files in chunks of about 64 MiB (the bundled H100 JSONL, 920 MB of IR text,
    was one chunk: 3.5 GB of memory). Chunks of a few records store the same records in the same order
    and types, and a bad line in a later chunk is quarantined with its own line number."""
    from perfcast.measurements.ingest import canonical

    frame = _sample_records(datasets_dir, tmp_path)
    if reader == "read_jsonl":
        records = frame_to_records(frame)
        for record in records:
            if SAMPLES_COLUMN in record:
                record[SAMPLES_COLUMN] = [float(x) for x in record[SAMPLES_COLUMN]]
        lines = [json.dumps(r) for r in records]
        lines.insert(37, "{cut mid-record")  # line 38
        path = tmp_path / "records.jsonl"
        path.write_text("\n".join(lines) + "\n")
    else:
        path = tmp_path / "records.parquet"
        frame.to_parquet(path, index=False)
    whole = MeasurementStore(tmp_path / "whole")
    first = ingest_path(path, whole, progress=False).files[0]
    monkeypatch.setitem(getattr(canonical, reader).__kwdefaults__, "chunk_bytes", 2000)
    chunks = list(getattr(canonical, reader)(path))
    assert len(chunks) >= 8 and max(len(c.frame) for c in chunks) < 10
    cut = MeasurementStore(tmp_path / "cut")
    entry = ingest_path(path, cut, progress=False).files[0]
    assert (entry.rows_read, entry.stored, entry.quarantined) == (first.rows_read, first.stored, first.quarantined)
    assert entry.first_reasons == first.first_reasons
    if reader == "read_jsonl":
        assert entry.quarantined == 1 and entry.first_reasons[0].startswith("line 38: not valid JSON")
    back, want = cut.read(), whole.read()
    # a column first seen in a later chunk (meta.error of the failed rows) comes later in the union
    assert sorted(back.columns) == sorted(want.columns)
    pd.testing.assert_frame_equal(back[want.columns], want)


def test_bad_lines_are_quarantined_with_file_line_reason(tmp_path, store):
    good = {"kernel": "triton.matmul", "system": "NVIDIA H100 80GB HBM3", "runtime_ms": 0.2,
            "params": {"BLOCK_M": 64}, "problem": {"M": 64, "N": 64, "K": 64, "dtype": "fp16"}}
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([
        json.dumps(good),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**good, "runtime_ms": "fast"}),
        "",
        json.dumps({**good, "problem": {"M": 64, "N": 64, "K": 64, "dtype": "fp16", "a_layout": "diagonal"}}),
        json.dumps({**good, "runtime_ms": 0.3}),
    ]) + "\n")
    report = ingest_path(path, store, progress=False)
    entry = report.files[0]
    assert (entry.rows_read, entry.stored, entry.quarantined) == (6, 2, 4)
    rows = [json.loads(line) for line in Path(entry.quarantine_path).read_text().splitlines()]
    by_line = {r["_line"]: r for r in rows}
    assert sorted(by_line) == [2, 3, 4, 6]
    assert all(r["_file"] == str(path) for r in rows)
    assert "not valid JSON" in by_line[2]["_reason"]
    assert "JSON object" in by_line[3]["_reason"]
    assert "runtime_ms is not a number" in by_line[4]["_reason"] and by_line[4]["runtime_ms"] == "fast"
    assert "problem.a_layout" in by_line[6]["_reason"]
    # the report keeps the first three by line, so the CLI shows them without reading the file back
    assert [r.split(":")[0] for r in entry.first_reasons] == ["line 2", "line 3", "line 4"]
    assert entry.first_reasons[2] == f"line 4: {by_line[4]['_reason']}"


def test_truncated_gzip_keeps_what_was_read(tmp_path, store):
    record = {"kernel": "cublas.matmul", "system": "NVIDIA H100 80GB HBM3", "runtime_ms": 1.5,
              "problem": {"M": 128, "N": 128, "K": 128, "dtype": "bf16"}}
    data = gzip.compress(("\n".join(json.dumps({**record, "runtime_ms": 1.0 + i}) for i in range(2000)) + "\n").encode())
    path = tmp_path / "collector.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])  # the collector was killed mid-write
    entry = ingest_path(path, store, progress=False).files[0]
    assert entry.stored > 0 and entry.quarantined >= 1
    last = [json.loads(line) for line in Path(entry.quarantine_path).read_text().splitlines()][-1]
    assert "unreadable from this line on" in last["_reason"] and last["_line"] == entry.stored + 1


GOOD = {"kernel": "triton.matmul", "system": "NVIDIA H100 80GB HBM3", "runtime_ms": 0.2,
        "params": {"BLOCK_M": 64}, "problem": {"M": 64, "N": 64, "K": 64, "dtype": "fp16"}}


def test_a_stray_non_utf8_byte_costs_its_line_not_the_file(tmp_path, store):
    """A latin-1 `é` on line 4 of 10 used to lose the whole file (the text reader failed on its first
    block); now that line is quarantined with its bytes escaped and the other nine are stored. A
    byte-order mark before the first record is not an error."""
    lines = [json.dumps({**GOOD, "runtime_ms": 0.1 * (i + 1)}).encode() for i in range(10)]
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    lines[3] = json.dumps({**GOOD, "source": "caf\u00e9"}, ensure_ascii=False).encode("latin-1")
    path = tmp_path / "mixed-encoding.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    entry = ingest_path(path, store, progress=False).files[0]
    assert (entry.rows_read, entry.stored, entry.quarantined) == (10, 9, 1)
    (row,) = [json.loads(line) for line in Path(entry.quarantine_path).read_text().splitlines()]
    assert row["_line"] == 4 and row["_reason"].startswith("not UTF-8 text: byte 0xe9") and '"caf\\xe9"' in row["raw"]


def test_csv_rows_with_the_wrong_number_of_cells_are_quarantined_alone(tmp_path, store, capsys):
    """One ragged row used to make the whole CSV unreadable ('Expected 7 columns, got 8'); now it is
    quarantined with its line number and text, and the rows around it are stored. A UTF-8 byte-order
    mark (Excel's CSV) is recognised."""
    header = "kernel,system,runtime_ms,problem.M,problem.N,problem.K,problem.dtype"
    rows = [f"triton.matmul,H100,{0.1 * (i + 1):.1f},64,64,{64 * (i + 1)},fp16" for i in range(6)]
    rows[1] += ",oops"          # line 3: a cell too many
    rows[4] = "triton.matmul,H100"  # line 6: cells missing
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + "\n".join([header, *rows]) + "\n").encode("utf-8"))
    assert cli_main(["ingest", str(path), "--store", str(store.root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "stored 4, duplicates 0, quarantined 2" in out
    assert "line 3: expected 7 cells (the header's), got 8" in out and "line 6: expected 7 cells" in out
    assert sorted(store.read()["problem.K"]) == [64, 192, 256, 384]
    quarantined = [json.loads(line) for line in next((store.root / "quarantine").glob("*.jsonl")).read_text().splitlines()]
    assert {r["_line"]: r["raw"] for r in quarantined} == {3: rows[1], 6: rows[4]}


@pytest.mark.parametrize("block_bytes", [1 << 24, 300])
def test_rows_after_a_ragged_csv_row_keep_their_line_numbers(tmp_path, store, monkeypatch, block_bytes):
    """Arrow drops a ragged row without saying where, and the lines of the rows after it were counted
    one short: `M = -5` on line 9 was reported on line 8. 300-byte blocks switch to the exact reader
    after rows already stored; a quoted cell spanning two lines counts both."""
    from perfcast.measurements.ingest import canonical

    monkeypatch.setattr(canonical, "CSV_BLOCK_BYTES", block_bytes)
    header = "kernel,system,runtime_ms,problem.M,problem.N,problem.K,problem.dtype,meta.note"
    rows = [f"triton.matmul,H100,{0.1 * (i + 1):.1f},64,64,{64 * (i + 1)},fp16," for i in range(12)]
    rows[5] = "triton.matmul,H100"                               # line 7: cells missing
    rows[6] += '"two\nlines"'                              # lines 8-9: one row
    rows[7] = rows[7].replace(",64,64,", ",-5,64,")               # line 10: a bad M
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    entry = ingest_path(path, store, progress=False).files[0]
    assert (entry.rows_read, entry.stored, entry.quarantined) == (12, 10, 2)
    quarantined = [json.loads(line) for line in Path(entry.quarantine_path).read_text().splitlines()]
    assert sorted((r["_line"], r["_reason"].split(" (")[0]) for r in quarantined) == [
        (7, "expected 8 cells"), (10, "problem.M must be a positive integer")]
    assert sorted(store.read()["problem.K"]) == [64 * (i + 1) for i in range(12) if i not in (5, 7)]
    assert store.read(columns=["meta.note", "problem.K"]).set_index("problem.K")["meta.note"][448] == "two\nlines"


def test_an_empty_file_is_named_as_such(tmp_path, store):
    from perfcast.measurements.ingest import IngestError

    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(IngestError, match="empty file"):
        ingest_path(tmp_path / "empty.csv", store, progress=False)


def test_cli_ingest_and_summary(datasets_dir, tmp_path, capsys):
    store_dir = tmp_path / "cli-store"
    rc = cli_main(["ingest", str(datasets_dir / "kerneltuner_gemm" / "RTX_3060_laptop.json.gz"),
                   "--store", str(store_dir), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "RTX_3060_laptop.json.gz [kerneltuner]: read 10,000, stored 10,000, duplicates 0, quarantined 0" in out
    assert cli_main(["data", "summary", "--store", str(store_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 10_000
    assert summary["per_system"] == {"NVIDIA GeForce RTX 3060 Laptop GPU": 10_000}
    assert summary["per_kernel"] == {"clblast.xgemm": 10_000}
    assert cli_main(["data", "summary", "--store", str(store_dir)]) == 0
    assert "clblast.xgemm" in capsys.readouterr().out
    assert cli_main(["data", "compact", "--store", str(store_dir)]) == 0
    assert "1 files -> 1; 10,000 records" in capsys.readouterr().out
    assert cli_main(["ingest", str(tmp_path / "missing.csv"), "--store", str(store_dir), "--no-progress"]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_all_shared_datasets(datasets_dir, store):
    """Every real dataset: rows read match the sources; stored + duplicates == read; nothing quarantined."""
    report = ingest_path(datasets_dir, store, progress=False)
    read = {f.file.split("datasets/", 1)[1]: f.rows_read for f in report.files}
    assert read["sgemm_uci/sgemm_product_dataset.zip"] == 241_600
    assert read["autoheuristic_a100/a100_mm.zip"] == 631_164
    assert read["gpperf_cutlass/cutlass_profiling_20241111_195357.tar.gz"] == 32_256
    assert read["gpperf_cutlass/tiled_execution_times_all.csv"] == 195
    assert read["kerneltuner_gemm/RTX_3060_laptop.json.gz"] == 10_000
    assert sum(v for k, v in read.items() if k.startswith("kerneltuner_")) == 3 * 17_956 + 10_000 + 6 * 4_362
    assert report.quarantined == 0 and not report.errors
    assert report.stored + report.duplicates == report.rows_read
    # the AutoHeuristic logs repeat data rows verbatim: 369,667 exact copies, the only duplicates
    assert report.duplicates == 369_667
    assert len(store) == report.stored == 625_588


def test_directory_reports_skipped_and_unreadable_files(datasets_dir, tmp_path, store):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a measurement\n")
    (folder / "broken.json").write_text('{"cache": {"a": ')  # looks like a cache, is truncated
    (folder / "ok.jsonl").write_text(json.dumps({"kernel": "cublas.matmul", "system": "H100", "runtime_ms": 1.0,
                                                 "problem": {"M": 8, "N": 8, "K": 8, "dtype": "fp16"}}) + "\n")
    report = ingest_path(folder, store, progress=False)
    assert report.skipped == [str(folder / "notes.txt")]
    by_name = {f.file.rsplit("/", 1)[-1]: f for f in report.files}
    assert "not readable as Kernel Tuner JSON" in by_name["broken.json"].error
    assert by_name["ok.jsonl"].stored == 1
    assert store.read()["system"].tolist() == ["NVIDIA H100 80GB HBM3"]  # alias resolved by the registry


def test_csv_with_multiline_ir_text(tmp_path, store):
    frame = pd.DataFrame({"kernel": ["triton.matmul"] * 2, "system": ["NVIDIA H100 80GB HBM3"] * 2,
                          "problem.M": [64, 128], "problem.N": [64, 64], "problem.K": [64, 64],
                          "problem.dtype": ["fp16", "fp16"], "runtime_ms": [0.01, 0.02],
                          "ir.ttgir": ["module {\n  tt.func @k() {\n  }\n}", "module {}\n"]})
    path = tmp_path / "with_ir.csv"
    frame.to_csv(path, index=False)
    entry = ingest_path(path, store, progress=False).files[0]
    assert (entry.rows_read, entry.stored, entry.quarantined) == (2, 2, 0)
    back = store.read(columns=["problem.M", "ir.ttgir"]).sort_values("problem.M")
    assert back["ir.ttgir"].tolist() == frame["ir.ttgir"].tolist()


def test_csv_of_several_families_is_read_whole(datasets_dir, tmp_path, store, monkeypatch):
    """Arrow types a CSV column from the first block; a column empty for the first family and numbers
    for a later one stopped the read there (37,950 of 90,040 records lost in a two-family export)."""
    from perfcast.measurements.ingest import canonical

    monkeypatch.setattr(canonical, "CSV_BLOCK_BYTES", 1 << 14)  # many blocks from a small file
    conv = next(read_path(datasets_dir / "kerneltuner_convolution" / "MI250X.json.gz")).frame.head(150)
    gemm = next(read_path(datasets_dir / "kerneltuner_gemm" / "RTX_3090.json.gz")).frame.head(150)
    frame = pd.concat([gemm, conv], ignore_index=True).drop(columns=[SAMPLES_COLUMN, "_line"], errors="ignore")
    frame.to_csv(tmp_path / "two.csv", index=False)
    entry = ingest_path(tmp_path / "two.csv", store, progress=False).files[0]
    assert (entry.rows_read, entry.stored, entry.quarantined, entry.error) == (300, 300, 0, None)
    back = store.read(kernel="kerneltuner.convolution")
    assert back["params.block_size_x"].notna().all() and pd.api.types.is_integer_dtype(back["params.block_size_x"])


def test_frame_to_records_is_unflatten_record_of_each_row(datasets_dir, tmp_path):
    """The column-at-a-time build gives what `unflatten_record` gives row by row: the same keys in the same
    order, missing cells (NaN, None, NA, NaT) left out, Python scalars (not numpy ones) and list cells kept."""
    from perfcast.measurements.schema import unflatten_record

    frame = pd.concat([_sample_records(datasets_dir, tmp_path),
                       records_to_frame([{"kernel": "triton.matmul", "system": "NVIDIA H100 80GB HBM3", "status": "ok",
                                          "params": {"BLOCK_M": 64}, "problem": {"M": 128, "dtype": "fp16"},
                                          "runtime_ms": 0.5, "ir": {"ttgir": "module {}"}}])], ignore_index=True)
    frame["problem.batch"] = pd.array([None] * (len(frame) - 1) + [4], dtype="Int64")  # nullable, mostly missing
    frame["measured_at"] = pd.NaT
    expected = [unflatten_record(row) for row in frame.to_dict(orient="records")]
    got = frame_to_records(frame)
    assert got == expected and [list(r) for r in got] == [list(r) for r in expected]
    assert got[-1]["problem"] == {"M": 128, "dtype": "fp16", "batch": 4} and type(got[-1]["problem"]["batch"]) is int
    assert "measured_at" not in got[0] and isinstance(got[0][SAMPLES_COLUMN], list | np.ndarray)
    assert all(type(v) in (int, float, str, bool) for r in got for v in r.get("params", {}).values())
