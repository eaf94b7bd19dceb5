"""A new GPU from N measurements on perfcast's own data: the bundled H100 set -> the H200.

    python benchmarks/adapt_h200.py                  # N = 100, 250, 500, 1000; seeds 0-2; ~3 min on 2 cores

`data/h100/` holds a draw of six kernel families (cuBLAS and Triton matmul, Triton softmax, layernorm,
reduction, elementwise) measured on an H100 and the same draw on an H200. The base is the routed
model `perfcast train` fits (one sub-model per family) on the H100 rows only. Each case draws N of
the H200's records at random (any status, as a tuner's measurements come), adapts, and predicts the
H200's other `ok` records. Methods:

- perfcast_adapt: `TransferCostModel` on the routed base (what `perfcast adapt` fits);
- base_as_h100: the base's prediction for the H100 (no H200 measurement);
- plain_lgbm: LightGBM on raw fields, the N H200 records only.

It prints median APE, per-problem Spearman (median), top-1 slowdown (geomean over problems with
at least 3 held-out configs) and the share of held-out runtimes inside the 80% interval (the
adaptation's cross-conformal one; the base's own CQR interval for the H100), medians over seeds.
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
from perfcast.measurements.ingest import read_path
from perfcast.models.routed import load_cost_model
from perfcast.models.transfer import TransferCostModel
from perfcast.training.baselines import PlainLGBM
from perfcast.training.evaluate import markdown_table, score
from perfcast.training.train import train_models

DATA = Path(__file__).resolve().parents[1] / "data" / "h100"
H200 = "NVIDIA H200"
H100 = "NVIDIA H100 80GB HBM3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="100,250,500,1000", help="comma-separated numbers of H200 measurements")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    frame = pd.concat([c.frame for name in ("h100.jsonl.xz", "h200-transfer.jsonl.xz")
                       for c in read_path(DATA / name)], ignore_index=True)
    h100 = frame[frame["system"] == H100].reset_index(drop=True)
    h200 = frame[frame["system"] == H200].reset_index(drop=True)
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="perfcast-adapt-h200-"))
    (result,) = train_models(frame=h100, by="routed", holdout=0, register=False, out_dir=work, progress=False)
    base_dir = result.model_dir
    base = load_cost_model(base_dir)
    print(f"base: routed model of {len(h100):,} H100 records fitted in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr, flush=True)
    rows = []
    for n in (int(v) for v in args.n.split(",")):
        for seed in (int(v) for v in args.seeds.split(",")):
            order = np.random.default_rng(seed).permutation(len(h200))
            measured, rest = h200.iloc[order[:n]], h200.iloc[order[n:]]
            rest = rest[rest["status"].eq("ok")].reset_index(drop=True)
            preds = {
                "perfcast_adapt": TransferCostModel(H200, base=str(base_dir)).fit(measured).predict(rest),
                "base_as_h100": base.predict_frame(rest.assign(system=H100)),
                "plain_lgbm": PlainLGBM().fit(measured).predict(rest),
            }
            for method, pred in preds.items():
                m = score(rest, pred)
                rows.append({"n": n, "seed": seed, "method": method, "median_ape": m["runtime_ms.median_ape"],
                             "spearman": m.get("spearman_median"), "top1": m.get("top1_slowdown_geomean"),
                             "coverage_80": m.get("runtime_ms.coverage_80", np.nan)})
            print(rows[-3:], file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).groupby(["n", "method"], sort=False)[["median_ape", "spearman", "top1", "coverage_80"]].median()
    print(f"\nH100 -> H200, {len(h200):,} H200 records ({int(h200['status'].eq('ok').sum()):,} ok), medians over "
          f"seeds {args.seeds} ({time.perf_counter() - t0:.0f} s)")
    print(markdown_table(table.reset_index(), digits=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
