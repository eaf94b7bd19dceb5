"""Does the adaptation to a new GPU keep improving with more of its measurements?

    python benchmarks/transfer_scaling.py                      # k = 500,2000,4000, seeds 0,1 (11 min on 2 cores)
    python benchmarks/transfer_scaling.py --k 500,1000 --seeds 0 --gpus 2080

Kernel Tuner GEMM, leave one GPU out (`split_by_system`: k random configs of the target GPU in
training, its other configs held out, the `kt_gemm_transfer` suite's split at k=500 and seed 0). The
base is the suite's (`GBCostModel` with the `xgemm_base` settings on the other GPUs, fitted once per
GPU); `TransferCostModel` adapts it on the k target rows with a fixed 150 rounds per residual booster
(the setting chosen at k=500) and with `num_boost_round="auto"` (150 up to 500 rows, then 0.3 per
row). Top-1 slowdown over the held-out configs and median APE, per GPU and k: mean and worst over the
seeds. Writes `benchmarks/results/transfer_scaling.{csv,png}`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
from perfcast.models import GBCostModel
from perfcast.models.transfer import TransferCostModel
from perfcast.training.evaluate import gbm_kwargs, load_dataset, markdown_table, score
from perfcast.training.splits import split_by_system

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"fixed 150 rounds": 150, "auto rounds": "auto"}


def short(gpu: str) -> str:
    return gpu.removeprefix("NVIDIA ").removeprefix("GeForce ")


def plot(cases: pd.DataFrame, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    gpus = list(dict.fromkeys(cases["gpu"]))
    fig, axes = plt.subplots(1, len(gpus), figsize=(3.2 * len(gpus), 3.2), sharey=True, squeeze=False)
    for ax, gpu in zip(axes[0], gpus, strict=True):
        for variant, part in cases[cases["gpu"] == gpu].groupby("variant", sort=False):
            by_k = part.groupby("k")["top1"]
            ax.plot(by_k.mean().index, by_k.mean().to_numpy(), marker="o", label=f"{variant} (mean)")
            ax.fill_between(by_k.min().index, by_k.min().to_numpy(), by_k.max().to_numpy(), alpha=0.15)
        ax.axhline(1.05, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log", base=2)
        ax.set_title(gpu, fontsize=9)
        ax.set_xlabel("target measurements (k)")
    axes[0][0].set_ylabel("top-1 slowdown (held-out configs)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", default="500,2000,4000", help="comma-separated numbers of target measurements")
    parser.add_argument("--seeds", default="0,1", help="comma-separated draws of the k target configs")
    parser.add_argument("--gpus", default="", help="comma-separated substrings of the target GPUs (default: all)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    ks = [int(v) for v in args.k.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    frame = load_dataset("kerneltuner_gemm").reset_index(drop=True)
    systems = sorted(frame["system"].astype(str).unique())
    if args.gpus:
        systems = [s for s in systems if any(g.strip() in s for g in args.gpus.split(","))]
    t0 = time.perf_counter()
    rows = []
    for target in systems:
        on_target = frame["system"].astype(str).eq(target).to_numpy()
        base = GBCostModel(**gbm_kwargs("xgemm_base")).fit(frame[~on_target].reset_index(drop=True))
        print(f"{short(target)}: base on the other GPUs fitted ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        for k in ks:
            for seed in seeds:
                train, test = split_by_system(frame, target=target, k_target=k, seed=seed).train_test(frame)
                measured = frame.iloc[train][on_target[train]].reset_index(drop=True)
                held_out = frame.iloc[test].reset_index(drop=True)
                for variant, rounds in VARIANTS.items():
                    model = TransferCostModel(target, base=base, num_boost_round=rounds).fit(measured)
                    m = score(held_out, model.predict(held_out))
                    rows.append({"gpu": short(target), "k": k, "seed": seed, "variant": variant,
                                 "rounds": model.num_boost_round_, "top1": m["top1_slowdown_geomean"],
                                 "median_ape": m["runtime_ms.median_ape"]})
                print(f"  k={k} seed={seed}: " + ", ".join(f"{r['variant']} top-1 {r['top1']:.3f}" for r in rows[-2:])
                      + f" ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    cases = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    cases.to_csv(RESULTS / "transfer_scaling.csv", index=False)
    plot(cases, RESULTS / "transfer_scaling.png")
    table = cases.pivot_table(index=["gpu", "k"], columns="variant", values="top1", aggfunc=["mean", "max"], sort=False)
    table.columns = [f"top-1 {'worst' if agg == 'max' else 'mean'}, {variant}" for agg, variant in table.columns]
    ape = cases.pivot_table(index=["gpu", "k"], columns="variant", values="median_ape", aggfunc="mean", sort=False)
    ape.columns = [f"median APE %, {v}" for v in ape.columns]
    print(f"\nKernel Tuner GEMM, leave one GPU out, k random target configs; seeds {args.seeds} "
          f"({time.perf_counter() - t0:.0f} s)")
    print(markdown_table(table.join(ape).reset_index(), digits=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
