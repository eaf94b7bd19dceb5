"""`perfcast predict` (batch prediction, streamed): the run as it is, with each row checked by the
measurements' rules and answered in its place (`predict_rows`), against the model's `predict_frame`
alone on every chunk (what it ran before the checks), in the same run.

    perfcast quickstart --no-serve                         # a store and a champion
    perfcast data export queries.parquet --no-ir           # the stored records as queries
    python benchmarks/bench_predict.py queries.parquet [--model URI|DIR] [--repeats 3]

The two alternate (so both see the same machine load), each writing its own Parquet file. Prints the
median seconds and rows/s of each, their ratio, and checks that the predictions agree on every row
both answer (the checked run also names why a row has none, where the other answered it anyway).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queries", type=Path, help="query records (.parquet, .csv or .jsonl)")
    parser.add_argument("--model", default="models:/perfcast-default@champion")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    from perfcast.measurements.recordfile import write_records
    from perfcast.models.routed import load_cost_model
    from perfcast.training.cli_predict import ERROR_COLUMN, iter_chunks, predict_file
    from perfcast.training.registry import resolve_model_dir

    model_dir = resolve_model_dir(args.model)

    def unchecked(out: Path) -> int:
        """The run before the checks: every chunk straight into `predict_frame`."""
        model = load_cost_model(model_dir, threads=args.threads)
        chunks = (pd.concat([c, model.predict_frame(c).reset_index(drop=True)], axis=1)
                  for c in (c.reset_index(drop=True) for c in iter_chunks(args.queries, 131072)))
        return write_records(out, chunks)

    seconds: dict[str, list[float]] = {"predict_frame alone (before)": [], "checked rows (now)": []}
    with tempfile.TemporaryDirectory(prefix="perfcast-bench-predict-") as tmp:
        files = {name: Path(tmp) / f"{i}.parquet" for i, name in enumerate(seconds)}
        rows = 0
        for repeat in range(args.repeats):
            for name in seconds:  # alternating
                start = time.perf_counter()
                if name.startswith("checked"):
                    rows = predict_file(args.queries, files[name], str(model_dir), threads=args.threads, progress=False)
                else:
                    unchecked(files[name])
                seconds[name].append(time.perf_counter() - start)
                print(f"repeat {repeat + 1}/{args.repeats} {name}: {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)
        before, now = (pd.read_parquet(path) for path in files.values())
    cols = [c for c in before.columns if c.startswith("pred.")]
    answered = now[ERROR_COLUMN].isna().to_numpy()
    both = answered & before[cols].notna().any(axis=1).to_numpy()
    same = np.allclose(now.loc[both, cols].to_numpy(float), before.loc[both, cols].to_numpy(float),
                       rtol=1e-5, atol=1e-6, equal_nan=True)
    medians = {name: float(np.median(v)) for name, v in seconds.items()}
    print(f"\nperfcast predict of {rows:,} rows ({args.queries.name}), median of {args.repeats}:")
    for name, median in medians.items():
        print(f"  {name:<30} {median:7.1f} s  {rows / median:9,.0f} rows/s")
    (b, n) = medians.values()
    print(f"  ratio: {n / b:.2f}x the time; rows without a prediction (pred.error): {int((~answered).sum()):,}; "
          f"predictions equal where both answer: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
