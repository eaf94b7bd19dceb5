"""GBCostModel(scale_free=True) on real AutoHeuristic A100 measurements: size features never split."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from perfcast.features import featurize
from perfcast.models import GBCostModel
from perfcast.models.gbm import SIZE_FEATURES
from perfcast.training import evaluate as E
from perfcast.training.splits import problem_keys, problem_size, split_by_size

warnings.filterwarnings("ignore", category=UserWarning)

PARAMS = {"params": {"num_leaves": 63, "min_data_in_leaf": 5, "learning_rate": 0.1, "num_threads": 1},
          "num_boost_round": 150, "quantile_boost_round": 30}


@pytest.fixture(scope="module")
def ah(datasets_dir) -> pd.DataFrame:
    """400 AutoHeuristic triton.matmul problems (repeats merged), all their configs."""
    frame = E.load_dataset("autoheuristic_a100", datasets_dir)
    frame = E.aggregate_repeats(frame[frame["kernel"] == "triton.matmul"])
    return E._sample_groups(frame, problem_keys(frame), 400)


@pytest.fixture(scope="module")
def split(ah):
    threshold = float(np.quantile(np.unique(problem_size(ah)), 0.6))
    split = split_by_size(ah, max_train_size=threshold, factor=4.0, seed=0)
    return split, split.parts(ah)


def _split_gain(booster, names) -> dict[str, float]:
    return dict(zip(names, booster.feature_importance("gain"), strict=True))


def test_size_features_never_split_and_the_choice_survives_save_load(ah, split, tmp_path):
    _, parts = split
    train = ah.iloc[parts["train"]].reset_index(drop=True)
    model = GBCostModel(scale_free=True, **PARAMS).fit(train)
    names = model.schema_.names
    present = [c for c in SIZE_FEATURES if c in names]
    assert {"problem.M", "phys.flops", "phys.waves"} <= set(present)
    for booster in model.boosters_.values():
        gain = _split_gain(booster, names)
        assert all(gain[c] == 0 for c in present)
        assert sum(gain.values()) > 0
    # the default model does split on them (they carry information in range)
    plain = GBCostModel(**PARAMS).fit(train)
    assert sum(_split_gain(plain.boosters_["runtime_ms"], names)[c] for c in present) > 0
    model.save(tmp_path / "m")
    loaded = GBCostModel.load(tmp_path / "m")
    assert loaded.scale_free is True and loaded.get_params()["scale_free"] is True
    # continuing the loaded model on new rows keeps the size features out
    loaded.update(ah.iloc[parts["in_range"]].reset_index(drop=True), rounds=10)
    gain = _split_gain(loaded.boosters_["runtime_ms"], names)
    assert all(gain[c] == 0 for c in present)


def test_scale_free_extrapolates_better_than_all_features(ah, split):
    _, parts = split
    train = ah.iloc[parts["train"]].reset_index(drop=True)
    large = ah.iloc[parts["test"]].reset_index(drop=True)
    err = {}
    for name, model in (("scale_free", GBCostModel(scale_free=True, **PARAMS)), ("all", GBCostModel(**PARAMS))):
        model.fit(train)
        score = E.score(large, model.predict(large))
        err[name] = score["runtime_ms.median_ape"]
    assert err["scale_free"] < err["all"]


def test_large_problem_weight_fits_the_larger_half_closer(ah, split, tmp_path):
    _, parts = split
    train = ah.iloc[parts["train"]].reset_index(drop=True)
    plain = GBCostModel(scale_free=True, **PARAMS).fit(train)
    weighted = GBCostModel(scale_free=True, large_problem_weight=4.0, **PARAMS).fit(train)
    X, _ = featurize(train, weighted.schema_)
    flops = X["phys.flops"].to_numpy()
    large = flops >= np.median(flops)
    y = train["runtime_ms"].to_numpy(dtype=float)
    ok = np.isfinite(y) & (y > 0) & (train["status"].astype(str) == "ok").to_numpy()

    def fit_error(model, rows):
        p = model.predict(train)["pred.runtime_ms"].to_numpy()
        return float(np.mean(np.abs(np.log(p[rows & ok] / y[rows & ok]))))

    # the larger half is fitted closer, the smaller half less close, than without the weights
    assert fit_error(weighted, large) < fit_error(plain, large)
    assert fit_error(weighted, ~large) > fit_error(plain, ~large)
    weighted.save(tmp_path / "w")
    assert GBCostModel.load(tmp_path / "w").large_problem_weight == 4.0
    # off (1.0) gives exactly the unweighted model
    again = GBCostModel(scale_free=True, large_problem_weight=1.0, **PARAMS).fit(train)
    np.testing.assert_array_equal(again.predict(train)["pred.runtime_ms"], plain.predict(train)["pred.runtime_ms"])
