"""Numbers for a dataset's data card: noise within and between runs, power-window validation, transfer.

`python -m perfcast.measurements.collect.datacard BUNDLE.jsonl.xz [ENV.json ...] [--other OTHER.jsonl.xz]`
prints them as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .bundle import iter_jsonl


def load_frame(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Records (without IR text) as a frame with `key` = kernel + params + problem (the measured point)."""
    rows = []
    for _, _, rec, _ in iter_jsonl(paths):
        if rec is None:
            continue
        meta = rec.get("meta") or {}
        rows.append({
            "key": json.dumps([rec.get("kernel"), rec.get("params"), rec.get("problem")], sort_keys=True),
            "kernel": rec.get("kernel"), "system": rec.get("system"), "status": rec.get("status"),
            "dtype": (rec.get("problem") or {}).get("dtype"),
            "runtime_ms": rec.get("runtime_ms"), "power_w": rec.get("power_w"), "energy_j": rec.get("energy_j"),
            "samples": rec.get("runtime_ms_samples"), "run_id": meta.get("run_id"),
            "sm_clock_mhz": meta.get("sm_clock_mhz"), "temperature_c": meta.get("temperature_c"),
            "energy_window_j": meta.get("energy_per_call_j_window"), "window_call_ms": meta.get("power_window_call_ms"),
            "has_ir": bool(rec.get("ir")), "kernel_hash": meta.get("kernel_hash"),
            "timing_protocol": meta.get("timing_protocol", 1 if rec.get("source") == "perfcast.collect" else None),
            "protocol1_runtime_ms": meta.get("protocol1_runtime_ms"),
        })
    return pd.DataFrame(rows)


def within_run_cv(frame: pd.DataFrame) -> pd.Series:
    """Coefficient of variation of each record's repeats (std / mean)."""
    ok = frame[frame["samples"].map(lambda s: isinstance(s, list) and len(s) > 1)]
    arr = ok["samples"].map(lambda s: np.asarray(s, dtype=float))
    return arr.map(lambda a: float(a.std() / a.mean()) if a.mean() > 0 else np.nan)


def within_run_robust_cv(frame: pd.DataFrame) -> pd.Series:
    """1.4826 x median absolute deviation / median of each record's repeats: the noise the median
    sees, insensitive to the occasional repeat that waited for the host (short kernels)."""
    ok = frame[frame["samples"].map(lambda s: isinstance(s, list) and len(s) > 1)]
    arr = ok["samples"].map(lambda s: np.asarray(s, dtype=float))
    return arr.map(lambda a: float(1.4826 * np.median(np.abs(a - np.median(a))) / np.median(a)) if np.median(a) > 0 else np.nan)


def noise_by_runtime(frame: pd.DataFrame) -> dict[str, Any]:
    """Plain and robust within-run CV by runtime bin, and the share of repeats over 1.5x the median."""
    cv, rcv = within_run_cv(frame), within_run_robust_cv(frame)
    sub = frame.loc[cv.index]
    outlier = sub["samples"].map(lambda s: float(np.mean(np.asarray(s) > 1.5 * np.median(s))))
    bins = pd.cut(sub["runtime_ms"], [0, 0.01, 0.02, 0.05, 0.1, 1, 10, 1e4])
    out = {}
    for b, idx in sub.groupby(bins, observed=True).groups.items():
        out[str(b)] = {"n": int(len(idx)), "cv_median": float(cv[idx].median()), "robust_cv_median": float(rcv[idx].median()),
                       "robust_cv_p90": float(rcv[idx].quantile(0.9)), "outlier_repeats_share": float(outlier[idx].mean())}
    return out


def run_to_run(frame: pd.DataFrame) -> dict[str, Any]:
    """Points measured in more than one run: relative spread of their medians (|a-b| / mean for pairs)."""
    ok = frame[(frame["status"] == "ok") & frame["runtime_ms"].notna()]
    g = ok.groupby(["system", "key"])["runtime_ms"]
    stats = g.agg(["count", "mean", "std"])
    rep = stats[stats["count"] >= 2]
    if rep.empty:
        return {"points": 0}
    cv = (rep["std"] / rep["mean"]).to_numpy()
    by_bin = {str(b): {"points": int(len(c)), "cv_median": float(c.median()), "cv_p90": float(c.quantile(0.9))}
              for b, c in pd.Series(cv, index=rep.index).groupby(
                  pd.cut(rep["mean"], [0, 0.01, 0.02, 0.05, 0.1, 1, 1e4]), observed=True)}
    return {"points": int(len(rep)), "cv_median": float(np.median(cv)), "cv_p90": float(np.quantile(cv, 0.9)),
            "cv_max": float(cv.max()), "by_runtime_ms": by_bin}


def protocol_comparison(frame: pd.DataFrame) -> dict[str, Any]:
    """Points timed under protocol 1 (`meta.protocol1_runtime_ms` of an `invalid` record, or a protocol-1
    `ok` runtime) and re-measured under protocol 2: median ratio protocol 1 / protocol 2 and the share
    off by more than 10%, by protocol-1 runtime."""
    p1 = frame["protocol1_runtime_ms"].where(frame["protocol1_runtime_ms"].notna(),
                                             frame["runtime_ms"].where(frame["timing_protocol"] == 1))
    old = frame.assign(rt1=p1)[p1.notna()].groupby(["system", "key"])["rt1"].median()
    p2 = frame[(frame["status"] == "ok") & (frame["timing_protocol"] == 2)]
    new = p2.groupby(["system", "key"])["runtime_ms"].median()
    j = pd.concat([old.rename("rt1"), new.rename("rt2")], axis=1, join="inner")
    if j.empty:
        return {"points": 0}
    ratio = j["rt1"] / j["rt2"]
    out: dict[str, Any] = {"points": int(len(j))}
    for b, idx in ratio.groupby(pd.cut(j["rt1"], [0, 0.01, 0.02, 0.05, 0.1, 1e4]), observed=True).groups.items():
        r = ratio[idx]
        out[str(b)] = {"points": int(len(r)), "ratio_median": float(r.median()),
                       "off_by_10pct_share": float((np.abs(r - 1) > 0.1).mean())}
    return out


def transfer(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, Any]:
    """Same points measured on two systems: per-family median runtime ratio b/a and rank correlation."""
    from scipy.stats import spearmanr  # noqa: PLC0415

    ka = a[a["status"] == "ok"].groupby("key").agg(rt_a=("runtime_ms", "median"), kernel=("kernel", "first"))
    kb = b[b["status"] == "ok"].groupby("key").agg(rt_b=("runtime_ms", "median"))
    j = ka.join(kb, how="inner")
    out: dict[str, Any] = {"points": int(len(j))}
    for fam, sub in j.groupby("kernel"):
        r = sub["rt_b"] / sub["rt_a"]
        out[fam] = {"points": int(len(sub)), "ratio_median": float(r.median()),
                    "spearman": float(spearmanr(sub["rt_a"], sub["rt_b"]).statistic) if len(sub) > 2 else None}
    return out


def power_summary(frame: pd.DataFrame) -> dict[str, Any]:
    p = frame[frame["power_w"].notna()]
    if p.empty:
        return {"records": 0}
    out: dict[str, Any] = {"records": int(len(p))}
    for fam, sub in p.groupby("kernel"):
        out[fam] = {"n": int(len(sub)), "power_w_median": float(sub["power_w"].median()),
                    "power_w_min": float(sub["power_w"].min()), "power_w_max": float(sub["power_w"].max()),
                    "sm_clock_mhz_median": float(sub["sm_clock_mhz"].median())}
    # energy per call from the window (calls counted) against power x isolated median runtime
    both = p[p["energy_window_j"].notna() & p["energy_j"].notna()]
    if len(both):
        ratio = both["energy_window_j"] / both["energy_j"]
        out["window_energy_over_power_x_runtime_median"] = float(ratio.median())
    return out


def env_summary(env_paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    out = []
    for path in env_paths:
        env = json.loads(Path(path).read_text())
        pv = env.get("power_validation") or {}
        out.append({"file": Path(path).name, "run_id": env.get("run_id"), "system": env.get("system"),
                    "torch": env.get("torch"), "triton": env.get("triton"), "cuda": env.get("torch_cuda"),
                    "driver": (env.get("nvml") or {}).get("driver"), "power_limit_w": (env.get("nvml") or {}).get("power_limit_w"),
                    "idle_w": pv.get("idle_w"), "idle_updates_per_s": (pv.get("idle_updates") or 0) / pv["idle_window_s"] if pv else None,
                    "load_w": pv.get("load_w"), "load_tflops": pv.get("load_tflops"), "load_sm_clock_mhz": pv.get("load_sm_clock_mhz"),
                    "nvml_power_usage_w_after_load": pv.get("nvml_power_usage_w_after_load"),
                    "report": {k: (env.get("report") or {}).get(k) for k in ("written", "ok", "failed", "with_power", "stopped_by", "elapsed_s")}})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("bundle")
    ap.add_argument("env", nargs="*")
    ap.add_argument("--other", default=None, help="a bundle from another GPU, for transfer ratios")
    args = ap.parse_args(argv)
    f = load_frame([args.bundle])
    cv = within_run_cv(f)
    card: dict[str, Any] = {
        "records": int(len(f)), "ok": int((f["status"] == "ok").sum()),
        "within_run_cv": {"median": float(cv.median()), "p90": float(cv.quantile(0.9))},
        "within_run_robust_cv": {"median": float(within_run_robust_cv(f).median()),
                                 "p90": float(within_run_robust_cv(f).quantile(0.9))},
        "noise_by_runtime_ms": noise_by_runtime(f),
        "within_run_cv_by_kernel": {k: float(v) for k, v in cv.groupby(f.loc[cv.index, "kernel"]).median().items()},
        "run_to_run": run_to_run(f),
        "run_to_run_protocol2": run_to_run(f[f["timing_protocol"] == 2]),
        "protocol1_vs_protocol2": protocol_comparison(f),
        "by_status": {str(k): int(v) for k, v in f["status"].value_counts().items()},
        "ok_by_kernel": {str(k): int(v) for k, v in f.loc[f["status"] == "ok", "kernel"].value_counts().items()},
        "power": power_summary(f),
        "sm_clock_mhz_runtime_records": f.loc[f["power_w"].isna(), "sm_clock_mhz"].describe().to_dict(),
        "env": env_summary(args.env),
    }
    if args.other:
        card["transfer"] = transfer(f, load_frame([args.other]))
    print(json.dumps(card, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
