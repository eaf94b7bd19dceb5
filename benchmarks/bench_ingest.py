"""Ingest throughput (records/s) for the CSV-like sources, against a naive per-row baseline.

Sources: the AutoHeuristic logs (631k rows), SGEMM UCI (241.6k rows) and a canonical flat CSV
(the SGEMM records written back out with dotted columns, samples as JSON text). For each, two numbers:

- `read`: the adapter alone (file -> canonical frames);
- `ingest`: `ingest_path` into a fresh store (read + validate + content hash + dedup + atomic Parquet).

The baseline is what a straightforward implementation does: `csv.DictReader`, one nested record dict
per row, per-row checks, a SHA-1 of the sorted JSON per row for dedup, then a DataFrame and Parquet.
It runs on the first `--baseline-rows` rows of each source (it is slow) in the same process.

    python benchmarks/bench_ingest.py [--repeats 3] [--baseline-rows 60000]

Prints the median of the repeats; the goal is >= 100,000 records/s for `ingest`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd
from perfcast.measurements.ingest import ingest_path, read_path
from perfcast.measurements.store import MeasurementStore

from perfcast import config

CHOICE = re.compile(r"BLOCK-M=(\d+)_BLOCK-K=(\d+)_BLOCK-N=(\d+)_numstages=(\d+)_numwarps=(\d+)")
TORCH = {"torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float32": "fp32"}


# ------------------------------------------------------------------ naive per-row baseline
def _naive_autoheuristic_rows(path: Path, limit: int):
    with zipfile.ZipFile(path) as zf:
        for name in sorted(n for n in zf.namelist() if n.endswith(".txt")):
            with zf.open(name) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8")
                text.readline()  # metadata
                for row in csv.DictReader(text):
                    if limit <= 0:
                        return
                    limit -= 1
                    match = CHOICE.search(row["choice"])
                    feedback = float(row["feedback"])
                    record = {
                        "kernel": "triton.matmul" if match else "cublas.matmul",
                        "params": ({"BLOCK_M": int(match[1]), "BLOCK_K": int(match[2]), "BLOCK_N": int(match[3]),
                                    "num_stages": int(match[4]), "num_warps": int(match[5]), "GROUP_M": 8}
                                   if match else {}),
                        "problem": {"M": int(row["m"]), "N": int(row["n"]), "K": int(row["k"]),
                                    "dtype": TORCH[row["mat1_dtype"]],
                                    "a_layout": "row" if row["mat1_stride_1"] == "1" else "col",
                                    "b_layout": "row" if row["mat2_stride_1"] == "1" else "col"},
                        "system": "NVIDIA A100-SXM4-80GB",
                        "runtime_ms": feedback if feedback != float("inf") else None,
                        "status": "ok" if feedback != float("inf") else "failed",
                    }
                    yield record


def _naive_sgemm_rows(path: Path, limit: int):
    with zipfile.ZipFile(path) as zf, zf.open("sgemm_product.csv") as raw:
        for i, row in enumerate(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))):
            if i >= limit:
                return
            runs = sorted(float(row[f"Run{k} (ms)"]) for k in range(1, 5))
            yield {"kernel": "cltune.sgemm",
                   "params": {k: int(v) for k, v in row.items() if not k.startswith("Run")},
                   "problem": {"M": 2048, "N": 2048, "K": 2048, "dtype": "fp32"},
                   "system": "NVIDIA GeForce GTX 680", "runtime_ms": (runs[1] + runs[2]) / 2,
                   "runtime_ms_samples": runs, "status": "ok"}


def _naive_canonical_rows(path: Path, limit: int):
    with open(path, encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i >= limit:
                return
            record: dict = {}
            for key, value in row.items():
                if value == "":
                    continue
                section, dot, sub = key.partition(".")
                if key == "runtime_ms_samples":
                    record[key] = json.loads(value)
                elif dot:
                    record.setdefault(section, {})[sub] = float(value) if section == "params" else value
                else:
                    record[key] = value
            record["runtime_ms"] = float(record["runtime_ms"])
            yield record


def naive_ingest(rows, out_dir: Path) -> int:
    """Per-row checks and SHA-1 dedup, then one DataFrame -> Parquet (the baseline)."""
    seen: set[str] = set()
    kept = []
    for record in rows:
        if not record.get("kernel") or not record.get("system"):
            continue
        runtime = record.get("runtime_ms")
        if record["status"] == "ok" and (runtime is None or runtime <= 0):
            continue
        digest = hashlib.sha1(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        flat = {}
        for key, value in record.items():
            if isinstance(value, dict):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        kept.append(flat)
    frame = pd.DataFrame(kept)
    frame.to_parquet(out_dir / "naive.parquet")
    return len(kept)


# ------------------------------------------------------------------ helpers
def _timed(fn, repeats: int) -> tuple[float, int, float]:
    """Median wall seconds, the last count, median CPU seconds (all threads of this process)."""
    times, cpu, count = [], [], 0
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        count = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), count, statistics.median(cpu)


def _write_canonical_csv(sgemm_zip: Path, target: Path) -> int:
    frames = [chunk.frame.drop(columns=["_line"]) for chunk in read_path(sgemm_zip)]
    frame = pd.concat(frames, ignore_index=True)
    samples = frame["runtime_ms_samples"]
    frame["runtime_ms_samples"] = ["[" + ", ".join(map(repr, s)) + "]" for s in samples.tolist()]
    frame.to_csv(target, index=False)
    return len(frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=config.shared_datasets_dir())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-rows", type=int, default=60_000)
    args = parser.parse_args(argv)

    ah = args.datasets / "autoheuristic_a100" / "a100_mm.zip"
    sg = args.datasets / "sgemm_uci" / "sgemm_product_dataset.zip"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        canonical = tmp_dir / "canonical.csv"
        _write_canonical_csv(sg, canonical)
        sources = [("autoheuristic", ah, _naive_autoheuristic_rows),
                   ("sgemm_uci", sg, _naive_sgemm_rows),
                   ("canonical_csv", canonical, _naive_canonical_rows)]
        print(f"{'source':<15} {'rows':>9} {'read rec/s':>12} {'ingest rec/s':>13} {'ingest rec/cpu-s':>17} "
              f"{'naive rec/s':>12} {'speedup':>8}")
        worst = float("inf")
        for name, path, naive_rows in sources:
            read_s, rows, _ = _timed(lambda p=path: sum(c.source_rows for c in read_path(p)), args.repeats)

            def ingest(p=path, name=name) -> int:
                store_dir = Path(tempfile.mkdtemp(dir=tmp_dir, prefix=f"{name}-"))
                return ingest_path(p, MeasurementStore(store_dir), progress=False).rows_read

            ingest_s, _, ingest_cpu = _timed(ingest, args.repeats)
            naive_s, _, _ = _timed(lambda p=path, f=naive_rows: naive_ingest(f(p, args.baseline_rows), tmp_dir)
                                      or args.baseline_rows, args.repeats)
            ingest_rate, naive_rate = rows / ingest_s, args.baseline_rows / naive_s
            worst = min(worst, ingest_rate)
            print(f"{name:<15} {rows:>9,} {rows / read_s:>12,.0f} {ingest_rate:>13,.0f} {rows / ingest_cpu:>17,.0f} "
                  f"{naive_rate:>12,.0f} {ingest_rate / naive_rate:>7.1f}x")
    goal = 100_000
    load = os.getloadavg()[0]
    print(f"slowest ingest: {worst:,.0f} records/s wall (goal >= {goal:,}: {'met' if worst >= goal else 'NOT met'}); "
          f"medians of {args.repeats} runs, naive baseline on the first {args.baseline_rows:,} rows; "
          f"{os.cpu_count()} CPUs, 1-min load average {load:.1f} (wall rates fall when other work shares the cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
