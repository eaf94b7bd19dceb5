"""Per-family interval coverage on held-out problems (issue #5: the 80% interval covers 80 +- 5% of
measurements of unseen problems), on the real data the routed champion's small sub-models train on.

Each case fits `GBCostModel` (as `RoutedGBCostModel` fits a family's sub-model: 250 rounds, one
LightGBM thread) on the training part of the frozen evaluation split by problem
(`perfcast.training.train.freeze_split`, seeds below) and scores the held-out part; the calibration
split lives inside the training part, so no calibration row is a test row. One split's per-family
coverage has a sampling spread of its own (~80 test problems: cluster-bootstrap std 0.03-0.04), so
the cases average a few splits.
"""

from __future__ import annotations

import lzma
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import ingest_path
from perfcast.measurements.store import MeasurementStore
from perfcast.models import GBCostModel
from perfcast.models.calibration import (
    apply_correction,
    conformal_quantile,
    conformity_scores,
    group_folds,
    group_split,
    problem_folds,
    problem_keys,
)
from perfcast.training.train import freeze_split

warnings.filterwarnings("ignore", category=UserWarning)

#: a routed sub-model's hyperparameters in `perfcast quickstart` (250 rounds; a small sub-model: 1 thread)
HP = {"num_boost_round": 250, "params": {"num_threads": 1}}


def _store_frame(tmp_path: Path, sources: list[Path], kernels: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Ingest real files into a fresh store (validation, dedup as `perfcast ingest`) and read it back;
    with `kernels`, only the JSONL lines of those families are ingested (the bundle is 47k records)."""
    store = MeasurementStore(tmp_path / "store")
    for src in sources:
        if kernels is not None:
            part = tmp_path / (src.name.removesuffix(".xz"))
            with lzma.open(src, "rt", encoding="utf-8") as fh, part.open("w", encoding="utf-8") as out:
                out.writelines(line for line in fh if any(f'"kernel":"{k}"' in line for k in kernels))
            src = part
        ingest_path(src, store)
    return store.read().reset_index(drop=True)


def _coverage(frame: pd.DataFrame, seed: int, family: str) -> float:
    """Coverage of the served 80% interval on the held-out problems of `family` (split `seed`)."""
    train_idx, test_idx = freeze_split(frame, 0.2, seed).train_test(frame)
    model = GBCostModel(seed=seed, **HP).fit(frame.iloc[train_idx].reset_index(drop=True))
    test = frame.iloc[test_idx]
    test = test[(test["status"] == "ok") & (test["kernel"] == family)]
    pred = model.predict(test)
    y = test["runtime_ms"].to_numpy(dtype=float)
    return float(np.mean((y >= pred["pred.runtime_ms.q10"].to_numpy()) & (y <= pred["pred.runtime_ms.q90"].to_numpy())))


@pytest.fixture(scope="module")
def layernorm(repo_root: Path, tmp_path_factory) -> pd.DataFrame:
    """Every triton.layernorm measurement of the bundled collector data (H100 + H200: most shapes on both)."""
    tmp = tmp_path_factory.mktemp("layernorm")
    files = [repo_root / "data" / "h100" / f for f in ("h100.jsonl.xz", "h200-transfer.jsonl.xz")]
    return _store_frame(tmp, files, kernels=("triton.layernorm",))


@pytest.fixture(scope="module")
def cutlass(datasets_dir: Path, tmp_path_factory) -> pd.DataFrame:
    """GPPerf CUTLASS (ok + failed configs) and the GPU's tiled matmul: the routed `cutlass-gemm` sub-model."""
    d = datasets_dir / "gpperf_cutlass"
    files = [d / "cutlass_profiling_20241111_195357.tar.gz", d / "tiled_execution_times_all.csv"]
    return _store_frame(tmp_path_factory.mktemp("cutlass"), files)


def test_served_interval_scores_match_its_coverage():
    """With the point prediction, a row is inside `apply_correction(lo, hi, c, point)` iff its score <= c
    (for c >= 0; a negative c that makes the pair cross is re-sorted by `apply_correction`)."""
    rng = np.random.default_rng(0)
    lo, hi = np.sort(rng.normal(size=(2, 5000)), axis=0)
    point = rng.normal(size=5000) * 0.5  # often outside [lo, hi], as a separately fitted point booster is
    y = rng.normal(size=5000) * 1.5
    scores = conformity_scores(y, lo, hi, point)
    for c in (0.0, 0.3, 1.0, conformal_quantile(scores, 0.8)):
        a, b = apply_correction(lo, hi, c, point)
        np.testing.assert_array_equal((y >= a) & (y <= b), scores <= c)
    a, b = apply_correction(lo, hi, conformal_quantile(scores, 0.8), point)
    assert 0.8 <= np.mean((y >= a) & (y <= b)) <= 0.801
    # without the point: the plain CQR score
    np.testing.assert_array_equal(conformity_scores(y, lo, hi), np.maximum(lo - y, y - hi))


def test_scaled_interval_scores_match_its_coverage():
    """`scaled_interval` (the product-centred energy interval) covers a row iff its `scaled_scores` <= c,
    and the conformal quantile of the scores gives the coverage asked for."""
    from perfcast.models.calibration import interval_function, scaled_interval, scaled_scores

    rng = np.random.default_rng(1)
    lo, hi = np.sort(rng.normal(size=(2, 5000)), axis=0)
    hi[:10] = lo[:10]  # a pair that touches still gives an interval
    point = rng.normal(size=5000) * 0.5
    y = point + rng.normal(size=5000) * (hi - lo)
    scores = scaled_scores(y, lo, hi, point)
    c = conformal_quantile(scores, 0.8)
    a, b = scaled_interval(lo, hi, c, point)
    np.testing.assert_array_equal((y >= a) & (y <= b), scores <= c)
    assert 0.8 <= np.mean((y >= a) & (y <= b)) <= 0.801 and (b[:10] > a[:10]).all()
    one = scaled_interval(np.float64(lo[0]), np.float64(hi[0]), c, np.float64(point[0]))  # one-row path
    assert type(one[0]) is np.float64 and one == (a[0], b[0])
    assert interval_function({}) is apply_correction and interval_function({"interval": "scaled"}) is scaled_interval
    with pytest.raises(ValueError, match="unknown interval"):
        interval_function({"interval": "wide"})


def test_folds_hold_out_whole_problems_and_fold_zero_is_the_split(layernorm):
    keys = problem_keys(layernorm, with_system=False)
    folds, rule = group_folds(keys, 0.2, seed=3)
    mask, rule0 = group_split(keys, 0.2, seed=3)
    assert rule == rule0 == "problem"
    np.testing.assert_array_equal(folds == 0, mask)
    assert set(np.unique(folds)) == {0, 1, 2, 3, 4}
    assert pd.Series(folds).groupby(keys.to_numpy()).nunique().max() == 1  # a problem is in one fold
    # a layernorm shape measured on the H100 and the H200 is ONE calibration problem (one fold)
    both = layernorm.groupby(keys.to_numpy())["system"].nunique()
    assert (both == 2).sum() >= 100


def test_problem_folds_hold_out_whole_problems_in_near_equal_counts(layernorm):
    keys = problem_keys(layernorm, with_system=False)
    n = keys.nunique()
    folds = problem_folds(keys, 20, seed=3)
    assert set(np.unique(folds)) == set(range(20))
    assert pd.Series(folds).groupby(keys.to_numpy()).nunique().max() == 1  # a problem is in one fold
    per_fold = pd.Series(keys.to_numpy()).groupby(folds).nunique()
    assert per_fold.max() - per_fold.min() <= 1 and per_fold.sum() == n
    # numbered by the stable hash: the same problem gets the same fold whatever the row order
    shuffled = keys.sample(frac=1.0, random_state=0)
    again = pd.Series(problem_folds(shuffled, 20, seed=3), index=shuffled.index).sort_index().to_numpy()
    np.testing.assert_array_equal(again, folds)
    assert not np.array_equal(problem_folds(keys, 20, seed=4), folds)
    # more folds than problems: one problem per fold
    few = keys[keys.isin(keys.unique()[:7])]
    np.testing.assert_array_equal(np.sort(pd.Series(problem_folds(few, 20)).unique()), np.arange(7))


def test_small_family_coverage_stays_near_80_on_problem_splits(layernorm):
    """triton.layernorm (~400 shapes; the README's frozen split had 0.73). On these 12 problem splits the
    previous calibration (one calibration split, GPU in the problem key, bare quantile pair scored) left
    0.80 +- 0.05 on 5 (0.73-0.87, mean 0.803); this one on 2 (mean 0.818)."""
    cover = np.array([_coverage(layernorm, seed, "triton.layernorm") for seed in range(12)])
    assert np.sum(np.abs(cover - 0.80) <= 0.05) >= 10, cover
    assert abs(cover.mean() - 0.80) <= 0.03, cover


@pytest.mark.slow
def test_cutlass_no_longer_over_covers(cutlass):
    """GPPerf CUTLASS: widening the calibrated pair to contain the point prediction made the served
    interval cover 0.856 on average over these 8 problem splits (0.79-0.91) with the previous
    calibration; scoring the served interval itself: 0.774 (0.69-0.83). ~45 s."""
    cover = np.array([_coverage(cutlass, seed, "cutlass.gemm") for seed in range(8)])
    assert abs(cover.mean() - 0.80) <= 0.04, cover


def test_config_split_scores_the_served_interval(datasets_dir: Path):
    """One problem, configs held out (Kernel Tuner GEMM, the `row` calibration rule): the calibration
    split is scored on the interval as served, with a point booster fitted without it. Scored on the
    bare pair, the served interval (widened to contain the point) covered 0.839 on average over these
    8 fits (4,000 configs of a GPU, 80/20 by config); now 0.805. ~7 s."""
    from perfcast.training.evaluate import load_dataset
    from perfcast.training.splits import split_by_config

    frame = load_dataset("kerneltuner_gemm", datasets_dir)
    cover = []
    for gpu in ("NVIDIA GeForce RTX 2080 Ti", "NVIDIA TITAN RTX"):
        sub = frame[frame["system"] == gpu].reset_index(drop=True)
        for seed in range(4):
            rows = sub.sample(n=4000, random_state=seed).reset_index(drop=True)
            parts = split_by_config(rows, test_fraction=0.2, seed=seed).parts(rows)
            model = GBCostModel(seed=seed, **HP).fit(rows.iloc[parts["train"]].reset_index(drop=True))
            calibration = model.meta_["targets"]["runtime_ms"]["calibration"]
            assert calibration["rule"] == "row" and calibration["scores"].startswith("served interval"), calibration
            test = rows.iloc[parts["test"]]
            test = test[test["status"] == "ok"]
            pred, y = model.predict(test), test["runtime_ms"].to_numpy(dtype=float)
            cover.append(np.mean((y >= pred["pred.runtime_ms.q10"].to_numpy()) & (y <= pred["pred.runtime_ms.q90"].to_numpy())))
    assert abs(np.mean(cover) - 0.80) <= 0.025, cover


def test_problem_columns_group_alpha_beta_variants_of_one_shape(datasets_dir: Path):
    """GPPerf holds each GEMM shape with 32 alpha/beta pairs. The `gpperf_problem` suite holds out
    whole shapes; a calibration split by every problem field held out alpha/beta variants of shapes
    the quantile boosters had seen, and the interval covered 0.57 of the held-out shapes' runtimes
    (power 0.67). Calibrating on held-out shapes (`problem_columns`, the suite's setting): 0.86 / 0.77."""
    from perfcast.training import evaluate as E

    case = E.SUITES["gpperf_problem"].build(datasets_dir, False)[0]
    shape = [c for c in E.GEMM_SHAPE_COLUMNS if c in case.frame.columns]
    keys = problem_keys(case.frame, with_system=False, columns=shape)
    assert keys.nunique() == case.frame[shape].drop_duplicates().shape[0] < problem_keys(case.frame).nunique()
    res = E.evaluate(case.models["perfcast"], case.frame, case.split)
    assert res["_model"].problem_columns == shape
    assert 0.75 <= res["test.runtime_ms.coverage_80"] <= 0.87, res["test.runtime_ms.coverage_80"]
    assert 0.72 <= res["test.power_w.coverage_80"] <= 0.88, res["test.power_w.coverage_80"]


def test_apply_correction_one_row_matches_arrays():
    """The serving path's one-row `apply_correction` (np.float64 scalars) gives the array path's values:
    crossing pairs re-sorted, the point inside, NaN anywhere giving NaN bounds, negative corrections."""
    rng = np.random.default_rng(2)
    lo, hi, point = rng.normal(size=(3, 400))
    lo[:20], hi[20:40], point[40:60] = np.nan, np.nan, np.nan
    hi[60:80] = lo[60:80] - 0.3  # crossing pairs
    for c in (0.25, 0.0, -0.4):
        for pt in (point, None):
            a, b = apply_correction(lo, hi, c, pt)
            for i in range(len(lo)):
                one = apply_correction(np.float64(lo[i]), np.float64(hi[i]), c, None if pt is None else np.float64(pt[i]))
                assert type(one[0]) is np.float64 and type(one[1]) is np.float64
                np.testing.assert_array_equal(one, (a[i], b[i]))
