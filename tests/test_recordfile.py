"""RecordWriter: what `perfcast predict` and `perfcast data export` write with, chunk by chunk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from perfcast.measurements.ingest import read_path
from perfcast.measurements.recordfile import RecordWriter, write_records


@pytest.fixture(scope="module")
def two_families(datasets_dir) -> list[pd.DataFrame]:
    """Real rows of two kernel families with other columns each, as the chunks of one file: Kernel Tuner
    convolution (its own params) then SGEMM UCI (other params, runtime samples)."""
    conv = next(read_path(datasets_dir / "kerneltuner_convolution" / "MI250X.json.gz")).frame.head(7)
    sgemm = next(read_path(datasets_dir / "sgemm_uci" / "sgemm_product_dataset.zip")).frame.head(5)
    conv, sgemm = (f.dropna(axis=1, how="all").reset_index(drop=True) for f in (conv, sgemm))
    assert set(sgemm.columns) - set(conv.columns) and set(conv.columns) - set(sgemm.columns)
    return [conv.iloc[:4], conv.iloc[4:], sgemm.iloc[:2], sgemm.iloc[2:], conv.iloc[:1]]


def _expected(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(chunks, ignore_index=True)


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_chunks_with_other_columns_make_one_file_of_their_union(tmp_path, two_families, name):
    """A later chunk with new columns used to be written under the first chunk's CSV header (shifted
    cells, silently) or to stop a Parquet file; now every row keeps its values under its own columns."""
    out = tmp_path / name
    assert write_records(out, two_families) == 13
    got = pd.read_parquet(out) if name.endswith("parquet") else pd.read_csv(out)
    want = _expected(two_families)
    assert list(got.columns) == list(want.columns) and len(got) == 13
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # the parts were merged and removed
    for col in ("kernel", "system", "params.MWG", "params.block_size_x", "runtime_ms"):
        a, b = got[col].to_numpy(), want[col].to_numpy()
        if col in ("kernel", "system"):
            assert list(a) == list(b)
        else:
            np.testing.assert_allclose(pd.to_numeric(pd.Series(a)), pd.to_numeric(pd.Series(b)), equal_nan=True)


def test_parquet_widens_a_column_whose_first_chunk_was_all_missing(tmp_path):
    chunks = [pd.DataFrame({"x": [1, 2], "flag": [None, None], "note": [1.5, 2.5]}),
              pd.DataFrame({"x": [3], "flag": [True], "note": ["text"]})]
    write_records(tmp_path / "o.parquet", chunks)
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.schema.field("flag").type == pa.bool_() and table.column("flag").to_pylist() == [None, None, True]
    assert table.column("note").to_pylist() == ["1.5", "2.5", "text"]  # nothing holds both but text
    assert table.column("x").to_pylist() == [1, 2, 3]


def test_a_given_schema_stays_strict_and_abort_leaves_nothing(tmp_path):
    schema = pa.schema([("x", pa.int64())])
    writer = RecordWriter(tmp_path / "o.parquet", schema=schema)
    writer.write(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match=r"columns \['y'\] are not in the file's schema"):
        writer.write(pd.DataFrame({"x": [2], "y": [3]}))
    writer.abort()
    writer = RecordWriter(tmp_path / "p.csv")
    writer.write(pd.DataFrame({"a": [1]}))
    writer.write(pd.DataFrame({"a": [2], "b": ["x"]}))  # a second part
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_jsonl_and_list_cells_round_trip(tmp_path):
    chunks = [pd.DataFrame({"kernel": ["a.b"], "runtime_ms_samples": [[0.1, 0.2]]}),
              pd.DataFrame({"kernel": ["c.d"], "params.X": [4]})]
    write_records(tmp_path / "o.csv", chunks)
    got = pd.read_csv(tmp_path / "o.csv")
    assert json.loads(got["runtime_ms_samples"].iloc[0]) == [0.1, 0.2] and got["params.X"].iloc[1] == 4
    write_records(tmp_path / "o.jsonl", chunks, nested=True)
    lines = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert lines == [{"kernel": "a.b", "runtime_ms_samples": [0.1, 0.2]}, {"kernel": "c.d", "params": {"X": 4}}]
