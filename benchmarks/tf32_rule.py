"""What the `allow_tf32` rule (kept for fp32 operands only) does to answers for fp16/bf16 matmul queries.

    python benchmarks/tf32_rule.py          # ~2 min on 2 cores

The collector writes `allow_tf32: false` on fp16/bf16 rows (the bundled H100 and H200 sets), PyTorch
AutoHeuristic's A100 logs leave it out there. Before the rule both forms were stored as they came, so a
model could tell the sources apart by the flag, and a query that leaves it out (as users and the
autotuner adapters do) was answered like an A100 row. Per family (`triton.matmul`, `cublas.matmul`), the
rows of the three GPUs (AutoHeuristic sampled to 40,000 rows per kernel x system, whole problems, as the
quickstart does) are split by problem; `GBCostModel` is fitted on the training rows as they come
("before") and as `validate_frame` stores them now; the fp16/bf16 test rows are asked without the flag.
Prints the held-out median APE per GPU.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from perfcast.measurements.ingest import read_path
from perfcast.measurements.validate import validate_frame
from perfcast.models.gbm import GBCostModel
from perfcast.training.evaluate import load_dataset
from perfcast.training.train import freeze_split, sample_problems

DATA = Path(__file__).resolve().parents[1] / "data" / "h100"


def main() -> int:
    warnings.filterwarnings("ignore", category=UserWarning)
    collected = pd.concat([c.frame for name in ("h100.jsonl.xz", "h200-transfer.jsonl.xz")
                           for c in read_path(DATA / name)], ignore_index=True)
    collected = collected.drop(columns=[c for c in collected.columns if c.startswith("ir.")])
    a100 = load_dataset("autoheuristic_a100")
    print("| kernel | GPU | fp16/bf16 test rows | median APE before | median APE now |", flush=True)
    print("|---|---|---|---|---|", flush=True)
    for kernel in ("triton.matmul", "cublas.matmul"):
        raw = pd.concat([sample_problems(a100[a100["kernel"] == kernel], 40000, 0), collected[collected["kernel"] == kernel]],
                        ignore_index=True)
        now, quarantined = validate_frame(raw)
        if len(quarantined):
            print(f"{kernel}: {len(quarantined)} rows quarantined: {quarantined['_reason'].iloc[0]}", file=sys.stderr)
        before = now.copy()  # the same rows with the flag as the sources wrote it
        collector_rows = before["source"].astype(str).str.startswith("perfcast").to_numpy()
        off32 = (before["problem.dtype"] != "fp32").to_numpy()
        before["problem.allow_tf32"] = before["problem.allow_tf32"].astype(object)
        before.loc[collector_rows & off32, "problem.allow_tf32"] = False
        train, test = freeze_split(now, 0.2, 0).train_test(now)
        rows = now.iloc[test]
        asked = ((rows["status"] == "ok") & (rows["problem.dtype"] != "fp32")).to_numpy()
        query = rows[asked].drop(columns=["problem.allow_tf32"]).reset_index(drop=True)
        y = query["runtime_ms"].to_numpy(dtype=float)
        preds = {label: GBCostModel().fit(frame.iloc[train].reset_index(drop=True)).predict(query)["pred.runtime_ms"].to_numpy()
                 for label, frame in (("before", before), ("now", now))}
        for system in sorted(query["system"].unique()):
            sel = (query["system"] == system).to_numpy()
            ape = {k: np.median(np.abs(p[sel] / y[sel] - 1)) * 100 for k, p in preds.items()}
            print(f"| {kernel} | {system} | {int(sel.sum()):,} | {ape['before']:.2f}% | {ape['now']:.2f}% |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
