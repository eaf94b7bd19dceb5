"""Metrics: hand-computed values, invariances and agreement with scipy on real runtimes."""

from __future__ import annotations

import numpy as np
import pytest
from perfcast.training import metrics as M
from scipy import stats


def test_ape_family_hand_values():
    y = np.array([1.0, 2.0, 4.0, np.nan, 0.0])
    p = np.array([1.1, 1.0, 4.0, 3.0, 1.0])
    assert M.ape(y, p)[:3] == pytest.approx([10.0, 50.0, 0.0])
    assert np.isnan(M.ape(y, p)[3:]).all()  # unusable measurements are ignored, not zero
    assert M.mape(y, p) == pytest.approx(20.0)
    assert M.median_ape(y, p) == pytest.approx(10.0)


def test_r2_log_perfect_and_mean():
    y = np.array([0.1, 1.0, 10.0, 100.0])
    assert M.r2_log(y, y) == pytest.approx(1.0)
    gm = np.full(4, np.exp(np.log(y).mean()))
    assert M.r2_log(y, gm) == pytest.approx(0.0)


def test_interval_coverage():
    y = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    assert M.interval_coverage(y, y - 0.5, y + 0.5) == 1.0
    assert M.interval_coverage(y, np.array([0, 0, 3.5, 0, 0.0]), np.full(5, 3.7)) == pytest.approx(0.5)


def _two_groups():
    g = np.array(["a"] * 5 + ["b"] * 4)
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0])
    return g, y


def test_ranking_perfect_prediction():
    g, y = _two_groups()
    r = M.ranking_metrics(g, y, y * 1.7)  # any monotone map ranks perfectly
    assert r["spearman_median"] == pytest.approx(1.0)
    assert r["kendall_median"] == pytest.approx(1.0)
    assert r["pairwise_accuracy"] == pytest.approx(1.0)
    assert r["top1_slowdown_geomean"] == pytest.approx(1.0)
    assert r["top1_recall"] == 1.0
    assert r["n_groups"] == 2


def test_ranking_reversed_prediction():
    g, y = _two_groups()
    s = M.top1_slowdown(g, y, 1.0 / y)
    assert sorted(s) == pytest.approx([4.0, 5.0])  # picks the slowest config of each group
    assert M.best_of_topk_slowdown(g, y, 1.0 / y, k=10).tolist() == [1.0, 1.0]
    assert M.best_of_topk_slowdown(g, y, 1.0 / y, k=2).tolist() == pytest.approx([4.0, 3.0])
    assert M.pairwise_accuracy(g, y, 1.0 / y) == 0.0
    assert M.topk_recall(g, y, 1.0 / y, k=3) == 0.0
    assert M.topk_recall(g, y, 1.0 / y, k=4) == 0.5  # group b has 4 configs: its best is 4th
    assert M.topk_recall(g, y, 1.0 / y, k=5) == 1.0
    assert np.allclose(M.per_group_spearman(g, y, 1.0 / y), -1.0)


def test_constant_prediction_is_not_rewarded():
    g, y = _two_groups()
    r = M.ranking_metrics(g, y, np.ones_like(y))
    assert r["spearman_median"] == 0.0
    assert r["pairwise_accuracy"] == pytest.approx(0.5)


def test_summarize_slowdown():
    s = M.summarize_slowdown([1.0, 1.0, 4.0])
    assert s["geomean"] == pytest.approx(4 ** (1 / 3))
    assert s["median"] == 1.0
    assert s["max"] == 4.0


def test_agrees_with_scipy_on_real_runtimes(datasets_dir):
    """Per-problem Spearman/Kendall equal scipy's on real AutoHeuristic rows and a noisy prediction."""
    import io
    import zipfile

    import pandas as pd

    with zipfile.ZipFile(datasets_dir / "autoheuristic_a100" / "a100_mm.zip") as z:
        text = z.read("a100/a100_mm.txt").decode()
    body = text.split("\n", 1)[1]
    df = pd.read_csv(io.StringIO(body), nrows=3000)
    df = df[np.isfinite(df["feedback"])]
    g = df[["m", "k", "n"]].astype(str).agg("x".join, axis=1).to_numpy()
    y = df["feedback"].to_numpy()
    p = y * np.exp(np.random.default_rng(0).normal(0, 0.2, len(y)))
    rho = M.per_group_spearman(g, y, p)
    tau = M.per_group_kendall(g, y, p)
    ref_rho, ref_tau = [], []
    for key in pd.unique(g):
        sel = g == key
        if sel.sum() >= 3:
            ref_rho.append(stats.spearmanr(y[sel], p[sel]).statistic)
            ref_tau.append(stats.kendalltau(y[sel], p[sel]).statistic)
    assert len(rho) == len(ref_rho) > 5
    assert np.sort(rho) == pytest.approx(np.sort(ref_rho))
    assert np.sort(tau) == pytest.approx(np.sort(ref_tau))
    # pairwise accuracy is (1 + tau_a)/2 without ties; exact when all pairs fit
    assert 0.5 < M.pairwise_accuracy(g, y, p) < 1.0


def test_groups_with_constant_measurements_are_left_out_of_rank_correlations() -> None:
    """A problem whose configs all measured the same has nothing to rank; a constant prediction scores 0."""
    from perfcast.training.metrics import per_group_kendall, per_group_spearman

    groups = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    truth = np.array([1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 1.0, 2.0, 3.0])
    pred = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0])
    assert per_group_spearman(groups, truth, pred).tolist() == [1.0, 0.0]
    assert per_group_kendall(groups, truth, pred).tolist() == [1.0, 0.0]
