"""Conformalised quantile regression (CQR, Romano et al. 2019): pure numpy, no model objects.

Raw LightGBM quantile pairs under-cover on unseen problems. Split CQR fixes that with one number per
target: on a calibration set held out *by problem*, the conformity score of a row is how far the
measurement falls outside the raw interval, ``E_i = max(lo_i - y_i, y_i - hi_i)`` (negative inside),
and the correction is the ``ceil((n + 1) * coverage) / n`` empirical quantile of the scores. The
calibrated interval is ``[lo - c, hi + c]``. Everything here runs in the model's transformed space
(log runtime ratio, log power), so the correction is multiplicative in physical units. The constant
travels in `model.json` and in the ONNX metadata; prediction needs no MAPIE and no pickle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["apply_correction", "conformity_scores", "cqr_correction", "group_split", "problem_keys"]


def conformity_scores(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """CQR scores: positive where `y` falls outside `[lo, hi]`, by how much; negative inside."""
    y, lo, hi = (np.asarray(a, dtype=np.float64) for a in (y, lo, hi))
    return np.maximum(lo - y, y - hi)


def cqr_correction(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, coverage: float = 0.8) -> float:
    """The split-conformal correction `c` so that `[lo - c, hi + c]` covers `coverage` of new rows.

    Uses the finite-sample quantile level ``ceil((n + 1) * coverage) / n`` (capped at 1), the same
    rule MAPIE's ConformalizedQuantileRegressor applies (checked in tests/test_models_calibration.py).
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    scores = conformity_scores(y, lo, hi)
    scores = scores[np.isfinite(scores)]
    n = scores.size
    if n == 0:
        raise ValueError("no finite calibration rows: cannot conformalise the interval")
    level = min(1.0, np.ceil((n + 1) * coverage) / n)
    return float(np.quantile(scores, level, method="higher"))


def apply_correction(
    lo: np.ndarray, hi: np.ndarray, correction: float, point: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Widen (or narrow, for a negative `correction`) an interval; keep `lo <= point <= hi` ordered."""
    lo = np.asarray(lo, dtype=np.float64) - correction
    hi = np.asarray(hi, dtype=np.float64) + correction
    # Independently fitted quantile boosters can cross; sort the pair rather than emit lo > hi.
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    if point is not None:
        point = np.asarray(point, dtype=np.float64)
        lo, hi = np.minimum(lo, point), np.maximum(hi, point)
    return lo, hi


def problem_keys(frame: pd.DataFrame) -> pd.Series:
    """One key per *problem*: system and every `problem.*` field (all configs of a problem share it).

    The kernel is deliberately not part of the key: an AutoHeuristic problem's cuBLAS row and its
    Triton configs are alternatives for the same problem. Rows of one problem must land on the same
    side of a calibration or evaluation split, because the datasets hold many configs (and repeats)
    per problem.
    """
    cols = [c for c in ("system",) if c in frame.columns]
    cols += sorted(c for c in frame.columns if isinstance(c, str) and c.startswith("problem."))
    if not cols:
        return pd.Series(["_"] * len(frame), index=frame.index, dtype=object)
    parts = [frame[c].astype("string").fillna("") for c in cols]
    key = parts[0].str.cat(parts[1:], sep="|") if len(parts) > 1 else parts[0]
    return key.astype(object)


def _hash_unit(keys: pd.Series, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per key (same key, same seed -> same number, any process)."""
    h = pd.util.hash_pandas_object(keys.astype(str) + f"#{seed}", index=False).to_numpy(dtype=np.uint64)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def group_split(
    keys: pd.Series, fraction: float, seed: int = 0, min_groups: int = 10, max_group_rows: int = 2000
) -> tuple[np.ndarray, str]:
    """Boolean mask of the held-out part and the rule used (`problem`, `row` or `mixed`).

    Problems (whole groups, chosen by a stable hash of the key) are held out, so the calibration
    measures error on *unseen* problems. A problem with more than `max_group_rows` rows is a
    brute-force sweep of one shape (SGEMM UCI: 241,600 configs of one problem; a Kernel Tuner cache per
    GPU): held out whole it would dominate the row-level conformal quantile with a family the quantile
    boosters never saw, so such problems are split by row (new configs of a known problem, which is how
    they are used). With fewer than `min_groups` small problems everything is split by row.
    """
    keys = pd.Series(np.asarray(keys, dtype=object))
    sizes = keys.map(keys.value_counts()).to_numpy()
    large = sizes > max_group_rows
    u_row = _hash_unit(pd.Series(np.arange(len(keys))).astype(str), seed)
    small_groups = keys[~large].nunique()
    if small_groups >= min_groups:
        u_group = _hash_unit(keys, seed)
        mask = np.where(large, u_row < fraction, u_group < fraction)
        if 0 < mask[~large].sum() < (~large).sum():
            return mask, ("mixed" if large.any() else "problem")
    return u_row < fraction, "row"
