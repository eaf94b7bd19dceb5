"""`perfcast predict`: JSONL/CSV/Parquet in, same rows and order plus pred.* out, chunked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.schema import frame_to_records
from perfcast.models import GBCostModel, OnnxCostModel
from test_models_data import autoheuristic_problems

from perfcast.cli import main as cli_main

PRED_COLS = ["pred.runtime_ms", "pred.runtime_ms.q10", "pred.runtime_ms.q90", "pred.feasible_prob"]


@pytest.fixture(scope="module")
def model_dir(datasets_dir, tmp_path_factory):
    frame = autoheuristic_problems(datasets_dir, 150, seed=3, rows_per_problem=20)
    d = tmp_path_factory.mktemp("model") / "m"
    GBCostModel(num_boost_round=30).fit(frame).save(d)
    return d


@pytest.fixture(scope="module")
def queries(datasets_dir) -> pd.DataFrame:
    """Query records of other problems: no targets, shuffled order."""
    frame = autoheuristic_problems(datasets_dir, 40, seed=4, rows_per_problem=25)
    q = frame.drop(columns=["runtime_ms", "status", "source"], errors="ignore")
    return q.sample(frac=1.0, random_state=0).reset_index(drop=True)


def _expected(model_dir, queries):
    return OnnxCostModel.load(model_dir).predict_frame(queries)


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_predict_roundtrip_keeps_rows_and_order(tmp_path, model_dir, queries, suffix):
    src = tmp_path / f"in.{suffix}"
    if suffix == "parquet":
        queries.to_parquet(src, index=False)
    elif suffix == "csv":
        queries.to_csv(src, index=False)
    else:
        src.write_text("".join(json.dumps(r) + "\n" for r in frame_to_records(queries)))
    out = tmp_path / f"out.{suffix}"
    rc = cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--chunk-rows", "97", "--quiet"])
    assert rc == 0
    got = pd.read_parquet(out) if suffix == "parquet" else (
        pd.read_csv(out) if suffix == "csv" else pd.read_json(out, lines=True))
    assert len(got) == len(queries)
    assert got[PRED_COLS].columns.tolist() == PRED_COLS
    # same rows, same order: the input columns come back unchanged
    np.testing.assert_array_equal(got["problem.M"].to_numpy(), queries["problem.M"].to_numpy())
    np.testing.assert_array_equal(got["kernel"].astype(str).to_numpy(), queries["kernel"].astype(str).to_numpy())
    want = _expected(model_dir, queries)
    # float32 tree sums may differ in the last bits between batch sizes and thread counts
    np.testing.assert_allclose(got[PRED_COLS].to_numpy(float), want[PRED_COLS].to_numpy(float), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "csv"])
def test_chunks_end_at_a_byte_budget(tmp_path, model_dir, queries, suffix):
    """A row count alone did not bound memory: rows with IR text run to megabytes, and 131,072 of them
    (the default) were one chunk. Chunks now also end at about `--chunk-mb` of input; the rows, their
    order and the predictions are the same. (A CSV read by Arrow is parsed in blocks, which bound its
    chunks already; a ragged row switches it to the row-by-row reader, which counts the bytes.)"""
    from perfcast.training.cli_predict import iter_chunks

    heavy = queries.head(60).copy()
    # every tenth row carries a 5 kB note, the others a few bytes: the budget follows bytes, not rows
    heavy["meta.note"] = ["x" * 5000 if i % 10 == 0 else "y" for i in range(len(heavy))]
    src = tmp_path / f"in.{suffix}"
    if suffix == "parquet":
        heavy.to_parquet(src, index=False, row_group_size=25)
    elif suffix == "jsonl":
        src.write_text("".join(json.dumps(r) + "\n" for r in frame_to_records(heavy)))
    else:
        lines = heavy.to_csv(index=False).splitlines()
        lines.insert(2, lines[1] + ",extra")  # line 3 ragged: the exact reader from here on
        src.write_text("\n".join(lines) + "\n")
    budget = 6000
    chunks = list(iter_chunks(src, 1000, budget))
    whole = list(iter_chunks(src, 1000, None))
    assert len(whole) == 1 and len(chunks) >= 5
    notes = pd.concat(chunks)["meta.note"].astype(str)
    assert notes.tolist() == whole[0]["meta.note"].astype(str).tolist()
    for chunk in chunks[:-1]:  # each ends at the row that reaches the budget (rows after a heavy one are small)
        size = chunk["meta.note"].astype(str).str.len().sum()
        assert size >= 5000 and chunk["meta.note"].astype(str).str.len().iloc[:-1].sum() < budget
    tiny = list(iter_chunks(src, 1000, 0))  # a budget of 0 bytes still moves on: a row (and a reject) a chunk
    assert sum(map(len, tiny)) == len(whole[0]) and max(map(len, tiny)) <= 2
    out = tmp_path / "out.parquet"
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--quiet", "--chunk-mb",
                     str(budget / 2**20)]) == 0
    got = pd.read_parquet(out)
    assert got["meta.note"].tolist() == whole[0]["meta.note"].astype(str).tolist()
    answered = got["pred.error"].isna().to_numpy()
    want = _expected(model_dir, heavy.reset_index(drop=True))
    if suffix == "csv":
        assert answered.sum() == len(heavy)  # the ragged row is one more, unanswered
    np.testing.assert_allclose(got.loc[answered, PRED_COLS].to_numpy(float), want[PRED_COLS].to_numpy(float),
                               rtol=1e-5, atol=1e-6)


def test_nested_jsonl_records_are_flattened(tmp_path, model_dir, queries):
    src = tmp_path / "in.jsonl"
    records = frame_to_records(queries.head(10))
    assert "params" in records[0] and "problem" in records[0]
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = tmp_path / "out.parquet"
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--quiet"]) == 0
    got = pd.read_parquet(out)
    assert "params.BLOCK_M" in got.columns and (got["pred.runtime_ms"] > 0).all()


def test_lines_that_are_not_records_keep_their_place(tmp_path, model_dir, queries, capsys):
    """One broken JSONL line used to stop the whole file ('Expected object or value at position 215',
    no line named, nothing written); now it is a row in its place with the reason in pred.error. A CSV
    without a kernel column used to crash with a KeyError; now each row says 'kernel missing'."""
    records = frame_to_records(queries.head(6))
    lines = [json.dumps(r) for r in records]
    lines[2] = '{"kernel": "triton.matmul", "params": '  # cut mid-record
    lines.insert(4, "[1, 2]")
    src, out = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text("\n".join(lines) + "\n")
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--quiet", "--chunk-rows", "2"]) == 0
    got = pd.read_parquet(out)
    assert len(got) == 7 and "_reason" not in got.columns and "_line" not in got.columns
    errors = got["pred.error"].tolist()
    assert errors[2].startswith("line 3: not valid JSON") and errors[4] == "line 5: a record must be a JSON object"
    answered = [0, 1, 3, 5, 6]
    assert got["pred.error"].iloc[answered].isna().all() and got["pred.runtime_ms"].iloc[answered].gt(0).all()
    want = _expected(model_dir, queries.head(6)).iloc[[0, 1, 3, 4, 5]]
    np.testing.assert_allclose(got["pred.runtime_ms"].iloc[answered], want["pred.runtime_ms"], rtol=1e-5)
    assert "row 3: line 3: not valid JSON" in capsys.readouterr().err
    # a CSV row with a cell too many stopped pandas ('Expected 12 fields in line 3, saw 13'): now it keeps its
    # place; one with cells missing was filled with nulls and blamed on a field. Ingest's reader, one wording.
    rows = queries.head(6).to_csv(index=False).splitlines()
    rows[2] += ",extra"      # file line 3
    rows[4] = rows[4].split(",", 2)[0]  # file line 5: one cell
    rows[6] += ",x,y"        # file line 7, in the third chunk of 2 rows
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("\n".join(rows) + "\n")
    assert cli_main(["predict", str(ragged), str(out), "--model", str(model_dir), "--quiet", "--chunk-rows", "2"]) == 0
    got = pd.read_parquet(out)
    n = len(queries.columns)
    assert len(got) == 6 and got["pred.error"].iloc[[1, 3, 5]].tolist() == [
        f"line 3: expected {n} cells (the header's), got {n + 1}", f"line 5: expected {n} cells (the header's), got 1",
        f"line 7: expected {n} cells (the header's), got {n + 2}"]
    kept = [0, 2, 4]
    np.testing.assert_allclose(got["pred.runtime_ms"].iloc[kept],
                               _expected(model_dir, queries.head(6)).iloc[kept]["pred.runtime_ms"], rtol=1e-5)
    no_kernel = tmp_path / "no-kernel.csv"
    queries.head(3).drop(columns=["kernel"]).to_csv(no_kernel, index=False)
    assert cli_main(["predict", str(no_kernel), str(tmp_path / "o.csv"), "--model", str(model_dir), "--quiet"]) == 1
    assert pd.read_csv(tmp_path / "o.csv")["pred.error"].eq("kernel missing").all()


def test_bad_inputs_fail_clearly(tmp_path, model_dir, queries, capsys):
    src = tmp_path / "in.txt"
    src.write_text("x")
    assert cli_main(["predict", str(src), str(tmp_path / "o.parquet"), "--model", str(model_dir)]) == 1
    assert "unknown format" in capsys.readouterr().err
    good = tmp_path / "in.csv"
    queries.head(5).to_csv(good, index=False)
    assert cli_main(["predict", str(good), str(tmp_path / "o.parquet"), "--model", str(tmp_path)]) == 1
    assert "not a perfcast model directory" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_rows_the_model_cannot_answer_keep_their_place_and_say_why(tmp_path, model_dir, queries, capsys):
    """A bad row neither stops the file nor loses the others: it is written in its place with NaN
    predictions and `pred.error`, and the command lists it by row number. Spellings the store
    normalises (`half`, `4096.0`) answer as the canonical record does."""
    records = frame_to_records(queries.head(30))
    other_spelling = {"fp16": "Half", "fp32": "float32", "bf16": "BFloat16"}
    broken = {3: ("problem", "M", -5), 7: ("problem", "dtype", "fp99"), 11: ("system", None, "Radeon 9000"),
              15: ("kernel", None, "nope.x"), 18: ("params", "num_warps", -4)}
    for i, (section, key, value) in broken.items():
        if key is None:
            records[i][section] = value
        else:
            records[i][section] = {**records[i][section], key: value}
    spelled = other_spelling[records[20]["problem"]["dtype"]]
    records[20]["problem"] = {**records[20]["problem"], "dtype": spelled, "M": float(records[20]["problem"]["M"])}
    src, out = tmp_path / "in.jsonl", tmp_path / "out.csv"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--chunk-rows", "8", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "5 of 30 rows have no prediction" in err and "row 4: problem.M must be a positive integer (at most 2^40), got -5" in err
    assert "row 8: problem.dtype must be one of" in err and "row 12: unknown system 'Radeon 9000'" in err
    assert "row 16: " in err and "nope.x" in err
    assert "row 19: params.num_warps must be a positive integer (at most 2^40), got -4" in err
    got = pd.read_csv(out)
    assert len(got) == 30 and list(got["problem.dtype"].iloc[[7, 20]]) == ["fp99", spelled]  # rows as given
    failed = sorted(np.flatnonzero(got["pred.error"].notna().to_numpy()))
    assert failed == sorted(broken) and got.loc[failed, "pred.runtime_ms"].isna().all()
    keep = [i for i in range(30) if i not in broken]
    want = _expected(model_dir, queries.head(30)).iloc[keep]
    np.testing.assert_allclose(got.loc[keep, PRED_COLS].to_numpy(float), want[PRED_COLS].to_numpy(float), rtol=1e-5, atol=1e-6)


def test_dask_path_matches_streaming(tmp_path, model_dir, queries, capsys):
    src = tmp_path / "in.parquet"
    queries.to_parquet(src, index=False)
    out = tmp_path / "out_dask.parquet"
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--dask", "--quiet"]) == 0
    got = pd.read_parquet(out)
    assert len(got) == len(queries)
    np.testing.assert_array_equal(got["problem.M"].to_numpy(), queries["problem.M"].to_numpy())
    want = _expected(model_dir, queries)
    np.testing.assert_allclose(got[PRED_COLS].to_numpy(float), want[PRED_COLS].to_numpy(float), rtol=1e-5, atol=1e-6)
    assert got["pred.error"].isna().all()
    # a bad row is answered in its place there too, and named by its row number
    queries.assign(**{"problem.M": np.where(queries.index == 5, -1, queries["problem.M"])}).to_parquet(src, index=False)
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--dask", "--quiet"]) == 0
    got = pd.read_parquet(out)
    assert list(np.flatnonzero(got["pred.error"].notna())) == [5] and "row 6: problem.M" in capsys.readouterr().err


def test_parquet_written_by_pandas_with_list_columns_and_a_dask_rerun(tmp_path, model_dir, queries, capsys):
    """A Parquet file pandas wrote from a store read (a `runtime_ms_samples` list column, an index) made
    `perfcast predict` crash ("data type 'list<item: double>[pyarrow]' not understood") with or without
    --dask. And a --dask run into an earlier run's output used to leave that run's extra parts in it."""
    import pyarrow as pa

    frame = queries.assign(runtime_ms_samples=pd.Series([[0.1, 0.2]] * len(queries),
                                                        dtype=pd.ArrowDtype(pa.list_(pa.float64()))))
    frame.index = frame.index + 1000
    frame.loc[[1250, 1610], "problem.M"] = -1  # rows 251 and 611, in the 2nd and 4th of 5 partitions
    src, out = tmp_path / "from_pandas.parquet", tmp_path / "out.parquet"
    frame.to_parquet(src, row_group_size=100)
    assert cli_main(["predict", str(src), str(tmp_path / "plain.parquet"), "--model", str(model_dir), "--quiet"]) == 0
    plain = pd.read_parquet(tmp_path / "plain.parquet", columns=PRED_COLS)
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--dask", "--chunk-rows", "200",
                     "--quiet"]) == 0
    got = pd.read_parquet(out, columns=PRED_COLS)
    assert len(got) == len(plain) == len(queries)
    np.testing.assert_allclose(got.to_numpy(float), plain.to_numpy(float), rtol=1e-6, equal_nan=True)
    err = capsys.readouterr().err.split("perfcast predict: ")[-1]  # the --dask run's report, counted per partition
    assert err.startswith(f"2 of {len(queries):,} rows have no prediction") and "row 251: problem.M" in err
    assert "row 611: problem.M" in err
    frame.head(150).to_parquet(src, row_group_size=100)
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--dask", "--quiet"]) == 0
    assert len(pd.read_parquet(out, columns=PRED_COLS)) == 150
    # partitions end at --chunk-mb of row groups too: 2 KB here, so each 100-row group is one
    frame.to_parquet(src, row_group_size=100)
    assert cli_main(["predict", str(src), str(out), "--model", str(model_dir), "--dask", "--chunk-mb",
                     str(2048 / 2**20), "--quiet"]) == 0
    assert len(list(out.glob("part.*.parquet"))) == -(-len(frame) // 100)
    np.testing.assert_allclose(pd.read_parquet(out, columns=PRED_COLS).to_numpy(float), plain.to_numpy(float),
                               rtol=1e-6, equal_nan=True)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
