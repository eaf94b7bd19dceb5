"""`perfcast evaluate`: run the evaluation suites (perfcast model + baselines, same frozen splits).

    perfcast evaluate                          # every suite, full size (what benchmarks/accuracy.py runs)
    perfcast evaluate --suite autoheuristic_problem --quick
    perfcast evaluate --suite kt_gemm_config --models perfcast,plain_lgbm --mlflow
    perfcast evaluate --model models:/perfcast-default@champion --suite gpperf_problem

`--model URI|DIR` evaluates that model's *hyperparameters*: a trained model has seen the test rows,
so each split refits it on its training part (the honest reading of "how good is this model").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

#: Columns of the printed table (those present).
SHOW = [
    "suite", "case", "model", "test.runtime_ms.median_ape", "test.runtime_ms.mape", "test.runtime_ms.r2_log",
    "test.spearman_median", "test.kendall_median", "test.pairwise_accuracy", "test.top1_slowdown_geomean",
    "test.top1_slowdown_p90", "test.top10_slowdown_geomean", "test.top5_recall", "test.runtime_ms.coverage_80",
    "test.power_w.median_ape", "in_range.runtime_ms.median_ape", "far.runtime_ms.median_ape", "fit_seconds",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from perfcast.training.evaluate import SUITES  # noqa: PLC0415

    parser.add_argument("--suite", default="all", help=f"suite name or 'all' ({', '.join(SUITES)})")
    parser.add_argument("--models", default=None,
                        help="comma-separated models to run (perfcast, plain_lgbm, gpperf_rf, roofline, other_gpus; text: the "
                             "text-to-text model, only when named, needs torch); default: all of a suite's")
    parser.add_argument("--model", default=None,
                        help="evaluate the hyperparameters of this model (models:/name@alias or a model directory), "
                             "refit per split, as the 'perfcast' row")
    parser.add_argument("--quick", action="store_true", help="subsampled data and short training (smoke test)")
    parser.add_argument("--datasets", type=Path, default=None, help="datasets folder (default ../shared/datasets)")
    parser.add_argument("--output", type=Path, default=None, help="write every metric of every row (.csv or .json)")
    parser.add_argument("--mlflow", action="store_true", help="log one MLflow run per suite (MLFLOW_TRACKING_URI)")


def _hyperparameters_of(uri: str) -> dict[str, Any]:
    from perfcast.models.transfer import is_transfer_dir  # noqa: PLC0415
    from perfcast.training.registry import resolve_model_dir  # noqa: PLC0415

    model_dir = resolve_model_dir(uri)
    if is_transfer_dir(model_dir):
        raise ValueError(f"{model_dir} is an adaptation to a new GPU (perfcast adapt): no family hyperparameters "
                         "to refit per split; its held-out check is `perfcast adapt --holdout 0.2` (logged to MLflow)")
    meta = json.loads((Path(model_dir) / "model.json").read_text())
    hp = meta.get("hyperparameters")
    if not hp:
        raise ValueError(f"{model_dir}/model.json has no hyperparameters to refit with")
    return hp


def log_to_mlflow(suite: str, results: pd.DataFrame, *, quick: bool) -> str:
    """One MLflow run per suite: per-(case, model) metrics, the frozen splits, the results table."""
    import tempfile  # noqa: PLC0415

    from perfcast.training import tracking  # noqa: PLC0415

    tracking.setup()
    import mlflow  # noqa: PLC0415

    with mlflow.start_run(run_name=f"evaluate:{suite}") as run:
        mlflow.set_tags({"perfcast.kind": "evaluation", "perfcast.suite": suite, "perfcast.quick": str(quick)})
        metrics = {}
        for _, row in results.iterrows():
            tag = f"{row['case']}.{row['model']}".replace(" ", "_")
            for col, value in row.items():
                if col.startswith(("test.", "in_range.", "far.")) and isinstance(value, int | float):
                    metrics[f"{tag}.{col}"] = value
        mlflow.log_metrics(tracking._finite_metrics({k[:250]: v for k, v in metrics.items()}))
        mlflow.log_dict({str(r["case"]): r["split_id"] for _, r in results.iterrows()}, "splits.json")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{suite}.csv"
            results.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
        return run.info.run_id


def main(args: argparse.Namespace) -> int:
    from perfcast.training.evaluate import SUITES, markdown_table, run_suite  # noqa: PLC0415

    names = list(SUITES) if args.suite == "all" else [args.suite]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"perfcast evaluate: unknown suite {unknown[0]!r}; choose one of {', '.join(SUITES)} or all", file=sys.stderr)
        return 2
    models = [m.strip() for m in args.models.split(",")] if args.models else None
    override = None
    if args.model:
        try:
            override = _hyperparameters_of(args.model)
        except Exception as exc:  # noqa: BLE001 (any resolution failure is a clear CLI error)
            print(f"perfcast evaluate: cannot use --model {args.model}: {exc}", file=sys.stderr)
            return 2
    frames = []
    for name in names:
        try:
            if override is not None:
                from perfcast.training.train import model_factory  # noqa: PLC0415

                results = run_suite(name, args.datasets, quick=args.quick, models=models,
                                    perfcast=model_factory(override))
            else:
                results = run_suite(name, args.datasets, quick=args.quick, models=models)
        except (FileNotFoundError, ImportError) as exc:  # a dataset not found; torch missing for --models text
            print(f"perfcast evaluate: {exc}", file=sys.stderr)
            return 2
        if args.mlflow:
            run_id = log_to_mlflow(name, results, quick=args.quick)
            print(f"[{name}] logged to MLflow run {run_id}")
        frames.append(results)
        show = [c for c in SHOW if c in results.columns]
        print(f"\n## {name}: {SUITES[name].description}\n")
        print(markdown_table(results[show].rename(columns=lambda c: c.removeprefix("test."))))
    all_results = pd.concat(frames, ignore_index=True)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if args.output.suffix == ".json":
            args.output.write_text(all_results.to_json(orient="records", indent=1))
        else:
            all_results.to_csv(args.output, index=False)
        print(f"\nwrote {len(all_results)} rows to {args.output}")
    return 0

