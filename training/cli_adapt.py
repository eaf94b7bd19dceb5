"""`perfcast adapt`: fit a model of other GPUs to a new GPU from its measurements in the store; log it to
MLflow and register it (like `perfcast train`), or only save it with `--no-register --out DIR`."""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from perfcast.config import STORE_HELP, TRACKING_URI_HELP

DEFAULT_BASE = "models:/perfcast-default@champion"


def default_name(system: str) -> str:
    """Registered model name of an adaptation: `perfcast-adapt-<system slug>`."""
    return "perfcast-adapt-" + re.sub(r"[^a-z0-9]+", "-", system.lower()).strip("-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--system", required=True, help="the new GPU (its store rows are the measurements)")
    parser.add_argument("--base", default=DEFAULT_BASE,
                        help=f"model of the other GPUs: directory or models:/ URI (default {DEFAULT_BASE})")
    parser.add_argument("--store", type=Path, default=None, help=STORE_HELP)
    parser.add_argument("--kernel", action="append", default=None, help="only this kernel family (repeatable)")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="share of the new GPU's configs held out for the logged check (0 = skip)")
    parser.add_argument("--n-bags", type=int, default=5, help="residual boosters averaged")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="registered model name (default perfcast-adapt-<system>)")
    parser.add_argument("--out", type=Path, default=None, help="also keep the model directory here")
    parser.add_argument("--no-register", action="store_true", help="save only; no MLflow run or registry")
    parser.add_argument("--tracking-uri", default=None, help=TRACKING_URI_HELP)


def main(args: argparse.Namespace) -> int:
    from perfcast.measurements.store import MeasurementStore
    from perfcast.measurements.validate import canonical_system

    if args.no_register and args.out is None:
        print("perfcast adapt: --no-register needs --out DIR (else the model is not kept anywhere)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    # an alias (H100) is the registry's name, as ingest stores it: that name also names the model and its tags
    system = canonical_system(args.system)
    rows = MeasurementStore(args.store).read(kernel=args.kernel, system=system)
    if rows.empty:
        print(f"perfcast adapt: the store has no measurements of system {args.system!r}"
              + (f" ({system})" if system != args.system else "")
              + (f" and kernel {args.kernel}" if args.kernel else "")
              + " (`perfcast data summary` lists what it has)", file=sys.stderr)
        return 1
    hp = {"n_bags": args.n_bags, "seed": args.seed}
    work = Path(tempfile.mkdtemp(prefix="perfcast-adapt-"))
    try:
        return _adapt(argparse.Namespace(**{**vars(args), "system": system}), rows, hp, work, t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # plots and a registered model were copied to MLflow


def _adapt(args: argparse.Namespace, rows, hp: dict, work: Path, t0: float) -> int:
    from perfcast.models.gbm import data_snapshot
    from perfcast.models.routed import load_cost_model
    from perfcast.models.transfer import TransferCostModel
    from perfcast.training import tracking
    from perfcast.training.evaluate import score
    from perfcast.training.registry import ModelNotFoundError, resolve_model_dir
    from perfcast.training.splits import ranking_groups, split_by_config

    metrics: dict[str, float] = {}
    plots: list[Path] = []
    try:
        base = load_cost_model(resolve_model_dir(args.base))  # once, for the held-out fit and the final one
        if args.holdout > 0:
            train, test = split_by_config(rows, test_fraction=args.holdout, seed=args.seed).train_test(rows)
            held = rows.iloc[test].reset_index(drop=True)
            pred = TransferCostModel(args.system, base=base, **hp).fit(rows.iloc[train].reset_index(drop=True)) \
                .predict(held)
            metrics = {f"test.{k}": v for k, v in score(held, pred).items()}
            plots = tracking.make_plots(held, pred, ranking_groups(held), work / "plots")
            ranking = (f"Spearman {metrics['test.spearman_median']:.4f}, "
                       f"top-1 slowdown {metrics['test.top1_slowdown_geomean']:.3f} (geomean over problems)"
                       if metrics.get("test.n_groups", 0) > 0 else
                       "no ranking metrics (no held-out problem has 2 or more configs measured)")
            print(f"held-out {len(held):,} of {len(rows):,} measurements ({args.holdout:.0%} of the configs): "
                  f"median APE {metrics['test.runtime_ms.median_ape']:.2f}%, {ranking}, "
                  f"80% interval coverage {metrics.get('test.runtime_ms.coverage_80', float('nan')):.3f}")
        model = TransferCostModel(args.system, base=base, **hp).fit(rows)
        model_dir = model.save(args.out if args.out is not None else work / "model")
    except (ModelNotFoundError, FileNotFoundError, ValueError) as exc:
        print(f"perfcast adapt: {exc}", file=sys.stderr)
        return 1
    where = str(model_dir)
    if not args.no_register:
        name = args.name or default_name(args.system)
        logged = tracking.log_training_run(
            model_dir, run_name=name, registered_name=name,
            params={"system": args.system, "base": args.base, "sources": model.sources_,
                    "hyperparameters": hp, "holdout": args.holdout, "kernels": args.kernel or "all"},
            metrics={**metrics, "final.n_target_rows": model.n_target_rows_},
            snapshot=data_snapshot(rows), plots=plots,
            tags={"perfcast.kind": "transfer", "perfcast.system": args.system}, tracking_uri=args.tracking_uri)
        where = f"models:/{name}/{logged['version']}"
    print(f"{args.system}: adapted from {', '.join(model.sources_)} on {model.n_target_rows_:,} measurements "
          f"-> {where} ({time.perf_counter() - t0:.0f} s); predict with `perfcast predict IN OUT --model {where}`, "
          f"serve with `perfcast serve --model {where}`")
    return 0
