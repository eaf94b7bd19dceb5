"""Fitting an adaptation to a new GPU (`TransferCostModel.fit`, what `perfcast adapt` runs): its fits on
`n_jobs` threads against one thread, in the same run.

    python benchmarks/bench_adapt_fit.py [--quick]      # ~75 s on 2 cores

Real Kernel Tuner GEMM caches: the base is a `GBCostModel` of the other GPUs with the `kt_gemm_transfer`
suite's `xgemm_base` settings, fitted once; the adaptation to the RTX 3090 is fitted on k random configs
of it (the fit on all k rows plus the five interval refits, each 5 bagged residual boosters), with
`n_jobs=1` and `n_jobs=2` alternating, 3 times each. Prints the median seconds and the ratio, and
checks that both fit the same model (the boosters are seeded and one-thread each).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

TARGET = "NVIDIA GeForce RTX 3090"
FILES = ("RTX_2080_Ti.json.gz", "RTX_Titan.json.gz", "RTX_3090.json.gz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small base, 300 rows, one repeat (a smoke run)")
    parser.add_argument("--k", default="500,2000", help="comma-separated numbers of target measurements")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    from perfcast.measurements.ingest import read_path
    from perfcast.models import GBCostModel
    from perfcast.models.transfer import TransferCostModel
    from perfcast.training.evaluate import gbm_kwargs, markdown_table

    from perfcast.config import shared_datasets_dir

    frame = pd.concat([c.frame for name in FILES for c in read_path(shared_datasets_dir() / "kerneltuner_gemm" / name)],
                      ignore_index=True)
    target = frame[frame["system"] == TARGET].sample(frac=1.0, random_state=0).reset_index(drop=True)
    t0 = time.perf_counter()
    base = GBCostModel(**gbm_kwargs("xgemm_base", args.quick)).fit(frame[frame["system"] != TARGET].reset_index(drop=True))
    print(f"base fitted in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    ks, repeats = ([300], 1) if args.quick else ([int(v) for v in args.k.split(",")], args.repeats)
    rows = []
    for k in ks:
        measured, unseen = target.iloc[:k], target.iloc[k:k + 2000]
        seconds: dict[int, list[float]] = {1: [], 2: []}
        predictions = {}
        for _ in range(repeats):
            for n_jobs in (1, 2):  # alternating, so both see the same machine load
                start = time.perf_counter()
                model = TransferCostModel(TARGET, base=base, n_jobs=n_jobs).fit(measured)
                seconds[n_jobs].append(time.perf_counter() - start)
                predictions[n_jobs] = model.predict(unseen)
        same = predictions[1].equals(predictions[2])
        one, two = float(np.median(seconds[1])), float(np.median(seconds[2]))
        rows.append({"target rows": k, "n_jobs=1 s (median)": one, "n_jobs=2 s (median)": two,
                     "speed-up": one / two, "same model": same})
        print(rows[-1], file=sys.stderr, flush=True)
        if not same:
            print("n_jobs=1 and n_jobs=2 fitted different models", file=sys.stderr)
            return 1
    print(markdown_table(pd.DataFrame(rows), digits=3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
