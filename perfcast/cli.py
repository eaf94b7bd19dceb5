"""The `perfcast` console script.

Each subcommand lives in the stage that owns it, as a module with
`add_arguments(parser)` and `main(args) -> int`. Modules are imported only when their
subcommand runs, so `perfcast --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

# name -> (module, one-line purpose)
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": ("perfcast.quickstart", "The main job: ingest the real data, train a champion if none, serve it."),
    "ingest": ("perfcast.measurements.cli_ingest", "Ingest measurement files (datasets, caches, JSONL/CSV/Parquet) into the store."),
    "data": ("perfcast.measurements.cli_data", "Inspect the measurement store (summary of systems, kernels, targets)."),
    "systems": ("perfcast.systems.cli", "List registered GPU systems and their specs, or show one."),
    "features": ("perfcast.features.cli", "Show the feature vector (physics included) computed for query records."),
    "collect": ("perfcast.measurements.collect.cli", "Measure kernel sweeps on a CUDA GPU into canonical JSONL."),
    "train": ("perfcast.training.cli_train", "Train gradient-boosted cost models from the store; log to MLflow."),
    "evaluate": ("perfcast.training.cli_evaluate", "Evaluate models and baselines on problem/system/size splits."),
    "adapt": ("perfcast.training.cli_adapt", "Adapt a model of other GPUs to a new GPU from its measurements in the store."),
    "promote": ("perfcast.training.cli_promote", "Move the `champion` alias to the challenger if it wins on the frozen split."),
    "predict": ("perfcast.training.cli_predict", "Batch prediction: query records in, the same rows plus predictions out."),
    "serve": ("perfcast.serving.cli", "Run the HTTP prediction service for autotuners."),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perfcast", description="Learned cost models for GPU kernels.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('perfcast').__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, purpose) in COMMANDS.items():
        sub.add_parser(name, help=purpose, description=purpose, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv or ["--help"])
        return 2
    name = argv[0]
    module_name, purpose = COMMANDS[name]
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"perfcast {name}: not available in this build ({module_name} is missing)", file=sys.stderr)
            return 2
        raise
    sub = argparse.ArgumentParser(prog=f"perfcast {name}", description=purpose)
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    try:
        return int(module.main(args) or 0)
    except Exception as exc:
        from perfcast.measurements.store import StoreError  # noqa: PLC0415 (only on this path)

        if isinstance(exc, StoreError):  # a broken store file, from any command that reads the store
            print(f"perfcast {name}: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    raise SystemExit(main())
