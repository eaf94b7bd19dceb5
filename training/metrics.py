"""Accuracy and ranking metrics for cost models: pure, vectorised functions over arrays.

Conventions: `y_true` and `y_pred` are positive costs (runtime_ms, power_w, energy_j; lower is better
for ranking). `groups` labels the rows of one *problem* (same kernel, system and problem shape): ranking
metrics compare configs only inside a group and then summarise over groups. Rows whose measured value
is not finite and positive (failed configs) are ignored by every metric; a failed config cannot be "the
best" and its predicted cost says nothing about accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "ape",
    "mape",
    "median_ape",
    "r2_log",
    "interval_coverage",
    "group_codes",
    "per_group_spearman",
    "per_group_kendall",
    "pairwise_accuracy",
    "topk_recall",
    "top1_slowdown",
    "best_of_topk_slowdown",
    "summarize_slowdown",
    "regression_metrics",
    "ranking_metrics",
]


def _as_float(a: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _valid(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return np.isfinite(y_true) & (y_true > 0) & np.isfinite(y_pred)


def ape(y_true, y_pred) -> np.ndarray:
    """Absolute percentage error per row, in percent (NaN where the measurement is not usable)."""
    t, p = _as_float(y_true), _as_float(y_pred)
    out = np.full(t.shape, np.nan)
    ok = _valid(t, p)
    out[ok] = np.abs(p[ok] - t[ok]) / t[ok] * 100.0
    return out


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error (%)."""
    e = ape(y_true, y_pred)
    return float(np.nanmean(e)) if np.isfinite(e).any() else float("nan")


def median_ape(y_true, y_pred) -> float:
    """Median absolute percentage error (%): robust to a few wild configs."""
    e = ape(y_true, y_pred)
    return float(np.nanmedian(e)) if np.isfinite(e).any() else float("nan")


def r2_log(y_true, y_pred) -> float:
    """R² of log(value): costs span orders of magnitude, so R² on the raw scale is dominated by a few."""
    t, p = _as_float(y_true), _as_float(y_pred)
    ok = _valid(t, p) & (p > 0)
    if ok.sum() < 2:
        return float("nan")
    lt, lp = np.log(t[ok]), np.log(p[ok])
    ss_res = np.sum((lt - lp) ** 2)
    ss_tot = np.sum((lt - lt.mean()) ** 2)
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


def interval_coverage(y_true, lower, upper) -> float:
    """Fraction of usable measurements inside [lower, upper] (the 80% interval should give ~0.80)."""
    t, lo, hi = _as_float(y_true), _as_float(lower), _as_float(upper)
    ok = np.isfinite(t) & (t > 0) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return float("nan")
    return float(np.mean((t[ok] >= lo[ok]) & (t[ok] <= hi[ok])))


# ----------------------------------------------------------------------------------------- ranking


def group_codes(groups) -> np.ndarray:
    """Integer codes 0..G-1 for any group labels (strings, tuples via a hashed column, ints)."""
    codes, _ = pd.factorize(pd.Series(groups).to_numpy(), use_na_sentinel=False)
    return codes.astype(np.int64)


def _frame(groups, y_true, y_pred) -> pd.DataFrame:
    t, p = _as_float(y_true), _as_float(y_pred)
    ok = _valid(t, p)
    g = group_codes(groups)
    return pd.DataFrame({"g": g[ok], "t": t[ok], "p": p[ok]})


def per_group_spearman(groups, y_true, y_pred, min_size: int = 3) -> np.ndarray:
    """Spearman rank correlation inside each group with at least `min_size` usable rows (one per group).

    Vectorised: average ranks per group, then Pearson of the ranks from per-group sums.
    """
    df = _frame(groups, y_true, y_pred)
    if df.empty:
        return np.array([])
    df["rt"] = df.groupby("g")["t"].rank(method="average")
    df["rp"] = df.groupby("g")["p"].rank(method="average")
    n = df.groupby("g").size()
    mt = df.groupby("g")["rt"].transform("mean")
    mp = df.groupby("g")["rp"].transform("mean")
    df["dt"], df["dp"] = df["rt"] - mt, df["rp"] - mp
    df["xy"], df["xx"], df["yy"] = df["dt"] * df["dp"], df["dt"] ** 2, df["dp"] ** 2
    s = df.groupby("g")[["xy", "xx", "yy"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = s["xy"] / np.sqrt(s["xx"] * s["yy"])
    # A group whose measured values are all equal has nothing to rank: leave it out. A constant
    # *prediction* inside a group that does vary has no ranking information: count it as 0.
    rho = rho[(n >= min_size) & (s["xx"] > 0)]
    return rho.fillna(0.0).to_numpy()


def per_group_kendall(groups, y_true, y_pred, min_size: int = 3) -> np.ndarray:
    """Kendall tau-b inside each group (scipy's O(n log n) per group; one value per group)."""
    df = _frame(groups, y_true, y_pred)
    out = []
    for _, sub in df.groupby("g", sort=False):
        t = sub["t"].to_numpy()
        if len(sub) < min_size or np.all(t == t[0]):  # nothing to rank, as in per_group_spearman
            continue
        tau = stats.kendalltau(t, sub["p"].to_numpy()).statistic
        out.append(0.0 if not np.isfinite(tau) else float(tau))
    return np.asarray(out)


def pairwise_accuracy(groups, y_true, y_pred, max_pairs: int = 2_000_000, seed: int = 0) -> float:
    """Fraction of config pairs of one group whose order the prediction gets right.

    Pairs with equal measurements are skipped; a tied prediction counts one half. Groups with more
    pairs than `max_pairs` in total are sampled uniformly (seeded) so large groups stay cheap.
    """
    df = _frame(groups, y_true, y_pred).sort_values("g", kind="stable")
    if len(df) < 2:
        return float("nan")
    g = df["g"].to_numpy()
    t, p = df["t"].to_numpy(), df["p"].to_numpy()
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    n_pairs = sizes * (sizes - 1) // 2
    total = int(n_pairs.sum())
    if total == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    m = min(total, max_pairs)
    # Pick a group proportional to its pair count, then two distinct members uniformly.
    which = rng.choice(len(sizes), size=m, p=n_pairs / total)
    a = rng.integers(0, sizes[which])
    b = rng.integers(0, sizes[which] - 1)
    b = b + (b >= a)
    i, j = starts[which] + a, starts[which] + b
    dt, dp = np.sign(t[i] - t[j]), np.sign(p[i] - p[j])
    keep = dt != 0
    if not keep.any():
        return float("nan")
    score = np.where(dp[keep] == 0, 0.5, (dt[keep] == dp[keep]).astype(np.float64))
    return float(score.mean())


def _rank_within(df: pd.DataFrame, column: str) -> pd.Series:
    # Rank 1 = cheapest; ties broken by row order so a constant prediction is not rewarded.
    return df.groupby("g")[column].rank(method="first")


def topk_recall(groups, y_true, y_pred, k: int = 5) -> float:
    """Fraction of groups whose measured best config is inside the predicted top-k."""
    df = _frame(groups, y_true, y_pred)
    if df.empty:
        return float("nan")
    df["rp"] = _rank_within(df, "p")
    df["rt"] = _rank_within(df, "t")
    best = df[df["rt"] == 1]
    return float((best["rp"] <= k).mean())


def top1_slowdown(groups, y_true, y_pred) -> np.ndarray:
    """Per group: measured cost of the predicted-best config / the measured best (≥ 1)."""
    return best_of_topk_slowdown(groups, y_true, y_pred, k=1)


def best_of_topk_slowdown(groups, y_true, y_pred, k: int = 10) -> np.ndarray:
    """Per group: best measured cost among the predicted top-k / the measured best (≥ 1).

    This is what an autotuner that measures the model's k favourites would lose.
    """
    df = _frame(groups, y_true, y_pred)
    if df.empty:
        return np.array([])
    df["rp"] = _rank_within(df, "p")
    best = df.groupby("g")["t"].min()
    picked = df[df["rp"] <= k].groupby("g")["t"].min()
    return (picked / best.loc[picked.index]).to_numpy()


def summarize_slowdown(slowdowns) -> dict[str, float]:
    """Geometric mean, median and 90th percentile of per-group slowdowns."""
    s = _as_float(slowdowns)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return {"geomean": float("nan"), "median": float("nan"), "p90": float("nan"), "max": float("nan")}
    return {
        "geomean": float(np.exp(np.mean(np.log(s)))),
        "median": float(np.median(s)),
        "p90": float(np.quantile(s, 0.9)),
        "max": float(s.max()),
    }


def regression_metrics(y_true, y_pred, lower=None, upper=None, prefix: str = "") -> dict[str, float]:
    """MAPE, median APE, R² of log value and (when given) 80% interval coverage, keys prefixed."""
    out = {
        f"{prefix}mape": mape(y_true, y_pred),
        f"{prefix}median_ape": median_ape(y_true, y_pred),
        f"{prefix}r2_log": r2_log(y_true, y_pred),
        f"{prefix}n": int(_valid(_as_float(y_true), _as_float(y_pred)).sum()),
    }
    if lower is not None and upper is not None:
        out[f"{prefix}coverage_80"] = interval_coverage(y_true, lower, upper)
    return out


def ranking_metrics(groups, y_true, y_pred, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Every per-problem ranking metric in one dict (medians/means over groups)."""
    rho = per_group_spearman(groups, y_true, y_pred)
    tau = per_group_kendall(groups, y_true, y_pred)
    top1 = summarize_slowdown(top1_slowdown(groups, y_true, y_pred))
    top10 = summarize_slowdown(best_of_topk_slowdown(groups, y_true, y_pred, k=10))
    out: dict[str, float] = {
        "n_groups": int(rho.size),
        "spearman_median": float(np.median(rho)) if rho.size else float("nan"),
        "spearman_mean": float(np.mean(rho)) if rho.size else float("nan"),
        "kendall_median": float(np.median(tau)) if tau.size else float("nan"),
        "pairwise_accuracy": pairwise_accuracy(groups, y_true, y_pred),
        "top1_slowdown_geomean": top1["geomean"],
        "top1_slowdown_median": top1["median"],
        "top1_slowdown_p90": top1["p90"],
        "top1_slowdown_max": top1["max"],
        "top10_slowdown_geomean": top10["geomean"],
        "top10_slowdown_max": top10["max"],
    }
    for k in ks:
        out[f"top{k}_recall"] = topk_recall(groups, y_true, y_pred, k=k)
    return out
