"""Physics baseline: how well `roofline_ms` alone ranks configs, per problem, on the shared datasets.

    python benchmarks/roofline_baseline.py [--datasets ../shared/datasets] [--markdown]

Reads every shared dataset with the ingest adapters (`perfcast.measurements.ingest.read_path`),
keeps `status == ok` rows with a runtime, featurizes them and, within each problem (same system,
kernel family set and `problem.*` fields; for AutoHeuristic the Triton configs and cuBLAS compete in
one problem), computes the Spearman rank correlation between a physics column and the measured
`runtime_ms`. Prints per dataset (and per GPU) the number of problems, how many have a defined
correlation (a column that is constant within a problem has none), mean and median Spearman, and
the share of rows where runtime < roofline (a lower bound must never be beaten), and the top-1
slowdown: picking the config with the smallest value, how much slower it runs than the best config
of its problem (geometric mean over problems; ties count as a random pick). Also reported:
`phys.estimate_ms` (roofline plus no-reuse tile traffic, not a bound) as a second physics baseline.
Later models must beat these numbers.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

DATASETS = (
    ("SGEMM UCI (CLTune, GTX 680)", "sgemm_uci", None),
    ("Kernel Tuner gemm (CLBlast)", "kerneltuner_gemm", "system"),
    ("Kernel Tuner convolution", "kerneltuner_convolution", "system"),
    ("AutoHeuristic A100 (Triton + cuBLAS)", "autoheuristic_a100", None),
    ("GPPerf CUTLASS (RTX 4070)", "gpperf_cutlass/cutlass_profiling_20241111_195357.tar.gz", None),
    ("GPPerf tiled matmul (RTX 4070)", "gpperf_cutlass/tiled_execution_times_all.csv", None),
)
COLUMNS = ("roofline_ms", "phys.estimate_ms")


def load(path: Path) -> pd.DataFrame:
    from perfcast.measurements.ingest import read_path  # noqa: PLC0415

    frames = [chunk.frame for chunk in read_path(path) if len(chunk.frame)]
    frame = pd.concat(frames, ignore_index=True)
    ok = (frame["status"] == "ok") if "status" in frame.columns else pd.Series(True, index=frame.index)
    return frame[ok & frame["runtime_ms"].notna()].reset_index(drop=True)


def problem_ids(frame: pd.DataFrame) -> np.ndarray:
    """One id per problem: system plus every `problem.*` field (missing values compare equal)."""
    keys = ["system"] + sorted(c for c in frame.columns if c.startswith("problem."))
    parts = [frame[k].astype(object).where(frame[k].notna(), "<NA>").astype(str) for k in keys]
    return pd.MultiIndex.from_arrays(parts).factorize()[0] if len(parts) > 1 else pd.factorize(parts[0])[0]


def grouped_spearman(groups: np.ndarray, x: np.ndarray, y: np.ndarray) -> pd.Series:
    """Spearman(x, y) within each group (average ranks for ties); NaN where either is constant."""
    df = pd.DataFrame({"g": groups, "x": x, "y": y}).dropna()
    by = df.groupby("g")
    df["rx"] = by["x"].rank()
    df["ry"] = by["y"].rank()
    df["rx"] -= df.groupby("g")["rx"].transform("mean")
    df["ry"] -= df.groupby("g")["ry"].transform("mean")
    sums = df.assign(xy=df.rx * df.ry, xx=df.rx**2, yy=df.ry**2).groupby("g")[["xy", "xx", "yy"]].sum()
    denom = np.sqrt(sums.xx * sums.yy)
    return (sums.xy / denom).where(denom > 0)


def top1_slowdown(groups: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Geometric mean over problems of runtime(pick) / best runtime, where the pick is the config with
    the smallest `x` (ties: the mean runtime of the tied configs, i.e. a random tie-break)."""
    df = pd.DataFrame({"g": groups, "x": x, "y": y}).dropna()
    best = df.groupby("g")["y"].transform("min")
    picked = df[df["x"] == df.groupby("g")["x"].transform("min")]
    ratio = (picked["y"] / best[picked.index]).groupby(picked["g"]).mean()
    return float(np.exp(np.log(ratio).mean()))


def evaluate(name: str, frame: pd.DataFrame, X: pd.DataFrame) -> list[dict]:
    groups = problem_ids(frame)
    runtime = frame["runtime_ms"].to_numpy(dtype=float)
    roofline = X["roofline_ms"].to_numpy()
    row = {
        "dataset": name,
        "rows": len(frame),
        "problems": int(len(np.unique(groups))),
        "runtime < roofline": float(np.mean(runtime < roofline)),
        "runtime / roofline (min)": float(np.nanmin(runtime / roofline)),
        "roofline_ms all-rows": float(pd.Series(roofline).corr(pd.Series(runtime), method="spearman")),
    }
    for col in COLUMNS:
        rho = grouped_spearman(groups, X[col].to_numpy(), runtime)
        row[f"{col} defined"] = int(rho.notna().sum())
        row[f"{col} mean"] = float(rho.mean()) if rho.notna().any() else float("nan")
        row[f"{col} median"] = float(rho.median()) if rho.notna().any() else float("nan")
        row[f"{col} top-1 slowdown"] = top1_slowdown(groups, X[col].to_numpy(), runtime)
    return [row]


def main(argv: list[str] | None = None) -> int:
    from perfcast.features import featurize  # noqa: PLC0415

    from perfcast.config import shared_datasets_dir  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=shared_datasets_dir())
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows: list[dict] = []
    for title, rel, split in DATASETS:
        frame = load(args.datasets / rel)
        X, _ = featurize(frame)
        if split is None:
            rows += evaluate(title, frame, X)
        else:
            for value, idx in frame.groupby(split).indices.items():
                rows += evaluate(f"{title}, {value}", frame.iloc[idx].reset_index(drop=True), X.iloc[idx].reset_index(drop=True))
    table = pd.DataFrame(rows)
    if args.markdown:
        header = ("| dataset | rows | problems | roofline: problems with a defined ρ | roofline ρ mean | roofline ρ median "
                  "| estimate ρ mean | estimate ρ median | roofline ρ over all rows | top-1 slowdown roofline / estimate "
                  "| min runtime/roofline |")
        print(header)
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['dataset']} | {r['rows']:,} | {r['problems']:,} | {r['roofline_ms defined']:,} "
                  f"| {r['roofline_ms mean']:+.3f} | {r['roofline_ms median']:+.3f} "
                  f"| {r['phys.estimate_ms mean']:+.3f} | {r['phys.estimate_ms median']:+.3f} "
                  f"| {r['roofline_ms all-rows']:+.3f} "
                  f"| {r['roofline_ms top-1 slowdown']:.2f}× / {r['phys.estimate_ms top-1 slowdown']:.2f}× "
                  f"| {r['runtime / roofline (min)']:.2f} |")
    else:
        with pd.option_context("display.max_columns", None, "display.width", 250, "display.float_format", "{:.3f}".format):
            print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
