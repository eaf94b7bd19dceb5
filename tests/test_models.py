"""GBCostModel on real data: targets, calibrated intervals, feasibility, save/load, update."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from perfcast.features import featurize
from perfcast.models import GBCostModel, OnnxCostModel
from perfcast.models.calibration import group_split, problem_keys
from test_models_data import autoheuristic_problems, convolution

ROUNDS = 80


@pytest.fixture(scope="module")
def ah_split(datasets_dir):
    """600 AutoHeuristic problems (30 configs each), split by problem: train / held-out (unseen problems)."""
    frame = autoheuristic_problems(datasets_dir, 600, seed=1, rows_per_problem=30)
    test, _ = group_split(problem_keys(frame), 0.25, seed=7)
    return frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)


@pytest.fixture(scope="module")
def ah_model(ah_split):
    train, _ = ah_split
    return GBCostModel(num_boost_round=ROUNDS).fit(train)


def test_predict_columns_order_and_units(ah_model, ah_split):
    _, test = ah_split
    shuffled = test.sample(frac=1.0, random_state=3)
    pred = ah_model.predict(shuffled)
    assert list(pred.index) == list(shuffled.index)
    assert list(pred.columns) == [
        "pred.runtime_ms",
        "pred.runtime_ms.q10",
        "pred.runtime_ms.q90",
        "pred.feasible_prob",
    ]
    ok = (shuffled["status"] == "ok").to_numpy()
    y = shuffled["runtime_ms"].to_numpy(dtype=float)[ok]
    p = pred["pred.runtime_ms"].to_numpy()[ok]
    assert np.all(p > 0)
    # learned relative to the roofline bound: the point prediction is in ms, close to the measurement
    assert np.median(np.abs(p - y) / y) < 0.25
    assert np.all(pred["pred.runtime_ms.q10"] <= pred["pred.runtime_ms"])
    assert np.all(pred["pred.runtime_ms"] <= pred["pred.runtime_ms.q90"])


def test_interval_is_conformalised_on_unseen_problems(ah_model, ah_split):
    _, test = ah_split
    meta = ah_model.meta_["targets"]["runtime_ms"]
    calib = meta["calibration"]
    assert calib["rule"] == "problem" and calib["n_cal_problems"] >= 20
    assert np.isfinite(meta["correction"])
    ok = (test["status"] == "ok").to_numpy()
    pred = ah_model.predict(test[ok])
    y = test.loc[ok, "runtime_ms"].to_numpy(dtype=float)
    coverage = np.mean((y >= pred["pred.runtime_ms.q10"]) & (y <= pred["pred.runtime_ms.q90"]))
    # 80% target; ~150 unseen problems here, so allow a little more than the +-5% of the full-size check
    assert 0.72 <= coverage <= 0.88, coverage


def test_runtime_is_learned_relative_to_roofline(ah_model, ah_split):
    """The point booster's raw output is log(runtime / roofline), not log(runtime)."""
    _, test = ah_split
    ok = test[test["status"] == "ok"].head(500)
    X, _ = featurize(ok, ah_model.schema_)
    raw = ah_model.boosters_["runtime_ms"].predict(X.to_numpy(dtype=np.float32))
    pred = ah_model.predict(ok)["pred.runtime_ms"].to_numpy()
    np.testing.assert_allclose(pred, np.exp(raw) * X["roofline_ms"].to_numpy(), rtol=1e-9)
    assert ah_model.meta_["targets"]["runtime_ms"]["transform"] == "log_ratio_roofline"


def test_failed_configs_train_feasibility_classifier(datasets_dir):
    conv = convolution(datasets_dir)
    failed = (conv["status"] != "ok").to_numpy()
    assert failed.sum() > 50
    model = GBCostModel(num_boost_round=60).fit(conv)
    prob = model.predict(conv)["pred.feasible_prob"].to_numpy()
    assert model.meta_["extra_outputs"]["feasible_prob"]["n_failed"] == failed.sum()
    # in-sample separation: failed configs get a clearly lower feasibility than good ones
    assert prob[failed].mean() < 0.5 < prob[~failed].mean()


def test_power_and_energy_targets_when_present(datasets_dir):
    from perfcast.measurements.ingest import read_path

    cut = next(iter(read_path(datasets_dir / "gpperf_cutlass" / "cutlass_profiling_20241111_195357.tar.gz"))).frame
    model = GBCostModel(num_boost_round=40).fit(cut)
    assert set(model.meta_["targets"]) == {"runtime_ms", "power_w", "energy_j"}
    pred = model.predict(cut.head(200))
    for t in ("runtime_ms", "power_w", "energy_j"):
        assert {f"pred.{t}", f"pred.{t}.q10", f"pred.{t}.q90"} <= set(pred.columns)
        assert (pred[f"pred.{t}"] > 0).all()
    assert model.meta_["targets"]["power_w"]["transform"] == "log"


def test_save_load_roundtrip_uses_onnx(ah_model, ah_split, tmp_path):
    _, test = ah_split
    ah_model.save(tmp_path / "m")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert {"model.onnx", "feature_schema.json", "model.json", "lightgbm"} <= set(names)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format_version"] == 1 and meta["data"]["n_rows"] > 0 and meta["data"]["hash"]
    assert meta["onnx_parity"]["p999_rel"] <= 1e-4
    loaded = GBCostModel.load(tmp_path / "m")
    native = ah_model.predict(test)
    via_onnx = loaded.predict(test)
    assert list(via_onnx.columns) == list(native.columns)
    rel = np.abs(via_onnx - native) / np.abs(native).clip(lower=1e-9)
    assert float(np.nanquantile(rel.to_numpy(), 0.999)) < 1e-4
    onnx_only = OnnxCostModel.load(tmp_path / "m")
    pd.testing.assert_frame_equal(onnx_only.predict_frame(test), via_onnx)


def test_update_adds_measurements(ah_split):
    train, test = ah_split
    model = GBCostModel(num_boost_round=30, quantile_boost_round=20).fit(train.head(3000))
    n0 = model.meta_["data"]["n_rows"]
    model.update(test.head(2000))
    assert model.meta_["data"]["n_rows"] == n0 + 2000


def test_update_continues_a_loaded_model(ah_split, tmp_path):
    train, test = ah_split
    GBCostModel(num_boost_round=20, quantile_boost_round=10).fit(train.head(3000)).save(tmp_path / "m")
    loaded = GBCostModel.load(tmp_path / "m")
    trees_before = loaded.boosters_["runtime_ms"].num_trees()
    loaded.update(test.head(2000), rounds=5)
    assert loaded.boosters_["runtime_ms"].num_trees() == trees_before + 5
    assert loaded.schema_.version == OnnxCostModel.load(tmp_path / "m").schema.version


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        GBCostModel().fit(pd.DataFrame())
    frame = pd.DataFrame({"kernel": ["triton.matmul"] * 3, "runtime_ms": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="usable rows"):
        GBCostModel().fit(frame)
    with pytest.raises(RuntimeError, match="not fitted"):
        GBCostModel().predict(frame)


def test_ranking_head_orders_configs_within_problems(ah_split, tmp_path):
    from perfcast.training.metrics import per_group_spearman
    from perfcast.training.splits import ranking_groups

    train, test = ah_split
    model = GBCostModel(num_boost_round=60, ranking=True).fit(train)
    assert model.meta_["extra_outputs"]["rank_score"]["groups"] > 100
    ok = test[test["status"] == "ok"].reset_index(drop=True)
    pred = model.predict(ok)
    # higher score = faster: Spearman of -score against runtime per unseen problem is clearly positive
    rho = per_group_spearman(ranking_groups(ok), ok["runtime_ms"].to_numpy(float), -pred["pred.rank_score"].to_numpy())
    assert np.median(rho) > 0.5
    model.save(tmp_path / "m")
    via_onnx = OnnxCostModel.load(tmp_path / "m").predict_frame(ok)
    np.testing.assert_allclose(via_onnx["pred.rank_score"], pred["pred.rank_score"], rtol=1e-4, atol=1e-4)


def test_openmp_wait_defaults_respect_the_users_choice():
    from perfcast.models import openmp_wait_defaults

    env: dict[str, str] = {}
    assert openmp_wait_defaults(env) == {"GOMP_SPINCOUNT": "1000", "KMP_BLOCKTIME": "0"}
    assert env == {"GOMP_SPINCOUNT": "1000", "KMP_BLOCKTIME": "0"}
    env = {"GOMP_SPINCOUNT": "50000"}
    assert openmp_wait_defaults(env) == {"KMP_BLOCKTIME": "0"} and env["GOMP_SPINCOUNT"] == "50000"
    env = {"OMP_WAIT_POLICY": "PASSIVE"}  # a wait policy of the user's: nothing overrides it
    assert openmp_wait_defaults(env) == {} and env == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_openmp_wait_is_set_before_lightgbm_loads():
    import os
    import subprocess
    import sys

    code = ("import sys, os; import perfcast.models.gbm; assert 'lightgbm' not in sys.modules; "
            "import lightgbm; print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1000", "None"]
