"""Energy of short Triton row kernels: what measuring it (spec `h100-power-small`) does to the models.

    python benchmarks/small_kernel_energy.py                  # seeds 0-4 (about 3 min on 2 cores)
    python benchmarks/small_kernel_energy.py --seeds 0 --store S

The quickstart's training data (the store, whole problems sampled to <= 40,000 rows per kernel x system)
of `triton.softmax`, `triton.layernorm`, `triton.reduction` and `triton.elementwise`; per seed the routed
model's frozen split (by problem) and the routed model fitted as the quickstart fits it (250 rounds),
twice: `without`, where the training rows that ran under `SHORT_MS` keep their runtime but lose their
power and energy (what the models knew before the short-kernel sweep: energy measured from 0.03 ms up,
extrapolated below), and `with` them. Scored on the held-out rows with a measured energy, short and long
apart: energy and power median APE, the energy's 80% interval coverage, and the same median APE for
`pred.power_w x pred.runtime_ms` (energy through the power model). Means, min and max over the seeds;
writes `benchmarks/results/small_kernel_energy.csv`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from perfcast.training.metrics import median_ape
from perfcast.training.train import RoutedGBCostModel, RoutedSplit, plan_routes
from rowwise_physics import FAMILIES, RESULTS, parse_args, row_family_data  # the physics benchmark's data

#: Energy below this runtime was not measured before the short-kernel sweep (h100-power's items start at
#: an estimated 0.03 ms, and every one of them ran at least that long).
SHORT_MS = 0.03


def score_energy(part: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    """Energy/power errors on the rows of `part` with a measured energy."""
    energy, power = part["energy_j"].to_numpy(dtype=float), part["power_w"].to_numpy(dtype=float)
    e, lo, hi = (pred[c].to_numpy(dtype=float) for c in ("pred.energy_j", "pred.energy_j.q10", "pred.energy_j.q90"))
    p_times_t = pred["pred.power_w"].to_numpy(dtype=float) * pred["pred.runtime_ms"].to_numpy(dtype=float) / 1e3
    return {"rows": len(part), "energy_j.median_ape": median_ape(energy, e),
            "energy_j.coverage_80": float(np.mean((energy >= lo) & (energy <= hi))) if len(part) else np.nan,
            "power_w.median_ape": median_ape(power, pred["pred.power_w"].to_numpy(dtype=float)),
            "power_x_runtime.median_ape": median_ape(energy, p_times_t)}


def main() -> None:
    args = parse_args(__doc__)
    data = row_family_data(args.store)
    has_energy = data["energy_j"].notna() & data["status"].eq("ok")
    short = has_energy & (data["runtime_ms"] < SHORT_MS)
    print(f"{int(has_energy.sum())} rows with energy, {int(short.sum())} of them under {SHORT_MS} ms; per family:\n"
          f"{pd.crosstab(data.loc[has_energy, 'kernel'], short[has_energy]).to_string()}", flush=True)
    routes = plan_routes(data)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        train_idx, test_idx = RoutedSplit.freeze(data, routes, 0.2, seed).train_test(data)
        train, test = data.iloc[train_idx].reset_index(drop=True), data.iloc[test_idx].reset_index(drop=True)
        for mode in ("without", "with"):
            fit_rows = train.copy()
            if mode == "without":
                fit_rows.loc[fit_rows["runtime_ms"] < SHORT_MS, ["power_w", "energy_j"]] = np.nan
            pred = RoutedGBCostModel({"num_boost_round": args.rounds, "seed": seed}, routes=routes).fit(fit_rows).predict(test)
            measured = test["energy_j"].notna() & test["status"].eq("ok")
            for family in FAMILIES:
                for size, keep in (("short", test["runtime_ms"] < SHORT_MS), ("long", test["runtime_ms"] >= SHORT_MS)):
                    idx = np.flatnonzero(measured & keep & test["kernel"].eq(family))
                    rows.append({"seed": seed, "family": family, "runtime": size, "energy_rows": mode,
                                 **score_energy(test.iloc[idx], pred.iloc[idx])})
            print(f"seed {seed}: {mode} done", flush=True)
    out = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    out.to_csv(RESULTS / "small_kernel_energy.csv", index=False)
    cols = ["energy_j.median_ape", "energy_j.coverage_80", "power_w.median_ape", "power_x_runtime.median_ape"]
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        group = out.groupby(["runtime", "family", "energy_rows"])
        print(pd.concat([group["rows"].sum(), group[cols].mean().round(3)], axis=1).to_string())
        print(group[cols].agg(["min", "max"]).round(2).to_string())


if __name__ == "__main__":
    main()
