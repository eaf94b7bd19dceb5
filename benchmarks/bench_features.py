"""Benchmark: matmul feature extraction for 1,000,000 configs (goal <= 5 s), vs a naive per-row version.

    python benchmarks/bench_features.py [--rows 1000000] [--repeats 3] [--naive-rows 50000]

Synthetic but realistic `triton.matmul` query records (tile sizes, warps, stages, M/N/K, dtypes,
three GPUs). Times, as medians over repeats: `featurize` fit (derives the schema), `featurize`
transform (with the schema), and the triton extractor alone. The naive version computes the same
physics with plain Python per row (`naive_triton_physics`); it runs on `--naive-rows` rows and is
scaled per row to the full size (printed as such), and its values are checked against the vectorised
ones on those rows.

Then small batches (the serving path): `compile_plan(schema).transform(columns)` against
`featurize(frame, schema)` and against the plan's column path (`one_row=False`) on 1, 10, 100 and
1,000 rows, and 1,000 rows sharing one system and problem passed as scalars (a rank's shape); p50
over `--small-repeats` calls each, every result checked equal to featurize, NaN-aware.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import numpy as np
import pandas as pd

SYSTEMS = ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4070")
DTYPE_BYTES = {"fp16": 2.0, "bf16": 2.0, "fp32": 4.0}
TENSOR_PEAK = {"fp16": "sys.peak_tflops.fp16.tensor", "bf16": "sys.peak_tflops.bf16.tensor", "fp32": "sys.peak_tflops.fp32.simt"}


def synthetic_triton_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` canonical flat triton.matmul query records."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "kernel": "triton.matmul",
            "system": rng.choice(SYSTEMS, rows),
            "params.BLOCK_M": rng.choice([16, 32, 64, 128, 256], rows),
            "params.BLOCK_N": rng.choice([16, 32, 64, 128, 256], rows),
            "params.BLOCK_K": rng.choice([16, 32, 64, 128], rows),
            "params.GROUP_M": 8,
            "params.num_warps": rng.choice([2, 4, 8], rows),
            "params.num_stages": rng.choice([1, 2, 3, 4, 5], rows),
            "problem.M": rng.integers(1, 16384, rows),
            "problem.N": rng.integers(1, 16384, rows),
            "problem.K": rng.integers(1, 16384, rows),
            "problem.dtype": rng.choice(["fp16", "bf16", "fp32"], rows),
        }
    )


def naive_triton_physics(row: dict, spec: dict) -> dict:
    """The triton.matmul physics for ONE record, in plain Python (the per-row baseline).

    fp32 here means fp32 SIMT (no tf32), as in the synthetic frame (no `problem.allow_tf32`).
    """
    m, n, k = float(row["problem.M"]), float(row["problem.N"]), float(row["problem.K"])
    bm, bn, bk = float(row["params.BLOCK_M"]), float(row["params.BLOCK_N"]), float(row["params.BLOCK_K"])
    warps, stages = float(row["params.num_warps"]), float(row["params.num_stages"])
    size = DTYPE_BYTES[row["problem.dtype"]]
    peak = spec[TENSOR_PEAK[row["problem.dtype"]]]
    sms, bw = spec["sys.sm_count"], spec["sys.mem_bw_gbs"]
    flops = 2.0 * m * n * k
    min_bytes = (m * k + k * n) * size + m * n * size
    tiles_m, tiles_n = math.ceil(m / bm), math.ceil(n / bn)
    ctas = tiles_m * tiles_n
    kp = math.ceil(k / bk) * bk
    threads = warps * 32.0
    smem = max(stages, 1.0) * (bm * bk + bk * bn) * size
    regs = bm * bn / threads + (bm + bn) * bk * size / 4.0 / threads + 32.0
    regs_alloc = math.ceil(regs / 8.0) * 8.0
    limits = [
        math.floor(spec["sys.max_threads_per_sm"] / threads),
        math.floor(spec["sys.smem_per_sm_kb"] * 1024.0 / smem),
        math.floor(spec["sys.regs_per_sm"] / (regs_alloc * threads)),
        spec["sys.max_blocks_per_sm"],
    ]
    per_sm = min(limits)
    slots = sms * per_sm
    waves_ceil = math.ceil(ctas / slots) if slots > 0 else float("nan")
    compute_ms = math.ceil(ctas / sms) * (2.0 * bm * bn * kp) / (peak / sms * 1e12) * 1e3
    memory_ms = min_bytes / (bw * 1e9) * 1e3
    return {
        "phys.flops": flops,
        "phys.min_bytes": min_bytes,
        "phys.arith_intensity": flops / min_bytes,
        "phys.ctas": float(ctas),
        "phys.pad_waste_m": 1.0 - m / (tiles_m * bm),
        "phys.smem_per_cta_kb": smem / 1024.0,
        "phys.ctas_per_sm": float(per_sm),
        "phys.wave_efficiency": ctas / (waves_ceil * slots) if slots > 0 else float("nan"),
        "roofline_ms": max(compute_ms, memory_ms),
    }


def run_naive(frame: pd.DataFrame) -> pd.DataFrame:
    from perfcast.systems import spec_table  # noqa: PLC0415

    specs = {name: spec_table([name]).iloc[0].to_dict() for name in frame["system"].unique()}
    rows = [naive_triton_physics(row, specs[row["system"]]) for row in frame.to_dict(orient="records")]
    return pd.DataFrame(rows, index=frame.index)


def _time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-rows", type=int, default=50_000)
    parser.add_argument("--goal-s", type=float, default=5.0)
    parser.add_argument("--small-repeats", type=int, default=200)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from perfcast.features import featurize  # noqa: PLC0415
    from perfcast.features.matmul import TritonMatmulExtractor  # noqa: PLC0415
    from perfcast.features.registry import system_specs  # noqa: PLC0415

    frame = synthetic_triton_frame(args.rows)
    featurize(frame.head(1000))  # imports and registry loading outside the timings
    fit_s, (X, schema) = _time(lambda: featurize(frame), args.repeats)
    transform_s, _ = _time(lambda: featurize(frame, schema), args.repeats)
    specs = system_specs(frame["system"])
    extractor_s, _ = _time(lambda: TritonMatmulExtractor().extract(frame, specs), args.repeats)

    sample = frame.head(args.naive_rows)
    naive_s, naive = _time(lambda: run_naive(sample), 1)
    naive_full_s = naive_s * len(frame) / len(sample)
    worst = 0.0
    for col in naive.columns:
        a, b = X.loc[sample.index, col].to_numpy(), naive[col].to_numpy()
        worst = max(worst, float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-30))))
    print(f"rows: {len(frame):,}  features: {len(schema)}  schema {schema.version}")
    print(f"featurize fit        median {fit_s:7.3f} s  ({len(frame) / fit_s:,.0f} rows/s)")
    print(f"featurize transform  median {transform_s:7.3f} s")
    print(f"triton extractor     median {extractor_s:7.3f} s  (physics + param columns only)")
    print(f"naive per-row        {naive_s:7.3f} s for {len(sample):,} rows -> {naive_full_s:7.1f} s for {len(frame):,} (scaled)")
    print(f"ratio naive / vectorised transform: {naive_full_s / transform_s:,.1f}x")
    print(f"max relative difference naive vs vectorised on {len(sample):,} rows: {worst:.2e}")
    verdict = "PASS" if transform_s <= args.goal_s else "FAIL"
    print(f"goal: transform of {len(frame):,} matmul configs <= {args.goal_s:.1f} s: {verdict}")
    small_batches(frame, schema, args.small_repeats)
    return 0


def _p50(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def small_batches(frame: pd.DataFrame, schema, repeats: int) -> None:
    """compile_plan(schema).transform vs featurize(frame, schema) on small batches (serving sizes),
    with the plan's column path (`one_row=False`: no one-row path, shared values broadcast) beside it."""
    from perfcast.features import compile_plan, featurize  # noqa: PLC0415

    plan, columns_only = compile_plan(schema), compile_plan(schema, one_row=False)
    print("\n| rows | featurize p50 | column path p50 | compile_plan().transform p50 | vs featurize | vs column path |\n"
          "|---|---:|---:|---:|---:|---:|")  # fmt: skip
    cases = [(f"{rows:,}", frame.iloc[:rows].reset_index(drop=True), None) for rows in (1, 10, 100, 1000)]
    # a rank's shape: one system and problem for every row (scalars), the params per row
    rank = frame.iloc[:1000].reset_index(drop=True)
    shared = [c for c in rank.columns if c in ("kernel", "system") or c.startswith("problem.")]
    rank = rank.assign(**{c: rank[c].iloc[0] for c in shared})
    cases.append(("1,000, one kernel, system, problem (scalars)", rank, shared))
    for label, sub, scalars in cases:
        columns = {c: (sub[c].iloc[0].item() if hasattr(sub[c].iloc[0], "item") else sub[c].iloc[0]) if c in (scalars or ())
                   else sub[c].to_numpy() for c in sub.columns}  # fmt: skip
        want = featurize(sub, schema)[0].to_numpy()
        for p in (plan, columns_only):
            got = p.transform(columns, n=len(sub), dtype=np.float64)
            assert ((got == want) | (np.isnan(got) & np.isnan(want))).all(), "plan differs from featurize"
        n = len(sub)
        slow = _p50(lambda sub=sub: featurize(sub, schema), max(repeats // 10, 5))
        cols_s = _p50(lambda columns=columns, n=n: columns_only.transform(columns, n=n), repeats)
        fast = _p50(lambda columns=columns, n=n: plan.transform(columns, n=n), repeats)
        print(f"| {label} | {slow * 1e3:.2f} ms | {cols_s * 1e6:,.0f} µs | {fast * 1e6:,.0f} µs | {slow / fast:.0f}x | {cols_s / fast:.1f}x |")


if __name__ == "__main__":
    raise SystemExit(main())
