"""Frozen, reproducible evaluation splits.

Rows are never split at random: the datasets repeat configs, so a random row split leaks the answer
into training. A split groups rows by *problem* (kernel + problem shape), by *config* (kernel + params +
problem, repeats kept together), by *system* (transfer to an unseen GPU with k target measurements) or
by *size* (train small, test on larger problems).

A `Split` is small and serialisable: its kind, parameters and seed re-derive the row assignment
deterministically from a frame, and the hashes of the row ids it assigned freeze it: applying a split to
a frame whose rows differ raises `SplitMismatchError` instead of silently evaluating on other rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.schema import section_columns

__all__ = [
    "Split",
    "SplitMismatchError",
    "row_ids",
    "problem_keys",
    "ranking_groups",
    "config_keys",
    "problem_size",
    "split_by_problem",
    "split_by_config",
    "split_by_system",
    "split_by_size",
]


class SplitMismatchError(ValueError):
    """The frame does not hold the rows the split was frozen on."""


def _hash_columns(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A uint64 per row from the given columns (missing columns/values hash as their absence)."""
    if not columns:
        return np.zeros(len(frame), dtype=np.uint64)
    # Strings of the values keep 4096 and 4096.0 (int vs float after a NaN) equal across readers.
    cols = {}
    for c in sorted(columns):
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            cols[c] = _float_labels(s.to_numpy(dtype="float64", na_value=np.nan))
        else:
            cols[c] = s.astype("string").fillna("")
    sub = pd.DataFrame(cols, index=frame.index)
    return pd.util.hash_pandas_object(sub, index=False).to_numpy(dtype=np.uint64)


def _float_labels(values: np.ndarray) -> pd.Categorical:
    """`repr(float(v))` of each value, "" where missing, as a categorical: the text is made once per
    distinct value (a config key over a million rows reads ~100 columns of few distinct values each),
    and pandas hashes a categorical exactly as it hashes the same strings."""
    missing = np.isnan(values)
    # by bit pattern: factorize counts -0.0 as 0.0, and their reprs differ
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64).copy()
    bits[missing] = np.float64(np.nan).view(np.uint64)
    codes, uniques = pd.factorize(bits)
    labels = ["" if np.isnan(v) else repr(float(v)) for v in uniques.view(np.float64)]
    return pd.Categorical.from_codes(codes, categories=labels)


def _key_columns(frame: pd.DataFrame, sections: tuple[str, ...], extra: tuple[str, ...]) -> list[str]:
    cols = [c for c in extra if c in frame.columns]
    for s in sections:
        cols += section_columns(frame, s)
    return cols


def problem_keys(frame: pd.DataFrame, with_system: bool = False, columns: list[str] | None = None) -> np.ndarray:
    """One id per problem: kernel + every `problem.*` column (+ system when asked).

    `columns` narrows the problem to those `problem.*` columns (e.g. the shape alone, so problems that
    differ only in GEMM alpha/beta count as one and never straddle train and test).
    """
    extra = ("kernel", "system") if with_system else ("kernel",)
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"problem columns {missing} not in the frame")
        return _hash_columns(frame, [c for c in extra if c in frame.columns] + list(columns))
    return _hash_columns(frame, _key_columns(frame, ("problem",), extra))


def ranking_groups(frame: pd.DataFrame) -> np.ndarray:
    """The groups ranking metrics compare inside: one problem on one system."""
    return problem_keys(frame, with_system=True)


def config_keys(frame: pd.DataFrame, with_system: bool = True) -> np.ndarray:
    """One id per config: kernel (+ system) + params + problem (repeated measurements share it)."""
    extra = ("kernel", "system") if with_system else ("kernel",)
    return _hash_columns(frame, _key_columns(frame, ("params", "problem"), extra))


def row_ids(frame: pd.DataFrame) -> np.ndarray:
    """Stable per-row ids: the config key plus the repeat number of that config in file order."""
    keys = config_keys(frame)
    if "measured_at" in frame.columns:
        keys = keys ^ _hash_columns(frame, ["measured_at"])
    repeat = pd.Series(keys).groupby(keys).cumcount().to_numpy(dtype=np.uint64)
    return keys ^ (repeat * np.uint64(0x9E3779B97F4A7C15))


def problem_size(frame: pd.DataFrame) -> np.ndarray:
    """Problem size as M·N·K (matmul families; any of problem.M/N/K present, missing ones count 1)."""
    size = np.ones(len(frame))
    found = False
    for dim in ("M", "N", "K"):
        for col in (f"problem.{dim}", f"problem.{dim.lower()}"):
            if col in frame.columns:
                size = size * pd.to_numeric(frame[col], errors="coerce").fillna(1.0).to_numpy(dtype=float)
                found = True
                break
    if not found:
        raise ValueError("size split needs problem.M / problem.N / problem.K columns")
    return size


def _digest(ids: np.ndarray) -> str:
    return hashlib.sha256(np.sort(np.asarray(ids, dtype=np.uint64)).tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Split:
    """A frozen train/test assignment: `kind`, `params` and `seed` re-derive it; hashes freeze it.

    `hashes` maps each part name (`train`, `test`, and e.g. `in_range`) to a hash of its row ids.
    """

    kind: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    # -- (de)serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        return cls(kind=d["kind"], seed=int(d["seed"]), params=dict(d.get("params", {})),
                   hashes=dict(d.get("hashes", {})), counts=dict(d.get("counts", {})))

    @classmethod
    def from_json(cls, text: str) -> Split:
        return cls.from_dict(json.loads(text))

    @property
    def split_id(self) -> str:
        """Short id of the frozen split (kind, params, seed and row hashes)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    # -- application -------------------------------------------------------------------------------
    def parts(self, frame: pd.DataFrame, check: bool = True) -> dict[str, np.ndarray]:
        """Positional row indices of each part in `frame`; raises if the frame is not the frozen one."""
        parts = _ASSIGNERS[self.kind](frame, self.seed, **self.params)
        if check and self.hashes:
            ids = row_ids(frame)
            for name, idx in parts.items():
                want = self.hashes.get(name)
                if want is not None and _digest(ids[idx]) != want:
                    raise SplitMismatchError(
                        f"split {self.kind}{self.params} part {name!r}: rows differ from the frozen split "
                        f"(expected hash {want}, {self.counts.get(name)} rows; got {len(idx)} rows)"
                    )
        return parts

    def train_test(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        p = self.parts(frame)
        return p["train"], p["test"]


def _freeze(kind: str, seed: int, params: dict[str, Any], frame: pd.DataFrame) -> Split:
    parts = _ASSIGNERS[kind](frame, seed, **params)
    if len(parts["train"]) == 0 or len(parts["test"]) == 0:
        raise ValueError(f"{kind} split {params} leaves an empty part: train={len(parts['train'])} "
                         f"test={len(parts['test'])} rows")
    ids = row_ids(frame)
    return Split(kind=kind, seed=seed, params=params,
                 hashes={k: _digest(ids[v]) for k, v in parts.items()},
                 counts={k: int(len(v)) for k, v in parts.items()})


def _pick_groups(keys: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of rows whose group is among a seeded random `fraction` of the distinct groups."""
    uniq = np.unique(keys)  # sorted: independent of row order
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(fraction * len(uniq))))
    if n_test >= len(uniq):
        raise ValueError(f"cannot hold out {fraction:.0%} of {len(uniq)} groups and keep any for training")
    chosen = rng.choice(uniq, size=n_test, replace=False)
    return np.isin(keys, chosen)


def _parts(test_mask: np.ndarray, train_mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    train_mask = ~test_mask if train_mask is None else train_mask
    return {"train": np.flatnonzero(train_mask), "test": np.flatnonzero(test_mask)}


# ------------------------------------------------------------------------------- the assigners


def _assign_problem(frame: pd.DataFrame, seed: int, test_fraction: float = 0.2,
                    columns: list[str] | None = None) -> dict[str, np.ndarray]:
    keys = problem_keys(frame, columns=columns)
    return _parts(_pick_groups(keys, test_fraction, seed))


def _assign_config(frame: pd.DataFrame, seed: int, test_fraction: float = 0.2) -> dict[str, np.ndarray]:
    keys = config_keys(frame)
    return _parts(_pick_groups(keys, test_fraction, seed))


def _assign_system(frame: pd.DataFrame, seed: int, target: str, k_target: int = 500) -> dict[str, np.ndarray]:
    systems = frame["system"].astype("string").to_numpy()
    on_target = systems == target
    if not on_target.any():
        raise ValueError(f"system {target!r} not in the frame (have {sorted(set(systems))})")
    keys = config_keys(frame)
    target_keys = np.unique(keys[on_target])
    rng = np.random.default_rng(seed)
    k = min(int(k_target), len(target_keys) - 1)
    seen = rng.choice(target_keys, size=k, replace=False) if k > 0 else np.array([], dtype=np.uint64)
    seen_mask = on_target & np.isin(keys, seen)
    return _parts(on_target & ~seen_mask, (~on_target) | seen_mask)


def _assign_size(frame: pd.DataFrame, seed: int, max_train_size: float, factor: float = 4.0,
                 in_range_fraction: float = 0.2, max_factor: float | None = None) -> dict[str, np.ndarray]:
    size = problem_size(frame)
    small = size <= max_train_size
    large = size >= factor * max_train_size
    far = np.zeros(len(frame), dtype=bool)
    if max_factor is not None:
        far = size >= max_factor * max_train_size
        large &= ~far
    keys = problem_keys(frame)
    # Hold out some small problems too: the in-range error the extrapolation error is compared with.
    in_range = np.zeros(len(frame), dtype=bool)
    in_range[small] = _pick_groups(keys[small], in_range_fraction, seed)
    parts = _parts(large, small & ~in_range)
    parts["in_range"] = np.flatnonzero(in_range)
    if max_factor is not None:
        parts["far"] = np.flatnonzero(far)
    return parts


_ASSIGNERS = {
    "problem": _assign_problem,
    "config": _assign_config,
    "system": _assign_system,
    "size": _assign_size,
}


# ------------------------------------------------------------------------------- public makers


def split_by_problem(frame: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0,
                     columns: list[str] | None = None) -> Split:
    """Hold out a seeded `test_fraction` of the problems (every config and repeat of each).

    `columns` defines a problem by those `problem.*` columns only (default: all of them).
    """
    params: dict[str, Any] = {"test_fraction": float(test_fraction)}
    if columns is not None:
        params["columns"] = list(columns)
    return _freeze("problem", seed, params, frame)


def split_by_config(frame: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out a seeded `test_fraction` of the configs (the autotuner's "80/20 config split")."""
    return _freeze("config", seed, {"test_fraction": float(test_fraction)}, frame)


def split_by_system(frame: pd.DataFrame, target: str, k_target: int = 500, seed: int = 0) -> Split:
    """Transfer: train on every other system plus `k_target` configs of `target`; test on the rest."""
    return _freeze("system", seed, {"target": str(target), "k_target": int(k_target)}, frame)


def split_by_size(frame: pd.DataFrame, max_train_size: float, factor: float = 4.0,
                  in_range_fraction: float = 0.2, seed: int = 0, max_factor: float | None = None) -> Split:
    """Extrapolation: train on problems with M·N·K ≤ `max_train_size`, test on ≥ `factor`× that.

    The `in_range` part holds out `in_range_fraction` of the small problems for the in-range error.
    With `max_factor`, `test` holds the problems from `factor`× up to (not including) `max_factor`×
    the largest training size, and a `far` part holds every larger one, so "4× larger" is measured
    apart from problems a hundred times larger.
    """
    params: dict[str, Any] = {"max_train_size": float(max_train_size), "factor": float(factor),
                              "in_range_fraction": float(in_range_fraction)}
    if max_factor is not None:
        if not max_factor > factor:
            raise ValueError(f"max_factor ({max_factor}) must be larger than factor ({factor})")
        params["max_factor"] = float(max_factor)
    return _freeze("size", seed, params, frame)
