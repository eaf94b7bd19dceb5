"""`perfcast train`: fit cost models from the measurement store, log them to MLflow, register them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perfcast.config import STORE_HELP, TRACKING_URI_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=None, help=STORE_HELP)
    parser.add_argument("--kernel", action="append", default=None, help="only this kernel family (repeatable)")
    parser.add_argument("--system", action="append", default=None, help="only this system (repeatable)")
    parser.add_argument("--by", choices=("routed", "all", "family"), default=None,
                        help="routed (default): one registered model routing each kernel family to its own "
                             "sub-model (perfcast-default); all: one model across families; family: one "
                             "registered model per family (perfcast-<family>)")
    parser.add_argument("--name", default=None, help="registered model name (with --by routed or all)")
    parser.add_argument("--rounds", type=int, default=None, help="boosting rounds of the point models")
    parser.add_argument("--quantile-rounds", type=int, default=None, help="boosting rounds of the q10/q90 models")
    parser.add_argument("--ranking", action="store_true", help="also fit a LambdaRank head (pred.rank_score)")
    parser.add_argument("--energy-point", choices=("auto", "booster", "product"), default=None,
                        help="how energy_j is answered where runtime, power and energy are learnt: the energy "
                             "booster, predicted power x runtime, or auto (default: the product where its "
                             "out-of-fold error is clearly lower; recorded in model.json)")
    parser.add_argument("--params", default=None, help="LightGBM parameters as JSON, e.g. '{\"num_leaves\": 127}'")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="share of problems held out for the logged metrics (0 = skip the held-out fit)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also keep the model directories here")
    parser.add_argument("--no-register", action="store_true", help="save only; no MLflow run or registry")
    parser.add_argument("--tracking-uri", default=None, help=TRACKING_URI_HELP)


def main(args: argparse.Namespace) -> int:
    from perfcast.measurements.store import MeasurementStore
    from perfcast.training.train import DEFAULT_BY, summarize, train_models

    hp: dict = {}
    if args.rounds:
        hp["num_boost_round"] = args.rounds
    if args.quantile_rounds:
        hp["quantile_boost_round"] = args.quantile_rounds
    if args.ranking:
        hp["ranking"] = True
    if args.energy_point:
        hp["energy_point"] = args.energy_point
    if args.params:
        try:
            hp["params"] = json.loads(args.params)
        except json.JSONDecodeError as exc:
            print(f"perfcast train: --params is not valid JSON: {exc}", file=sys.stderr)
            return 2
    if args.no_register and args.out is None:
        print("perfcast train: --no-register needs --out DIR (else the model is not kept anywhere)", file=sys.stderr)
        return 2
    try:
        results = train_models(
            MeasurementStore(args.store),
            kernels=args.kernel,
            systems=args.system,
            by=args.by or DEFAULT_BY,
            name=args.name,
            hyperparameters=hp,
            holdout=args.holdout,
            seed=args.seed,
            out_dir=args.out,
            register=not args.no_register,
            tracking_uri=args.tracking_uri,
        )
    except ValueError as exc:
        print(f"perfcast train: {exc}", file=sys.stderr)
        return 1
    print(summarize(results).to_string(index=False))
    for r in results:
        where = f"models:/{r.name}/{r.version}" if r.version else str(r.model_dir)
        print(f"{r.name}: {where}  (run {r.run_id or '-'}; {r.n_rows:,} rows; {r.seconds:.0f} s)")
    return 0
