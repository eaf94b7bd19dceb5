"""validate_frame and record_hash: normalisation, per-row reasons, hash invariances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perfcast.measurements.schema import records_to_frame
from perfcast.measurements.validate import INTEGER_RULE, record_hash, validate_frame


def _record(**overrides) -> dict:
    record = {
        "kernel": "triton.matmul",
        "params": {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8, "num_warps": 4, "num_stages": 3},
        "problem": {"M": 4096, "N": 4096, "K": 4096, "dtype": "fp16"},
        "system": "NVIDIA H100 80GB HBM3",
        "runtime_ms": 0.153,
        "runtime_ms_samples": [0.151, 0.153, 0.155],
        "status": "ok",
        "source": "test",
        "measured_at": "2026-11-24T10:00:00Z",
    }
    record.update(overrides)
    return record


def test_valid_rows_are_normalised():
    frame = records_to_frame([
        _record(problem={"M": 64, "N": 32, "K": 16, "dtype": "torch.float16"}, measured_at="2026-11-24T11:00:00+01:00"),
        _record(problem={"M": 64, "N": 32, "K": 16, "dtype": "float32", "a_layout": "col", "allow_tf32": "true"},
                status=None),
    ])
    valid, quarantine = validate_frame(frame)
    assert quarantine.empty
    assert list(valid["problem.dtype"]) == ["fp16", "fp32"]
    assert list(valid["problem.a_layout"]) == ["row", "col"]  # default made explicit
    assert list(valid["problem.b_layout"]) == ["row", "row"]
    assert list(valid["status"]) == ["ok", "ok"]  # missing status means ok
    assert valid.loc[0, "measured_at"] == "2026-11-24T10:00:00Z"  # converted to UTC
    assert bool(valid.loc[1, "problem.allow_tf32"]) is True
    assert list(valid["runtime_ms_samples"].iloc[0]) == [0.151, 0.153, 0.155]


def test_every_problem_is_reported_per_row_and_nothing_is_dropped():
    frame = records_to_frame([
        _record(),                                     # line 1: fine
        _record(kernel="Triton Matmul"),               # 2: bad kernel id
        _record(system=""),                            # 3: no system
        _record(runtime_ms=-1.0),                      # 4: negative runtime
        _record(status="crashed"),                     # 5: unknown status
        _record(runtime_ms=float("inf")),              # 6: inf on an ok row
        _record(problem={"M": 64, "N": 64, "dtype": "fp16"}),  # 7: matmul without K
        _record(problem={"M": 64.5, "N": 64, "K": 64, "dtype": "fp16"}),  # 8: fractional M
        _record(problem={"M": 64, "N": 64, "K": 64, "dtype": "fp13"}),    # 9: unknown dtype
        _record(runtime_ms=None, runtime_ms_samples=None),                # 10: ok without targets
        _record(runtime_ms_samples=[0.1, -2.0]),       # 11: bad sample
        _record(measured_at="yesterday"),              # 12: bad timestamp
        _record(runtime_ms=True),                      # 13: a boolean is not a runtime
    ])
    valid, quarantine = validate_frame(frame)
    assert len(valid) + len(quarantine) == len(frame)
    assert len(valid) == 1
    reasons = dict(zip(quarantine["_line"], quarantine["_reason"], strict=True))
    assert "kernel must look like" in reasons[2]
    assert "system missing" in reasons[3]
    assert "runtime_ms must be > 0" in reasons[4]
    assert "status must be one of" in reasons[5]
    assert "infinite" in reasons[6]
    assert "problem.K missing" in reasons[7]
    assert "problem.M must be a positive integer" in reasons[8]
    assert "problem.dtype must be one of" in reasons[9]
    assert "needs at least one target" in reasons[10]
    assert "runtime_ms_samples values" in reasons[11]
    assert "ISO 8601" in reasons[12]
    assert "runtime_ms is not a number" in reasons[13]
    # quarantined rows keep their original values
    assert quarantine.set_index("_line").loc[2, "kernel"] == "Triton Matmul"


def test_failed_rows_keep_no_target_and_inf_becomes_missing():
    frame = records_to_frame([_record(status="failed", runtime_ms=float("inf"), runtime_ms_samples=None),
                              _record(status="timeout", runtime_ms=None, runtime_ms_samples=None)])
    valid, quarantine = validate_frame(frame)
    assert quarantine.empty
    assert valid["runtime_ms"].isna().all()


def test_unknown_columns_are_quarantined_with_the_field_named():
    frame = records_to_frame([_record()])
    frame["gflops"] = 12.0
    valid, quarantine = validate_frame(frame)
    assert valid.empty
    assert "unknown field(s) ['gflops']" in quarantine.loc[0, "_reason"]


def test_adapter_line_numbers_are_kept():
    frame = records_to_frame([_record(), _record(kernel="bad")])
    frame["_line"] = [10, 11]
    frame["_file"] = "x.jsonl"
    valid, quarantine = validate_frame(frame)
    assert "_line" not in valid and "_file" not in valid
    assert quarantine.loc[0, "_line"] == 11 and quarantine.loc[0, "_file"] == "x.jsonl"


def test_hash_ignores_source_spelling_and_column_order_but_not_content():
    a, _ = validate_frame(records_to_frame([_record()]))
    b, _ = validate_frame(records_to_frame([_record(source="elsewhere",
                                                    params={"num_stages": 3.0, "num_warps": 4, "GROUP_M": 8,
                                                            "BLOCK_K": 32, "BLOCK_N": 64, "BLOCK_M": 128.0},
                                                    problem={"M": 4096, "N": 4096, "K": 4096, "dtype": "float16",
                                                             "a_layout": "row"})]))
    assert record_hash(a).iloc[0] == record_hash(b[list(reversed(b.columns))]).iloc[0]
    c, _ = validate_frame(records_to_frame([_record(params={"BLOCK_M": 64})]))
    d, _ = validate_frame(records_to_frame([_record(measured_at="2026-11-24T10:00:01Z")]))
    e, _ = validate_frame(records_to_frame([_record(runtime_ms_samples=[0.153, 0.151, 0.155])]))
    hashes = {record_hash(x).iloc[0] for x in (a, c, d, e)}
    assert len(hashes) == 4  # params, measured_at and sample order all matter
    assert len(record_hash(a).iloc[0]) == 16


def test_missing_value_equals_absent_column():
    frame = records_to_frame([_record()])
    with_extra = frame.assign(**{"problem.batch": np.nan, "ir.ttgir": None})
    assert record_hash(frame).iloc[0] == record_hash(with_extra).iloc[0]


@settings(max_examples=40, deadline=None)
@given(st.permutations(["kernel", "system", "runtime_ms", "params.BLOCK_M", "problem.M", "status"]),
       st.floats(min_value=1e-3, max_value=1e4, allow_nan=False), st.integers(min_value=1, max_value=1 << 20))
def test_hash_is_order_free_and_int_float_blind(order, runtime, m):
    row = {"kernel": "cutlass.gemm", "system": "NVIDIA GeForce RTX 4070", "runtime_ms": runtime,
           "params.BLOCK_M": 128, "problem.M": m, "status": "ok"}
    frame = pd.DataFrame([row])[list(order)]
    as_float = pd.DataFrame([{**row, "params.BLOCK_M": 128.0, "problem.M": float(m)}])
    assert record_hash(frame).iloc[0] == record_hash(as_float).iloc[0]


def test_empty_frame():
    valid, quarantine = validate_frame(pd.DataFrame(columns=["kernel", "system", "runtime_ms"]))
    assert valid.empty and quarantine.empty
    assert len(record_hash(valid)) == 0


@pytest.mark.parametrize("system", [{"name": "my-gpu", "sm_count": 20, "mem_bw_gbs": 300.0}])
def test_inline_system_specs_become_sorted_json(system):
    valid, quarantine = validate_frame(records_to_frame([_record(system=system)]))
    assert quarantine.empty
    assert valid.loc[0, "system"] == '{"mem_bw_gbs": 300.0, "name": "my-gpu", "sm_count": 20}'


PROBLEMS = [  # (kernel, problem): valid spellings, each bad value, the matmul defaults
    ("triton.matmul", {"M": 4096, "N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": 4096.0, "N": "512", "K": " 64 ", "dtype": " Half ", "a_layout": "T", "b_layout": "column"}),
    ("triton.matmul", {"M": 128, "N": 128, "K": 128, "dtype": "float32", "allow_tf32": "true", "batch": 4}),
    ("triton.matmul", {"M": 128, "N": 128, "K": 128, "dtype": "fp32", "allow_tf32": "0"}),
    ("cutlass.gemm", {"M": 128, "N": 128, "K": 128, "dtype": "bfloat16", "a_layout": "col"}),
    ("triton.matmul", {"M": -5, "N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": 0, "N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": 4096.5, "N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": "big", "N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": float("inf"), "N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": 1e30, "N": 4096, "K": 4096, "dtype": "fp16"}),  # stored as -2^63 before
    ("triton.matmul", {"M": 2**63, "N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": 2**40, "N": 1, "K": 1, "dtype": "int4", "batch": 2**40 + 1}),
    ("triton.matmul", {"N": 4096, "K": 4096, "dtype": "fp16"}),
    ("triton.matmul", {"M": 64, "N": 64, "K": 64, "dtype": "fp99"}),
    ("triton.matmul", {"M": 64, "N": 64, "K": 64, "dtype": 16}),
    ("triton.matmul", {"M": 64, "N": 64, "K": 64, "dtype": "fp16", "a_layout": "diagonal"}),
    ("triton.matmul", {"M": 64, "N": 64, "K": 64, "dtype": "fp32", "allow_tf32": "maybe"}),
    ("triton.matmul", {"M": 64, "N": 64, "K": 64, "dtype": "half", "allow_tf32": False}),  # dropped off fp32
    ("cublas.matmul", {"M": 64, "N": 64, "K": 64, "dtype": "bf16", "allow_tf32": "true"}),
    ("triton.matmul", {"M": 64, "N": 64, "K": 64, "dtype": "fp16", "allow_tf32": "maybe"}),
    ("triton.softmax", {"M": 64, "N": 1024, "dtype": "float16"}),
    ("triton.softmax", {"M": 64, "N": -1, "dtype": "fp16"}),
    ("kerneltuner.convolution", {"image_width": 4096, "filter_width": 15}),
    ("kerneltuner.convolution", {"size_x": 4096.0, "size_y": " 4096 ", "dtype": "fp32"}),
    ("kerneltuner.convolution", {"size_x": 0, "size_y": 4096, "dtype": "fp32"}),  # answered 0.001 ms before
    ("kerneltuner.convolution", {"size_x": 4096, "size_y": -8, "dtype": "fp32"}),
    ("kerneltuner.convolution", {"size_x": 2.5, "size_y": 4096, "dtype": "fp32"}),
    ("triton.softmax", {"rows": 4096, "cols": "1024", "dtype": "fp16"}),
    ("triton.softmax", {"rows": -5, "cols": 1024, "dtype": "fp16"}),  # answered 0.005 ms before
    ("triton.layernorm", {"rows": 4096, "cols": 0, "dtype": "bf16"}),
    ("triton.elementwise", {"numel": 1.5, "dtype": "fp32"}),
]


@pytest.mark.parametrize(("kernel", "problem"), PROBLEMS)
def test_a_query_problem_follows_the_rules_measurements_follow(kernel, problem):
    """`canonical_problem` (what a query's problem passes: the service, `perfcast predict`) accepts what
    `validate_frame` stores and normalises it the same way; what ingest quarantines, it refuses, naming
    the field."""
    from perfcast.measurements.validate import QueryError, canonical_problem

    valid, quarantine = validate_frame(records_to_frame([_record(kernel=kernel, problem=problem)]))
    if len(quarantine):
        with pytest.raises(QueryError) as info:
            canonical_problem(kernel, problem)
        assert info.value.field in quarantine["_reason"].iloc[0], (info.value.field, quarantine["_reason"].iloc[0])
        # the same reason: `M=inf` is a bad value in both, not a missing one in the store
        assert str(info.value).split(", got ")[0] in quarantine["_reason"].iloc[0], quarantine["_reason"].iloc[0]
        return
    got = canonical_problem(kernel, problem)
    stored = {c.split(".", 1)[1]: v for c, v in valid.iloc[0].items() if c.startswith("problem.") and not pd.isna(v)}
    assert {k: v for k, v in got.items() if v is not None} == stored  # null: a field that does not apply
    assert all(type(got[k]) is int for k in ("M", "N", "K", "batch", "size_x", "size_y", "rows", "cols", "numel")
               if k in got)
    if got == problem:
        assert got is problem  # nothing to change: the same object (the service's common case)


def test_allow_tf32_is_kept_for_fp32_operands_only():
    """TF32 applies to fp32 alone. The collector writes `allow_tf32: false` on fp16 rows, AutoHeuristic's
    logs leave it out: stored and queried, both forms are the same record, and a model fitted on the
    collector's rows (the bundled H200 set) answers an fp16 query that leaves the flag out, as most do.
    It used to refuse it: "kernel 'triton.matmul' lacks input columns ['problem.allow_tf32']"."""
    from pathlib import Path

    from perfcast.features import featurize
    from perfcast.measurements.ingest import read_path
    from perfcast.measurements.validate import check_queries

    fp16 = {"M": 64, "N": 64, "K": 64, "dtype": "fp16"}
    frame = records_to_frame([_record(problem={**fp16, "allow_tf32": False}), _record(problem=fp16),
                              _record(problem={**fp16, "dtype": "fp32", "allow_tf32": False})])
    valid, _ = validate_frame(frame)
    assert valid["problem.allow_tf32"].isna().tolist() == [True, True, False]
    assert record_hash(valid.iloc[[0]]).iloc[0] == record_hash(valid.iloc[[1]]).iloc[0]
    queries, reasons = check_queries(frame.drop(columns=["runtime_ms", "runtime_ms_samples", "status"]))
    assert (reasons == "").all() and queries["problem.allow_tf32"].isna().tolist() == [True, True, False]

    bundled = Path(__file__).resolve().parents[1] / "data" / "h100" / "h200-transfer.jsonl.xz"
    raw = pd.concat([c.frame for c in read_path(bundled) if len(c.frame)], ignore_index=True)
    raw = raw[raw["kernel"] == "triton.matmul"].reset_index(drop=True)
    assert raw.loc[raw["problem.dtype"] != "fp32", "problem.allow_tf32"].eq(False).all()  # as collected
    rows, _ = validate_frame(raw)
    _, schema = featurize(rows)
    assert "problem.allow_tf32" not in schema.inputs["triton.matmul"]  # optional: present on fp32 rows only
    query = rows.loc[rows["problem.dtype"] == "fp16"].head(3).drop(columns=["problem.allow_tf32"])
    assert np.isfinite(featurize(query, schema)[0]["roofline_ms"]).all()


PARAMS = [  # (kernel, params): counts as ints, floats, text; each bad value; flags that may be 0; null
    ("triton.matmul", {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8, "num_warps": 4, "num_stages": 3}),
    ("triton.matmul", {"BLOCK_M": 128.0, "BLOCK_N": "64", "num_warps": None}),
    ("triton.matmul", {"BLOCK_M": -128, "BLOCK_N": 64}),
    ("triton.matmul", {"BLOCK_M": 0, "BLOCK_N": 64}),
    ("triton.matmul", {"BLOCK_M": 1.5, "BLOCK_N": 64}),
    ("triton.matmul", {"BLOCK_M": float("inf")}),
    ("triton.matmul", {"BLOCK_M": 1e30}),
    ("triton.matmul", {"BLOCK_M": 2**63}),
    ("triton.matmul", {"num_warps": "four"}),
    ("clblast.xgemm", {"MWG": 64, "NWG": 64, "SA": 0, "SB": 1, "STRM": 0}),
    ("clblast.xgemm", {"MWG": 64, "MDIMC": -8, "SA": 0}),
    ("kerneltuner.convolution", {"block_size_x": 32, "use_shmem": 0, "read_only": 0, "use_padding": 0}),
    ("kerneltuner.convolution", {"block_size_x": 0, "use_shmem": 0}),
    ("my.kernel", {"unroll": -1, "split": 0.5}),  # not a count param: any value, as before
]


@pytest.mark.parametrize(("kernel", "params"), PARAMS)
def test_count_params_follow_one_rule_in_the_store_and_in_queries(kernel, params):
    """Tile sizes, warps, stages (`COUNT_PARAMS`) must be positive integers: ingest quarantines the row,
    `check_params` (the service's predict), `bad_count_param` (its rank) and `check_queries`
    (`perfcast predict`) refuse the query, each naming the field; flags that may be 0 pass."""
    from perfcast.measurements.validate import QueryError, bad_count_param, check_params, check_queries

    frame = records_to_frame([_record(kernel=kernel, params=params)])
    _, quarantine = validate_frame(frame)
    _, reasons = check_queries(frame.drop(columns=["runtime_ms", "status"]))
    columns = {f"params.{k}": [v] for k, v in params.items()}
    if len(quarantine):
        with pytest.raises(QueryError) as info:
            check_params(params)
        field = info.value.field
        assert field in quarantine["_reason"].iloc[0] and f"must be {INTEGER_RULE}" in str(info.value)
        assert reasons[0].startswith(f"{field} must be {INTEGER_RULE}, got ")
        assert bad_count_param(columns)[:2] == (field, 0)
        return
    check_params(params)
    assert reasons[0] == "" and bad_count_param(columns) is None


def test_count_params_are_checked_per_column_without_losing_rows():
    """Hundreds of thousands of rows: one vectorised mask per count column, the bad rows named."""
    from perfcast.measurements.validate import bad_count_param

    n = 200_000
    good = np.full(n, 64)
    columns = {"params.BLOCK_M": good, "params.SA": np.zeros(n), "params.num_warps": list(good.astype(float))}
    assert bad_count_param(columns) is None
    columns["params.num_warps"][123_456] = 2.5
    assert bad_count_param(columns) == ("params.num_warps", 123_456, 2.5)
    assert bad_count_param({"params.BLOCK_M": [64, 128, True]}) == ("params.BLOCK_M", 2, True)  # not 1
    assert bad_count_param({"params.BLOCK_M": [64, "128", None, float("nan")]}) is None
    frame = records_to_frame([_record(params={"BLOCK_M": 64, "num_warps": w}) for w in (4, -4, 8, None)])
    valid, quarantine = validate_frame(frame)
    assert len(valid) == 3 and list(quarantine["_line"]) == [2]
    assert quarantine["_reason"].iloc[0] == f"params.num_warps must be {INTEGER_RULE}"


def test_integers_too_large_for_the_store_are_quarantined_not_wrapped():
    """`M=1e30` used to be stored as -9223372036854775808 (the cast to int64 wrapped), `M=inf` was
    quarantined as 'missing'. The largest accepted value, 2^40, is stored exactly."""
    frame = records_to_frame([_record(problem={"M": m, "N": 64, "K": 64, "dtype": "fp16"})
                              for m in (2**40, 1e30, float("inf"), 2**40 + 1)])
    valid, quarantine = validate_frame(frame)
    assert list(valid["problem.M"]) == [2**40]
    assert list(quarantine["_reason"]) == [f"problem.M must be {INTEGER_RULE}"] * 3
