"""Honest hyperparameter selection: candidates compared on a validation split *inside* the training rows.

The suite's frozen test part is never looked at: `select` re-splits the training part (same kind of
split as the suite, another seed), fits each candidate on the inner training rows and ranks the
candidates by one validation metric. `python -m perfcast.training.tuning --suite autoheuristic_problem`
prints the comparison that chose `perfcast.training.evaluate.FAMILY_SETTINGS`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from perfcast.training.evaluate import (
    FAMILY_SETTINGS,
    SUITES,
    evaluate,
    markdown_table,
    perfcast_factory,
)
from perfcast.training.splits import Split

#: Candidate settings per family (the first is the previous default): what `select` compares.
CANDIDATES: dict[str, dict[str, dict[str, Any]]] = {
    "triton": {
        "127 leaves, lr 0.1, 800 rounds": {
            "params": {"num_leaves": 127, "min_data_in_leaf": 10, "learning_rate": 0.1, "num_threads": 1},
            "num_boost_round": 800, "quantile_boost_round": 200},
        "255 leaves, lr 0.05, 1600 rounds": FAMILY_SETTINGS["triton"],
    },
    "cutlass": {
        "31 leaves, min_data 5, lr 0.05, 500 rounds": {
            "params": {"num_leaves": 31, "min_data_in_leaf": 5, "learning_rate": 0.05, "num_threads": 1},
            "num_boost_round": 500, "quantile_boost_round": 200},
        "63 leaves, no bagging/L2, 500 rounds": {
            "params": {"num_leaves": 63, "min_data_in_leaf": 5, "learning_rate": 0.05, "feature_fraction": 1.0,
                       "bagging_fraction": 1.0, "bagging_freq": 0, "lambda_l2": 0.0, "num_threads": 1},
            "num_boost_round": 500, "quantile_boost_round": 200},
        "31 leaves, min_data 10, lr 0.1, 200 rounds": FAMILY_SETTINGS["cutlass"],
    },
    "xgemm": {
        "63 leaves, 1000 rounds": {
            "params": {"num_leaves": 63, "min_data_in_leaf": 5, "learning_rate": 0.05, "num_threads": 1},
            "num_boost_round": 1000, "quantile_boost_round": 300},
        "255 leaves, min_data 1, 2000 rounds": FAMILY_SETTINGS["xgemm"],
    },
}

#: Ranking objective: the same model plus a LambdaRank head grouped by problem, ranking by its score.
CANDIDATES["triton_rank"] = {
    "regression, rank by pred.runtime_ms": FAMILY_SETTINGS["triton"],
    "+ lambdarank head, rank by pred.rank_score": {**FAMILY_SETTINGS["triton"], "ranking": True,
                                                    "rank_by": "rank_score"},
    "+ lambdarank head, rank by blend:0.01": {**FAMILY_SETTINGS["triton"], "ranking": True,
                                              "rank_by": "blend:0.01"},
    "+ lambdarank head, rank by blend:0.03": {**FAMILY_SETTINGS["triton"], "ranking": True,
                                              "rank_by": "blend:0.03"},
}

CANDIDATES["triton_extrapolation"] = {
    "all features": perfcast_factory("triton"),
    "absolute-size features off (scale_free=True)": perfcast_factory("triton", scale_free=True),
    "scale_free, large_problem_weight 4": perfcast_factory("triton", scale_free=True, large_problem_weight=4.0),
    "scale_free, large_problem_weight 8": perfcast_factory("triton", scale_free=True, large_problem_weight=8.0),
}

#: Validation metric per suite: (column, higher is better).
METRIC: dict[str, tuple[str, bool]] = {
    "autoheuristic_problem": ("test.top1_slowdown_geomean", False),
    "kt_gemm_config": ("test.runtime_ms.median_ape", False),
    "sgemm_config": ("test.runtime_ms.median_ape", False),
    "gpperf_problem": ("test.power_w.median_ape", False),
    "extrapolation": ("test.runtime_ms.median_ape", False),
}
FAMILY_OF = {"autoheuristic_problem": "triton", "kt_gemm_config": "xgemm", "sgemm_config": "xgemm",
             "gpperf_problem": "cutlass", "extrapolation": "triton_extrapolation"}


def inner_split(split: Split, train: pd.DataFrame, seed: int = 1) -> Split:
    """The suite's kind of split, re-drawn on its training rows with another seed (the validation fold)."""
    from perfcast.training import splits as S  # noqa: PLC0415

    makers: dict[str, Callable[..., Split]] = {"problem": S.split_by_problem, "config": S.split_by_config}
    if split.kind == "size":
        # train on ≤ 1/8 of the training range, validate on its top half (≥ 4× the inner threshold)
        p = split.params
        return S.split_by_size(train, max_train_size=p["max_train_size"] / 8, factor=p["factor"],
                               in_range_fraction=p["in_range_fraction"], seed=seed)
    if split.kind not in makers:
        raise ValueError(f"no inner validation split for a {split.kind!r} split")
    params = {k: v for k, v in split.params.items()}
    return makers[split.kind](train, seed=seed, **params)


def select(train: pd.DataFrame, split: Split, family: str, metric: tuple[str, bool],
           candidates: dict[str, Any] | None = None) -> pd.DataFrame:
    """Validation metrics of each candidate on an inner split of `train`, best first.

    A candidate is a settings dict for `perfcast_factory` or a ready model factory.
    """
    candidates = candidates or CANDIDATES[family]
    inner = inner_split(split, train)
    rows = []
    for name, settings in candidates.items():
        rank_by = "runtime_ms"
        if not callable(settings):
            settings = dict(settings)
            rank_by = settings.pop("rank_by", rank_by)
        factory = settings if callable(settings) else perfcast_factory(family, **settings)
        res = evaluate(factory, train, inner, rank_by=rank_by)
        res.pop("_model", None)
        res.pop("split", None)
        rows.append({"candidate": name, **{k: v for k, v in res.items() if k.startswith(("test.", "in_range."))},
                     "fit_seconds": res["fit_seconds"]})
    col, higher = metric
    return pd.DataFrame(rows).sort_values(col, ascending=not higher).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare hyperparameter candidates on inner validation folds.")
    parser.add_argument("--suite", required=True, choices=sorted(METRIC))
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--case", type=int, default=0, help="which case of the suite (e.g. which GPU)")
    parser.add_argument("--candidates", default=None, choices=sorted(CANDIDATES),
                        help="candidate set (default: the suite's family)")
    parser.add_argument("--only", default=None, help="run only the candidate with this name")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    case = SUITES[args.suite].build(args.datasets, False)[args.case]
    train_idx, _ = case.split.train_test(case.frame)
    train = case.frame.iloc[train_idx].reset_index(drop=True)
    family = FAMILY_OF[args.suite]
    candidates = CANDIDATES[args.candidates or family]
    if args.only:
        candidates = {k: v for k, v in candidates.items() if k == args.only}
    table = select(train, case.split, family, METRIC[args.suite], candidates)
    cols = ["candidate", METRIC[args.suite][0], "test.runtime_ms.median_ape", "test.spearman_median",
            "test.top1_slowdown_geomean", "test.top1_slowdown_p90", "test.top5_recall", "test.power_w.median_ape",
            "test.runtime_ms.r2", "in_range.runtime_ms.median_ape", "fit_seconds"]
    print(f"{args.suite} / {case.case}: validation split inside the training rows\n")
    print(markdown_table(table[[c for c in dict.fromkeys(cols) if c in table.columns]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
