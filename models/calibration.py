"""Conformalised quantile regression (CQR, Romano et al. 2019): pure numpy, no model objects.

Raw LightGBM quantile pairs under-cover on unseen problems. Split CQR fixes that with one number per
target: on a calibration set held out *by problem*, the conformity score of a row is how far the
measurement falls outside the raw interval, ``E_i = max(lo_i - y_i, y_i - hi_i)`` (negative inside),
and the correction is the ``ceil((n + 1) * coverage) / n`` empirical quantile of the scores. The
calibrated interval is ``[lo - c, hi + c]``. Everything here runs in the model's transformed space
(log runtime ratio, log power), so the correction is multiplicative in physical units. The constant
travels in `model.json` and in the ONNX metadata; prediction needs no MAPIE and no pickle.

A point the pair was not fitted around (energy answered as power × runtime) gets `scaled_interval`
instead: point ± c × the pair's half-width, c from `scaled_scores` (normalised split conformal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "apply_correction", "conformal_quantile", "conformity_scores", "cqr_correction", "group_folds", "group_split",
    "interval_function", "problem_folds", "problem_keys", "scaled_interval", "scaled_scores",
]

#: `scaled_interval`'s smallest half-width scale (log space): a pair that crosses or touches still gives an interval
MIN_SCALE = 1e-3
_NAN = np.float64(np.nan)


def conformity_scores(
    y: np.ndarray, lo: np.ndarray, hi: np.ndarray, point: np.ndarray | None = None
) -> np.ndarray:
    """CQR scores: positive where `y` falls outside `[lo, hi]`, by how much; negative inside.

    With `point`, the scores of the interval as served: `apply_correction(lo, hi, c, point)` widens
    `[lo - c, hi + c]` to contain the point prediction, so a measurement above the point is covered
    once `c >= y - hi`, one below it once `c >= lo - y`. Calibrating these scores makes the served
    interval (not the bare quantile pair) cover `coverage`."""
    y, lo, hi = (np.asarray(a, dtype=np.float64) for a in (y, lo, hi))
    if point is None:
        return np.maximum(lo - y, y - hi)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return np.where(y >= np.asarray(point, dtype=np.float64), y - hi, lo - y)


def cqr_correction(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, coverage: float = 0.8) -> float:
    """The split-conformal correction `c` so that `[lo - c, hi + c]` covers `coverage` of new rows.

    Uses the finite-sample quantile level ``ceil((n + 1) * coverage) / n`` (capped at 1), the same
    rule MAPIE's ConformalizedQuantileRegressor applies (checked in tests/test_models_calibration.py).
    """
    return conformal_quantile(conformity_scores(y, lo, hi), coverage)


def conformal_quantile(scores: np.ndarray, coverage: float = 0.8) -> float:
    """The ``ceil((n + 1) * coverage) / n`` empirical quantile of conformity scores (non-finite ones ignored).

    `cqr_correction` of one calibration set; also the correction of scores pooled over several problem
    folds (cross-conformal: each fold scored by quantile boosters fitted without it)."""
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    scores = np.asarray(scores, dtype=np.float64)
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
    if type(lo) is np.float64 and type(hi) is np.float64 and (point is None or type(point) is np.float64):
        return _apply_correction_row(lo, hi, correction, point)
    lo = np.asarray(lo, dtype=np.float64) - correction
    hi = np.asarray(hi, dtype=np.float64) + correction
    # Independently fitted quantile boosters can cross; sort the pair rather than emit lo > hi.
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    if point is not None:
        point = np.asarray(point, dtype=np.float64)
        lo, hi = np.minimum(lo, point), np.maximum(hi, point)
    return lo, hi


def _apply_correction_row(
    lo: np.float64, hi: np.float64, correction: float, point: np.float64 | None
) -> tuple[np.float64, np.float64]:
    """`apply_correction` of one row's np.float64 scalars with the same values (np.minimum and
    np.maximum propagate NaN): the serving path's one-row answer, ~1 µs instead of ~6 µs of 0-d arrays."""
    lo, hi = lo - correction, hi + correction
    if lo != lo or hi != hi or (point is not None and point != point):  # noqa: PLR0124 (NaN tests)
        return _NAN, _NAN
    lo, hi = (lo, hi) if lo <= hi else (hi, lo)
    if point is not None:
        lo, hi = (lo if lo <= point else point), (hi if hi >= point else point)
    return lo, hi


def scaled_scores(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Scores of `scaled_interval`: |y - point| over the pair's half-width (at least `MIN_SCALE`)."""
    y, lo, hi, point = (np.asarray(a, dtype=np.float64) for a in (y, lo, hi, point))
    return np.abs(y - point) / np.maximum(np.abs(hi - lo) / 2.0, MIN_SCALE)


def scaled_interval(
    lo: np.ndarray, hi: np.ndarray, correction: float, point: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`point` ± `correction` × the pair's half-width: an interval centred on a point that the pair was
    not fitted around (energy as power × runtime), as wide as the pair says this row is uncertain.
    Calibrated by `conformal_quantile(scaled_scores(...))` (normalised split conformal). Works on
    numpy scalars too (the one-row serving path)."""
    half = correction * np.maximum(np.abs(np.asarray(hi, dtype=np.float64) - lo) / 2.0, MIN_SCALE)
    return point - half, point + half


#: `model.json` `targets.<t>.interval` -> the function serving it from (lower, upper, correction, point)
INTERVALS = {"cqr": apply_correction, "scaled": scaled_interval}


def interval_function(spec: Mapping[str, Any]) -> Any:
    """How a target's served interval is made from its (lower, upper, correction, point): `model.json`'s
    `targets.<t>.interval`, "cqr" (default: `apply_correction`) or "scaled" (`scaled_interval`)."""
    kind = spec.get("interval", "cqr")
    if kind not in INTERVALS:
        raise ValueError(f"unknown interval {kind!r}; known: {sorted(INTERVALS)}")
    return INTERVALS[kind]


def problem_keys(frame: pd.DataFrame, with_system: bool = True, columns: Sequence[str] | None = None) -> pd.Series:
    """One key per *problem*: system (unless `with_system=False`) and every `problem.*` field (all
    configs of a problem share it).

    The kernel is deliberately not part of the key: an AutoHeuristic problem's cuBLAS row and its
    Triton configs are alternatives for the same problem. Rows of one problem must land on the same
    side of a calibration or evaluation split, because the datasets hold many configs (and repeats)
    per problem. `with_system=False` is the calibration split's key: the evaluation holds a problem out
    on every GPU at once (`perfcast.training.splits`), so a calibration problem must not have its
    twin on another GPU among the quantile boosters' rows (measured: README "Uncertainty").
    `columns` narrows the problem to those `problem.*` fields (those present), e.g. a GEMM's shape
    without alpha/beta, which change neither the kernel nor its work.
    """
    cols = [c for c in ("system",) if with_system and c in frame.columns]
    if columns is not None:
        cols += sorted(c for c in columns if c in frame.columns)
    else:
        cols += sorted(c for c in frame.columns if isinstance(c, str) and c.startswith("problem."))
    if not cols:
        return pd.Series(["_"] * len(frame), index=frame.index, dtype=object)
    # Text is made once per distinct value and per distinct combination, not per row: a sweep repeats
    # one problem thousands of times (1M rows: 5.8 s -> 0.2 s), with the same keys as
    # `"|".join(str(value) or "" ...)` per row.
    columns_codes, texts = zip(*(_value_codes(frame[c]) for c in cols), strict=True)
    group = np.zeros(len(frame), dtype=np.int64)
    for codes, text in zip(columns_codes, texts, strict=True):  # mixed radix, renumbered to stay small
        group = pd.factorize(group * (len(text) + 1) + codes)[0]
    first = np.unique(group, return_index=True)[1]
    combos = np.column_stack([codes[first] for codes in columns_codes]).tolist()
    keys = np.array(["|".join(texts[j][code] for j, code in enumerate(row)) for row in combos], dtype=object)
    return pd.Series(keys[group], index=frame.index, dtype=object)


def _value_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A code per row and the text of each code (missing -> ""): codes are equal exactly where the
    texts `column.astype("string")` gives are (floats by bit pattern: -0.0 is not 0.0 as text)."""
    if pd.api.types.is_float_dtype(column.dtype) and not isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        codes, bits = pd.factorize(column.to_numpy(dtype=np.float64).view(np.int64))
        uniques = pd.Series(np.asarray(bits, dtype=np.int64).view(np.float64))
    else:
        # mixed objects (1 and 1.0 compare equal but print differently): factorize their text
        mixed = column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) not in ("string", "empty")
        codes, distinct = pd.factorize(column.astype("string") if mixed else column, use_na_sentinel=True)
        uniques = pd.Series(distinct)
    text = uniques.astype("string").fillna("").astype(object).tolist()
    return np.where(codes < 0, len(text), codes), [*text, ""]


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
    folds, rule = group_folds(keys, fraction, seed, min_groups, max_group_rows)
    return folds == 0, rule


def group_folds(
    keys: pd.Series, fraction: float, seed: int = 0, min_groups: int = 10, max_group_rows: int = 2000
) -> tuple[np.ndarray, str]:
    """Fold number per row (0 .. round(1 / fraction) - 1) and the rule used, as in `group_split`.

    Fold 0 is exactly `group_split`'s held-out part; the other rows are cut into the remaining folds by
    the same stable hash, so each fold holds out whole problems (sweeps split by row) like fold 0."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n_folds = max(2, round(1.0 / fraction))
    # problems as codes: sizes, counts and hashes per distinct problem, not per row
    codes, distinct = pd.factorize(pd.Series(np.asarray(keys, dtype=object)), use_na_sentinel=False)
    large = np.bincount(codes, minlength=len(distinct))[codes] > max_group_rows
    u = _hash_unit(pd.Series(np.arange(len(codes))).astype(str), seed)
    rule = "row"
    if len(np.unique(codes[~large])) >= min_groups:
        u_group = np.where(large, u, _hash_unit(pd.Series(distinct, dtype=object), seed)[codes])
        held = u_group[~large] < fraction
        if 0 < held.sum() < held.size:
            u, rule = u_group, ("mixed" if large.any() else "problem")
    rest = 1 + np.floor((u - fraction) / (1.0 - fraction) * (n_folds - 1)).astype(np.int64)
    return np.where(u < fraction, 0, np.clip(rest, 1, n_folds - 1)), rule


def problem_folds(keys: pd.Series, n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold number per row: the problems, in the order of their stable hash (`group_folds`' order), cut
    into `n_folds` folds of (nearly) equal problem counts; one problem per fold when there are fewer."""
    codes, distinct = pd.factorize(pd.Series(np.asarray(keys, dtype=object)), use_na_sentinel=False)
    rank = np.argsort(np.argsort(_hash_unit(pd.Series(distinct, dtype=object), seed), kind="stable"), kind="stable")
    folds = rank * min(int(n_folds), len(distinct)) // max(len(distinct), 1)
    return folds[codes].astype(np.int64)
