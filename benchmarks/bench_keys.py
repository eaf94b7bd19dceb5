"""Row keys (config, problem, row ids) and the quickstart's problem sample on the whole store.

    perfcast quickstart --no-train            # once: fills ./.perfcast/store (678,836 records)
    python benchmarks/bench_keys.py           # ~3 min on 2 cores, most of it the baseline

Every split, `perfcast train`'s held-out fit, `perfcast promote` and the quickstart's sample hash rows
by the text of their `kernel`, `system`, `params.*` and `problem.*` values. The baseline makes that text
per row (`repr(float)` of every numeric cell, what the keys were built from before); perfcast makes it
once per distinct value of each column. Both must give the same uint64 keys (splits frozen before still
apply); the script checks that and prints medians and the ratio, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from perfcast.measurements.store import MeasurementStore
from perfcast.training import splits
from perfcast.training.train import load_training_frame, sample_problems

from perfcast import config


def per_row_text_hash(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The baseline: each numeric cell's `repr(float)` made per row, then hashed as a string frame."""
    if not columns:
        return np.zeros(len(frame), dtype=np.uint64)
    text = {}
    for c in sorted(columns):
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            text[c] = s.astype("float64").map(lambda v: "" if np.isnan(v) else repr(float(v)))
        else:
            text[c] = s.astype("string").fillna("")
    return pd.util.hash_pandas_object(pd.DataFrame(text, index=frame.index), index=False).to_numpy(dtype=np.uint64)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    seconds, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=None, help=config.STORE_HELP)
    parser.add_argument("--repeats", type=int, default=3, help="runs of perfcast's keys (the baseline runs once)")
    args = parser.parse_args(argv)
    store = MeasurementStore(args.store)
    if len(store) == 0:
        parser.error(f"the store {store.root} is empty: run `perfcast quickstart --no-train` first")
    frame = load_training_frame(store)
    print(f"{len(frame):,} records of {store.root}, {len(frame.columns)} columns")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("config_keys", lambda: splits.config_keys(frame)),
        ("problem_keys", lambda: splits.problem_keys(frame)),
        ("row_ids", lambda: splits.row_ids(frame)),
        ("sample_problems (40,000 per kernel x system)", lambda: sample_problems(frame, 40_000)),
    ]
    print(f"{'what':<46} {'perfcast s':>10} {'baseline s':>10} {'ratio':>7}  same")
    for label, fn in cases:
        fast_s, fast = timed(fn, args.repeats)
        per_value = splits._hash_columns
        splits._hash_columns = per_row_text_hash  # the baseline, in every caller
        try:
            slow_s, slow = timed(fn, 1)
        finally:
            splits._hash_columns = per_value
        same = fast.equals(slow) if isinstance(fast, pd.DataFrame) else np.array_equal(fast, slow)
        print(f"{label:<46} {fast_s:>10.2f} {slow_s:>10.2f} {slow_s / fast_s:>6.1f}x  {same}", flush=True)
        if not same:
            print("  the keys differ from the baseline's")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
