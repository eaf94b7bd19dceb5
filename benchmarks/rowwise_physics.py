"""What the physics of the memory-bound Triton families (`features/rowwise.py`) does to their models.

    python benchmarks/rowwise_physics.py                    # seeds 0-4 (3.5 min on 2 cores)
    python benchmarks/rowwise_physics.py --seeds 0 --store S

The quickstart's training data (the store, whole problems sampled to <= 40,000 rows per kernel x
system) of `triton.softmax`, `triton.layernorm`, `triton.reduction` and `triton.elementwise`; per seed
the routed model's frozen split (by problem), the routed model fitted as the quickstart fits it (250
rounds) once with the families' physics and once with the generic extractor (their params and problem
fields only, `roofline_ms` NaN: what they had before), and once with the physics but no launch floor
(`rowwise.LAUNCH_FLOOR_MS = 0`, the first version). Held-out runtime median APE, 80% coverage,
per-problem Spearman and top-1 slowdown, energy median APE on the held-out rows with energy, and the
80% interval on the fastest 10% of held-out rows (coverage, p90 of q90/q10): mean, min and max over the
seeds. Writes `benchmarks/results/rowwise_physics.csv`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from perfcast.features import GenericExtractor, get_extractor, register_extractor, rowwise
from perfcast.measurements.store import MeasurementStore
from perfcast.training.evaluate import score
from perfcast.training.train import (
    RoutedGBCostModel,
    RoutedSplit,
    load_training_frame,
    plan_routes,
    sample_problems,
)

RESULTS = Path(__file__).resolve().parent / "results"
FAMILIES = ("triton.softmax", "triton.layernorm", "triton.reduction", "triton.elementwise")
METRICS = ("runtime_ms.median_ape", "runtime_ms.coverage_80", "spearman_median", "top1_slowdown_geomean")


def parse_args(doc: str, seeds: str = "0,1,2,3,4", flags: dict[str, str] | None = None) -> argparse.Namespace:
    """`--store`, `--seeds`, `--rounds` (+ boolean `flags`, name -> help): the options of the row-family
    benchmarks."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--store", type=Path, default=None, help="measurement store (default: the quickstart's)")
    ap.add_argument("--seeds", default=seeds)
    ap.add_argument("--rounds", type=int, default=250)
    for name, text in (flags or {}).items():
        ap.add_argument(name, action="store_true", help=text)
    return ap.parse_args()


def quickstart_data(store: Path | None, families: tuple[str, ...]) -> pd.DataFrame:
    """The quickstart's training data (whole problems sampled to <= 40,000 rows per kernel x system) of
    `families`, from `store` (None: the quickstart's)."""
    ms = MeasurementStore(store)
    if store is None:  # the working tree's quickstart store: older than the data if files changed since
        from perfcast.quickstart import default_sources, pending_files  # noqa: PLC0415

        stale = pending_files(default_sources(), ms, size_only=True)
        if stale:
            print(f"warning: the quickstart store {ms.root} has not ingested {len(stale)} new or resized file(s) "
                  f"({', '.join(p.name for p in stale[:3])}{', ...' if len(stale) > 3 else ''}): its data is older "
                  "than the bundled/shared sets; run `perfcast quickstart` first or pass --store", file=sys.stderr)
    data = sample_problems(load_training_frame(ms), 40_000)
    return data[data["kernel"].isin(families)].reset_index(drop=True)


def row_family_data(store: Path | None) -> pd.DataFrame:
    """`quickstart_data` of the four Triton row families."""
    return quickstart_data(store, FAMILIES)


def energy_median_ape(part: pd.DataFrame, pred: pd.DataFrame) -> float:
    """Median APE (%) of `pred.energy_j` on the rows with a measured energy."""
    has = part["energy_j"].notna().to_numpy() & part["status"].eq("ok").to_numpy()
    if not has.any() or "pred.energy_j" not in pred:
        return np.nan
    ratio = pred["pred.energy_j"].to_numpy()[has] / part["energy_j"].to_numpy()[has]
    return float(np.nanmedian(np.abs(ratio - 1.0)) * 100.0)


def fastest_interval(part: pd.DataFrame, pred: pd.DataFrame) -> tuple[float, float]:
    """On the fastest 10% of the held-out `ok` rows: the 80% interval's coverage and p90 of q90/q10."""
    runtime = part["runtime_ms"].to_numpy(dtype=float)
    ok = part["status"].eq("ok").to_numpy() & np.isfinite(runtime)
    fast = ok & (runtime <= np.nanpercentile(runtime[ok], 10))
    lo, hi = pred["pred.runtime_ms.q10"].to_numpy()[fast], pred["pred.runtime_ms.q90"].to_numpy()[fast]
    return float(np.mean((runtime[fast] >= lo) & (runtime[fast] <= hi))), float(np.percentile(hi / lo, 90))


def main() -> None:
    args = parse_args(__doc__)
    data = row_family_data(args.store)
    routes = plan_routes(data)
    physics = {kernel: get_extractor(kernel) for kernel in FAMILIES}
    floor0 = rowwise.LAUNCH_FLOOR_MS
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        train_idx, test_idx = RoutedSplit.freeze(data, routes, 0.2, seed).train_test(data)
        train, test = data.iloc[train_idx].reset_index(drop=True), data.iloc[test_idx].reset_index(drop=True)
        for mode in ("generic", "physics_no_floor", "physics"):
            for kernel in FAMILIES:
                register_extractor(kernel, GenericExtractor() if mode == "generic" else physics[kernel])
            floor, rowwise.LAUNCH_FLOOR_MS = rowwise.LAUNCH_FLOOR_MS, (0.0 if mode == "physics_no_floor" else floor0)
            hyper = {"num_boost_round": args.rounds, "seed": seed}
            pred = RoutedGBCostModel(hyper, routes=routes).fit(train).predict(test)
            rowwise.LAUNCH_FLOOR_MS = floor
            for family, idx in test.groupby("kernel").indices.items():
                part, p = test.iloc[idx].reset_index(drop=True), pred.iloc[idx].reset_index(drop=True)
                scored = score(part, p)
                coverage, width = fastest_interval(part, p)
                rows.append({"seed": seed, "family": family, "features": mode, "test_rows": len(part),
                             **{k: scored.get(k, np.nan) for k in METRICS},
                             "energy_j.median_ape": energy_median_ape(part, p),
                             "fastest10.coverage_80": coverage, "fastest10.width_p90": width})
            print(f"seed {seed}: {mode} done", flush=True)
    for kernel in FAMILIES:
        register_extractor(kernel, physics[kernel])
    out = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    out.to_csv(RESULTS / "rowwise_physics.csv", index=False)
    cols = [*METRICS, "energy_j.median_ape", "fastest10.coverage_80", "fastest10.width_p90"]
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(out.groupby(["family", "features"])[cols].mean().round(4).to_string())
        print(out.groupby(["family", "features"])[cols].agg(["min", "max"]).round(3).to_string())


if __name__ == "__main__":
    main()
