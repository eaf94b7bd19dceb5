"""Baselines evaluated in the same run and on the same split as the perfcast model.

Every baseline has the cost-model interface `fit(frame) -> self`, `predict(frame) -> DataFrame` with
`pred.<target>` columns (row order and index of the input), so `training.evaluate` treats them alike:

- `RooflineBaseline`: the physics lower bound `roofline_ms` times one efficiency constant fitted on
  the training rows (per kernel family); the bound alone is off by the efficiency, so its raw APE says
  nothing.
- `GPPerfRandomForest`: GPPerf's model, a multi-output scikit-learn RandomForest on the raw numeric
  params/problem fields predicting runtime and power together (raw units, as the paper did).
- `PlainLGBM`: LightGBM on the raw params (log runtime, default parameters): the reference the
  issue's numbers are quoted against.
- `OtherSystemsLookup`: transfer without learning: a config's runtime on a GPU predicted as its
  geometric-mean runtime on the other GPUs (what "reuse another GPU's tuning" amounts to).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import perfcast.models  # noqa: F401 (before LightGBM loads: how its OpenMP threads wait, as for GBCostModel)
from perfcast.measurements.schema import TARGETS, usable
from perfcast.training.splits import config_keys

__all__ = ["RooflineBaseline", "GPPerfRandomForest", "PlainLGBM", "OtherSystemsLookup", "raw_matrix", "usable"]


class _RawEncoder:
    """Raw `params.*`/`problem.*` columns -> float matrix; text columns -> codes of the fit vocabulary."""

    def fit(self, frame: pd.DataFrame) -> _RawEncoder:
        self.columns_: list[str] = []
        self.vocab_: dict[str, dict[str, int]] = {}
        for c in frame.columns:
            if not (isinstance(c, str) and c.startswith(("params.", "problem."))) or frame[c].isna().all():
                continue
            s = frame[c]
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                self.columns_.append(c)
            else:
                num = pd.to_numeric(s, errors="coerce")
                if num.notna().sum() == s.notna().sum():
                    self.columns_.append(c)
                else:
                    vals = sorted(s.dropna().astype(str).unique())
                    self.vocab_[c] = {v: i for i, v in enumerate(vals)}
                    self.columns_.append(c)
        if "system" in frame.columns:
            vals = sorted(frame["system"].dropna().astype(str).unique())
            if len(vals) > 1:
                self.vocab_["system"] = {v: i for i, v in enumerate(vals)}
                self.columns_.append("system")
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.full((len(frame), len(self.columns_)), np.nan)
        for j, c in enumerate(self.columns_):
            if c not in frame.columns:
                continue
            s = frame[c]
            if c in self.vocab_:
                out[:, j] = s.astype(str).map(self.vocab_[c]).to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                out[:, j] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return out


def raw_matrix(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The raw feature matrix the plain baselines see (for inspection)."""
    enc = _RawEncoder().fit(frame)
    return enc.transform(frame), enc.columns_


def _targets_in(frame: pd.DataFrame, targets: tuple[str, ...], min_rows: int = 20) -> list[str]:
    return [t for t in targets if usable(frame, t).sum() >= min_rows]


class RooflineBaseline:
    """`roofline_ms` × a per-kernel efficiency constant (median measured/roofline on training rows)."""

    def fit(self, frame: pd.DataFrame) -> RooflineBaseline:
        from perfcast.features import featurize  # noqa: PLC0415

        X, self.schema_ = featurize(frame)
        roof = X["roofline_ms"].to_numpy(dtype=np.float64)
        ok = usable(frame, "runtime_ms") & np.isfinite(roof) & (roof > 0)
        y = pd.to_numeric(frame["runtime_ms"], errors="coerce").to_numpy(dtype=np.float64)
        ratio = pd.Series(np.log(y[ok] / roof[ok]))
        kernels = frame["kernel"].astype(str).to_numpy()[ok]
        self.log_eff_ = ratio.groupby(kernels).median().to_dict()
        self.global_log_eff_ = float(ratio.median()) if len(ratio) else 0.0
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        from perfcast.features import featurize  # noqa: PLC0415

        X, _ = featurize(frame, self.schema_)
        roof = X["roofline_ms"].to_numpy(dtype=np.float64)
        eff = frame["kernel"].astype(str).map(self.log_eff_).fillna(self.global_log_eff_).to_numpy(dtype=np.float64)
        return pd.DataFrame({"pred.runtime_ms": roof * np.exp(eff)}, index=frame.index)


class GPPerfRandomForest:
    """GPPerf's multi-output RandomForestRegressor on raw fields (runtime_ms, power_w where present).

    Rows with every output measured train the forest; `max_train_rows` subsamples (seeded) so the
    forest stays tractable on two cores.
    """

    def __init__(self, n_estimators: int = 100, min_samples_leaf: int = 1, max_train_rows: int = 100_000,
                 targets: tuple[str, ...] = ("runtime_ms", "power_w"), n_jobs: int = 1, seed: int = 0):
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_train_rows = max_train_rows
        self.targets = targets
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(self, frame: pd.DataFrame) -> GPPerfRandomForest:
        from sklearn.ensemble import RandomForestRegressor  # noqa: PLC0415

        self.targets_ = _targets_in(frame, self.targets)
        if not self.targets_:
            raise ValueError(f"no usable target among {self.targets}")
        rows = np.logical_and.reduce([usable(frame, t) for t in self.targets_])
        idx = np.flatnonzero(rows)
        if len(idx) > self.max_train_rows:
            idx = np.sort(np.random.default_rng(self.seed).choice(idx, self.max_train_rows, replace=False))
        self.encoder_ = _RawEncoder().fit(frame)
        X = np.nan_to_num(self.encoder_.transform(frame.iloc[idx]), nan=-1.0)
        Y = np.column_stack([pd.to_numeric(frame[t], errors="coerce").to_numpy(dtype=np.float64)[idx]
                             for t in self.targets_])
        self.forest_ = RandomForestRegressor(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                             n_jobs=self.n_jobs, random_state=self.seed)
        self.forest_.fit(X, Y if Y.shape[1] > 1 else Y[:, 0])
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        X = np.nan_to_num(self.encoder_.transform(frame), nan=-1.0)
        P = self.forest_.predict(X).reshape(len(frame), -1)
        return pd.DataFrame({f"pred.{t}": P[:, i] for i, t in enumerate(self.targets_)}, index=frame.index)


class PlainLGBM:
    """LightGBM on raw params/problem fields, log(target), library defaults: the reference model."""

    def __init__(self, num_boost_round: int = 500, params: dict[str, Any] | None = None,
                 targets: tuple[str, ...] = TARGETS, seed: int = 0):
        self.num_boost_round = num_boost_round
        self.params = dict(params or {})
        self.targets = targets
        self.seed = seed

    def fit(self, frame: pd.DataFrame) -> PlainLGBM:
        import lightgbm as lgb  # noqa: PLC0415

        self.encoder_ = _RawEncoder().fit(frame)
        X = self.encoder_.transform(frame)
        params = {"objective": "regression", "verbose": -1, "num_threads": 1, "seed": self.seed, **self.params}
        self.boosters_ = {}
        for t in _targets_in(frame, self.targets):
            ok = usable(frame, t)
            y = np.log(pd.to_numeric(frame[t], errors="coerce").to_numpy(dtype=np.float64)[ok])
            self.boosters_[t] = lgb.train(params, lgb.Dataset(X[ok], y), self.num_boost_round)
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        X = self.encoder_.transform(frame)
        return pd.DataFrame({f"pred.{t}": np.exp(b.predict(X)) for t, b in self.boosters_.items()}, index=frame.index)


class OtherSystemsLookup:
    """A config's runtime on system S = geometric mean of its runtime on the other systems in training.

    Configs never seen on another system get the median over all training rows (they rank last-ish).
    """

    def fit(self, frame: pd.DataFrame) -> OtherSystemsLookup:
        ok = usable(frame, "runtime_ms")
        keys = config_keys(frame[ok], with_system=False)
        logy = np.log(pd.to_numeric(frame.loc[ok, "runtime_ms"], errors="coerce").to_numpy(dtype=np.float64))
        df = pd.DataFrame({"key": keys, "system": frame.loc[ok, "system"].astype(str).to_numpy(), "y": logy})
        per = df.groupby(["key", "system"])["y"].mean()
        self.sum_ = per.groupby(level="key").sum()
        self.count_ = per.groupby(level="key").size()
        self.per_ = per
        self.fallback_ = float(np.median(logy)) if len(logy) else 0.0
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        keys = pd.Series(config_keys(frame, with_system=False), index=frame.index)
        systems = frame["system"].astype(str)
        total = keys.map(self.sum_).fillna(0.0).to_numpy()
        count = keys.map(self.count_).fillna(0).to_numpy(dtype=np.float64)
        own_idx = pd.MultiIndex.from_arrays([keys.to_numpy(), systems.to_numpy()])
        own = self.per_.reindex(own_idx).to_numpy()
        has_own = np.isfinite(own)
        total = total - np.where(has_own, own, 0.0)
        count = count - has_own
        with np.errstate(invalid="ignore", divide="ignore"):
            logy = np.where(count > 0, total / np.maximum(count, 1), self.fallback_)
        return pd.DataFrame({"pred.runtime_ms": np.exp(logy)}, index=frame.index)
