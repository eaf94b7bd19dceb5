"""`perfcast adapt`: fit a model of other GPUs to a new GPU from its measurements in the store."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_BASE = "models:/perfcast-default@champion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--system", required=True, help="the new GPU (its store rows are the measurements)")
    parser.add_argument("--out", type=Path, required=True, help="directory to save the adapted model in")
    parser.add_argument("--base", default=DEFAULT_BASE,
                        help=f"model of the other GPUs: directory or models:/ URI (default {DEFAULT_BASE})")
    parser.add_argument("--store", type=Path, default=None, help="measurement store (default ./.perfcast/store)")
    parser.add_argument("--kernel", action="append", default=None, help="only this kernel family (repeatable)")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="share of the new GPU's configs held out for the printed check (0 = skip)")
    parser.add_argument("--n-bags", type=int, default=5, help="residual boosters averaged")
    parser.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    from perfcast.measurements.store import MeasurementStore
    from perfcast.models.transfer import TransferCostModel
    from perfcast.training.evaluate import score
    from perfcast.training.registry import ModelNotFoundError
    from perfcast.training.splits import split_by_config

    t0 = time.perf_counter()
    rows = MeasurementStore(args.store).read(kernel=args.kernel, system=args.system)
    if rows.empty:
        print(f"perfcast adapt: the store has no measurements of system {args.system!r}"
              + (f" and kernel {args.kernel}" if args.kernel else "")
              + " (`perfcast data summary` lists what it has)", file=sys.stderr)
        return 1

    def fit(frame):
        return TransferCostModel(args.system, base=args.base, n_bags=args.n_bags, seed=args.seed).fit(frame)

    try:
        if args.holdout > 0:
            train, test = split_by_config(rows, test_fraction=args.holdout, seed=args.seed).train_test(rows)
            held = rows.iloc[test].reset_index(drop=True)
            m = score(held, fit(rows.iloc[train].reset_index(drop=True)).predict(held))
            print(f"held-out {len(held):,} of {len(rows):,} measurements ({args.holdout:.0%} of the configs): "
                  f"median APE {m['runtime_ms.median_ape']:.2f}%, Spearman {m['spearman_median']:.4f}, "
                  f"top-1 slowdown {m['top1_slowdown_geomean']:.3f} (geomean over problems)")
        model = fit(rows)
        model.save(args.out)
    except (ModelNotFoundError, FileNotFoundError, ValueError) as exc:
        print(f"perfcast adapt: {exc}", file=sys.stderr)
        return 1
    print(f"{args.system}: adapted from {', '.join(model.sources_)} on {model.n_target_rows_:,} measurements "
          f"-> {args.out} ({time.perf_counter() - t0:.0f} s); predict with "
          f"`perfcast predict IN OUT --model {args.out}`")
    return 0
