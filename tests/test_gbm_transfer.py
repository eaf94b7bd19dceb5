"""TransferCostModel on real Kernel Tuner GEMM measurements: a base of other GPUs, adapted to a new one."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from perfcast.models import GBCostModel
from perfcast.models.routed import write_routed_dir
from perfcast.models.transfer import TransferCostModel
from perfcast.training.splits import split_by_system

warnings.filterwarnings("ignore", category=UserWarning)

TARGET = "NVIDIA GeForce RTX 3090"
BASE = {"params": {"num_leaves": 31, "min_data_in_leaf": 5, "learning_rate": 0.1, "num_threads": 1},
        "num_boost_round": 120, "quantile_boost_round": 20}


@pytest.fixture(scope="module")
def kt(kt_gemm_sample) -> pd.DataFrame:
    """Three GPUs (two Turing sources, the Ampere 3090 as the new one), the same 1,500 configs on each."""
    return kt_gemm_sample(1500, 0)


@pytest.fixture(scope="module")
def parts(kt):
    split = split_by_system(kt, target=TARGET, k_target=300, seed=0)
    train, test = split.train_test(kt)
    return kt.iloc[train].reset_index(drop=True), kt.iloc[test].reset_index(drop=True)


@pytest.fixture(scope="module")
def base(parts):
    train, _ = parts
    return GBCostModel(**BASE).fit(train[train["system"] != TARGET].reset_index(drop=True))


def _median_ape(frame: pd.DataFrame, pred: pd.DataFrame) -> float:
    y = frame["runtime_ms"].to_numpy(dtype=float)
    return float(np.median(np.abs(pred["pred.runtime_ms"].to_numpy() / y - 1)) * 100)


def test_adapts_to_the_new_gpu(parts, base):
    train, test = parts
    model = TransferCostModel(TARGET, base=base).fit(train)
    assert model.sources_ == ["NVIDIA GeForce RTX 2080 Ti", "NVIDIA TITAN RTX"]
    assert model.n_target_rows_ == int((train["system"] == TARGET).sum()) == 300
    shuffled = test.sample(frac=1.0, random_state=1)
    pred = model.predict(shuffled)
    assert list(pred.index) == list(shuffled.index) and np.isfinite(pred["pred.runtime_ms"]).all()
    # the 3090 is ~2x faster than the Turing GPUs: the base has no 3090 rows and answers NaN (not
    # measured there); its prediction as if on the Titan is far off, the adapted model is close
    assert base.predict(test)["pred.runtime_ms"].isna().all()
    as_titan = base.predict(test.assign(system="NVIDIA TITAN RTX"))
    adapted, unadapted = _median_ape(shuffled, pred), _median_ape(test, as_titan)
    assert adapted < 10.0 < unadapted
    # and it ranks the new GPU's configs well (Spearman over 1,200 unseen configs)
    rho = pd.Series(pred["pred.runtime_ms"].to_numpy()).corr(pd.Series(shuffled["runtime_ms"].to_numpy()),
                                                            method="spearman")
    assert rho > 0.9


def test_base_from_a_saved_directory_and_fitted_here(parts, base, tmp_path):
    train, test = parts
    base.save(tmp_path / "base")
    # (interval_folds=0: the point prediction is what these compare; the interval has its own test)
    from_dir = TransferCostModel(TARGET, base=str(tmp_path / "base"), interval_folds=0).fit(train).predict(test)
    in_memory = TransferCostModel(TARGET, base=base, interval_folds=0).fit(train).predict(test)
    # the directory predicts through ONNX (float32 thresholds): the same model up to rounding
    np.testing.assert_allclose(from_dir["pred.runtime_ms"], in_memory["pred.runtime_ms"], rtol=2e-2)
    # a routed directory (what `perfcast train` registers by default) over the same sub-model
    base.save(tmp_path / "routed" / "xgemm")
    write_routed_dir(tmp_path / "routed", {str(train["kernel"].iloc[0]): "xgemm"})
    from_routed = TransferCostModel(TARGET, base=str(tmp_path / "routed"), interval_folds=0).fit(train)
    assert from_routed.sources_ == ["NVIDIA GeForce RTX 2080 Ti", "NVIDIA TITAN RTX"]
    np.testing.assert_allclose(from_routed.predict(test)["pred.runtime_ms"], from_dir["pred.runtime_ms"], rtol=1e-6)
    fitted_here = TransferCostModel(TARGET, base_params=BASE, interval_folds=0).fit(train)
    assert isinstance(fitted_here.base_, GBCostModel)
    assert _median_ape(test, fitted_here.predict(test)) < 10.0


def test_save_and_load_predict_the_same_through_onnx(parts, base, tmp_path):
    train, test = parts
    model = TransferCostModel(TARGET, base=base).fit(train)
    saved = model.save(tmp_path / "adapted")
    assert not list(saved.rglob("*.pkl")) and (saved / "base" / "model.onnx").is_file()
    meta = json.loads((saved / "transfer.json").read_text())
    assert meta["system"] == TARGET and meta["sources"] == model.sources_ and meta["onnx_parity_max_abs"] < 1e-4
    loaded = TransferCostModel.load(saved)
    assert loaded.boosters_ == [] and loaded.n_target_rows_ == 300
    ours, theirs = model.predict(test)["pred.runtime_ms"], loaded.predict(test)["pred.runtime_ms"]
    # the residual graph matches LightGBM (float32 inputs); the base goes through ONNX after loading
    # (float32 thresholds), as in test_base_from_a_saved_directory_and_fitted_here
    np.testing.assert_allclose(theirs, ours, rtol=2e-2)
    assert list(theirs.index) == list(test.index)
    # saved again from a directory base (copied as it is), and loaded: now the same model end to end
    again = TransferCostModel.load(loaded.update(test.iloc[:100]).save(tmp_path / "again"))
    assert again.n_target_rows_ == 400
    np.testing.assert_allclose(again.predict(test)["pred.runtime_ms"], loaded.predict(test)["pred.runtime_ms"],
                               rtol=1e-5)
    # re-saved where it was loaded from (the base stays in place)
    resaved = TransferCostModel.load(TransferCostModel.load(saved).update(test.iloc[:50]).save(saved))
    assert resaved.n_target_rows_ == 350 and (saved / "base" / "model.onnx").is_file()
    (saved / "residual.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="not a saved TransferCostModel: missing residual.onnx"):
        TransferCostModel.load(saved)


def test_update_adds_target_measurements(parts, base):
    train, test = parts
    model = TransferCostModel(TARGET, base=base, interval_folds=0).fit(train)
    before = _median_ape(test, model.predict(test))
    more = test.iloc[:400]
    model.update(more)
    assert model.n_target_rows_ == 700 and model.base_ is base
    rest = test.iloc[400:]
    assert _median_ape(rest, model.predict(rest)) < before * 1.1


def test_bagged_residual_boosters_depend_less_on_the_seed(parts, base):
    """n_bags residual boosters averaged: two disjoint seed sets disagree less than two single boosters."""
    train, test = parts

    def log_pred(**kw) -> np.ndarray:
        model = TransferCostModel(TARGET, base=base, interval_folds=0, **kw).fit(train)
        return np.log(model.predict(test)["pred.runtime_ms"].to_numpy())

    single = log_pred(n_bags=1, seed=0) - log_pred(n_bags=1, seed=1)
    bagged = log_pred(n_bags=5, seed=0) - log_pred(n_bags=5, seed=5)
    assert np.std(single) > 0  # the seed matters for one booster (row/feature bagging)
    assert np.std(bagged) < 0.7 * np.std(single)  # ~1/sqrt(5) for independent boosters
    model = TransferCostModel(TARGET, base=base).fit(train)
    assert model.n_bags == 5 and len(model.boosters_) == 5


def test_auto_rounds_grow_with_the_measurements(parts, base, tmp_path):
    """num_boost_round="auto": 150 rounds up to 500 target rows, then 0.3 per row (a fixed 150 underfit
    thousands of measurements: benchmarks/transfer_scaling.py); an integer is taken as given."""
    train, test = parts
    model = TransferCostModel(TARGET, base=base, interval_folds=0)
    assert model.num_boost_round == "auto"
    assert [model.rounds_for(n) for n in (20, 300, 500, 700, 4000)] == [150, 150, 150, 210, 1200]
    model.fit(train)
    assert model.num_boost_round_ == 150 and {b.num_trees() for b in model.boosters_} == {150}
    model.update(test.iloc[:400])  # 700 target rows
    assert model.num_boost_round_ == 210 and {b.num_trees() for b in model.boosters_} == {210}
    loaded = TransferCostModel.load(model.save(tmp_path / "adapted"))
    assert loaded.num_boost_round == "auto" and loaded.num_boost_round_ == 210
    fixed = TransferCostModel(TARGET, base=base, num_boost_round=40, n_bags=1, interval_folds=0).fit(train)
    assert fixed.num_boost_round_ == 40 and fixed.boosters_[0].num_trees() == 40


def test_interval_covers_about_80_percent_of_unseen_configs(parts, base, tmp_path):
    """The cross-conformal interval: 5 refits without one fold each; the 3090's unseen configs inside
    q10..q90 about 80% of the time; saved with the model; the point prediction does not depend on it."""
    train, test = parts
    model = TransferCostModel(TARGET, base=base).fit(train)
    pred = model.predict(test)
    lo, point, hi = (pred[f"pred.runtime_ms{s}"].to_numpy() for s in (".q10", "", ".q90"))
    assert (lo < point).all() and (point < hi).all()
    y = test["runtime_ms"].to_numpy()
    inside = float(np.mean((lo <= y) & (y <= hi)))
    assert 0.72 <= inside <= 0.88, inside
    info = model.interval_
    assert (info["folds"], info["rule"], info["rows"]) == (5, "row", 300) and 0.78 <= info["oof_coverage"] <= 0.86
    assert model.output_columns() == ["runtime_ms", "runtime_ms.q10", "runtime_ms.q90"]
    loaded = TransferCostModel.load(model.save(tmp_path / "adapted"))
    assert loaded.interval_ == info
    again = loaded.predict(test)
    np.testing.assert_allclose(again["pred.runtime_ms.q90"] / again["pred.runtime_ms"], np.exp(info["q90_log"]))
    # the refits run on 2 threads by default; one thread fits exactly the same model
    one_thread = TransferCostModel(TARGET, base=base, n_jobs=1).fit(train)
    assert one_thread.interval_ == info
    pd.testing.assert_frame_equal(one_thread.predict(test), pred)
    point_only = TransferCostModel(TARGET, base=base, interval_folds=0).fit(train)
    assert point_only.interval_ is None and list(point_only.predict(test).columns) == ["pred.runtime_ms"]
    np.testing.assert_array_equal(point_only.predict(test)["pred.runtime_ms"], point)
    few = train[train["system"] == TARGET].head(40)
    assert TransferCostModel(TARGET, base=base).fit(few).interval_ is None  # < 50 rows: point only
    with pytest.raises(ValueError, match="interval_folds must be 0 .* or an integer >= 2"):
        TransferCostModel(TARGET, base=base, interval_folds=1).fit(train)


def test_the_new_gpu_may_be_named_by_an_alias(parts, base):
    """`RTX_3090` is the registry's alias of the stored name: the same rows, sources and predictions."""
    train, test = parts
    by_alias = TransferCostModel("RTX_3090", base=base, interval_folds=0).fit(train)
    by_name = TransferCostModel(TARGET, base=base, interval_folds=0).fit(train)
    assert by_alias.sources_ == by_name.sources_ == ["NVIDIA GeForce RTX 2080 Ti", "NVIDIA TITAN RTX"]
    assert by_alias.n_target_rows_ == by_name.n_target_rows_ == 300
    np.testing.assert_array_equal(by_alias.predict(test)["pred.runtime_ms"], by_name.predict(test)["pred.runtime_ms"])


def test_bad_input_is_a_clear_error(parts, base):
    train, test = parts
    with pytest.raises(ValueError, match="need >= 20 measurements"):
        TransferCostModel("NVIDIA A100", base=base).fit(train)
    model = TransferCostModel(TARGET, base=base).fit(train)
    with pytest.raises(ValueError, match="predicts 'NVIDIA GeForce RTX 3090' only"):
        model.predict(train)
    with pytest.raises(TypeError, match="base must be"):
        TransferCostModel(TARGET, base=42).fit(train)
    with pytest.raises(ValueError, match="n_bags must be an integer >= 1"):
        TransferCostModel(TARGET, base=base, n_bags=0).fit(train)
    with pytest.raises(ValueError, match="n_jobs must be an integer >= 1"):
        TransferCostModel(TARGET, base=base, n_jobs=0).fit(train)
    with pytest.raises(ValueError, match="num_boost_round must be 'auto' or an integer >= 1"):
        TransferCostModel(TARGET, base=base, num_boost_round="many").fit(train)
    with pytest.raises(RuntimeError, match="not fitted"):
        TransferCostModel(TARGET).predict(test)


def test_a_family_without_a_roofline(h100_h200_frame):
    """triton.layernorm has no roofline (features give NaN): the adaptation learns plain log runtime
    there. Bundled H100 -> H200 measurements, 150 H200 rows to adapt on."""
    f = h100_h200_frame
    f = f[f["kernel"].eq("triton.layernorm") & f["status"].eq("ok")].reset_index(drop=True)
    h100 = f[f["system"] != "NVIDIA H200"].reset_index(drop=True)
    h200 = f[f["system"] == "NVIDIA H200"].sample(frac=1.0, random_state=0).reset_index(drop=True)
    base = GBCostModel(params={"num_leaves": 31, "num_threads": 1}, num_boost_round=100,
                       quantile_boost_round=20).fit(h100)
    train, test = h200.iloc[:150], h200.iloc[150:]
    pred = TransferCostModel("NVIDIA H200", base=base).fit(train).predict(test)
    assert np.isfinite(pred["pred.runtime_ms"]).all()
    as_h100 = base.predict(test.assign(system=h100["system"].iloc[0]))
    assert _median_ape(test, pred) < _median_ape(test, as_h100)  # measured: 6.1% against 8.0%
