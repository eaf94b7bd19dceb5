"""Energy answered as predicted power × predicted runtime (`GBCostModel(energy_point=...)`), on the
bundled H100 softmax measurements: ~7,200 runtimes, 132 of them with power and energy (J = W × ms / 1000)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from perfcast.models import GBCostModel
from perfcast.models.calibration import problem_keys
from perfcast.models.gbm import ENERGY_PRODUCT
from perfcast.models.onnx_model import OnnxCostModel

#: a routed sub-model's settings in `perfcast quickstart`, fewer rounds
HP = {"num_boost_round": 120, "params": {"num_threads": 1}}


@pytest.fixture(scope="module")
def softmax(h100_h200_frame) -> pd.DataFrame:
    f = h100_h200_frame
    return f[(f["kernel"] == "triton.softmax") & (f["system"] == "NVIDIA H100 80GB HBM3")].reset_index(drop=True)


@pytest.fixture(scope="module")
def models(softmax) -> dict[str, GBCostModel]:
    return {mode: GBCostModel(energy_point=mode, **HP).fit(softmax) for mode in ("auto", "booster")}


def _energy_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["energy_j"].notna() & frame["status"].eq("ok")]


def test_the_product_point_is_power_times_runtime_natively_and_in_onnx(models, softmax, tmp_path):
    model = models["auto"]
    spec = model.meta_["targets"]["energy_j"]
    assert spec["point"] == ENERGY_PRODUCT and spec["point_choice"]["method"] == "product"
    assert model.meta_["derived_outputs"][ENERGY_PRODUCT]["sum"] == ["runtime_ms", "power_w"]
    rows = softmax.sample(2000, random_state=0)
    native = model.predict(rows)
    product = native["pred.power_w"] * native["pred.runtime_ms"] / 1000.0
    np.testing.assert_allclose(native["pred.energy_j"], product, rtol=1e-12)
    lo, hi = native["pred.energy_j.q10"], native["pred.energy_j.q90"]
    assert (lo <= native["pred.energy_j"]).all() and (native["pred.energy_j"] <= hi).all()
    # centred on the product (in log space), as wide as the energy pair says each row is uncertain
    assert spec["interval"] == "scaled" and spec["correction"] > 0
    np.testing.assert_allclose(np.log(hi / native["pred.energy_j"]), np.log(native["pred.energy_j"] / lo), rtol=1e-9)
    assert np.log(hi / lo).std() > 0.05  # not one constant width

    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["derived_outputs"] == model.meta_["derived_outputs"]
    served = OnnxCostModel.load(tmp_path / "m")
    assert ENERGY_PRODUCT in served.output_names
    onnx_pred = served.predict_frame(rows)
    for col in ("pred.energy_j", "pred.energy_j.q10", "pred.energy_j.q90"):
        rel = np.abs(onnx_pred[col] / native[col] - 1.0)
        assert np.quantile(rel, 0.999) <= 1e-4, col
    # a loaded model (continues training from its boosters) predicts through the same graph
    np.testing.assert_allclose(GBCostModel.load(tmp_path / "m").predict(rows)["pred.energy_j"], onnx_pred["pred.energy_j"])


def test_auto_chooses_the_lower_out_of_fold_error(models):
    choice = models["auto"].meta_["targets"]["energy_j"]["point_choice"]
    errors = choice["median_abs_log_error"]
    assert choice["method"] == ("product" if choice["product_better_share"] >= 0.9 else "booster")
    # every energy row scored once, by models fitted without its problem (20 folds), no extra fits
    energy_folds = models["auto"].meta_["targets"]["energy_j"]["calibration"]["folds"]
    assert choice["n_rows"] >= 120 and choice["folds"] == energy_folds == 20
    # softmax energy through its ~7,200 runtimes is much closer than the energy booster's 132 rows
    assert errors["product"] < 0.7 * errors["booster"] and choice["product_better_share"] > 0.99, choice


def test_booster_mode_keeps_the_energy_booster(models, softmax):
    model = models["booster"]
    spec = model.meta_["targets"]["energy_j"]
    assert spec["point"] == "energy_j" and "point_choice" not in spec and "derived_outputs" not in model.meta_
    rows = _energy_rows(softmax).head(50)
    pred, auto = model.predict(rows), models["auto"].predict(rows)
    # the same boosters and quantile pair; only the point (and the interval around it) differs
    np.testing.assert_allclose(pred["pred.runtime_ms"], auto["pred.runtime_ms"])
    assert not np.allclose(pred["pred.energy_j"], auto["pred.energy_j"])
    with pytest.raises(ValueError, match="energy_point"):
        GBCostModel(energy_point="mean")


def test_a_target_too_small_for_one_calibration_fold_is_cross_conformalised(models, softmax):
    """132 power rows over 82 problems: fold 0 alone holds < 30, which left the interval unconformalised
    before session 16. Every fold is scored by boosters fitted without it: 20 problem folds (session 17;
    the served pair sees every row), or the 5 folds with `small_target_folds=0`."""
    spec = models["booster"].meta_["targets"]["power_w"]
    calib = spec["calibration"]
    power = softmax[softmax["power_w"].notna() & softmax["status"].eq("ok")]
    assert calib["folds"] == 20 and calib["n_cal_problems"] == problem_keys(power, with_system=False).nunique() > 20
    assert calib["n_cal"] >= 120 and "20 problem folds" in calib["note"]
    assert calib["n_fit"] == calib["n_cal"]  # the served pair saw every row
    assert spec["correction"] != 0.0
    five = GBCostModel(energy_point="booster", small_target_folds=0, targets=("power_w",), **HP).fit(softmax)
    calib5 = five.meta_["targets"]["power_w"]["calibration"]
    assert calib5["folds"] == 5 and "problem folds (<=" not in calib5.get("note", "")
    assert five.get_params()["small_target_folds"] == 0


def test_the_service_ranks_by_the_product(models, softmax, tmp_path):
    from perfcast.serving.predictor import Predictor

    models["auto"].save(tmp_path / "m")
    pred = Predictor.load(tmp_path / "m")
    keys = problem_keys(softmax)
    one = _energy_rows(softmax).iloc[0]
    cands = softmax[keys == keys[one.name]]
    params = [{k.removeprefix("params."): v for k, v in r.items() if k.startswith("params.") and pd.notna(v)}
              for r in cands.to_dict("records")][:20]
    problem = {k.removeprefix("problem."): v for k, v in one.items() if k.startswith("problem.") and pd.notna(v)}
    # the service maps graph outputs as batch prediction does (the scaled interval included)
    records = [{"kernel": "triton.softmax", "system": one["system"], "problem": problem, "params": p} for p in params]
    frame = OnnxCostModel.load(tmp_path / "m").predict_frame(cands.iloc[: len(params)])
    answers = pred.predict(records)
    for col, key in (("pred.energy_j", "value"), ("pred.energy_j.q10", "q10"), ("pred.energy_j.q90", "q90")):
        np.testing.assert_allclose([a["energy_j"][key] for a in answers], frame[col], rtol=1e-6)
    for top_k in (None, 3):
        ranked = pred.rank(one["system"], problem, params, objective="energy", kernel="triton.softmax", top_k=top_k)
        for item in ranked:
            p = item["prediction"]
            assert item["score"] == p["energy_j"]["value"]
            assert p["energy_j"]["value"] == pytest.approx(p["power_w"]["value"] * p["runtime_ms"]["value"] / 1000, rel=1e-5)
        scores = [item["score"] for item in ranked]
        assert scores == sorted(scores)


def test_cli_train_passes_the_energy_point(softmax, tmp_path):
    from perfcast.measurements.store import MeasurementStore

    from perfcast.cli import main as cli_main

    store = tmp_path / "store"
    MeasurementStore(store).append(softmax.drop(columns=["_line", "runtime_ms_samples"], errors="ignore"))
    for mode, point in (("booster", "energy_j"), ("product", ENERGY_PRODUCT)):
        out = tmp_path / mode
        argv = ["train", "--store", str(store), "--no-register", "--out", str(out), "--rounds", "20", "--holdout", "0",
                "--energy-point", mode]
        assert cli_main(argv) == 0
        (meta_path,) = out.glob("perfcast-default/*/model.json")
        meta = json.loads(meta_path.read_text())
        assert meta["hyperparameters"]["energy_point"] == mode and meta["targets"]["energy_j"]["point"] == point
    # a registered run logs the output answering energy per sub-model
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert cli_main(["train", "--store", str(store), "--rounds", "20", "--holdout", "0", "--energy-point", "product",
                     "--tracking-uri", uri]) == 0
    (run,) = mlflow.MlflowClient(uri).search_runs([mlflow.MlflowClient(uri).get_experiment_by_name("perfcast").experiment_id])
    assert {k: v for k, v in run.data.params.items() if k.startswith("energy_point.")} == {"energy_point.triton-softmax": ENERGY_PRODUCT}


def test_without_cross_fitted_points_the_choice_uses_fold_zero_of_each_calibration(h100_h200_frame):
    """With `cross_calibration_problems=0` no target is cross-fitted (as for a family with >= 500
    calibration problems); the served-interval scores of each target's fold 0 give the out-of-fold
    points the choice compares, so it fits nothing of its own."""
    f = h100_h200_frame
    rows = f[f["kernel"].isin(["triton.softmax", "triton.layernorm", "triton.reduction"])
             & (f["system"] == "NVIDIA H100 80GB HBM3")].reset_index(drop=True)
    model = GBCostModel(cross_calibration_problems=0, **HP).fit(rows)
    energy = model.meta_["targets"]["energy_j"]
    choice = energy["point_choice"]
    assert choice["folds"] == 1 and choice["n_rows"] >= 30 and "extra_fits" not in choice, choice
    for target in ("runtime_ms", "power_w", "energy_j"):
        assert model.meta_["targets"][target]["calibration"]["scores"] == "served interval (point prediction included)"
    assert energy["calibration"]["n_cal"] >= choice["n_rows"]  # fold 0 of energy, where all five are held out
    # too small for the bare calibration split: no out-of-fold points, nothing to compare on
    small = GBCostModel(cross_calibration_problems=0, **HP).fit(rows[rows["kernel"] == "triton.softmax"])
    choice = small.meta_["targets"]["energy_j"]["point_choice"]
    assert choice["method"] == "booster" and "not compared" in choice["note"]


def test_a_routed_model_answers_each_family_with_its_own_energy_point(models, softmax, h100_h200_frame, tmp_path):
    """One sub-model answers energy as power × runtime, another with its booster: the routed directory's
    summary records the point per sub-model and each family is answered by its own."""
    from perfcast.models.routed import RoutedCostModel, write_routed_dir

    f = h100_h200_frame
    layernorm = f[(f["kernel"] == "triton.layernorm") & (f["system"] == "NVIDIA H100 80GB HBM3")].reset_index(drop=True)
    models["auto"].save(tmp_path / "r" / "product")
    booster = GBCostModel(energy_point="booster", **HP).fit(layernorm)
    booster.save(tmp_path / "r" / "booster")
    write_routed_dir(tmp_path / "r", {"triton.softmax": "product", "triton.layernorm": "booster"})
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["targets"]["energy_j"]["points"] == {"product": ENERGY_PRODUCT, "booster": "energy_j"}
    assert "point" not in meta["targets"]["energy_j"] and meta["targets"]["runtime_ms"]["point"] == "runtime_ms"
    routed = RoutedCostModel.load(tmp_path / "r")
    a, b = _energy_rows(softmax).head(40), _energy_rows(layernorm).head(40)
    both = routed.predict_frame(pd.concat([a, b], ignore_index=True))["pred.energy_j"].to_numpy()
    np.testing.assert_allclose(both[:40], models["auto"].predict(a)["pred.energy_j"], rtol=1e-4)
    np.testing.assert_allclose(both[40:], booster.predict(b)["pred.energy_j"], rtol=1e-4)
