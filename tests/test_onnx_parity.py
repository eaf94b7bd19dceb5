"""ONNX export parity with native LightGBM on 10,000 real rows, and an ONNX-only prediction path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pandas as pd
import pytest
from perfcast.features import featurize
from perfcast.models import GBCostModel, OnnxCostModel
from perfcast.models.onnx_export import native_outputs
from test_models_data import autoheuristic_chunk, convolution

N_ROWS = 10_000


@pytest.fixture(scope="module")
def fitted(datasets_dir, tmp_path_factory):
    """A model with every output kind (3 runtime boosters + feasibility) on real AutoHeuristic rows."""
    frame = autoheuristic_chunk(datasets_dir).sample(40_000, random_state=0).reset_index(drop=True)
    model = GBCostModel(num_boost_round=150, quantile_boost_round=60).fit(frame.iloc[:30_000])
    d = tmp_path_factory.mktemp("parity") / "m"
    model.save(d)
    return model, d, frame.iloc[30_000 : 30_000 + N_ROWS].reset_index(drop=True)


def test_one_graph_with_named_outputs(fitted):
    _, d, _ = fitted
    m = onnx.load(d / "model.onnx")
    assert [i.name for i in m.graph.input] == ["X"]
    assert [o.name for o in m.graph.output] == ["runtime_ms", "runtime_ms.q10", "runtime_ms.q90", "feasible_prob"]
    props = {p.key: p.value for p in m.metadata_props}
    assert float(props["cqr.runtime_ms"]) == pytest.approx(fitted[0].meta_["targets"]["runtime_ms"]["correction"])


def test_parity_with_lightgbm_on_10k_real_rows(fitted):
    model, d, rows = fitted
    assert len(rows) == N_ROWS
    X, _ = featurize(rows, model.schema_)
    X32 = X.to_numpy(dtype=np.float32)
    onnx_model = OnnxCostModel.load(d)
    got = onnx_model.raw_outputs(X32)
    ref = native_outputs(model.boosters_, X32)
    for name in ref:
        scale = np.maximum(np.abs(ref[name]), 1e-3)  # the log-ratio outputs cross zero
        rel = np.abs(got[name] - ref[name]) / scale
        # thresholds are rounded down to float32 before conversion (`float32_exact`), so no row takes
        # another branch: what is left is float32 accumulation of the leaf values
        assert np.quantile(rel, 0.999) <= 1e-4, (name, np.quantile(rel, 0.999))
        assert rel.max() <= 1e-3, (name, rel.max())
    # and in units, end to end (featurize -> ONNX -> transforms) vs GBCostModel's native predict
    native = model.predict(rows)
    via_onnx = onnx_model.predict_frame(rows)
    rel_units = (np.abs(via_onnx - native) / np.abs(native).clip(lower=1e-9)).to_numpy()
    assert np.quantile(rel_units, 0.999) <= 1e-4


def test_parity_when_a_model_meets_other_families(datasets_dir, tmp_path):
    """A power model fitted on CUTLASS rows, asked about 10k rows of other families (NaN in features the
    training rows never had NaN in: LightGBM predicts those as 0.0, `float32_exact` makes ONNX agree)."""
    from perfcast.measurements.ingest import read_path

    cut = next(iter(read_path(datasets_dir / "gpperf_cutlass" / "cutlass_profiling_20241111_195357.tar.gz"))).frame
    model = GBCostModel(num_boost_round=150, feasibility=False).fit(cut)
    model.save(tmp_path / "m")
    rows = pd.concat(
        [autoheuristic_chunk(datasets_dir).sample(5_000, random_state=2), convolution(datasets_dir).sample(4_000, random_state=2),
         cut.sample(1_000, random_state=2)],
        ignore_index=True,
    )
    X = OnnxCostModel.load(tmp_path / "m").featurize(rows).to_numpy(dtype=np.float32)
    got = OnnxCostModel.load(tmp_path / "m").raw_outputs(X)
    for name, ref in native_outputs(model.boosters_, X).items():
        rel = np.abs(got[name] - ref) / np.maximum(np.abs(ref), 1e-3)
        assert rel.max() <= 1e-3, (name, rel.max(), np.quantile(rel, 0.999))


def test_feature_equal_to_float32_of_a_threshold_takes_lightgbm_branch(fitted):
    """A real row whose feature is set to float32(t) > t: LightGBM goes right; ONNX must too."""
    import onnxruntime as ort
    from perfcast.models.onnx_export import convert_booster

    model, _, rows = fitted
    booster = model.boosters_["runtime_ms"]
    X = featurize(rows.head(200), model.schema_)[0].to_numpy(dtype=np.float32)
    queries = []
    for tree in booster.dump_model()["tree_info"]:
        root = tree["tree_structure"]
        t = float(root.get("threshold", np.nan)) if root.get("decision_type") == "<=" else np.nan
        if np.isfinite(t) and float(np.float32(t)) > t:
            q = X.copy()
            q[:, root["split_feature"]] = np.float32(t)
            queries.append(q)
        if len(queries) == 5:
            break
    assert queries, "no root threshold rounds up in float32 (cannot build the case)"
    Q = np.concatenate(queries)
    ref = booster.predict(Q)

    def run(onnx_model):
        sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, {"input": Q})[0].reshape(-1)

    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    raw = convert_lightgbm(booster, initial_types=[("input", FloatTensorType([None, Q.shape[1]]))])
    assert np.abs(run(raw) - ref).max() > 1e-4  # the plain conversion takes the other branch here
    assert np.abs(run(convert_booster(booster, Q.shape[1])) - ref).max() < 1e-5


def test_float32_exact_keeps_lightgbm_predictions(fitted):
    from perfcast.models.onnx_export import float32_exact

    model, _, rows = fitted
    X = featurize(rows.head(3000), model.schema_)[0].to_numpy(dtype=np.float32)
    for booster in model.boosters_.values():
        np.testing.assert_array_equal(float32_exact(booster).predict(X), booster.predict(X))


def test_parity_on_a_second_family(datasets_dir, tmp_path):
    conv = convolution(datasets_dir)
    model = GBCostModel(num_boost_round=100).fit(conv)
    model.save(tmp_path / "m")
    native = model.predict(conv)
    via_onnx = OnnxCostModel.load(tmp_path / "m").predict_frame(conv)
    rel = (np.abs(via_onnx - native) / np.abs(native).clip(lower=1e-9)).to_numpy()
    assert np.quantile(rel, 0.999) <= 1e-4


def test_prediction_path_imports_no_lightgbm_mlflow_or_pickle_loaders(fitted):
    _, d, rows = fitted
    path = d.parent / "rows.parquet"
    rows.head(50).to_parquet(path)
    code = (
        "import sys, pandas as pd\n"
        "from perfcast.models import OnnxCostModel\n"
        f"m = OnnxCostModel.load({str(d)!r}, threads=1)\n"
        f"p = m.predict_frame(pd.read_parquet({str(path)!r}))\n"
        "assert len(p) == 50 and (p['pred.runtime_ms'] > 0).all()\n"
        # (pandas itself imports pickle/cloudpickle at start-up; what matters is that no model loader does)
        "bad = [n for n in ('lightgbm', 'mlflow', 'joblib', 'sklearn', 'onnxmltools') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    # nothing in the model directory is a pickle (protocol 2+ starts with 0x80)
    for f in d.rglob("*"):
        if f.is_file():
            assert f.read_bytes()[:1] != b"\x80", f


def test_thread_count_is_configurable(fitted, monkeypatch):
    _, d, _ = fitted
    assert OnnxCostModel.load(d, threads=2).session.get_session_options().intra_op_num_threads == 2
    monkeypatch.setenv("PERFCAST_ORT_THREADS", "1")
    assert OnnxCostModel.load(d).session.get_session_options().intra_op_num_threads == 1
