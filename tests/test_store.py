"""MeasurementStore: append/dedup, quarantine, heterogeneous families, reads, atomicity, summary."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from perfcast.measurements import store as store_module
from perfcast.measurements.ingest import read_path
from perfcast.measurements.schema import records_to_frame
from perfcast.measurements.store import MeasurementStore


def _triton(i: int, **extra) -> dict:
    return {"kernel": "triton.matmul", "system": "NVIDIA H100 80GB HBM3", "status": "ok",
            "params": {"BLOCK_M": 64 * (1 + i % 2), "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8, "num_warps": 4,
                       "num_stages": 3},
            "problem": {"M": 1024 + i, "N": 1024, "K": 1024, "dtype": "fp16"},
            "runtime_ms": 0.1 + i / 1000, "ir": {"ttgir": f"module {{ // {i} }}"}, **extra}


@pytest.fixture
def store(tmp_path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "store")


def test_default_root_follows_config(monkeypatch, tmp_path):
    monkeypatch.setenv("PERFCAST_STORE", str(tmp_path / "elsewhere"))
    assert MeasurementStore().root == tmp_path / "elsewhere"


def test_append_dedups_within_and_across_calls(store):
    frame = records_to_frame([_triton(i) for i in range(10)] + [_triton(3)])
    first = store.append(frame)
    assert (first.stored, first.duplicates, first.quarantined) == (10, 1, 0)
    again = store.append(frame)
    assert (again.stored, again.duplicates) == (0, 11)
    assert len(store) == 10
    # a fresh instance (another process) sees the same hashes on disk
    assert MeasurementStore(store.root).append(frame).stored == 0


def test_bad_rows_go_to_quarantine_file_with_reason(store):
    frame = records_to_frame([_triton(0), {**_triton(1), "runtime_ms": -3.0}, {**_triton(2), "kernel": ""}])
    report = store.append(frame)  # the frame path: no file
    assert (report.stored, report.quarantined) == (1, 2)
    rows = [json.loads(line) for line in report.quarantine_path.read_text().splitlines()]
    assert [r["_line"] for r in rows] == [2, 3]
    assert "runtime_ms must be > 0" in rows[0]["_reason"] and "kernel missing" in rows[1]["_reason"]
    assert rows[0]["runtime_ms"] == -3.0  # original values kept
    assert store.summary()["quarantined_rows"] == 2


def test_heterogeneous_families_and_reads(store, datasets_dir):
    store.append(records_to_frame([_triton(i) for i in range(4)]))
    chunk = next(read_path(datasets_dir / "kerneltuner_convolution" / "MI250X.json.gz"))
    store.append(chunk.frame.head(50))
    store.append(records_to_frame([_triton(9, problem={"M": 8, "N": 8, "K": 8, "dtype": "fp16", "batch": 4})]))
    assert store.kernels() == ["kerneltuner.convolution", "triton.matmul"]
    everything = store.read()
    assert len(everything) == 55
    assert "ir.ttgir" not in everything and "_hash" not in everything  # IR text only on request
    assert everything["params.block_size_x"].notna().sum() == 50
    assert everything["problem.batch"].notna().sum() == 1
    triton = store.read(kernel="triton.matmul", columns=["kernel", "problem.M", "ir.ttgir"])
    assert list(triton.columns) == ["kernel", "problem.M", "ir.ttgir"]
    assert triton["ir.ttgir"].str.startswith("module").all()
    amd = store.read(system="AMD Instinct MI250X")
    assert len(amd) == 50 and set(amd["kernel"]) == {"kerneltuner.convolution"}
    samples = amd["runtime_ms_samples"].iloc[0]
    assert len(samples) == 32


def test_iter_batches_has_uniform_columns(store):
    store.append(records_to_frame([_triton(i) for i in range(7)]))
    store.append(records_to_frame([{"kernel": "cublas.matmul", "system": "NVIDIA H100 80GB HBM3", "runtime_ms": 1.0,
                                    "problem": {"M": 1, "N": 2, "K": 3, "dtype": "fp32"}}]))
    batches = list(store.iter_batches(batch_rows=3))
    assert [len(b) for b in batches] == [1, 3, 3, 1]
    assert len({tuple(b.columns) for b in batches}) == 1
    assert sum(len(b) for b in batches) == len(store) == 8


def test_param_type_clash_across_files_reads_as_text(store):
    store.append(records_to_frame([{**_triton(0), "params": {"BLOCK_M": 64, "variant": 1}}]))
    store.append(records_to_frame([{**_triton(1), "params": {"BLOCK_M": 64, "variant": "wide"}}]))
    frame = store.read(kernel="triton.matmul")
    assert sorted(frame["params.variant"].astype(str)) == ["1", "wide"]


def test_crash_mid_append_leaves_no_visible_file(store, monkeypatch):
    store.append(records_to_frame([_triton(0)]))
    before = store.files()

    def boom(table, where):
        with open(where, "wb") as fh:  # half a file, then the "crash"
            fh.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "_write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        store.append(records_to_frame([_triton(i) for i in range(1, 5)]))
    monkeypatch.undo()
    assert store.files() == before
    assert len(store) == 1
    assert not list((store.root / ".tmp").glob("*"))
    for path in store.files():
        pq.read_metadata(path)  # every visible file is complete
    assert store.append(records_to_frame([_triton(i) for i in range(1, 5)])).stored == 4


def test_summary_counts(store):
    store.append(records_to_frame([_triton(i) for i in range(5)]
                                  + [{**_triton(7), "status": "failed", "runtime_ms": None}]
                                  + [{**_triton(8), "system": "Mystery GPU 9000"}]))
    summary = store.summary()
    assert summary["records"] == 7
    assert summary["per_status"] == {"ok": 6, "failed": 1}
    assert summary["per_system"]["NVIDIA H100 80GB HBM3"] == 6
    assert summary["targets"]["runtime_ms"]["present"] == 6
    assert summary["targets"]["runtime_ms"]["min"] == pytest.approx(0.1)
    assert summary["targets_per_kernel"]["triton.matmul"]["runtime_ms"]["max"] == pytest.approx(0.108)
    assert "Mystery GPU 9000" in summary["unknown_systems"]


def test_a_broken_store_file_is_named_and_the_summary_still_works(store, capsys):
    """A part file broken outside perfcast (a disk fault, a half-copied backup) used to surface as
    pyarrow's 'Parquet magic bytes not found' with no file named, and a traceback from `data summary`.
    Every read now raises `StoreError` naming the file and what to do; the summary lists it and counts
    the rest; the CLI prints the error, not a traceback."""
    from perfcast.measurements.store import StoreError

    from perfcast.cli import main as cli_main

    store.append(records_to_frame([_triton(i) for i in range(4)]))
    store.append(records_to_frame([{**_triton(i), "kernel": "cublas.matmul", "params": {}} for i in range(3)]))
    broken = store.files("triton.matmul")[0]
    broken.write_bytes(broken.read_bytes()[:100])
    for read in (store.read, lambda: list(store.iter_batches()), store.schema, lambda: len(store), store.compact,
                 lambda: store.append(records_to_frame([_triton(9)]))):
        with pytest.raises(StoreError, match="unreadable store file .*move it out of the store") as err:
            read()
        assert str(broken) in str(err.value)
    summary = store.summary()
    assert summary["records"] == 3 and summary["per_kernel"] == {"cublas.matmul": 3}
    assert [entry.split(":", 1)[0] for entry in summary["unreadable_files"]] == [str(broken)]
    assert cli_main(["data", "summary", "--store", str(store.root)]) == 1
    assert "UNREADABLE store files (1" in capsys.readouterr().out
    assert cli_main(["data", "export", str(store.root.parent / "out.csv"), "--store", str(store.root), "--quiet"]) == 1
    assert cli_main(["train", "--store", str(store.root), "--no-register", "--out", str(store.root.parent / "m")]) == 1
    err = capsys.readouterr().err
    assert err.count(f"unreadable store file {broken}") == 2 and "Traceback" not in err
    broken.unlink()  # moved out: the store works again without those records
    assert len(store.read()) == 3 and store.summary()["unreadable_files"] == []


def test_empty_store(store):
    assert len(store) == 0
    assert store.read().empty
    assert list(store.iter_batches()) == []
    assert store.summary()["records"] == 0
    empty = store.append(pd.DataFrame())
    assert (empty.stored, empty.quarantined) == (0, 0)


def test_compact_merges_files_and_keeps_every_record(store):
    for i in range(6):  # one append per record, as the HTTP endpoint does
        store.append(records_to_frame([_triton(i)]))
    store.append(records_to_frame([{"kernel": "cublas.matmul", "system": "NVIDIA H100 80GB HBM3", "runtime_ms": 1.0,
                                    "problem": {"M": 1, "N": 2, "K": 3, "dtype": "fp32"}}]))
    before = store.read(columns=["kernel", "problem.M", "ir.ttgir", "_hash"]).sort_values("_hash", ignore_index=True)
    batches = store.iter_batches(batch_rows=2)  # a reader holding open files across the compaction
    first = next(batches)
    assert store.compact() == {"files_before": 7, "files_after": 2}
    assert sum(len(b) for b in [first, *batches]) == 7
    after = store.read(columns=["kernel", "problem.M", "ir.ttgir", "_hash"]).sort_values("_hash", ignore_index=True)
    pd.testing.assert_frame_equal(before, after)
    assert store.append(records_to_frame([_triton(3)])).duplicates == 1  # dedup state survives compaction
    assert len(store.files()) == 2


def test_files_are_written_in_bounded_row_groups(store, monkeypatch):
    """Readers decode a whole row group at once: bounded groups keep streaming memory flat."""
    monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", 4)
    store.append(records_to_frame([_triton(i) for i in range(10)]))
    store.append(records_to_frame([_triton(i) for i in range(10, 13)]))
    store.compact()
    (path,) = store.files()
    assert pq.ParquetFile(path).num_row_groups == 4  # 13 rows in groups of at most 4
    assert sorted(b for frame in store.iter_batches(batch_rows=100) for b in frame["problem.M"]) == list(range(1024, 1037))
    # by bytes: a group ends after the row that crosses 4 KB of values (the one with 5 KB of IR text)
    monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", 65_536)
    monkeypatch.setattr(store_module, "ROW_GROUP_BYTES", 4096)
    store.append(records_to_frame([_triton(20 + i, ir={"ttgir": "x" * (5000 if i == 3 else 10)}) for i in range(8)]))
    newest = max(store.files(), key=lambda p: p.stat().st_mtime_ns)
    groups = pq.ParquetFile(newest).metadata
    assert [groups.row_group(g).num_rows for g in range(groups.num_row_groups)] == [4, 4]


def test_iter_batches_system_filter(store, datasets_dir):
    for name in ("MI250X", "W6600"):
        chunk = next(read_path(datasets_dir / "kerneltuner_convolution" / f"{name}.json.gz"))
        store.append(chunk.frame.head(300))
    batches = list(store.iter_batches(batch_rows=128, system="AMD Radeon PRO W6600", columns=["kernel", "runtime_ms"]))
    assert sum(len(b) for b in batches) == 300
    assert all(list(b.columns) == ["kernel", "runtime_ms"] for b in batches)
    # a registered alias finds the canonical name ingest stored; a name as stored still matches itself
    assert sum(len(b) for b in store.iter_batches(system="W6600", columns=["kernel"])) == 300
    assert len(store.read(system=["MI250X", "W6600"], columns=["system"])) == 600
    assert set(store.read(system="MI250X", columns=["system"])["system"]) == {"AMD Instinct MI250X"}
    assert store.read(system="W7800").empty  # registered, but nothing stored


def _append_in_process(root: str, rows: list[dict]) -> int:
    return MeasurementStore(root).append(records_to_frame(rows)).stored


def test_concurrent_appends_store_each_record_once(store):
    from concurrent.futures import ProcessPoolExecutor

    rows = [_triton(i) for i in range(200)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        stored = list(pool.map(_append_in_process, [str(store.root)] * 4, [rows] * 4))
    assert sum(stored) == 200  # the lock serialises the hash check and the write
    assert len(store) == 200


@pytest.mark.parametrize("name", ["out.jsonl.gz", "out.csv", "out.parquet"])
def test_export_reads_back_as_the_same_records(store, datasets_dir, tmp_path, name):
    """`export` writes every stored record (IR text, samples, failed rows' meta, two families with other
    columns) so that `perfcast ingest` of the file stores exactly the same records (the same hashes)."""
    from perfcast.cli import main as cli_main

    store.append(records_to_frame([_triton(i) for i in range(5)]
                                  + [{**_triton(5), "status": "failed", "runtime_ms": None,
                                      "meta": {"error": "OutOfResources: shared memory"}}]))
    store.append(next(read_path(datasets_dir / "kerneltuner_convolution" / "MI250X.json.gz")).frame.head(40))
    out = tmp_path / name
    assert cli_main(["data", "export", str(out), "--store", str(store.root), "--quiet"]) == 0
    assert not out.with_name(name + ".partial").exists()
    again = MeasurementStore(tmp_path / "again")
    assert cli_main(["ingest", str(out), "--store", str(again.root), "--no-progress"]) == 0
    hashes = {s: set(s.read(columns=["_hash"])["_hash"]) for s in (store, again)}
    assert len(hashes[store]) == 46 and hashes[again] == hashes[store]
    back = again.read(kernel="triton.matmul", columns=["problem.M", "ir.ttgir", "meta.error"]).sort_values("problem.M")
    assert back["ir.ttgir"].str.startswith("module").all() and back["meta.error"].notna().sum() == 1


def test_export_filters_and_errors(store, datasets_dir, tmp_path):
    store.append(records_to_frame([_triton(i) for i in range(5)]))
    store.append(next(read_path(datasets_dir / "kerneltuner_convolution" / "MI250X.json.gz")).frame.head(40))
    assert store.export(tmp_path / "amd.parquet", system="AMD Instinct MI250X") == 40
    assert set(pq.read_table(tmp_path / "amd.parquet").column("kernel").to_pylist()) == {"kerneltuner.convolution"}
    assert store.export(tmp_path / "no_ir.jsonl", kernel="triton.matmul", with_ir=False) == 5
    from perfcast.cli import main as cli_main

    # the command line takes a system's alias, as ingest does
    assert cli_main(["data", "export", str(tmp_path / "h100.csv"), "--store", str(store.root), "--system", "H100",
                     "--quiet"]) == 0
    assert len(pd.read_csv(tmp_path / "h100.csv")) == 5
    assert all("ir" not in json.loads(line) for line in (tmp_path / "no_ir.jsonl").read_text().splitlines())
    with pytest.raises(ValueError, match="no records of system 'NVIDIA A100'"):
        store.export(tmp_path / "none.csv", system="NVIDIA A100")
    with pytest.raises(ValueError, match="unknown format"):
        store.export(tmp_path / "out.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["amd.parquet", "h100.csv", "no_ir.jsonl"]


def test_compact_rewrites_a_lone_file_with_oversized_row_groups(store, monkeypatch):
    """A family written as one big row group (before the bounds) is rewritten by compact, once."""
    monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", 1 << 20)
    monkeypatch.setattr(store_module, "ROW_GROUP_BYTES", 1 << 40)
    store.append(records_to_frame([_triton(i, ir={"ttgir": f"{i} " + "x" * 3000}) for i in range(12)]))
    (old,) = store.files()
    assert pq.ParquetFile(old).num_row_groups == 1
    monkeypatch.setattr(store_module, "ROW_GROUP_BYTES", 4096)
    assert store.compact() == {"files_before": 1, "files_after": 1}
    (new,) = store.files()
    assert new != old and pq.ParquetFile(new).num_row_groups > 1 and len(store) == 12
    store.compact()
    assert store.files() == [new]  # within the bounds now: left alone
