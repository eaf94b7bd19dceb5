"""Energy answered by the energy booster or as predicted power × predicted runtime (`energy_point`).

    python benchmarks/energy_point.py                   # seeds 0-4 (about 9 min on 2 cores)
    python benchmarks/energy_point.py --seeds 0 --store S

The quickstart's training data (the store, whole problems sampled to <= 40,000 rows per kernel x system)
of the families with measured energy (the bundled H100/H200 sets: Triton matmul and row kernels,
cuBLAS); per seed the routed model's frozen split (by problem) and the routed model fitted as the
quickstart fits it (250 rounds), once per `energy_point` ("booster": the energy booster, as before;
"auto": the product where out-of-fold errors favour it, the default), scored on the held-out rows with
a measured energy: median APE, the 80% interval's coverage and median width (q90 / q10) of energy and
power, and what "auto" chose per family. Means, min and max over the seeds; writes
`benchmarks/results/energy_point.{csv,png}`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from perfcast.training.metrics import interval_coverage, median_ape
from perfcast.training.train import RoutedGBCostModel, RoutedSplit, plan_routes
from rowwise_physics import RESULTS, parse_args, quickstart_data

FAMILIES = ("triton.matmul", "cublas.matmul", "triton.elementwise", "triton.layernorm", "triton.reduction",
            "triton.softmax")


def score(part: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    """Energy and power median APE (%), 80% coverage and median q90/q10 on `part`'s rows the model answers."""
    out: dict[str, float] = {"rows": int(np.isfinite(pred["pred.energy_j"].to_numpy(dtype=float)).sum())}
    for target in ("energy_j", "power_w"):
        y = part[target].to_numpy(dtype=float)
        p, lo, hi = (pred[f"pred.{target}{s}"].to_numpy(dtype=float) for s in ("", ".q10", ".q90"))
        answered = np.isfinite(p)
        y, p, lo, hi = y[answered], p[answered], lo[answered], hi[answered]
        out.update({f"{target}.median_ape": median_ape(y, p), f"{target}.coverage_80": interval_coverage(y, lo, hi),
                    f"{target}.width": float(np.median(hi / lo)) if len(y) else np.nan})
    return out


def plot(out: pd.DataFrame, path) -> None:
    """Per family, booster vs auto: energy median APE and the interval's median q90/q10 (bars: means over
    the splits, whiskers: min and max)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    metrics = {"energy_j.median_ape": "energy median APE (%)", "energy_j.width": "energy interval q90 / q10",
               "energy_j.coverage_80": "energy 80% coverage"}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4))
    x = np.arange(len(FAMILIES))
    for ax, (metric, label) in zip(axes, metrics.items(), strict=True):
        for j, mode in enumerate(("booster", "auto")):
            g = out[out["energy_point"] == mode].groupby("family")[metric].agg(["mean", "min", "max"]).reindex(FAMILIES)
            err = np.vstack([g["mean"] - g["min"], g["max"] - g["mean"]])
            ax.bar(x + (j - 0.5) * 0.38, g["mean"], 0.38, yerr=err, capsize=2,
                   label="energy booster" if mode == "booster" else "auto (power × runtime where chosen)")
        if metric == "energy_j.coverage_80":
            ax.axhline(0.8, color="grey", lw=0.8, ls="--")
            ax.set_ylim(0.5, 1.0)
        ax.set_xticks(x, [f if f.endswith("matmul") else f.removeprefix("triton.") for f in FAMILIES], rotation=30, fontsize=8)
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    args = parse_args(__doc__)
    data = quickstart_data(args.store, FAMILIES)
    routes = plan_routes(data)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        train_idx, test_idx = RoutedSplit.freeze(data, routes, 0.2, seed).train_test(data)
        train, test = data.iloc[train_idx].reset_index(drop=True), data.iloc[test_idx].reset_index(drop=True)
        measured = test["energy_j"].notna() & test["status"].eq("ok")
        for mode in ("booster", "auto"):
            model = RoutedGBCostModel({"num_boost_round": args.rounds, "seed": seed, "energy_point": mode},
                                      routes=routes).fit(train)
            pred = model.predict(test)
            for family in FAMILIES:
                spec = model.models_[routes[family]].meta_["targets"].get("energy_j", {})
                choice = spec.get("point_choice", {})
                idx = np.flatnonzero(measured & test["kernel"].eq(family))
                rows.append({"seed": seed, "family": family, "energy_point": mode,
                             "answered_by": "product" if spec.get("point") == "energy_j.product" else "booster",
                             "product_better_share": choice.get("product_better_share", np.nan),
                             **score(test.iloc[idx], pred.iloc[idx])})
            print(f"seed {seed}: {mode} done", flush=True)
    out = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    out.to_csv(RESULTS / "energy_point.csv", index=False)
    plot(out, RESULTS / "energy_point.png")
    cols = [f"{t}.{m}" for t in ("energy_j", "power_w") for m in ("median_ape", "coverage_80", "width")]
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        group = out.groupby(["family", "energy_point"])
        chosen = out[out["energy_point"] == "auto"].groupby("family")["answered_by"].agg(
            lambda s: f"product on {int((s == 'product').sum())} of {len(s)}")
        print(pd.concat([group["rows"].sum(), group[cols].mean().round(3)], axis=1).to_string())
        print(group[cols].agg(["min", "max"]).round(2).to_string())
        print("auto answered by:\n" + chosen.to_string())


if __name__ == "__main__":
    main()
