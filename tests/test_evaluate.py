"""End-to-end evaluation on small slices of the real datasets (perfcast model + baselines, same split)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import read_path
from perfcast.training import evaluate as E
from perfcast.training.baselines import GPPerfRandomForest, OtherSystemsLookup, PlainLGBM, RooflineBaseline
from perfcast.training.splits import config_keys, split_by_config, split_by_system

warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="module")
def kt(datasets_dir) -> pd.DataFrame:
    """Two Kernel Tuner GEMM GPUs, the same 1,200 configs on each (real runtimes)."""
    frames = []
    for name in ("RTX_2080_Ti.json.gz", "RTX_Titan.json.gz"):
        frames += [c.frame for c in read_path(datasets_dir / "kerneltuner_gemm" / name)]
    f = pd.concat(frames, ignore_index=True)
    keys = config_keys(f, with_system=False)
    keep = np.random.default_rng(0).choice(np.unique(keys), 1200, replace=False)
    return f[np.isin(keys, keep)].reset_index(drop=True)


def test_evaluate_perfcast_beats_baselines_on_real_configs(kt):
    one = kt[kt["system"] == kt["system"].iloc[0]].reset_index(drop=True)
    split = split_by_config(one, seed=0)
    res = {name: E.evaluate(f, one, split) for name, f in {
        "perfcast": E.perfcast_factory("xgemm", quick=True),
        "plain": lambda: PlainLGBM(num_boost_round=100),
        "rf": lambda: GPPerfRandomForest(n_estimators=20),
        "roofline": RooflineBaseline,
    }.items()}
    for r in res.values():
        assert r["split_id"] == split.split_id and r["n_train"] == split.counts["train"]
        assert r["test.n_rows"] == split.counts["test"]
        assert {"test.runtime_ms.median_ape", "test.spearman_median", "test.top1_slowdown_geomean",
                "test.top10_slowdown_geomean", "test.pairwise_accuracy"} <= set(r)
        assert r["test.top1_slowdown_geomean"] >= 1.0
    p = res["perfcast"]
    assert 0.6 <= p["test.runtime_ms.coverage_80"] <= 1.0  # conformalised interval, small data
    # learned models rank configs; the roofline bound alone cannot tell them apart
    assert p["test.spearman_median"] > 0.9 > res["roofline"]["test.spearman_median"]
    assert p["test.runtime_ms.median_ape"] < res["roofline"]["test.runtime_ms.median_ape"] / 3


def test_transfer_split_with_lookup_baseline(kt):
    target = "NVIDIA TITAN RTX"
    split = split_by_system(kt, target=target, k_target=200, seed=0)
    look = E.evaluate(OtherSystemsLookup, kt, split)
    plain = E.evaluate(lambda: PlainLGBM(num_boost_round=100), kt, split)
    # the 2080 Ti and Titan RTX (both Turing) rank configs alike: the lookup is a strong transfer baseline
    assert look["test.spearman_median"] > 0.9
    assert plain["test.spearman_median"] > 0.8
    assert look["test.n_rows"] == (kt["system"] == target).sum() - 200


def test_aggregate_repeats_takes_the_median(kt):
    one = kt.iloc[:300]
    rep = pd.concat([one, one.assign(runtime_ms=one["runtime_ms"] * 1.2),
                     one.assign(runtime_ms=one["runtime_ms"] * 3.0)], ignore_index=True)
    agg = E.aggregate_repeats(rep)
    assert len(agg) == 300
    np.testing.assert_allclose(np.sort(agg["runtime_ms"]), np.sort(one["runtime_ms"] * 1.2))


def test_ranking_compares_distinct_configs(kt, datasets_dir):
    """Repeats of a config are one candidate; a problem measured with one config is not a ranking."""
    one = kt[kt["system"] == kt["system"].iloc[0]].iloc[:400].reset_index(drop=True)
    wobble = 1.0 + 0.05 * np.sin(np.arange(len(one)))  # an imperfect but deterministic prediction
    pred = pd.DataFrame({"pred.runtime_ms": one["runtime_ms"].to_numpy() * wobble})
    base = E.score(one, pred)
    rep = pd.concat([one, one.assign(runtime_ms=one["runtime_ms"] * 0.97),
                     one.assign(runtime_ms=one["runtime_ms"] * 1.03)], ignore_index=True)
    rep_pred = pd.concat([pred] * 3, ignore_index=True)
    again = E.score(rep, rep_pred)
    for key in ("n_groups", "spearman_median", "top1_slowdown_geomean", "top5_recall"):
        assert again[key] == pytest.approx(base[key]), key
    # GPPerf: 28 timings of ONE CUTLASS kernel per problem -> nothing to rank (not a Spearman of 0)
    gp = pd.concat([c.frame for c in read_path(datasets_dir / "gpperf_cutlass" / "cutlass_profiling_20241111_195357.tar.gz")],
                   ignore_index=True)
    gp = gp[gp["status"] == "ok"].reset_index(drop=True)
    assert config_keys(gp).size > np.unique(config_keys(gp)).size  # the data does hold repeats
    scored = E.score(gp, pd.DataFrame({"pred.runtime_ms": np.full(len(gp), 1.0)}))
    assert scored["n_groups"] == 0 and np.isnan(scored["spearman_median"])
    assert scored["runtime_ms.median_ape"] > 0  # regression metrics still use every row


def test_cli_quick_suite_writes_every_model(tmp_path, capsys, datasets_dir):
    import argparse

    from perfcast.training import cli_evaluate

    parser = argparse.ArgumentParser()
    cli_evaluate.add_arguments(parser)
    out = tmp_path / "res.json"
    args = parser.parse_args(["--suite", "gpperf_problem", "--quick", "--datasets", str(datasets_dir),
                              "--output", str(out)])
    assert cli_evaluate.main(args) == 0
    rows = json.loads(out.read_text())
    assert {r["model"] for r in rows} == {"perfcast", "plain_lgbm", "gpperf_rf", "roofline"}
    assert len({r["split_id"] for r in rows}) == 1  # every model on the same frozen split
    text = capsys.readouterr().out
    assert "| gpperf_problem |" in text
    perf = next(r for r in rows if r["model"] == "perfcast")
    assert perf["test.runtime_ms.r2_log"] > 0.95
    assert np.isfinite(perf["test.power_w.median_ape"])
    table = E.targets_table(pd.DataFrame(rows))
    assert set(table["metric"]) == {"runtime_ms.r2", "power_w.median_ape"}


def test_unknown_suite_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown suite"):
        E.run_suite("nope")


def test_size_split_scores_the_band_the_far_part_and_in_range(datasets_dir):
    """The extrapolation target reads `test` (4–16×) against `in_range`; `far` is scored beside them."""
    from perfcast.training.splits import problem_size, split_by_size

    frames = [c.frame for c in read_path(datasets_dir / "gpperf_cutlass")]
    f = pd.concat(frames, ignore_index=True)
    f = f[f["kernel"] == "cutlass.gemm"].reset_index(drop=True)
    threshold = float(np.quantile(np.unique(problem_size(f)), 0.3))
    split = split_by_size(f, max_train_size=threshold, factor=4.0, max_factor=16.0, seed=0)
    res = E.evaluate(RooflineBaseline, f, split)
    for part in ("test", "in_range", "far"):
        assert res[f"{part}.n_rows"] > 0 and np.isfinite(res[f"{part}.runtime_ms.median_ape"])
    row = {"suite": "extrapolation", "model": "perfcast", **{k: v for k, v in res.items() if k != "_model"}}
    table = E.targets_table(pd.DataFrame([row]))
    assert table.loc[0, "target"] == f"<= {2 * res['in_range.runtime_ms.median_ape']:.4g}"
    assert table.loc[0, "measured"] == res["test.runtime_ms.median_ape"]
