"""guided_search on real Kernel Tuner GEMM caches: a model chooses what to measure on a new GPU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from perfcast.training.baselines import OtherSystemsLookup, PlainLGBM
from perfcast.training.search import SearchResult, guided_search, pick_batch

TARGET = "NVIDIA GeForce RTX 3090"


@pytest.fixture(scope="module")
def kt(kt_gemm_sample) -> pd.DataFrame:
    """Two Turing GPUs and the 3090, the same 2,000 configs on each."""
    return kt_gemm_sample(2000, 1)


@pytest.fixture(scope="module")
def task(kt):
    """(other GPUs' rows, the 3090's candidates without measurements, a lookup that measures them)."""
    on_target = kt["system"].eq(TARGET)
    truth = kt[on_target]
    candidates = truth.drop(columns=["runtime_ms", "runtime_ms_samples", "status"])

    def measure(rows: pd.DataFrame) -> pd.DataFrame:
        return truth.loc[rows.index]

    return kt[~on_target], candidates, measure, truth


def test_guided_rounds_measure_the_predicted_fastest(task):
    others, candidates, measure, truth = task
    result = guided_search(OtherSystemsLookup, candidates, measure, budget=120, initial=40, batch=20,
                           diversity=0, context=others, seed=3)
    m = result.measured
    assert len(m) == 120 and m.index.is_unique and set(m.index) <= set(candidates.index)
    assert m["search.round"].value_counts().sort_index().tolist() == [40, 20, 20, 20, 20]
    # the order of OtherSystemsLookup does not learn from the target rows: each round takes the next
    # 20 of its ranking among the configs not yet measured
    ranking = OtherSystemsLookup().fit(others).predict(candidates)["pred.runtime_ms"]
    start = set(m.index[m["search.round"] == 0])
    expected = ranking.drop(index=list(start)).sort_values(kind="stable").index[:80]
    assert set(m.index[m["search.round"] > 0]) == set(expected)
    assert (m["runtime_ms"].to_numpy() == truth.loc[m.index, "runtime_ms"].to_numpy()).all()


def test_a_batch_is_half_greedy_half_spread_out(task):
    others, candidates, measure, _ = task
    result = guided_search(OtherSystemsLookup, candidates, measure, budget=90, initial=40, batch=50,
                           diversity=1, context=others, seed=3)
    m = result.measured
    assert m["search.round"].value_counts().sort_index().tolist() == [40, 50]
    ranking = OtherSystemsLookup().fit(others).predict(candidates)["pred.runtime_ms"]
    order = ranking.drop(index=list(m.index[m["search.round"] == 0])).sort_values(kind="stable").index
    picked = list(m.index[m["search.round"] == 1])
    assert set(picked[:25]) == set(order[:25])  # the first half: the predicted fastest
    params = [c for c in candidates.columns if c.startswith("params.")]
    codes = candidates[params]

    def near(i, chosen) -> bool:  # within one parameter change of a config already in the batch
        return bool(((codes.loc[chosen] != codes.loc[i]).sum(axis=1) <= 1).any())

    # the second half: down the predicted order, every config one change from a batch member skipped
    chosen, expected = list(order[:25]), []
    for i in order[25:]:
        if len(expected) == 25:
            break
        if not near(i, chosen):
            chosen.append(i)
            expected.append(i)
    assert picked[25:] == expected
    assert all(not near(i, [j for j in picked if j != i]) for i in picked[25:])
    # the greedy batch (diversity=0) would have taken configs one change from each other
    assert any(near(i, [j for j in order[:50] if j != i]) for i in order[25:50])


def test_pick_batch_fills_from_the_skipped_when_nothing_is_far_enough():
    order = np.array([4, 2, 0, 1, 3])
    same = np.zeros((5, 3), dtype=np.int64)  # five identical configs: all within any distance
    assert pick_batch(order, same, 4, 1).tolist() == [4, 2, 0, 1]
    spread = np.array([[0, 0], [0, 1], [1, 1], [5, 5], [0, 0]])
    assert pick_batch(order, spread, 3, 1).tolist() == [4, 2, 3]  # 0 is within 1 of 4, 1 within 1 of 2
    assert pick_batch(order, spread, 3, 0).tolist() == [4, 2, 0]
    assert pick_batch(order, np.zeros((5, 0), dtype=np.int64), 3, 1).tolist() == [4, 2, 0]


def test_guided_finds_faster_configs_than_random_search(task):
    others, candidates, measure, truth = task
    guided = [guided_search(lambda: PlainLGBM(num_boost_round=100), candidates, measure, budget=150,
                            initial=50, batch=25, seed=s).best["runtime_ms"] for s in range(3)]
    random = [guided_search(None, candidates, measure, budget=150, initial=150, seed=s).best["runtime_ms"]
              for s in range(3)]
    best = truth["runtime_ms"].min()
    # 150 of 2,000: random search's best stays well above the GPU's best; the guided search gets close
    assert np.median(guided) / best < 1.05 < np.median(random) / best


def test_best_so_far_and_failures(task):
    _, candidates, _, truth = task
    failed = set(truth.index[::3])

    def flaky(rows: pd.DataFrame) -> pd.DataFrame:
        out = truth.loc[rows.index].copy()
        bad = out.index.isin(list(failed))
        out.loc[bad, "status"] = "error"
        out.loc[bad, "runtime_ms"] = np.nan
        return out

    result = guided_search(lambda: PlainLGBM(num_boost_round=50), candidates, flaky, budget=90, initial=30,
                           batch=30, seed=0)
    v, best = result.values(), result.best_so_far()
    assert len(v) == 90 and np.isnan(v).sum() == result.measured.index.isin(list(failed)).sum() > 0
    assert (np.diff(best[np.isfinite(best)]) <= 0).all()
    assert result.best["runtime_ms"] == np.nanmin(v) and result.best["status"] == "ok"


def test_a_model_that_cannot_fit_falls_back_to_random_with_a_warning(task):
    _, candidates, measure, _ = task

    class NeedsMore:
        def fit(self, frame):
            raise ValueError("need >= 1000 rows")

    with pytest.warns(UserWarning, match="could not fit.*need >= 1000 rows"):
        result = guided_search(NeedsMore, candidates, measure, budget=30, initial=10, batch=10)
    assert len(result.measured) == 30 and result.measured.index.is_unique


def test_clear_errors(task):
    _, candidates, measure, _ = task
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        guided_search(None, candidates, measure, budget=0)
    with pytest.raises(ValueError, match="diversity must be an integer >= 0"):
        guided_search(None, candidates, measure, diversity=-1)
    with pytest.raises(ValueError, match="unique index"):
        guided_search(None, pd.concat([candidates.head(3), candidates.head(3)]), measure, budget=2)
    with pytest.raises(ValueError, match="must return the 5 rows"):
        guided_search(None, candidates, lambda rows: rows.head(2), budget=5, initial=5)
    with pytest.raises(ValueError, match="no 'runtime_ms' column"):
        guided_search(None, candidates, lambda rows: rows, budget=5, initial=5)
    with pytest.raises(ValueError, match="no successful measurement"):
        _ = SearchResult(candidates.head(2).assign(runtime_ms=np.nan)).best
