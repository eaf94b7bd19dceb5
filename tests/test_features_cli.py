"""`perfcast features INPUT [--json] [--schema FILE]` end to end (real CLI dispatch)."""

from __future__ import annotations

import json

from perfcast.cli import main

QUERY = {
    "kernel": "triton.matmul",
    "system": "H100",
    "params": {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8, "num_warps": 8, "num_stages": 3},
    "problem": {"M": 4096, "N": 4096, "K": 4096, "dtype": "bf16"},
}


def test_inline_record_json(capsys):
    assert main(["features", json.dumps(QUERY), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    record = out["records"][0]
    assert record["roofline_ms"] > 0 and record["params.BLOCK_M"] == 128.0
    assert out["categorical"]["problem.dtype"] == ["bf16"]


def test_jsonl_file_table(tmp_path, capsys):
    path = tmp_path / "queries.jsonl"
    other = {**QUERY, "params": {**QUERY["params"], "BLOCK_M": 64}}
    path.write_text(json.dumps(QUERY) + "\n" + json.dumps(other) + "\n")
    assert main(["features", str(path)]) == 0
    out = capsys.readouterr().out
    assert "roofline_ms" in out and "record 1" in out


def test_lines_that_cannot_be_read_are_named(tmp_path, capsys):
    path = tmp_path / "queries.jsonl"
    path.write_text(json.dumps(QUERY) + "\n{not json\n" + json.dumps({**QUERY, "params": {**QUERY["params"], "BLOCK_M": 0}}) + "\n")
    assert main(["features", str(path)]) == 0
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err  # was "line ?: ?"
    assert "record 1 left out: params.BLOCK_M must be a positive integer (at most 2^40), got 0" in err


def test_schema_mismatch_is_a_clear_error(tmp_path, capsys):
    assert main(["features", json.dumps([QUERY]), "--json"]) == 0
    from perfcast.features import featurize  # noqa: PLC0415
    from perfcast.measurements.schema import records_to_frame  # noqa: PLC0415

    _, schema = featurize(records_to_frame([QUERY]))
    schema_file = tmp_path / "feature_schema.json"
    schema_file.write_text(schema.to_json())
    broken = {**QUERY, "params": {k: v for k, v in QUERY["params"].items() if k != "GROUP_M"}}
    capsys.readouterr()
    assert main(["features", json.dumps(broken), "--schema", str(schema_file)]) == 2
    assert "params.GROUP_M" in capsys.readouterr().err


def test_bad_input_is_an_error_not_a_crash(capsys):
    assert main(["features", "{not json"]) == 2
    assert "perfcast features" in capsys.readouterr().err


def test_records_pass_the_measurement_rules(capsys):
    """`half` is featurized as `fp16` (the vocabulary the models know); a record ingest would quarantine
    is left out with its reason, and the others keep their own record numbers."""
    base = {"kernel": "triton.matmul", "system": "H100", "params": {"BLOCK_M": 64},
            "problem": {"M": 64, "N": 64, "K": 64, "dtype": "fp16"}}
    records = [{**base, "problem": {**base["problem"], "M": -4}}, base,
               {**base, "problem": {**base["problem"], "dtype": "half"}}]
    assert main(["features", json.dumps(records), "--json"]) == 0
    out, err = capsys.readouterr()
    assert "record 0 left out: problem.M must be a positive integer (at most 2^40), got -4" in err
    rows = json.loads(out)["records"]
    assert len(rows) == 2 and rows[0] == rows[1]
    assert main(["features", json.dumps(records)]) == 0
    table = capsys.readouterr().out
    assert "record 1" in table.splitlines()[0] and "record 2" in table.splitlines()[0]
    assert main(["features", json.dumps(records[:1])]) == 2
    assert "none of the 1 records" in capsys.readouterr().err


def test_only_the_records_shown_are_featurized(tmp_path, capsys, monkeypatch):
    """The whole file used to be featurized to show `--limit` records (the bundled H100 set: 81 s and 3.2 GB
    for 20). Now the file is read chunk by chunk and checked whole, and the shown records alone are
    featurized: the schema is theirs, and a bad record after them is still named."""
    from perfcast.features import featurize  # noqa: PLC0415
    from perfcast.measurements.ingest import canonical  # noqa: PLC0415
    from perfcast.measurements.schema import records_to_frame  # noqa: PLC0415
    from perfcast.measurements.validate import check_queries  # noqa: PLC0415

    conv = {"kernel": "kerneltuner.convolution", "system": "A100", "params": {"block_size_x": 16},
            "problem": {"size_x": 4096, "size_y": 4096, "dtype": "fp32"}}
    records = [{**QUERY, "params": {**QUERY["params"], "BLOCK_M": 16 * (i + 1)}} for i in range(3)] + [conv] * 26
    records[27] = {**QUERY, "problem": {**QUERY["problem"], "M": -4}}
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    monkeypatch.setitem(canonical.read_jsonl.__kwdefaults__, "chunk_bytes", 600)  # several chunks
    assert len(list(canonical.read_jsonl(path))) > 3
    assert main(["features", str(path), "--limit", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert [r["params.BLOCK_M"] for r in payload["records"]] == [16.0, 32.0]
    assert payload["schema_version"] == featurize(check_queries(records_to_frame(records[:2]))[0])[1].version
    assert "record 27 left out: problem.M must be a positive integer" in err
    assert main(["features", str(path), "--limit", "2"]) == 0
    err = capsys.readouterr().err
    assert "(showing 2 of 28 records" in err
    assert main(["features", str(path), "--limit", "0"]) == 2
    assert "--limit must be >= 1" in capsys.readouterr().err
