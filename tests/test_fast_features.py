"""`compile_plan(schema).transform(columns)` equals `featurize(frame, schema)` on real rows of every family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from perfcast.features import FeatureSchemaError, compile_plan, featurize
from perfcast.measurements.ingest import read_path
from test_serving_helpers import TILED_CSV, power_model_dir, query_record  # noqa: F401 (fixture)

import perfcast

#: (dataset file, rows sampled): every family of the shared datasets
SOURCES = [
    ("autoheuristic_a100/a100_mm.zip", 3000),  # triton.matmul + cublas.matmul
    ("kerneltuner_gemm/RTX_3090.json.gz", 1500),  # clblast.xgemm
    ("kerneltuner_convolution/A100.json.gz", 1500),  # kerneltuner.convolution
    ("sgemm_uci/sgemm_product_dataset.zip", 1500),  # cltune.sgemm
    ("gpperf_cutlass/cutlass_profiling_20241111_195357.tar.gz", 1500),  # cutlass.gemm
    ("gpperf_cutlass/tiled_execution_times_all.csv", 195),  # cuda.tiled_matmul
]
INPUTS = ("kernel", "system", "params.", "problem.", "ir.", "kernel_name")


#: the collector's memory-bound Triton families (bundled H100 + H200 data; IR left out here)
ROW_FAMILIES = ("triton.softmax", "triton.layernorm", "triton.reduction", "triton.elementwise")


@pytest.fixture(scope="module")
def real_rows(datasets_dir, h100_h200_frame) -> pd.DataFrame:
    frames = []
    for path, rows in SOURCES:
        frame = next(iter(read_path(datasets_dir / path))).frame
        frames.append(frame.sample(min(rows, len(frame)), random_state=0))
    bundled = h100_h200_frame[h100_h200_frame["kernel"].isin(ROW_FAMILIES)]
    bundled = bundled[[c for c in bundled.columns if not c.startswith("ir.")]]
    frames += [part.sample(min(500, len(part)), random_state=0) for _, part in bundled.groupby("kernel")]
    frame = pd.concat(frames, ignore_index=True)
    return frame[[c for c in frame.columns if c.startswith(INPUTS)]]


@pytest.fixture(scope="module")
def schema(real_rows):
    return featurize(real_rows)[1]


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: frame[c].to_numpy() for c in frame.columns}


def _assert_same(plan_X: np.ndarray, expected: pd.DataFrame) -> None:
    want = expected.to_numpy(dtype="float64")
    assert plan_X.shape == want.shape
    same = (plan_X == want) | (np.isnan(plan_X) & np.isnan(want))
    if not same.all():
        bad = sorted({expected.columns[j] for j in np.flatnonzero(~same.all(axis=0))})
        raise AssertionError(f"plan differs from featurize in {bad}")


def test_plan_equals_featurize_per_family(real_rows, schema):
    plan = compile_plan(schema)
    families = real_rows["kernel"].unique()
    assert len(families) == 7 + len(ROW_FAMILIES)
    for kernel in families:
        sub = real_rows[real_rows["kernel"] == kernel].dropna(axis=1, how="all").reset_index(drop=True)
        expected, _ = featurize(sub, schema)
        _assert_same(plan.transform(_columns(sub), dtype=np.float64), expected)


def test_plan_equals_featurize_on_mixed_families_and_single_rows(real_rows, schema):
    plan = compile_plan(schema)
    expected, _ = featurize(real_rows, schema)
    _assert_same(plan.transform(_columns(real_rows), dtype=np.float64), expected)
    # one row at a time, as a predict call sees it (a row's record-frame has only its own columns)
    for i in np.random.default_rng(0).choice(len(real_rows), 40, replace=False):
        row = real_rows.iloc[[i]].dropna(axis=1, how="all").reset_index(drop=True)
        needed = set(schema.inputs.get(row["kernel"].iloc[0], ()))
        row = row.assign(**{c: [None] for c in needed - set(row.columns)})
        record = {c: row[c].tolist() for c in row.columns}
        _assert_same(plan.transform(record, dtype=np.float64), featurize(pd.DataFrame(record), schema)[0])


def test_one_row_path_equals_featurize_on_every_family(real_rows, schema):
    """One record goes through the scalar row path (every family but cutlass.gemm, whose name parsing
    is pandas): the same values as featurize and as the column path, on real rows of each family."""
    from perfcast.features.registry import get_extractor

    plan, columns_only = compile_plan(schema), compile_plan(schema, one_row=False)
    rng = np.random.default_rng(1)
    for kernel in sorted(real_rows["kernel"].unique()):
        rows = real_rows[real_rows["kernel"] == kernel]
        for i in rng.choice(len(rows), min(25, len(rows)), replace=False):
            row = rows.iloc[[i]].dropna(axis=1, how="all").reset_index(drop=True)
            row = row.assign(**{c: [None] for c in set(schema.inputs.get(kernel, ())) - set(row.columns)})
            record = {c: row[c].tolist() for c in row.columns}
            expected = featurize(pd.DataFrame(record), schema)[0]
            took_row_path = plan._transform_row(record) is not None
            assert took_row_path == bool(getattr(get_extractor(kernel), "one_row", False)), kernel
            _assert_same(plan.transform(record, dtype=np.float64), expected)
            _assert_same(columns_only.transform(record, dtype=np.float64), expected)
            # numpy arrays and scalars (a rank's broadcast problem) take the row path with the same values
            arrays = {c: row[c].to_numpy() for c in row.columns}
            _assert_same(plan.transform(arrays, dtype=np.float64), expected)


def test_shared_values_as_scalars_equal_featurize_on_every_family(real_rows, schema):
    """A rank's shape: system and problem fields one value for all rows (scalars, kept scalar through
    the extractor where the family allows it), params per row; the same values as featurize."""
    from perfcast.features.registry import get_extractor

    plan, columns_only = compile_plan(schema), compile_plan(schema, one_row=False)
    for kernel in sorted(real_rows["kernel"].unique()):
        rows = real_rows[real_rows["kernel"] == kernel].dropna(axis=1, how="all")
        shared = ["system", *(c for c in rows.columns if c.startswith("problem."))]
        key = pd.Series(["|".join(map(str, v)) for v in rows[shared].itertuples(index=False)], index=rows.index)
        group = rows[key == key.value_counts().index[0]].head(300).reset_index(drop=True)
        group = group.assign(**{c: [None] * len(group) for c in set(schema.inputs.get(kernel, ())) - set(group.columns)})
        if len(group) < 2:
            continue
        columns = {c: (group[c].iloc[0] if c in shared or c == "kernel" else group[c].tolist()) for c in group.columns}
        columns = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in columns.items()}
        expected = featurize(group, schema)[0]
        took_shared_path = plan._transform_shared(columns, len(group)) is not None
        assert took_shared_path == bool(getattr(get_extractor(kernel), "one_row", False)), kernel
        _assert_same(plan.transform(columns, n=len(group), dtype=np.float64), expected)
        _assert_same(columns_only.transform(columns, n=len(group), dtype=np.float64), expected)


def test_row_path_physics_runs_on_scalars(real_rows, schema):
    """The row path really is scalar: the extractors return no arrays for a `physics.Row`."""
    from perfcast.features import physics as ph
    from perfcast.features.plan import _one_value
    from perfcast.features.registry import get_extractor

    plan = compile_plan(schema)
    for kernel in ("triton.matmul", "cublas.matmul", "clblast.xgemm", "cltune.sgemm", "kerneltuner.convolution",
                   "cuda.tiled_matmul"):  # fmt: skip
        row = real_rows[real_rows["kernel"] == kernel].iloc[[0]].dropna(axis=1, how="all").reset_index(drop=True)
        record = {c: row[c].tolist() for c in row.columns}
        specs = plan._row_system(record["system"][0])[0]
        data = ph.Row({c: _one_value(v) for c, v in record.items() if c not in ("kernel", "system")})
        with ph.quiet():
            out = get_extractor(kernel).extract(data, specs)
        arrays = sorted(name for name, v in out.items() if isinstance(v, np.ndarray))
        assert not arrays, f"{kernel}: {arrays}"


def test_float32_is_featurize_cast(real_rows, schema):
    sub = real_rows.iloc[:500]
    X = compile_plan(schema).transform(_columns(sub))
    assert X.dtype == np.float32
    want = featurize(sub, schema)[0].to_numpy(dtype="float32")
    np.testing.assert_array_equal(X, want)


def test_scalars_broadcast_like_a_constant_problem(schema):
    plan = compile_plan(schema)
    params = {"params.BLOCK_M": [64, 128, 256], "params.BLOCK_N": [64, 64, 128], "params.BLOCK_K": [32, 32, 64],
              "params.GROUP_M": [8, 8, 8], "params.num_warps": [4, 4, 8], "params.num_stages": [3, 3, 4]}  # fmt: skip
    problem = {"problem.M": 4096, "problem.N": 2048, "problem.K": 1024, "problem.dtype": "fp16",
               "problem.a_layout": "row", "problem.b_layout": "col", "problem.allow_tf32": None}  # fmt: skip
    columns = {"kernel": "triton.matmul", "system": "A100", **params, **problem}
    frame = pd.DataFrame({k: v if isinstance(v, list) else [v] * 3 for k, v in columns.items()})
    _assert_same(plan.transform(columns, dtype=np.float64), featurize(frame, schema)[0])


def test_errors_match_featurize(schema):
    plan = compile_plan(schema)
    with pytest.raises(FeatureSchemaError, match="lacks input columns"):
        plan.transform({"kernel": ["triton.matmul"], "system": ["A100"], "problem.M": [128]})
    row = {"kernel": ["cuda.tiled_matmul"], "system": ["A100"], "params.TILE": ["big"], "problem.M": [64],
           "problem.N": [64], "problem.K": [64], "problem.dtype": ["fp32"], "problem.a_layout": ["row"],
           "problem.b_layout": ["row"]}  # fmt: skip
    with pytest.raises(FeatureSchemaError, match="params.TILE"):
        featurize(pd.DataFrame(row), schema)
    with pytest.raises(FeatureSchemaError, match="params.TILE"):
        plan.transform(row)
    with pytest.raises(FeatureSchemaError, match="kernel"):
        plan.transform({"system": ["A100"]})


def test_unknown_system_and_category_as_featurize(schema):
    plan = compile_plan(schema)
    row = {"kernel": ["cuda.tiled_matmul"], "system": ["Nonexistent GPU 9000"], "params.TILE": [16], "problem.M": [64],
           "problem.N": [64], "problem.K": [64], "problem.dtype": ["fp8e5m2"], "problem.a_layout": ["row"],
           "problem.b_layout": ["diagonal"]}  # fmt: skip
    with pytest.warns(UserWarning, match="unknown systems"):
        expected, _ = featurize(pd.DataFrame(row), schema)
    with pytest.warns(UserWarning, match="unknown systems"):
        got = plan.transform(row, dtype=np.float64)
    _assert_same(got, expected)


def test_unknown_family_with_and_without_system_on_one_plan(schema):
    plan = compile_plan(schema)
    rows = {"kernel": ["triton.attention", "triton.attention"], "params.BLOCK_M": [64, 128], "problem.M": [1024, 4096],
            "problem.dtype": ["fp16", "bf16"]}  # fmt: skip
    for columns in ({**rows, "system": ["A100", "RTX_3090"]}, rows):
        _assert_same(plan.transform(columns, dtype=np.float64), featurize(pd.DataFrame(columns), schema)[0])


def test_predictor_targets_run_only_their_outputs_and_agree(power_model_dir, datasets_dir):  # noqa: F811
    """The fresh path (plan + output subsets) gives the same numbers as the full model."""
    from perfcast.models import OnnxCostModel
    from perfcast.serving.predictor import PredictorInputError

    frame = next(iter(read_path(datasets_dir / TILED_CSV))).frame.head(30)
    records = [query_record(r) for _, r in frame.iterrows()]
    full = perfcast.Predictor.load(power_model_dir).predict(records)
    only = perfcast.Predictor.load(power_model_dir).predict(records, targets=["runtime_ms"])
    assert all(set(o) == {"runtime_ms"} for o in only)
    assert [o["runtime_ms"] for o in only] == [f["runtime_ms"] for f in full]
    ref = OnnxCostModel.load(power_model_dir).predict_frame(frame[[c for c in frame.columns if c.startswith(INPUTS)]])
    np.testing.assert_allclose([f["power_w"]["value"] for f in full], ref["pred.power_w"].to_numpy(), rtol=1e-6)

    pred = perfcast.Predictor.load(power_model_dir)
    first = records[0]
    cands = [{"TILE": t} for t in (4, 8, 16, 32)]
    ranked = pred.rank(first["system"], first["problem"], cands, kernel=first["kernel"], targets=["runtime_ms"], top_k=2)
    default = perfcast.Predictor.load(power_model_dir).rank(first["system"], first["problem"], cands, kernel=first["kernel"], top_k=2)
    assert [r["index"] for r in ranked] == [r["index"] for r in default]
    assert [r["prediction"]["runtime_ms"] for r in ranked] == [r["prediction"]["runtime_ms"] for r in default]
    assert set(ranked[0]["prediction"]) == {"runtime_ms"}
    with pytest.raises(PredictorInputError, match="do not cover"):
        pred.rank(first["system"], first["problem"], cands, kernel=first["kernel"], objective="energy", targets=["runtime_ms"])
    with pytest.raises(PredictorInputError, match="does not predict"):
        pred.predict(records[:1], targets=["energy_j"])


def test_a_schema_from_before_the_row_kernels_had_physics_keeps_their_features(real_rows, schema, tmp_path):
    """A fitted schema records each family's extractor. One written before the four Triton row families
    had physics (no record) gets their generic features again, `roofline_ms` NaN: with the new, finite
    roofline a champion trained before answered a 13 us softmax as 66 ns (its log-ratio target rescaled).
    The plan does the same; an extractor the build does not have is an error naming it."""
    from perfcast.features import GenericExtractor, register_extractor  # noqa: PLC0415
    from perfcast.features.registry import get_extractor  # noqa: PLC0415
    from perfcast.features.schema import FeatureSchema  # noqa: PLC0415
    from perfcast.models import GBCostModel, OnnxCostModel  # noqa: PLC0415

    assert schema.extractors["triton.softmax"] == "RowwiseExtractor.v2"  # v1: no launch floor
    assert schema.extractors["triton.matmul"] == "TritonMatmulExtractor"
    assert FeatureSchema.from_json(schema.to_json()).extractors == schema.extractors
    legacy = FeatureSchema(schema.names, schema.dtypes, schema.categories, schema.inputs)  # as stored before
    assert "extractors" not in legacy.to_dict()
    rows = real_rows[real_rows["kernel"].isin(["triton.softmax", "triton.matmul"])].reset_index(drop=True)
    softmax = (rows["kernel"] == "triton.softmax").to_numpy()
    now, before = featurize(rows, schema)[0], featurize(rows, legacy)[0]
    assert now["roofline_ms"][softmax].notna().all() and before["roofline_ms"][softmax].isna().all()
    pd.testing.assert_frame_equal(now[~softmax], before[~softmax])
    _assert_same(compile_plan(legacy).transform(_columns(rows), dtype=np.float64), before)
    one = rows[softmax].head(1).reset_index(drop=True)
    _assert_same(compile_plan(legacy).transform(_columns(one), dtype=np.float64), featurize(one, legacy)[0])
    for recorded in ("SoftmaxExtractorV0", "RowwiseExtractor"):  # RowwiseExtractor (v1) had no launch floor
        renamed = FeatureSchema(schema.names, schema.dtypes, schema.categories, schema.inputs,
                                {**schema.extractors, "triton.softmax": recorded})
        with pytest.raises(FeatureSchemaError, match=f"computed by {recorded},"):
            featurize(rows, renamed)

    # a model saved then: fitted with the generic softmax features, its schema without the record
    physics = get_extractor("triton.softmax")
    train = real_rows[real_rows["kernel"] == "triton.softmax"].reset_index(drop=True)
    size = train["problem.rows"].astype(float) * train["problem.cols"].astype(float)
    train["runtime_ms"] = 0.002 + 1e-9 * size  # a stand-in target: the test is about the features
    register_extractor("triton.softmax", GenericExtractor())
    try:
        model = GBCostModel(num_boost_round=20).fit(train)
    finally:
        register_extractor("triton.softmax", physics)
    want = model.predict(train)["pred.runtime_ms"].to_numpy()
    directory = tmp_path / "old"
    model.save(directory)
    stored = FeatureSchema.from_json((directory / "feature_schema.json").read_text())
    assert stored.extractors["triton.softmax"] == "GenericExtractor"
    old = FeatureSchema(stored.names, stored.dtypes, stored.categories, stored.inputs)
    (directory / "feature_schema.json").write_text(old.to_json())
    got = OnnxCostModel.load(directory).predict_frame(train)["pred.runtime_ms"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
