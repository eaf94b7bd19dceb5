"""Guided measurement on a new GPU: best config found against the number of measurements.

    python benchmarks/guided_search.py                    # 4 GPUs x seeds 0-3, 16-21 min on 2 cores shared with other work
    python benchmarks/guided_search.py --seeds 0 --gpus "NVIDIA GeForce RTX 3090"

Kernel Tuner GEMM, leave one GPU out: the other GPUs' measurements are known, the target GPU's are
not, and each method spends `--budget` measurements on it (a lookup in the dataset stands in for
the GPU). `training.search.guided_search` runs the loop: `--initial` random configs, then batches of
`--batch` chosen by the method's predictions (half the predicted fastest, half spread out: no two
configs of a batch within `--diversity` parameter changes of each other; 0 = the predicted fastest).
Methods:

- perfcast: `TransferCostModel` on a `GBCostModel` of the other GPUs (fitted once per GPU), adapted
  on the target measurements each round;
- perfcast_greedy: the same with greedy batches (`diversity=0`, the baseline of the batch rule);
- plain_lgbm: LightGBM on raw parameters, target measurements only;
- other_gpus: the configs' geometric-mean runtime on the other GPUs (the order does not learn);
- random: random search (every measurement at random).

It prints, per method:
- the best config found (slowdown against the GPU's measured best, over all its configs) after 50-500
  measurements;
- the measurements needed to get within 5% and to the best (median over the cases; a case that never
  gets there counts as infinitely many);
- for perfcast, the issue's held-out top-1 after the search: its pick among the configs it did not
  measure, against the best of those.
Writes `benchmarks/results/guided_search.csv` and a plot, `guided_search.png`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from perfcast.models import GBCostModel
from perfcast.models.transfer import TransferCostModel
from perfcast.training.baselines import OtherSystemsLookup, PlainLGBM
from perfcast.training.evaluate import gbm_kwargs, load_dataset, markdown_table
from perfcast.training.search import guided_search

RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS = (50, 100, 200, 300, 400, 500)
#: what a measurement adds to a candidate (the model must not see it before it is measured)
MEASURED_COLUMNS = ("runtime_ms", "runtime_ms_samples", "status", "meta.error", "meta.compile_time_ms",
                    "meta.gflops", "measured_at")


def short(system: str) -> str:
    return system.removeprefix("NVIDIA ").removeprefix("GeForce ").replace(" Laptop GPU", " Laptop")


def heldout_top1(model, candidates: pd.DataFrame, truth: pd.Series, measured_index: pd.Index) -> float:
    """The issue's top-1: the model's pick among the unmeasured configs, against their best."""
    rest = candidates.drop(index=measured_index)
    pred = model.predict(rest)["pred.runtime_ms"].to_numpy()
    y = truth.loc[rest.index].to_numpy()
    return float(y[np.nanargmin(pred)] / y.min())


def plot(curves: pd.DataFrame, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    gpus = list(dict.fromkeys(curves["gpu"]))
    fig, axes = plt.subplots(1, len(gpus), figsize=(4 * len(gpus), 3.4), sharey=True, squeeze=False)
    for ax, gpu in zip(axes[0], gpus, strict=True):
        sub = curves[curves["gpu"] == gpu]
        for method, m in sub.groupby("method", sort=False):
            med = m.groupby("n")["slowdown"].median()
            # the greedy baseline dashed and under the default rule, which it often matches
            greedy = method.endswith("_greedy")
            ax.plot(med.index, med.to_numpy(), label=method, ls="--" if greedy else "-", zorder=1 if greedy else 2)
        ax.axhline(1.05, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{gpu} (median over seeds)", fontsize=10)
        ax.set_xlabel("measurements on the new GPU")
        ax.set_ylim(0.98, 1.5)
    axes[0][0].set_ylabel("best found / GPU's best")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds of the random start")
    parser.add_argument("--gpus", default="", help="comma-separated target GPUs (default: all four)")
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--initial", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--diversity", type=int, default=1, help="guided_search's diversity (0: greedy batches)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    frame = load_dataset("kerneltuner_gemm").reset_index(drop=True)
    systems = sorted(frame["system"].astype(str).unique())
    targets = [g.strip() for g in args.gpus.split(",") if g.strip()] or systems
    seeds = [int(s) for s in args.seeds.split(",")]
    checkpoints = [n for n in CHECKPOINTS if n <= args.budget]
    curves, finals = [], []
    t_start = time.perf_counter()
    for target in targets:
        on_target = frame["system"].astype(str).eq(target).to_numpy()
        others, truth_rows = frame[~on_target], frame[on_target]
        candidates = truth_rows.drop(columns=[c for c in MEASURED_COLUMNS if c in frame.columns])
        truth = truth_rows["runtime_ms"]
        best = float(truth[truth_rows["status"].eq("ok")].min())

        def measure(rows: pd.DataFrame, truth_rows: pd.DataFrame = truth_rows) -> pd.DataFrame:
            return truth_rows.loc[rows.index]

        t0 = time.perf_counter()
        base = GBCostModel(**gbm_kwargs("xgemm_base")).fit(others.reset_index(drop=True))
        print(f"{short(target)}: base model of the other GPUs fitted in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
        adapted = lambda target=target, base=base: TransferCostModel(target, base=base)  # noqa: E731
        methods = {
            "perfcast": (adapted, None, args.initial, args.diversity),
            "perfcast_greedy": (adapted, None, args.initial, 0),
            "plain_lgbm": (lambda: PlainLGBM(num_boost_round=500), None, args.initial, args.diversity),
            "other_gpus": (OtherSystemsLookup, others, args.initial, args.diversity),
            "random": (None, None, args.budget, 0),
        }
        for seed in seeds:
            for method, (factory, context, initial, diversity) in methods.items():
                t0 = time.perf_counter()
                result = guided_search(factory, candidates, measure, budget=args.budget, initial=initial,
                                       batch=args.batch, diversity=diversity, context=context, seed=seed)
                found = result.best_so_far() / best
                row = {"gpu": short(target), "seed": seed, "method": method,
                       "seconds": time.perf_counter() - t0}
                for n in checkpoints:
                    row[f"found@{n}"] = float(found[n - 1])
                for label, bound in (("<=1.05", 1.05), ("best", 1.0)):
                    hit = np.flatnonzero(found <= bound)
                    row[f"n to {label}"] = float(hit[0] + 1) if len(hit) else np.inf
                if method == "perfcast":
                    final = factory().fit(result.measured)
                    row["heldout_top1"] = heldout_top1(final, candidates, truth, result.measured.index)
                finals.append(row)
                curves += [{"gpu": short(target), "seed": seed, "method": method, "n": i + 1, "slowdown": s}
                           for i, s in enumerate(found)]
                print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
                      file=sys.stderr, flush=True)
    table = pd.DataFrame(finals)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "guided_search.csv", index=False)
    plot(pd.DataFrame(curves), args.out / "guided_search.png")
    last = f"found@{checkpoints[-1]}"
    per_gpu = table.pivot_table(index="method", columns="gpu", values=last, aggfunc="max", sort=False)
    per_gpu.columns = [f"worst {c}" for c in per_gpu.columns]
    summary = table.groupby("method", sort=False).agg(
        **{f"median found@{n}": (f"found@{n}", "median") for n in checkpoints},
        **{"median n to <=1.05": ("n to <=1.05", "median"), "median n to best": ("n to best", "median"),
           f"cases <= 1.05 @{checkpoints[-1]}": (last, lambda v: int((v <= 1.05).sum())),
           "cases": (last, "size")})
    print(f"\nbest found / GPU's measured best, {len(targets)} GPUs x seeds {args.seeds}; "
          f"{args.initial} random then batches of {args.batch} ({time.perf_counter() - t_start:.0f} s)")
    print(markdown_table(summary.join(per_gpu).reset_index(), digits=4))
    if "heldout_top1" in table:
        held = table.dropna(subset=["heldout_top1"]).pivot_table(index="seed", columns="gpu", values="heldout_top1")
        print("\nperfcast's pick among the configs it did not measure (the issue's top-1, guided protocol)")
        print(markdown_table(held.reset_index(), digits=4))
    print(f"\nwrote {args.out / 'guided_search.csv'} and {args.out / 'guided_search.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
