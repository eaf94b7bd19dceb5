"""Serving an adaptation to a new GPU: in-process `Predictor` latency, against its base in the same run.

    python benchmarks/bench_serving_adapted.py [--quick]      # ~3 min on 2 cores

Real Kernel Tuner GEMM caches: the base is a `GBCostModel` of the other GPUs with the `kt_gemm_transfer`
suite's `xgemm_base` settings (255 leaves, 1,000 rounds), adapted (`TransferCostModel`, what
`perfcast adapt` fits) to the RTX 3090 on 500 random configs of it, saved, and loaded by `Predictor`
(what `perfcast serve` runs). Timed per call (p50 / p99), each beside the same call on the base's
`Predictor` (the TITAN RTX, one of its GPUs) alternating call by call:

- rank 1,000 configs the service never saw (cold: features and the base's answers as if on each source
  GPU computed on the request path), and the same 1,000 again (warm: cached inputs);
- predict one new config (cold) and one asked before (warm).

The adaptation runs the base once per source GPU, so a cold query costs about (sources + 1)× the base;
the ratio column says how much it is here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from bench_serving import timeit_pair  # alternating A/B timing, as the champion's serving benchmark

TARGET = "NVIDIA GeForce RTX 3090"
SOURCE = "NVIDIA TITAN RTX"
BUDGET_S = 600.0  # time limit of each timed pair: the call counts, not time, bound this benchmark
FILES = ("RTX_2080_Ti.json.gz", "RTX_Titan.json.gz", "RTX_3060_laptop.json.gz", "RTX_3090.json.gz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small base and few calls (a smoke run)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    from perfcast.measurements.ingest import read_path
    from perfcast.models import GBCostModel
    from perfcast.models.transfer import TransferCostModel
    from perfcast.serving.predictor import Predictor
    from perfcast.training.evaluate import gbm_kwargs

    from perfcast.config import shared_datasets_dir

    t0 = time.perf_counter()
    frame = pd.concat([c.frame for name in FILES for c in read_path(shared_datasets_dir() / "kerneltuner_gemm" / name)],
                      ignore_index=True)
    target = frame[frame["system"] == TARGET].sample(frac=1.0, random_state=0).reset_index(drop=True)
    measured, unseen = target.iloc[:500], target.iloc[500:]
    work = Path(tempfile.mkdtemp(prefix="perfcast-bench-adapted-"))
    base = GBCostModel(**gbm_kwargs("xgemm_base", args.quick)).fit(frame[frame["system"] != TARGET].reset_index(drop=True))
    base_dir = base.save(work / "base")
    adapted_dir = TransferCostModel(TARGET, base=str(base_dir)).fit(measured).save(work / "adapted")
    print(f"base and adaptation fitted in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    adapted, plain = Predictor.load(adapted_dir), Predictor.load(base_dir)

    params = [c for c in unseen.columns if c.startswith("params.")]
    configs = [{k.split(".", 1)[1]: int(v) for k, v in row.items()} for row in unseen[params].to_dict("records")]
    problem = {k.split(".", 1)[1]: unseen[k].iloc[0] for k in unseen.columns if k.startswith("problem.")}
    problem = {k: v.item() if isinstance(v, np.generic) else v for k, v in problem.items()}
    n_rank, n_one = (3, 20) if args.quick else (10, 200)
    # distinct slices of 1,000 configs per call: cold means never asked before, for both models
    blocks = [configs[i * 1000:(i + 1) * 1000] for i in range(n_rank)]
    rows = []

    def add(what: str, t_adapted: np.ndarray, t_base: np.ndarray) -> None:
        a, b = np.median(t_adapted) * 1e3, np.median(t_base) * 1e3
        rows.append({"call": what, "adapted p50 ms": a, "adapted p99 ms": np.percentile(t_adapted, 99) * 1e3,
                     "base p50 ms": b, "ratio adapted / base": a / b})
        print(rows[-1], file=sys.stderr, flush=True)

    # block=1: the two models alternate call by call
    add("rank 1,000 new configs (cold)", *timeit_pair(lambda i: adapted.rank(TARGET, problem, blocks[i]),
                                                      lambda i: plain.rank(SOURCE, problem, blocks[i]), n_rank,
                                                      BUDGET_S, block=1))
    add("rank the same 1,000 again (warm)", *timeit_pair(lambda i: adapted.rank(TARGET, problem, blocks[i]),
                                                         lambda i: plain.rank(SOURCE, problem, blocks[i]), n_rank,
                                                         BUDGET_S, block=1))
    singles = configs[n_rank * 1000:n_rank * 1000 + n_one]

    def one(predictor: Predictor, system: str, i: int) -> object:
        return predictor.predict([{"kernel": "clblast.xgemm", "system": system, "problem": problem, "params": singles[i]}])

    add("predict 1 new config (cold)",
        *timeit_pair(lambda i: one(adapted, TARGET, i), lambda i: one(plain, SOURCE, i), n_one, BUDGET_S, block=1))
    add("predict 1 config asked before (warm)",
        *timeit_pair(lambda i: one(adapted, TARGET, i), lambda i: one(plain, SOURCE, i), n_one, BUDGET_S, block=1))
    from perfcast.training.evaluate import markdown_table

    print(f"\nServing an adaptation ({len(TransferCostModel.load(adapted_dir).sources_)} source GPUs) against its "
          f"base, in-process Predictor, 1 onnxruntime thread ({time.perf_counter() - t0:.0f} s)")
    print(markdown_table(pd.DataFrame(rows), digits=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
