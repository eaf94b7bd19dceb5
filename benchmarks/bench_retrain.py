"""Retraining benchmark: GBCostModel.fit on 1,000,000 real measurements (goal <= 120 s on 2 cores).

Rows: every dataset in ../shared/datasets through `perfcast.measurements.ingest.read_path`
(AutoHeuristic ~631k, SGEMM UCI 241.6k, Kernel Tuner GEMM ~64k and convolution ~26k, GPPerf), failed
configs included; if they hold fewer than `--rows`, real rows are re-drawn (with replacement) to reach it.
Timed: featurize + fit of every booster (runtime point + q10 + q90, feasibility classifier) + CQR.
Baseline in the same run: one plain LightGBM L2 booster on the raw numeric params/problem columns
(the "plain LightGBM" of the issue) with the same rounds on the same rows.

    python benchmarks/bench_retrain.py [--rows 1000000] [--repeats 1] [--rounds 500] [--routed]

`--routed` times what `perfcast train` serves by default: `RoutedGBCostModel` (one GBCostModel per kernel
family, `perfcast.training.train`) on the same rows; `--n-jobs 1` fits its one-thread sub-models in this
process instead of worker processes (the default, 2, is what `perfcast train` runs). CPU seconds count the
worker processes too.

`--omp-sweep` re-runs the fit (`--rows`, `--routed` as given) in fresh processes under three ways for
LightGBM's idle OpenMP threads to wait, on an idle machine and beside one busy process (a Python loop
on one core), and prints each time as a ratio to perfcast's default (`perfcast.models.openmp_wait_defaults`):

    python benchmarks/bench_retrain.py --omp-sweep --rows 100000
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import perfcast.models  # noqa: F401 (sets how OpenMP threads wait, before LightGBM loads)

#: --omp-sweep: (label, description, environment) of each way to wait; the first is the baseline of the ratios
OMP_VARIANTS = (
    ("perfcast default", "spin 1,000, then sleep (GOMP_SPINCOUNT=1000)", {}),
    ("sleep at once", "OMP_WAIT_POLICY=PASSIVE, perfcast before", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("libgomp default", "spin 300,000 (GOMP_SPINCOUNT=300000)", {"GOMP_SPINCOUNT": "300000"}),
)
BUSY_LOOP = "import time\nwhile True: time.time()"


def load_rows(datasets: Path, rows: int, seed: int = 0) -> pd.DataFrame:
    from perfcast.measurements.ingest import read_path

    frames = []
    for sub in ("autoheuristic_a100", "sgemm_uci", "kerneltuner_gemm", "kerneltuner_convolution", "gpperf_cutlass"):
        for chunk in read_path(datasets / sub):
            frames.append(chunk.frame.drop(columns=["_line", "runtime_ms_samples", "measured_at"], errors="ignore"))
    frame = pd.concat(frames, ignore_index=True, sort=False)
    n_real = len(frame)
    if n_real < rows:
        extra = frame.sample(rows - n_real, replace=True, random_state=seed)
        frame = pd.concat([frame, extra], ignore_index=True)
    elif n_real > rows:
        frame = frame.sample(rows, random_state=seed).reset_index(drop=True)
    print(f"rows: {len(frame):,} ({n_real:,} distinct real measurements"
          f"{'; topped up by re-drawing' if n_real < rows else ''})", flush=True)
    print(frame["kernel"].value_counts().to_string(), flush=True)
    return frame


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the fit's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def plain_lgbm_seconds(frame: pd.DataFrame, rounds: int) -> float:
    import lightgbm as lgb

    cols = [c for c in frame.columns if c.startswith(("params.", "problem.")) and pd.api.types.is_numeric_dtype(frame[c])]
    y = pd.to_numeric(frame["runtime_ms"], errors="coerce").to_numpy(float)
    ok = np.isfinite(y) & (y > 0)
    t0 = time.perf_counter()
    X = frame.loc[ok, cols].to_numpy(dtype=np.float32)
    lgb.train({"objective": "regression", "num_threads": 2, "verbose": -1, "num_leaves": 63, "learning_rate": 0.05},
              lgb.Dataset(X, np.log(y[ok])), num_boost_round=rounds)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None, help="point-booster rounds (default: GBCostModel's)")
    parser.add_argument("--goal-s", type=float, default=120.0)
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--routed", action="store_true", help="time the routed default (one model per kernel family)")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="--routed: worker processes for the one-thread sub-models (default: RoutedGBCostModel's)")
    parser.add_argument("--omp-sweep", action="store_true",
                        help="time the fit under each OpenMP wait policy, idle and beside a busy process")
    args = parser.parse_args(argv)
    if args.omp_sweep:
        return omp_sweep(args)

    from perfcast.models import GBCostModel

    from perfcast import config

    frame = load_rows(args.datasets or config.shared_datasets_dir(), args.rows)
    hp = {"num_boost_round": args.rounds} if args.rounds else {}
    rounds = GBCostModel(**hp).num_boost_round
    times, base = [], []
    cpu = []
    for i in range(args.repeats):
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), cpu_seconds()
        if args.routed:
            from perfcast.training.train import RoutedGBCostModel

            jobs = {} if args.n_jobs is None else {"n_jobs": args.n_jobs}
            model = RoutedGBCostModel({**hp, "keep_data": False}, **jobs).fit(frame, progress=True)
        else:
            model = GBCostModel(**hp, keep_data=False).fit(frame, progress=True)
        times.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
        # the 2 cores are shared: CPU seconds / cores is what the fit costs on an otherwise idle machine
        print(f"repeat {i + 1}: wall {times[-1]:.1f} s, CPU {cpu[-1]:.1f} s over all threads "
              f"(load average {load0:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
        for sub, m in (model.models_ if args.routed else {"model": model}).items():
            cal = m.meta_["targets"]["runtime_ms"]["calibration"]
            print(f"repeat {i + 1}: {sub}: boosters {list(m.boosters_)}; "
                  f"cal rows {cal['n_cal']:,}, raw coverage {cal.get('raw_coverage', float('nan')):.3f}", flush=True)
        if not args.skip_baseline:
            base.append(plain_lgbm_seconds(frame, rounds))
            print(f"repeat {i + 1}: plain LightGBM ({rounds} rounds, raw params, 1 booster) {base[-1]:.1f} s", flush=True)
    med = statistics.median(times)
    med_cpu = statistics.median(cpu)
    idle_est = med_cpu / (os.cpu_count() or 1)
    what = "RoutedGBCostModel.fit" if args.routed else "GBCostModel.fit"
    print(f"\n{what} on {len(frame):,} rows, {os.cpu_count()} cores: median wall {med:.1f} s, "
          f"median CPU {med_cpu:.1f} s (idle-machine estimate CPU/cores = {idle_est:.1f} s); "
          f"goal <= {args.goal_s:.0f} s wall: {'PASS' if med <= args.goal_s else 'FAIL'}")
    if base:
        mb = statistics.median(base)
        print(f"plain LightGBM baseline: median {mb:.1f} s; ratio full model / baseline = {med / mb:.2f}")
    return 0 if med <= args.goal_s else 1


def omp_sweep(args: argparse.Namespace) -> int:
    """Each OMP_VARIANTS entry x (idle, beside a busy process): the fit's wall seconds in a fresh process."""
    cmd = [sys.executable, __file__, "--rows", str(args.rows), "--skip-baseline"] + (["--routed"] if args.routed else [])
    if args.datasets:
        cmd += ["--datasets", str(args.datasets)]
    # each variant's environment is its own settings on top of none of the three variables
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    seconds: dict[tuple[str, str], float] = {}
    for condition in ("idle", "beside a busy process"):
        for label, what, env in OMP_VARIANTS:
            busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if condition != "idle" else None
            try:
                out = subprocess.run(cmd, env={**clean, **env}, capture_output=True, text=True, check=False).stdout
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            found = re.search(r"median wall ([0-9.]+) s", out)
            seconds[condition, label] = float(found.group(1)) if found else float("nan")
            print(f"{condition:<22} {label}: {what:<50} {seconds[condition, label]:7.1f} s", flush=True)
    base = OMP_VARIANTS[0][0]
    print(f"\nfit of {args.rows:,} rows{' (routed)' if args.routed else ''}, wall seconds (ratio to the perfcast default):")
    for condition in ("idle", "beside a busy process"):
        row = "; ".join(f"{label} {seconds[condition, label]:.1f} s ({seconds[condition, label] / seconds[condition, base]:.2f}x)"
                        for label, _, _ in OMP_VARIANTS)
        print(f"  {condition}: {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
