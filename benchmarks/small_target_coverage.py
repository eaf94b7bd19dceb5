"""Interval coverage of targets with a few hundred rows: 20 problem folds or five (cross-conformal).

    python benchmarks/small_target_coverage.py               # seeds 0-9 (about 10 min on 2 cores)
    python benchmarks/small_target_coverage.py --seeds 0,1 --store S

The power and energy of each Triton row family (softmax, layernorm, reduction, elementwise) are
~130 rows over 30-80 problems, cross-conformalised: every calibration fold is scored by boosters
fitted without it. On the quickstart's data of each family (the store, whole problems sampled to
<= 40,000 rows per kernel x system), per seed the routed model's frozen split by problem, the family's
routed model fitted as the quickstart fits it (250 rounds), once with `small_target_folds` (the default:
20 problem folds, the served pair fitted on every row), once with one problem per fold (`--one-per-fold`
adds it) and once with `small_target_folds=0` (five problem folds, the rule before: the baseline in the
same run). Scored on the held-out rows with a
measured power: the 80% interval's coverage and median q90/q10 of power and energy, and their median
APE. Means and standard errors over the seeds, pooled over the four families too. Writes
`benchmarks/results/small_target_coverage.csv`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from energy_point import score
from perfcast.training.train import RoutedGBCostModel, RoutedSplit, plan_routes
from rowwise_physics import FAMILIES, RESULTS, parse_args, quickstart_data

RULES = {"20 problem folds": {}, "five problem folds (before)": {"small_target_folds": 0}}


def main() -> None:
    # ten splits: one split holds out only 5-20 problems of a family
    args = parse_args(__doc__, seeds="0,1,2,3,4,5,6,7,8,9",
                      flags={"--one-per-fold": "also fit with one problem per calibration fold"})
    rules = {**RULES, **({"one problem per fold": {"small_target_folds": 10**6}} if args.one_per_fold else {})}
    data = quickstart_data(args.store, FAMILIES)
    routes = plan_routes(data)
    rows = []
    t0 = time.perf_counter()
    for family in FAMILIES:
        part = data[data["kernel"] == family].reset_index(drop=True)
        route = {family: routes[family]}
        for seed in (int(s) for s in args.seeds.split(",")):
            train_idx, test_idx = RoutedSplit.freeze(part, route, 0.2, seed).train_test(part)
            train, test = part.iloc[train_idx].reset_index(drop=True), part.iloc[test_idx].reset_index(drop=True)
            measured = np.flatnonzero(test["power_w"].notna() & test["energy_j"].notna() & test["status"].eq("ok"))
            for rule, extra in rules.items():
                hp = {"num_boost_round": args.rounds, "seed": seed, **extra}
                fit_start = time.perf_counter()
                model = RoutedGBCostModel(hp, routes=route).fit(train)
                fit_s = time.perf_counter() - fit_start
                pred = model.predict(test.iloc[measured])
                rows.append({"family": family, "seed": seed, "rule": rule, "fit_s": fit_s,
                             **score(test.iloc[measured], pred)})
            print(f"{family} seed {seed} ({time.perf_counter() - t0:.0f} s)", flush=True)
    out = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    out.to_csv(RESULTS / "small_target_coverage.csv", index=False)
    metrics = ["power_w.coverage_80", "energy_j.coverage_80", "power_w.width", "energy_j.width",
               "power_w.median_ape", "energy_j.median_ape", "fit_s"]
    pooled = out.assign(family="all four")
    table = []
    for (family, rule), g in pd.concat([out, pooled]).groupby(["family", "rule"], sort=False):
        row = {"family": family, "rule": rule, "splits": len(g), "test rows": int(g["rows"].sum())}
        for m in metrics:
            row[m] = f"{g[m].mean():.3f} ± {g[m].std(ddof=1) / np.sqrt(len(g)):.3f}"
        table.append(row)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(pd.DataFrame(table).to_string(index=False))
    print(f"(mean ± standard error over the splits; coverage target 0.80 ± 0.05) -> {RESULTS / 'small_target_coverage.csv'}")


if __name__ == "__main__":
    main()
