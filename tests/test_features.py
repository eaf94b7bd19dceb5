"""featurize / FeatureSchema / registry on real records (Kernel Tuner caches, hand-written queries)."""

from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from perfcast.features import (
    UNKNOWN_CODE,
    Extractor,
    FeatureSchema,
    FeatureSchemaError,
    GenericExtractor,
    featurize,
    get_extractor,
    register_extractor,
)
from perfcast.systems import get_system, reset_registry


def _kerneltuner_gemm(datasets_dir, gpu: str = "RTX_3090", rows: int = 400) -> pd.DataFrame:
    with gzip.open(datasets_dir / "kerneltuner_gemm" / f"{gpu}.json.gz") as fh:
        data = json.load(fh)
    m, n = data["problem_size"]
    records = []
    for entry in list(data["cache"].values())[:rows]:
        if not isinstance(entry.get("time"), float):
            continue
        rec = {"kernel": "clblast.xgemm", "system": gpu, "runtime_ms": entry["time"]}
        rec.update({f"params.{k}": entry[k] for k in data["tune_params_keys"]})
        rec.update({"problem.M": m, "problem.N": n, "problem.K": m, "problem.dtype": "fp32"})
        records.append(rec)
    return pd.DataFrame(records)


def _triton_queries() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"kernel": "triton.matmul", "system": "H100", "params.BLOCK_M": bm, "params.BLOCK_N": 64,
             "params.BLOCK_K": 32, "params.GROUP_M": 8, "params.num_warps": 4, "params.num_stages": 3,
             "problem.M": 1000, "problem.N": 4096, "problem.K": 512, "problem.dtype": "fp16"}
            for bm in (32, 64, 128, 256)
        ]
    )


def test_fit_then_transform_is_identical_and_float(datasets_dir):
    frame = _kerneltuner_gemm(datasets_dir)
    X, schema = featurize(frame)
    assert list(X.columns) == list(schema.names)
    assert X.columns[0] == "roofline_ms"
    assert all(dtype == np.float64 for dtype in X.dtypes)
    assert X["roofline_ms"].notna().all() and (X["roofline_ms"] > 0).all()
    # transform with the schema: same values, extra input columns ignored, row order followed
    shuffled = frame.sample(frac=1.0, random_state=0).assign(unrelated_column="x")
    X2, schema2 = featurize(shuffled, schema)
    assert schema2 is schema
    pd.testing.assert_frame_equal(X2.loc[X.index], X)


def test_schema_roundtrip_and_version():
    X, schema = featurize(_triton_queries())
    again = FeatureSchema.from_json(schema.to_json())
    assert again == schema and again.version == schema.version
    schema.check(again)
    tampered = schema.to_dict()
    tampered["names"] = list(reversed(tampered["names"]))
    with pytest.raises(FeatureSchemaError, match="does not match its content"):
        FeatureSchema.from_dict(tampered)
    other = FeatureSchema.from_dict({k: v for k, v in tampered.items() if k != "version"})
    with pytest.raises(FeatureSchemaError, match="different order"):
        schema.check(other)


def test_missing_input_column_is_a_clear_error():
    frame = _triton_queries()
    _, schema = featurize(frame)
    with pytest.raises(FeatureSchemaError, match=r"params\.BLOCK_K"):
        featurize(frame.drop(columns=["params.BLOCK_K"]), schema)


def test_optional_inputs_may_be_absent_required_may_not():
    frame = _triton_queries().assign(**{"problem.allow_tf32": [None, None, True, False]})
    _, schema = featurize(frame)
    assert "problem.allow_tf32" not in schema.inputs["triton.matmul"]
    assert "problem.M" in schema.inputs["triton.matmul"]
    X, _ = featurize(frame.drop(columns=["problem.allow_tf32"]), schema)
    assert X["problem.allow_tf32"].isna().all()


def test_non_numeric_value_in_numeric_feature_is_named():
    frame = _triton_queries()
    _, schema = featurize(frame)
    bad = frame.astype({"params.GROUP_M": object})
    bad.loc[1, "params.GROUP_M"] = "eight"
    with pytest.raises(FeatureSchemaError, match=r"params\.GROUP_M.*eight"):
        featurize(bad, schema)


def test_unknown_category_gets_the_documented_code():
    frame = _triton_queries()
    _, schema = featurize(frame)
    query = frame.assign(**{"problem.dtype": "bf16"})
    X, _ = featurize(query, schema)
    assert (X["problem.dtype"] == UNKNOWN_CODE).all()
    assert schema.categories["problem.dtype"] == ("fp16",)


def test_system_aliases_are_one_category():
    frame = _triton_queries()
    _, schema = featurize(frame)
    X, _ = featurize(frame.assign(system="NVIDIA H100 80GB HBM3"), schema)
    assert (X["system"] == 0).all()


def test_mixed_families_union_with_nan(datasets_dir):
    gemm = _kerneltuner_gemm(datasets_dir, rows=20)
    triton = _triton_queries()
    frame = pd.concat([gemm, triton], ignore_index=True)
    X, schema = featurize(frame)
    is_triton = frame["kernel"] == "triton.matmul"
    assert X.loc[is_triton, "params.MWG"].isna().all()
    assert X.loc[~is_triton, "params.BLOCK_M"].isna().all()
    assert X["roofline_ms"].notna().all()
    # a frame with only one of the fitted families still gives every schema column
    X_one, _ = featurize(triton, schema)
    assert list(X_one.columns) == list(schema.names)
    assert X_one["params.MWG"].isna().all()


def test_generic_fallback_for_unknown_family():
    frame = pd.DataFrame(
        [{"kernel": "my.kernel", "system": "H100", "params.width": 4, "params.mode": "fast", "problem.n": 10},
         {"kernel": "my.kernel", "system": "H100", "params.width": 8, "params.mode": "slow", "problem.n": 20}]
    )
    assert isinstance(get_extractor("my.kernel"), GenericExtractor)
    X, schema = featurize(frame)
    assert X["params.width"].tolist() == [4.0, 8.0]
    assert schema.categories["params.mode"] == ("fast", "slow")
    assert X["roofline_ms"].isna().all()


def test_unknown_system_warns_and_gives_nan_roofline():
    frame = _triton_queries().assign(system="Imaginary GPU 9000")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, _ = featurize(frame)
    assert any("Imaginary GPU 9000" in str(w.message) for w in caught)
    assert X["roofline_ms"].isna().all()


def test_register_extractor_overrides_family():
    class Doubler(Extractor):
        def extract(self, frame, specs):
            return pd.DataFrame({"double_x": frame["params.x"] * 2.0, "roofline_ms": 1.0}, index=frame.index)

    register_extractor("test.doubler", Doubler())
    X, _ = featurize(pd.DataFrame({"kernel": ["test.doubler"] * 2, "params.x": [1, 2]}))
    assert X["double_x"].tolist() == [2.0, 4.0]
    assert X["roofline_ms"].tolist() == [1.0, 1.0]


def test_no_kernel_column_is_an_error():
    with pytest.raises(FeatureSchemaError, match="kernel"):
        featurize(pd.DataFrame({"params.x": [1]}))


def test_ir_text_columns_become_prefixed_ir_features(repo_root):
    ttgir = (repo_root / "tests" / "data" / "ir" / "matmul_sm80.ttgir").read_text()
    frame = _triton_queries().assign(**{"ir.ttgir": [ttgir, ttgir, None, ttgir]})
    X, schema = featurize(frame)
    ir_cols = [c for c in X.columns if c.startswith("ir.ttgir.")]
    assert len(ir_cols) > 20
    assert X.loc[2, ir_cols].isna().all() and X.loc[0, ir_cols].notna().any()
    # IR only some fitting rows had is optional: a query may leave it out (NaN IR features)
    assert "ir.ttgir" not in schema.inputs["triton.matmul"]
    X_no_ir, _ = featurize(frame.drop(columns=["ir.ttgir"]), schema)
    assert X_no_ir[ir_cols].isna().all().all()
    # IR every fitting row had is required: a query without it is a clear error, not silent NaNs
    _, strict = featurize(frame.assign(**{"ir.ttgir": ttgir}))
    assert "ir.ttgir" in strict.inputs["triton.matmul"]
    with pytest.raises(FeatureSchemaError, match=r"ir\.ttgir"):
        featurize(frame.drop(columns=["ir.ttgir"]), strict)


_values = st.one_of(
    st.none(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.text(max_size=8), st.lists(st.integers(0, 3), max_size=2),
)
_kernels = st.sampled_from(["triton.matmul", "cublas.matmul", "clblast.xgemm", "cltune.sgemm", "cutlass.gemm",
                            "cuda.tiled_matmul", "kerneltuner.convolution", "unknown.family"])
_fields = st.sampled_from(["params.BLOCK_M", "params.BLOCK_N", "params.BLOCK_K", "params.num_warps", "params.MWG",
                           "params.MDIMC", "params.tile_m", "params.TILE", "params.block_size_x", "params.use_shmem",
                           "problem.M", "problem.N", "problem.K", "problem.dtype", "problem.size_x",
                           "problem.allow_tf32", "params.op_class"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_kernels, st.sampled_from(["H100", "RTX 3090", "Imaginary GPU", None]),
                          st.dictionaries(_fields, _values, max_size=8)), min_size=1, max_size=6))
def test_featurize_never_crashes_on_odd_records(rows):
    frame = pd.DataFrame([{"kernel": k, "system": s, **fields} for k, s, fields in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, schema = featurize(frame)
        assert list(X.columns) == list(schema.names) and len(X) == len(frame)
        assert all(dtype == np.float64 for dtype in X.dtypes)
        X2, _ = featurize(frame, schema)  # transform on the fitting frame always works
    pd.testing.assert_frame_equal(X, X2)


def test_missing_dtype_gives_nan_roofline_not_a_guess():
    frame = _triton_queries().drop(columns=["problem.dtype"])
    X, _ = featurize(frame)
    assert X["roofline_ms"].isna().all()
    assert X["phys.ctas"].notna().all()  # the tiling physics still applies


def test_inline_system_object_is_used():
    spec = get_system("H100").model_dump()
    spec.update(name="Test GPU inline 1", aliases=[], sm_count=66)
    frame = _triton_queries()
    frame["system"] = [spec] * len(frame)
    try:
        X, schema = featurize(frame)
    finally:
        reset_registry()  # the inline spec was registered: leave the registry as other tests expect it
    assert (X["sys.sm_count"] == 66).all() and X["roofline_ms"].notna().all()
    assert schema.categories["system"] == ("Test GPU inline 1",)
