"""`TransferCostModel`: fine-tune a cost model of other GPUs to a new GPU from a few hundred measurements.

A base model (a fitted `GBCostModel`, a saved model directory or `models:/name@alias`, or one fitted
here on the other systems' rows) already knows how each config runs on the systems it was trained on.
On the new system's measured rows the estimator learns, in log(runtime_ms / roofline_ms):

1. *which source systems the new one resembles*: the base's runtime prediction for each row as if it
   ran on each source system (a counterfactual: same config and problem, the source's `system`), mapped
   to the new system by a ridge regression weighted towards the fastest measured rows (they decide an
   autotuner's pick; a GPU can resemble one source in the fast region and another in the bulk);
2. *what is specific to it*: small LightGBM boosters continuing from that mapping (`init_score`) on
   the features plus the counterfactual predictions, with the same fast-row weights; `n_bags` of them
   (row/feature bagging with different seeds), averaged, so the pick among near-equal fast configs
   depends less on one booster's random subsample;
3. *how far to trust it*: an 80% interval (`pred.runtime_ms.q10` / `.q90`) from cross-conformal
   errors: each measured row predicted by steps 1-2 refitted without its fold.

`save(dir)` / `load(dir)` persist the adapted model without pickle (JSON, ONNX, Parquet, the base's
directory); a loaded model predicts through onnxruntime.

Measured on Kernel Tuner GEMM, leave-one-GPU-out with 500 target configs (README, section models):
this is how the `kt_gemm_transfer` suite's perfcast model adapts. Runtime only: power/energy on a new
system need measurements there (the base model answers NaN for them).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.schema import usable

from .gbm import GBCostModel
from .onnx_model import SCHEMA_FILE, default_threads, json_default, log_offset

__all__ = ["TransferCostModel", "is_transfer_dir"]

TRANSFER_FILE = "transfer.json"
RESIDUAL_FILE = "residual.onnx"
TARGET_ROWS_FILE = "target_rows.parquet"
BASE_DIR = "base"
#: `num_boost_round="auto"` (the default): rounds per measured row of the new system, and the fewest.
#: 150 rounds was chosen at 500 target rows, and a fixed 150 underfits more: on Kernel Tuner GEMM
#: (`benchmarks/transfer_scaling.py`, seeds 0-1) held-out median APE with 2,000 / 4,000 random target
#: rows fell from 0.84-3.68% / 0.82-3.61% (fixed) to 0.73-2.67% / 0.64-2.24% (auto) on every GPU, and
#: the pick at 4,000 from 1.058 / 1.108 to 1.002 / 1.000 (3060 Laptop / 3090 means); at 2,000 the pick
#: was mixed (worse on 3 of 8 cases, better on 1).
AUTO_ROUNDS_PER_ROW = 0.3
AUTO_MIN_ROUNDS = 150
#: the interval (`pred.runtime_ms.q10` / `.q90`) needs this many usable target rows (fewer: point only)
INTERVAL_MIN_ROWS = 50
#: each tail of the 80% interval misses at most 10% of the cross-fitted errors
INTERVAL_TAIL_COVERAGE = 0.9
#: files of a saved TransferCostModel besides its base directory
TRANSFER_FILES = (TRANSFER_FILE, RESIDUAL_FILE, SCHEMA_FILE, TARGET_ROWS_FILE)
TRANSFER_FORMAT_VERSION = 1

DEFAULT_RESIDUAL_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "num_leaves": 15,
    "learning_rate": 0.02,
    "min_data_in_leaf": 5,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "verbose": -1,
}


def _load_base(base: Any) -> Any:
    """A fitted model as is; a directory or `models:/...` URI through `load_cost_model` (ONNX path), so a
    routed directory (what `perfcast train` registers by default) works as well as a single model."""
    if isinstance(base, str | Path):
        from perfcast.training.registry import resolve_model_dir  # noqa: PLC0415

        from .routed import load_cost_model  # noqa: PLC0415

        return load_cost_model(resolve_model_dir(str(base)))
    if not (hasattr(base, "predict") or hasattr(base, "predict_frame")):
        raise TypeError(f"base must be a fitted cost model, a model directory or a models:/ URI, got {type(base).__name__}")
    return base


def _base_runtime_ms(base: Any, frame: pd.DataFrame) -> np.ndarray:
    """The base's `pred.runtime_ms`: estimators answer `predict`, loaded ONNX models `predict_frame`."""
    predict = base.predict if hasattr(base, "predict") else base.predict_frame
    return predict(frame)["pred.runtime_ms"].to_numpy(dtype=np.float64)


def _source_systems(base: Any, kernels: set[str], exclude: str) -> list[str]:
    """Systems the base measured runtime on for these kernels (from model.json), the target excluded."""
    meta = getattr(base, "meta_", None) or getattr(base, "meta", None) or {}
    pairs = (meta.get("measured_pairs") or {}).get("runtime_ms")
    if pairs:
        systems = {p["system"] for p in pairs if p["kernel"] in kernels}
    else:
        systems = set((meta.get("data") or {}).get("systems", {}))
    return sorted(s for s in systems if s != exclude)


def is_transfer_dir(model_dir: str | Path) -> bool:
    """Whether `model_dir` holds a saved `TransferCostModel`."""
    return (Path(model_dir) / TRANSFER_FILE).is_file()


class TransferCostModel:
    """Runtime model of one new system: a base model of other systems, adapted on its measured rows.

    Args:
        system: the new system's name; `fit`'s rows with this `system` are its measurements.
        base: a fitted cost model (`predict(frame)` with `pred.runtime_ms`), a model directory (single
            or routed) or a `models:/name@alias` URI; None fits a `GBCostModel(**base_params)` on `fit`'s other rows.
        base_params: constructor arguments of that `GBCostModel` when `base` is None.
        params: LightGBM parameters of the residual booster (over `DEFAULT_RESIDUAL_PARAMS`).
        num_boost_round: rounds of each residual booster; "auto" grows them with the measurements
            (`AUTO_ROUNDS_PER_ROW` per usable target row, at least `AUTO_MIN_ROUNDS`: 150 up to 500 rows);
            an integer fixes them.
        n_bags: residual boosters averaged (seeds `seed`, `seed + 1`, ...); 1 is a single booster.
        fast_fraction, fast_weight: the fastest `fast_fraction` of the measured rows (per problem) count
            `fast_weight` times in the ridge mapping and the residual booster.
        ridge_alpha: L2 penalty of the ridge mapping from source predictions.
        seed: LightGBM seed of the first residual booster.
        interval_folds: folds of the cross-conformal 80% interval (`pred.runtime_ms.q10` / `.q90`): the
            adaptation is refitted this many times, each without one fold of the target rows, and the
            interval is what its errors on the left-out rows need; 0 predicts the point only.
        n_jobs: threads that fit the adaptation and its interval refits side by side (each booster
            runs on one thread, seeded, so the fitted model does not depend on `n_jobs`).
    """

    def __init__(self, system: str, base: Any = None, base_params: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None, num_boost_round: int | str = "auto", fast_fraction: float = 0.2,
                 fast_weight: float = 5.0, ridge_alpha: float = 1.0, n_bags: int = 5, seed: int = 0,
                 interval_folds: int = 5, n_jobs: int = 2):
        self.system = system
        self.base = base
        self.base_params = dict(base_params or {})
        self.params = dict(params or {})
        self.num_boost_round = num_boost_round
        self.fast_fraction = fast_fraction
        self.fast_weight = fast_weight
        self.ridge_alpha = ridge_alpha
        self.n_bags = n_bags
        self.seed = seed
        self.interval_folds = interval_folds
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------------------ helpers
    def _source_runtime_ms(self, frame: pd.DataFrame) -> list[np.ndarray]:
        """The base's runtime for each row as if it ran on each source system."""
        return [_base_runtime_ms(self.base_, frame.assign(system=source)) for source in self.sources_]

    def _counterfactual(self, frame: pd.DataFrame, log_roofline: np.ndarray) -> np.ndarray:
        """log(base runtime as if on each source system) − log(roofline here): one column per source."""
        return self._source_columns(self._source_runtime_ms(frame), log_roofline)

    @staticmethod
    def _source_columns(source_runtime_ms: list[np.ndarray], log_roofline: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.column_stack([np.log(pred) - log_roofline for pred in source_runtime_ms])

    def _ridge_input(self, cf: np.ndarray) -> np.ndarray:
        # A source the base has no answer for on a row (NaN) takes the mean of the others (0 if none has)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": the rows none answers
            row_mean = np.nanmean(np.where(np.isfinite(cf), cf, np.nan), axis=1, keepdims=True)
        row_mean = np.where(np.isfinite(row_mean), row_mean, 0.0)
        return np.where(np.isfinite(cf), cf, row_mean)

    def _weights(self, frame: pd.DataFrame, z: np.ndarray) -> np.ndarray:
        from perfcast.models.calibration import problem_keys  # noqa: PLC0415

        pct = pd.Series(z).groupby(problem_keys(frame).to_numpy()).rank(pct=True).to_numpy()
        return np.where(pct <= self.fast_fraction, self.fast_weight, 1.0)

    def _features(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        from perfcast.features import featurize  # noqa: PLC0415

        X = featurize(frame, self.schema_)[0].to_numpy(dtype=np.float64)
        return X, self._log_roofline(X)

    def _log_roofline(self, X: np.ndarray) -> np.ndarray:
        # log(roofline) where the family has one, else 0 (elementwise/softmax/...: plain log runtime)
        return log_offset(X[:, list(self.schema_.names).index("roofline_ms")], len(X))

    def _mapping(self, cf: np.ndarray) -> np.ndarray:
        """The ridge mapping from source predictions (numpy: the same after `load`)."""
        return self._ridge_input(cf) @ self.ridge_coef_ + self.ridge_intercept_

    @staticmethod
    def _booster_input(X: np.ndarray, cf: np.ndarray) -> np.ndarray:
        # float32, as the ONNX tree operator compares: the saved graph then predicts what LightGBM does
        return np.ascontiguousarray(np.hstack([X, cf]), dtype=np.float32)

    def _residual(self, Xc: np.ndarray) -> np.ndarray:
        """Mean of the residual boosters: LightGBM after `fit`, the ONNX graph after `load`."""
        if self.boosters_:
            return np.mean([b.predict(Xc) for b in self.boosters_], axis=0)
        names = [o.name for o in self._session.get_outputs()]
        return np.mean(self._session.run(names, {"X": Xc}), axis=0).astype(np.float64)

    def _on_target(self, systems: pd.Series) -> np.ndarray:
        """Which rows are of this model's system, aliases resolved (`H100` is `NVIDIA H100 80GB HBM3`)."""
        from perfcast.measurements.validate import canonical_system, canonical_systems  # noqa: PLC0415

        return (canonical_systems(systems.astype(str)) == canonical_system(self.system)).to_numpy(dtype=bool)

    # ---------------------------------------------------------------------------------- fit
    def fit(self, frame: pd.DataFrame) -> TransferCostModel:
        """Fit on the new system's rows of `frame` (and the base on the other rows when `base` is None)."""
        from perfcast.features import featurize  # noqa: PLC0415
        from perfcast.measurements.validate import canonical_system  # noqa: PLC0415

        if not (isinstance(self.n_bags, int | np.integer) and self.n_bags >= 1):
            raise ValueError(f"n_bags must be an integer >= 1 (residual boosters to average), got {self.n_bags!r}")
        if not (self.num_boost_round == "auto" or (isinstance(self.num_boost_round, int | np.integer)
                                                   and self.num_boost_round >= 1)):
            raise ValueError(f"num_boost_round must be 'auto' or an integer >= 1, got {self.num_boost_round!r}")
        if not (isinstance(self.interval_folds, int | np.integer) and (self.interval_folds == 0 or self.interval_folds >= 2)):
            raise ValueError(f"interval_folds must be 0 (no interval) or an integer >= 2, got {self.interval_folds!r}")
        if not (isinstance(self.n_jobs, int | np.integer) and self.n_jobs >= 1):
            raise ValueError(f"n_jobs must be an integer >= 1 (threads), got {self.n_jobs!r}")
        if "system" not in frame.columns:
            raise ValueError("TransferCostModel.fit needs a 'system' column (the new system's rows are its data)")
        frame = frame.reset_index(drop=True)
        on_target = self._on_target(frame["system"])
        if self.base is None:
            if on_target.all():
                raise ValueError(f"no rows of other systems than {self.system!r} to fit a base model on")
            self.base_ = GBCostModel(**self.base_params).fit(frame[~on_target].reset_index(drop=True))
        else:
            self.base_ = _load_base(self.base)
        target = frame[on_target].reset_index(drop=True)
        measured = usable(target, "runtime_ms")
        if measured.sum() < 20:
            raise ValueError(f"system {self.system!r}: {int(measured.sum())} usable runtime_ms rows (status ok, > 0); "
                             "need >= 20 measurements to adapt")
        target = target[measured].reset_index(drop=True)
        self.sources_ = _source_systems(self.base_, set(target["kernel"].astype(str)), canonical_system(self.system))
        if not self.sources_:
            raise ValueError(f"the base model measured runtime on no system other than {self.system!r} "
                             "for these kernels: nothing to transfer from")
        _, self.schema_ = featurize(target)
        X, log_roof = self._features(target)
        z = np.log(pd.to_numeric(target["runtime_ms"], errors="coerce").to_numpy(dtype=np.float64)) - log_roof
        cf = self._counterfactual(target, log_roof)
        self.num_boost_round_ = self.rounds_for(len(target))
        self.ridge_coef_, self.ridge_intercept_, self.boosters_, self.interval_ = self._fit_with_interval(target, X, cf, z)
        self._session = None
        self.n_target_rows_ = len(target)
        self._target = target
        return self

    def _fit_adaptation(self, target: pd.DataFrame, X: np.ndarray, cf: np.ndarray,
                        z: np.ndarray) -> tuple[np.ndarray, float, list[Any]]:
        """The ridge mapping and the residual boosters on these target rows (fit, and each interval fold)."""
        import lightgbm as lgb  # noqa: PLC0415
        from sklearn.linear_model import Ridge  # noqa: PLC0415

        w = self._weights(target, z)
        ridge = Ridge(alpha=self.ridge_alpha).fit(self._ridge_input(cf), z, sample_weight=w)
        coef, intercept = ridge.coef_.astype(np.float64), float(ridge.intercept_)
        init = self._ridge_input(cf) @ coef + intercept
        Xc = self._booster_input(X, cf)
        rounds = self.rounds_for(len(target))
        # Bagging over seeds: on Kernel Tuner GEMM (benchmarks/transfer_methods.py, seeds 0-7) one
        # booster's pick moved between near-equal fast configs with its seed; the average does less.
        # A Dataset per booster: its bin sampling follows the seed.
        boosters = [
            lgb.train({**DEFAULT_RESIDUAL_PARAMS, **self.params, "seed": self.seed + i},
                      lgb.Dataset(Xc, label=z, weight=w, init_score=init, params={"verbose": -1}),
                      num_boost_round=rounds)
            for i in range(self.n_bags)]
        return coef, intercept, boosters

    def _fit_with_interval(self, target: pd.DataFrame, X: np.ndarray, cf: np.ndarray,
                           z: np.ndarray) -> tuple[np.ndarray, float, list[Any], dict[str, Any] | None]:
        """The adaptation on all target rows, and the 80% interval around its point prediction, in log
        runtime: each measured row predicted by the adaptation refitted without its fold (whole problems
        where there are enough, else configs), and the finite-sample conformal quantile of each tail of
        those errors (10% each). The fits are independent, so they run on `n_jobs` threads (LightGBM
        releases the GIL while it trains)."""
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        from .calibration import conformal_quantile, group_folds, problem_keys  # noqa: PLC0415

        fold_ids: list[int] = []
        if self.interval_folds > 0 and len(target) >= INTERVAL_MIN_ROWS:
            folds, rule = group_folds(problem_keys(target), 1.0 / self.interval_folds, seed=self.seed)
            fold_ids = [int(k) for k in np.unique(folds)]

        def fit_without(k: int | None) -> tuple[np.ndarray, float, list[Any]]:
            if k is None:
                return self._fit_adaptation(target, X, cf, z)
            keep = folds != k
            return self._fit_adaptation(target[keep].reset_index(drop=True), X[keep], cf[keep], z[keep])

        tasks: list[int | None] = [None, *fold_ids]
        with ThreadPoolExecutor(max_workers=min(self.n_jobs, len(tasks))) as pool:
            (coef, intercept, boosters), *refits = list(pool.map(fit_without, tasks))
        if not fold_ids:
            return coef, intercept, boosters, None
        oof = np.full(len(target), np.nan)
        for k, (k_coef, k_intercept, k_boosters) in zip(fold_ids, refits, strict=True):
            held = folds == k
            Xc = self._booster_input(X[held], cf[held])
            oof[held] = (self._ridge_input(cf[held]) @ k_coef + k_intercept
                         + np.mean([b.predict(Xc) for b in k_boosters], axis=0))
        errors = z - oof  # measured minus predicted, log runtime
        upper = conformal_quantile(errors, INTERVAL_TAIL_COVERAGE)
        lower = -conformal_quantile(-errors, INTERVAL_TAIL_COVERAGE)
        interval = {"q10_log": float(lower), "q90_log": float(upper), "folds": len(fold_ids),
                    "rule": rule, "rows": int(len(target)),
                    "oof_coverage": float(np.mean((errors >= lower) & (errors <= upper))),
                    "oof_median_ape": float(np.median(np.abs(np.expm1(-errors))) * 100)}
        return coef, intercept, boosters, interval

    def rounds_for(self, n_rows: int) -> int:
        """Rounds of each residual booster for `n_rows` usable target measurements."""
        if self.num_boost_round == "auto":
            return max(AUTO_MIN_ROUNDS, int(round(AUTO_ROUNDS_PER_ROW * n_rows)))
        return int(self.num_boost_round)

    def update(self, frame: pd.DataFrame) -> TransferCostModel:
        """Add measurements of the new system and refit the adaptation (the base stays as it is)."""
        rows = frame[self._on_target(frame["system"])]
        base, self.base = self.base, self.base_
        try:
            return self.fit(pd.concat([self.measured_rows, rows], ignore_index=True, sort=False))
        finally:
            self.base = base

    # ------------------------------------------------------------------------------ predict
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`pred.runtime_ms` (and its 80% interval, `.q10` / `.q90`) for rows of the new system (same
        order and index as `frame`)."""
        out = self.predict_inputs(self.prediction_inputs(frame))
        return pd.DataFrame(out, index=frame.index)

    def prediction_inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row what prediction reads: the features, the base's answer as if on each source system,
        and log(roofline_ms) (a matrix, so a service can cache it per query and skip the base next time)."""
        if not hasattr(self, "ridge_coef_"):
            raise RuntimeError("TransferCostModel is not fitted: call fit(frame) or TransferCostModel.load(dir)")
        if "system" in frame.columns:
            other = sorted(set(frame["system"][~self._on_target(frame["system"])].astype(str)))
            if other:
                raise ValueError(f"TransferCostModel predicts {self.system!r} only; got rows of {other}")
        work = frame.reset_index(drop=True).assign(system=self.system)
        return self.assemble_inputs(self._features(work)[0], self._source_runtime_ms(work))

    def assemble_inputs(self, X: np.ndarray, source_runtime_ms: list[np.ndarray]) -> np.ndarray:
        """`prediction_inputs` from its parts computed elsewhere (the service's compiled feature plans):
        the feature rows (`featurize`'s values for this model's schema, the new system's `system`) and
        the base's `pred.runtime_ms` as if on each of `sources_` (NaN where it has no answer)."""
        log_roof = self._log_roofline(X)
        return np.column_stack([X, self._source_columns(source_runtime_ms, log_roof), log_roof])

    def predict_inputs(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """`prediction_inputs` rows -> `pred.runtime_ms` (+ `.q10`, `.q90`) arrays."""
        n_cf = len(self.sources_)
        X, cf, log_roof = inputs[:, :-n_cf - 1], inputs[:, -n_cf - 1:-1], inputs[:, -1]
        z = self._mapping(cf) + self._residual(self._booster_input(X, cf))
        point = np.exp(z + log_roof)
        out = {"pred.runtime_ms": point}
        if self.interval_ is not None:
            out["pred.runtime_ms.q10"] = point * np.exp(self.interval_["q10_log"])
            out["pred.runtime_ms.q90"] = point * np.exp(self.interval_["q90_log"])
        return out

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`predict` under the loaded models' name (`perfcast predict` streams through it)."""
        return self.predict(frame)

    @property
    def targets(self) -> tuple[str, ...]:
        """What the model predicts: runtime only (power/energy on a new system need measurements there)."""
        return ("runtime_ms",)

    @property
    def measured_rows(self) -> pd.DataFrame:
        """The new system's measurements the adaptation was fitted on (what `update` refits with)."""
        return self._target

    @property
    def schema(self) -> Any:
        """The feature schema of the target rows (the fields each kernel's features read)."""
        return self.schema_

    def output_columns(self) -> list[str]:
        """Names (without `pred.`) of the columns `predict_frame` returns."""
        return ["runtime_ms"] + (["runtime_ms.q10", "runtime_ms.q90"] if self.interval_ is not None else [])

    # ---------------------------------------------------------------------------- save / load
    def save(self, model_dir: str | Path) -> Path:
        """Write the adapted model to a directory: `transfer.json` (sources, ridge mapping), the residual
        boosters as one ONNX graph, the feature schema, the base model (`base/`) and the target rows
        (`update` refits on them). No pickle: `load` predicts through onnxruntime."""
        from .onnx_export import merge_boosters  # noqa: PLC0415

        if not getattr(self, "boosters_", None):
            raise RuntimeError("nothing to save: fit the model first (a loaded model is saved where it is)")
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        base_dir = model_dir / BASE_DIR
        source_dir = getattr(self.base_, "model_dir", None)
        if source_dir is not None and Path(source_dir).resolve() == base_dir.resolve():
            pass  # re-saved where it was loaded from: the base is already there
        elif source_dir is not None and Path(source_dir).is_dir():
            shutil.copytree(source_dir, base_dir, dirs_exist_ok=True)
        elif hasattr(self.base_, "save"):
            self.base_.save(base_dir)
        else:
            raise TypeError(f"cannot save a base of type {type(self.base_).__name__}: give a GBCostModel, "
                            "a model directory or a models:/ URI")
        Xt, log_roof = self._features(self._target)
        Xc = self._booster_input(Xt, self._counterfactual(self._target, log_roof))
        graph = merge_boosters({f"residual_{i}": b for i, b in enumerate(self.boosters_)}, Xc.shape[1],
                               metadata={"perfcast.transfer_format_version": str(TRANSFER_FORMAT_VERSION)})
        (model_dir / RESIDUAL_FILE).write_bytes(graph.SerializeToString())
        (model_dir / SCHEMA_FILE).write_text(self.schema_.to_json())
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        # without pandas' metadata: its note of Arrow list dtypes (runtime_ms_samples) does not read back
        rows = pa.Table.from_pandas(self._target, preserve_index=False).replace_schema_metadata(None)
        pq.write_table(rows, model_dir / TARGET_ROWS_FILE)
        import onnxruntime as ort  # noqa: PLC0415

        session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        onnx_residual = np.mean(session.run(None, {"X": Xc}), axis=0)
        meta = {
            "format_version": TRANSFER_FORMAT_VERSION,
            "kind": "transfer",
            "system": self.system,
            "sources": list(self.sources_),
            "ridge": {"coef": self.ridge_coef_.tolist(), "intercept": self.ridge_intercept_},
            "n_target_rows": self.n_target_rows_,
            "hyperparameters": {"params": self.params, "num_boost_round": self.num_boost_round,
                                "fast_fraction": self.fast_fraction, "fast_weight": self.fast_weight,
                                "ridge_alpha": self.ridge_alpha, "n_bags": self.n_bags, "seed": self.seed,
                                "interval_folds": self.interval_folds},
            # the cross-conformal 80% interval in log runtime, and how it was found (None: point only)
            "interval": self.interval_,
            "metrics": {"n_target_rows": self.n_target_rows_,
                        **({f"interval.{k}": self.interval_[k] for k in ("oof_coverage", "oof_median_ape")}
                           if self.interval_ is not None else {})},
            # ONNX against LightGBM on the target rows (float32 thresholds: see onnx_export)
            "onnx_parity_max_abs": float(np.max(np.abs(onnx_residual - self._residual(Xc)))),
        }
        (model_dir / TRANSFER_FILE).write_text(json.dumps(meta, indent=2, default=json_default))
        return model_dir

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int | None = None) -> TransferCostModel:
        """Load a saved directory: predicts through onnxruntime (base and residual); `update` refits."""
        import onnxruntime as ort  # noqa: PLC0415
        from perfcast.features import FeatureSchema  # noqa: PLC0415

        from .routed import load_cost_model, missing_files  # noqa: PLC0415

        model_dir = Path(model_dir)
        missing = missing_files(model_dir) if is_transfer_dir(model_dir) else [TRANSFER_FILE]
        if missing:
            raise FileNotFoundError(f"{model_dir} is not a saved TransferCostModel: missing {', '.join(missing)}")
        meta = json.loads((model_dir / TRANSFER_FILE).read_text())
        if meta.get("format_version") != TRANSFER_FORMAT_VERSION:
            raise ValueError(f"{model_dir / TRANSFER_FILE}: format_version {meta.get('format_version')!r}, "
                             f"this perfcast reads {TRANSFER_FORMAT_VERSION}")
        model = cls(meta["system"], base=str(model_dir / BASE_DIR), **meta["hyperparameters"])
        model.base_ = load_cost_model(model_dir / BASE_DIR, threads=threads)
        model.sources_ = list(meta["sources"])
        model.schema_ = FeatureSchema.from_json((model_dir / SCHEMA_FILE).read_text())
        model.ridge_coef_ = np.asarray(meta["ridge"]["coef"], dtype=np.float64)
        model.ridge_intercept_ = float(meta["ridge"]["intercept"])
        model.interval_ = meta.get("interval")  # absent in directories saved before intervals: point only
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        model._session = ort.InferenceSession(str(model_dir / RESIDUAL_FILE), sess_options=opts,
                                              providers=["CPUExecutionProvider"])
        model.boosters_ = []
        model._target = pd.read_parquet(model_dir / TARGET_ROWS_FILE)
        model.n_target_rows_ = int(meta["n_target_rows"])
        model.num_boost_round_ = model.rounds_for(model.n_target_rows_)  # follows from the hyperparameters
        return model
