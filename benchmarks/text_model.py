"""The text-to-text cost model (`TextCostModel`) against the gradient-boosted one, on the same splits.

    python benchmarks/text_model.py                                   # kt_gemm_config, defaults
    python benchmarks/text_model.py --suite kt_gemm_config --suite autoheuristic_problem --epochs 40
    python benchmarks/text_model.py --quick                           # a CPU smoke run (minutes)

Each case of a suite (`perfcast.training.evaluate.SUITES`: the accuracy table's frozen splits) is fitted
and scored by `evaluate` for the text model, `GBCostModel` with the suite's settings ("perfcast") and
the plain LightGBM baseline, so every metric comes from the same rows. Prints one Markdown table
(median APE, per-problem Spearman, top-1 slowdown, 80% coverage, fit and predict seconds) and writes
every metric to `benchmarks/results/text_model.csv`. The text model trains on CUDA when there is a
GPU (`--device`); on the 2-core machine use `--quick` or `--max-train-rows`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
SHOW = {
    "test.runtime_ms.median_ape": "median APE %",
    "test.runtime_ms.mape": "MAPE %",
    "test.spearman_median": "Spearman (median)",
    "test.top1_slowdown_geomean": "top-1 slowdown",
    "test.top10_slowdown_geomean": "best of top-10",
    "test.runtime_ms.coverage_80": "80% coverage",
    "fit_seconds": "fit s",
    "predict_seconds": "predict s",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", help="suite name (repeatable; default kt_gemm_config)")
    parser.add_argument("--models", default="text,perfcast,plain_lgbm", help="models to run (comma-separated)")
    parser.add_argument("--epochs", type=int, default=None, help="text model epochs (default: TextCostModel's)")
    parser.add_argument("--d-model", type=int, default=None)
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="auto", help="torch device for the text model (auto: CUDA if present)")
    parser.add_argument("--max-train-rows", type=int, default=None,
                        help="train every model on a random sample of this many training rows (CPU runs)")
    parser.add_argument("--case", default=None, help="run only the cases whose name contains this text")
    parser.add_argument("--quick", action="store_true", help="subsampled data and short training (smoke test)")
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS / "text_model.csv")
    args = parser.parse_args()

    from perfcast.training.evaluate import SUITES, evaluate, markdown_table, text_factory  # noqa: PLC0415

    overrides = {k: v for k, v in {"epochs": args.epochs, "d_model": args.d_model, "n_layers": args.layers,
                                   "batch_size": args.batch_size}.items() if v is not None}
    overrides["device"] = args.device
    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    rows = []
    for name in args.suite or ["kt_gemm_config"]:
        if name not in SUITES:
            parser.error(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
        for case in SUITES[name].build(args.datasets, args.quick):
            if args.case and args.case not in case.case:
                continue
            case.models["text"] = text_factory(args.quick, **overrides)
            split = case.split
            if args.max_train_rows is not None:
                split = _capped(split, case.frame, args.max_train_rows)
            for model in wanted:
                if model not in case.models:
                    parser.error(f"model {model!r} is not run by suite {name} ({', '.join(case.models)})")
                t0 = time.perf_counter()
                result = evaluate(case.models[model], case.frame, split, rank_by=case.rank_by)
                result.pop("_model", None)
                result.pop("split")
                rows.append({"suite": name, "case": case.case, "model": model, **result})
                shown = {label: result.get(col) for col, label in SHOW.items()}
                print(f"[{name}] {case.case} {model}: {shown} ({time.perf_counter() - t0:.0f} s)", flush=True)
    results = pd.DataFrame(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.output, index=False)
    table = results[["case", "model", *[c for c in SHOW if c in results.columns]]].rename(columns=SHOW)
    print("\n" + markdown_table(table))
    print(f"\nwrote {args.output}")


def _capped(split, frame: pd.DataFrame, max_rows: int):  # noqa: ANN001, ANN202 (a Split of perfcast.training.splits)
    """The split with its training part sampled down to `max_rows` rows (held-out parts unchanged)."""
    import numpy as np  # noqa: PLC0415

    parts = split.parts(frame.reset_index(drop=True))
    train = parts["train"]
    if len(train) <= max_rows:
        return split
    keep = np.sort(np.random.default_rng(0).choice(train, max_rows, replace=False))
    return _FixedParts(split, {**parts, "train": keep})


class _FixedParts:
    """A split whose parts are given (the benchmark's capped training rows)."""

    def __init__(self, split, parts: dict) -> None:  # noqa: ANN001
        self._split, self._parts = split, parts
        self.split_id = f"{split.split_id}-cap{len(parts['train'])}"

    def parts(self, frame: pd.DataFrame) -> dict:
        return self._parts

    def to_dict(self) -> dict:
        return {**self._split.to_dict(), "train_rows_cap": len(self._parts["train"])}


if __name__ == "__main__":
    main()
