"""`GBCostModel`: LightGBM cost model for runtime, power and energy with calibrated intervals.

Per target present in the training frame:
- a point booster (L2 in the transformed space: log(runtime_ms / roofline_ms), log(power_w),
  log(energy_j / roofline_ms)), so predictions scale with the physics bound and extrapolate to
  problem sizes outside the training range;
- a lower and an upper quantile booster (default q10/q90), trained on the rows outside a calibration
  split held out *by problem* (on every GPU at once), then conformalised (CQR,
  `perfcast.models.calibration`) on that split so the interval as served (widened to contain the
  point prediction, scored with a point booster fitted without the split) covers `coverage` of
  measurements of unseen problems (with few calibration problems: pooled over every problem fold;
  see `cross_calibration_problems`).
Failed configs (status != ok) are learned by a feasibility classifier (`pred.feasible_prob`), not
dropped. `ranking=True` adds a LambdaRank booster grouped by problem (`pred.rank_score`, higher =
faster) for callers that rank.

Saving writes an ONNX model directory (see `perfcast.models.onnx_model`); the LightGBM boosters also
go to `lightgbm/*.txt` (LightGBM's text format, not pickle) so `update` can continue training a
loaded model. Prediction from a directory never needs LightGBM.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.schema import ok_status

from .calibration import (
    conformal_quantile,
    conformity_scores,
    group_folds,
    problem_folds,
    problem_keys,
    scaled_scores,
)
from .onnx_model import (
    DERIVED_OUTPUTS,
    FORMAT_VERSION,
    MEASURED_PAIRS,
    META_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    OnnxCostModel,
    derived_outputs,
    json_default,
    log_offset,
    mask_uncovered,
    measured_pairs,
    outputs_to_frame,
    to_transformed,
)

TARGET_TRANSFORMS: dict[str, str] = {
    # runtime and energy scale with the work, so learn them relative to the roofline bound
    "runtime_ms": "log_ratio_roofline",
    "energy_j": "log_ratio_roofline",
    # power saturates at the board limit: plain log
    "power_w": "log",
}
ALL_TARGETS: tuple[str, ...] = tuple(TARGET_TRANSFORMS)
MIN_TARGET_ROWS = 20

#: Features that grow with the problem size. Trees cannot extrapolate them past the training range, so
#: `scale_free=True` never splits on them (LightGBM `feature_contri` 0) and relies on the scale-free
#: ones (tile shape, wave efficiency, occupancy, padding waste, ratios); `roofline_ms` still enters as
#: the target's offset, which carries the size scaling.
SIZE_FEATURES: tuple[str, ...] = (
    "roofline_ms", "problem.M", "problem.N", "problem.K", "phys.flops", "phys.log2_flops", "phys.padded_flops",
    "phys.dram_traffic_bytes", "phys.dram_traffic_ms", "phys.compute_ms", "phys.memory_ms", "phys.min_bytes",
    "phys.problem_roofline_ms", "phys.estimate_ms", "phys.tile_traffic_bytes", "phys.tile_traffic_ms",
    "phys.tiled_compute_ms", "phys.ctas", "phys.tiles_m", "phys.tiles_n", "phys.waves", "phys.waves_ceil",
    "phys.sm_waves", "phys.sm_waves_ceil", "phys.k_steps",
)
MIN_CAL_ROWS = 30
#: The graph output answering energy as predicted power × predicted runtime (`energy_point`): in the
#: transformed spaces log(E / roofline) = log(P) + log(T / roofline) + log(1e-3), since J = W × ms / 1000.
ENERGY_PRODUCT = "energy_j.product"
ENERGY_PRODUCT_SUM = {"sum": ["runtime_ms", "power_w"], "constant": float(np.log(1e-3))}
ENERGY_POINTS = ("auto", "booster", "product")
#: "auto" answers energy with the product only when its median out-of-fold error is the lower one on at
#: least this share of bootstrap resamples of the scored rows: the comparison rests on 50-500 rows, and
#: on cuBLAS a fold-0-only comparison favoured the product by 12-19% on two splits where it was worse on
#: the held-out problems (README "Energy as power × runtime").
ENERGY_PRODUCT_CONFIDENCE = 0.9
#: Default `cross_calibration_problems`. With ~100 held-out problems the conformal correction of ONE
#: calibration split moved a small family's coverage on unseen problems from 0.40 to 0.94 between
#: seeds (README "Uncertainty"); pooling the scores of every problem fold cuts that spread.
CROSS_CAL_PROBLEMS = 500
#: Above this many rows of a target, the served-interval scores come from fold 0 alone: the other folds'
#: boosters cost ~9 s more on GPPerf CUTLASS (16k rows), whose correction barely moves between folds.
CROSS_CAL_MAX_ROWS = 10_000
#: Default `small_target_folds`, and the most rows a target may have for them. A target this small (the
#: power and energy of a Triton row family: ~130-300 rows, 30-80 problems) learns steeply from each
#: problem: boosters fitted without a fifth of the problems erred 2.3x more on new problems (p80,
#: elementwise power) than the served ones fitted on all, so 5-fold scores over-covered. 20 folds (each
#: fit misses 5% of the problems) gave the coverage of one problem per fold for under a third of its
#: extra fitting time (README "Uncertainty").
SMALL_TARGET_FOLDS = 20
SMALL_TARGET_MAX_ROWS = 1_000

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.08,
    "num_leaves": 63,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "num_threads": os.cpu_count() or 2,
    "verbose": -1,
}




def data_snapshot(frame: pd.DataFrame) -> dict[str, Any]:
    """Hash and counts of a training frame: rows, per system / kernel / status, targets present.

    The hash is order-insensitive over the identity columns (kernel, system, status, params.*,
    problem.*, targets), so the same measurements in another order give the same hash.
    """
    cols = [c for c in ("kernel", "system", "status") if c in frame.columns]
    cols += sorted(c for c in frame.columns if isinstance(c, str) and c.startswith(("params.", "problem.")))
    cols += [t for t in ALL_TARGETS if t in frame.columns]
    if len(frame) and cols:
        sub = frame[cols].copy()
        for c in sub.columns:
            if sub[c].dtype == object or str(sub[c].dtype).startswith(("string", "str")):
                sub[c] = sub[c].astype(str)
        row_hash = np.sort(pd.util.hash_pandas_object(sub, index=False).to_numpy(dtype=np.uint64))
        digest = hashlib.sha256(row_hash.tobytes() + ",".join(cols).encode()).hexdigest()[:16]
    else:
        digest = "empty"

    def counts(col: str) -> dict[str, int]:
        if col not in frame.columns:
            return {}
        return {str(k): int(v) for k, v in frame[col].astype(str).value_counts().sort_index().items()}

    return {
        "hash": digest,
        "n_rows": len(frame),
        "systems": counts("system"),
        "kernels": counts("kernel"),
        "status": counts("status"),
        "targets": {t: int(pd.to_numeric(frame[t], errors="coerce").gt(0).sum()) for t in ALL_TARGETS if t in frame},
    }


def _relevance(keys: np.ndarray, runtime: np.ndarray, levels: int = 30) -> np.ndarray:
    """LambdaRank labels: 0..levels per problem, `levels` for the fastest config."""
    pct = pd.Series(runtime).groupby(keys).rank(method="average", pct=True).to_numpy()
    return np.floor(levels * (1.0 - pct) + 0.5).astype(np.int32).clip(0, levels)


class GBCostModel:
    """Gradient-boosted cost model (scikit-learn style: constructor args are hyperparameters).

    Args:
        targets: targets to learn; None = every one of runtime_ms, power_w, energy_j present with at
            least 20 usable rows.
        quantiles: (lower, 0.5, upper); the point prediction is the L2 fit in log space (its median
            under symmetric log errors), the outer two get quantile boosters + CQR.
        params: LightGBM parameters overriding `DEFAULT_PARAMS` for every booster.
        num_boost_round: rounds of the point boosters (and ranking booster).
        quantile_boost_round: rounds of the quantile boosters (default: num_boost_round // 2).
        quantile_max_rows: the quantile boosters train on a seeded random sample of at most this many
            rows (CQR corrects their calibration anyway; this keeps a 1M-row retrain within budget).
        feasibility_max_rows: same cap for the feasibility classifier.
        ranking: also fit a LambdaRank booster grouped by problem (`pred.rank_score`).
        coverage: target coverage of the calibrated interval on unseen problems.
        feasibility: fit a classifier of status == ok when the frame has failed configs.
        calibration_fraction: share of problems held out to conformalise the interval.
        cross_calibration_problems: when that held-out share has fewer problems than this, the
            correction is computed on the interval as served (widened to contain the point prediction,
            scored with a point booster fitted without the held-out fold) and, for a target with at most
            `CROSS_CAL_MAX_ROWS` rows, pools the scores of every problem fold (`round(1 /
            calibration_fraction)` folds, each scored by boosters fitted without it: cross-conformal),
            so it rests on all the problems instead of a fifth of them; the served quantile pair stays
            the one fitted without fold 0. 0 = the bare pair on one calibration split (as before).
        small_target_folds: a cross-conformalised target with at most `SMALL_TARGET_MAX_ROWS` rows is
            cut into this many problem folds (one per problem when it has fewer; 3 small fits each)
            instead of `round(1 / calibration_fraction)`, and its served quantile pair sees every row.
            0 = the `round(1 / calibration_fraction)` folds (before session 17).
        problem_columns: the `problem.*` fields that tell one problem from another in the calibration
            split (default: all of them); give the shape alone where other fields vary within one
            shape without changing the work (GPPerf's GEMM alpha/beta), or the calibration holds out
            "new" problems whose shape the quantile boosters have already seen.
        seed: seeds LightGBM and the calibration split.
        keep_data: keep the training frame so `update` can refit on old + new measurements.
        scale_free: never split on the features that grow with the problem size (`SIZE_FEATURES`), so
            predictions for problems larger than any in training rest on scale-free features and the
            roofline offset (measured: README "Accuracy numbers", extrapolation). The feature schema is
            unchanged: serving sends the same vector.
        large_problem_weight: rows whose problem is at least the median training problem size (by
            `phys.flops`) count this many times in the runtime/power/energy boosters (1.0 = off). For a
            model that will be asked about problems larger than it saw, it spends its capacity on the
            sizes nearest to them (covariate-shift weighting; measured in README "Accuracy numbers").
        energy_point: how `pred.energy_j` is answered when the model learns runtime, power and energy:
            "booster" (the energy booster), "product" (predicted power × predicted runtime, from
            boosters that see every runtime row, not only the few with energy), or "auto" (the
            product where its median error on out-of-fold predictions of the energy rows, held out by
            problem as the interval's calibration is, is the lower one on at least
            `ENERGY_PRODUCT_CONFIDENCE` of bootstrap resamples of those rows; else the booster).
            The product's interval is the product ± c × the energy quantile pair's half-width
            (`interval: "scaled"`). Recorded in `model.json` (`targets.energy_j.point_choice`).
    """

    def __init__(
        self,
        targets: Iterable[str] | None = None,
        quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9),
        params: dict[str, Any] | None = None,
        num_boost_round: int = 400,
        quantile_boost_round: int | None = None,
        quantile_max_rows: int = 250_000,
        feasibility_max_rows: int = 300_000,
        ranking: bool = False,
        coverage: float = 0.8,
        feasibility: bool = True,
        calibration_fraction: float = 0.2,
        cross_calibration_problems: int = CROSS_CAL_PROBLEMS,
        small_target_folds: int = SMALL_TARGET_FOLDS,
        problem_columns: Sequence[str] | None = None,
        seed: int = 0,
        keep_data: bool = True,
        scale_free: bool = False,
        large_problem_weight: float = 1.0,
        energy_point: str = "auto",
    ):
        if energy_point not in ENERGY_POINTS:
            raise ValueError(f"energy_point must be one of {ENERGY_POINTS}, got {energy_point!r}")
        self.targets = tuple(targets) if targets is not None else None
        self.quantiles = tuple(quantiles)
        self.params = dict(params or {})
        self.num_boost_round = num_boost_round
        self.quantile_boost_round = quantile_boost_round
        self.quantile_max_rows = quantile_max_rows
        self.feasibility_max_rows = feasibility_max_rows
        self.ranking = ranking
        self.coverage = coverage
        self.feasibility = feasibility
        self.calibration_fraction = calibration_fraction
        self.cross_calibration_problems = cross_calibration_problems
        self.small_target_folds = small_target_folds
        self.problem_columns = list(problem_columns) if problem_columns is not None else None
        self.seed = seed
        self.keep_data = keep_data
        self.scale_free = scale_free
        self.large_problem_weight = large_problem_weight
        self.energy_point = energy_point
        # fitted state
        self.boosters_: dict[str, Any] = {}
        self.classifiers_: tuple[str, ...] = ()
        self.schema_: Any = None
        self.meta_: dict[str, Any] | None = None
        self._data: pd.DataFrame | None = None
        self._onnx: OnnxCostModel | None = None
        self._parity_X: np.ndarray | None = None
        self._graph: tuple[bytes, dict[str, float]] | None = None  # `onnx_graph()`, built once per fit

    # ----------------------------------------------------------------- scikit-learn style helpers
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), as recorded in `model.json`."""
        return {
            "targets": list(self.targets) if self.targets is not None else None,
            "quantiles": list(self.quantiles),
            "params": self.params,
            "num_boost_round": self.num_boost_round,
            "quantile_boost_round": self.quantile_boost_round,
            "quantile_max_rows": self.quantile_max_rows,
            "feasibility_max_rows": self.feasibility_max_rows,
            "ranking": self.ranking,
            "coverage": self.coverage,
            "feasibility": self.feasibility,
            "calibration_fraction": self.calibration_fraction,
            "cross_calibration_problems": self.cross_calibration_problems,
            "small_target_folds": self.small_target_folds,
            "problem_columns": self.problem_columns,
            "seed": self.seed,
            "keep_data": self.keep_data,
            "scale_free": self.scale_free,
            "large_problem_weight": self.large_problem_weight,
            "energy_point": self.energy_point,
        }

    def _lgb_params(self, **overrides: Any) -> dict[str, Any]:
        p = {**DEFAULT_PARAMS, "seed": self.seed, **self.params, **overrides}
        if self.scale_free and self.schema_ is not None:
            p["feature_contri"] = [0.0 if c in SIZE_FEATURES else 1.0 for c in self.schema_.names]
        return p

    def _size_weights(self, X_df: pd.DataFrame) -> np.ndarray | None:
        """Per-row weights of `large_problem_weight` (None when off or no `phys.flops`)."""
        if self.large_problem_weight == 1.0 or "phys.flops" not in X_df.columns:
            return None
        flops = X_df["phys.flops"].to_numpy(dtype=np.float64)
        known = np.isfinite(flops) & (flops > 0)
        if not known.any():
            return None
        large = known & (flops >= np.median(flops[known]))
        return np.where(large, float(self.large_problem_weight), 1.0)

    @property
    def is_fitted(self) -> bool:
        return self.meta_ is not None

    # ----------------------------------------------------------------------------------- fit
    def fit(self, frame: pd.DataFrame, *, progress: bool = False) -> GBCostModel:
        """Fit on a canonical flat frame with targets (failed configs included)."""
        from perfcast.features import featurize  # noqa: PLC0415

        if len(frame) == 0:
            raise ValueError("cannot fit on an empty frame")
        t0 = time.perf_counter()
        frame = frame.reset_index(drop=True)
        X_df, schema = featurize(frame)
        self.schema_ = schema
        self._fit_arrays(frame, X_df, init=None, progress=progress)
        self.meta_["fit_seconds"] = round(time.perf_counter() - t0, 3)
        self._data = frame if self.keep_data else None
        self._onnx = None
        return self

    def _targets_present(self, frame: pd.DataFrame, ok: np.ndarray) -> list[str]:
        wanted = self.targets if self.targets is not None else ALL_TARGETS
        unknown = [t for t in wanted if t not in TARGET_TRANSFORMS]
        if unknown:
            raise ValueError(f"unknown targets {unknown}; known: {list(TARGET_TRANSFORMS)}")
        present = []
        for t in wanted:
            if t not in frame.columns:
                continue
            y = pd.to_numeric(frame[t], errors="coerce").to_numpy(dtype=np.float64)
            if int((np.isfinite(y) & (y > 0) & ok).sum()) >= MIN_TARGET_ROWS:
                present.append(t)
        if not present:
            raise ValueError(
                f"no target with >= {MIN_TARGET_ROWS} usable rows (finite, > 0, status ok) among {list(wanted)}"
            )
        return present

    def _fit_arrays(
        self, frame: pd.DataFrame, X_df: pd.DataFrame, *, init: dict[str, Any] | None, progress: bool
    ) -> None:
        import lightgbm as lgb  # noqa: PLC0415
        from tqdm.auto import tqdm  # noqa: PLC0415

        # Train on float32 features: the ONNX tree operator compares float32, so the boosters then
        # see exactly the values ONNX will see (only the threshold rounding differs).
        X = np.ascontiguousarray(X_df.to_numpy(dtype=np.float32))
        offset = log_offset(X_df["roofline_ms"].to_numpy(dtype=np.float64) if "roofline_ms" in X_df else None, len(X))
        ok = ok_status(frame)
        targets = self._targets_present(frame, ok)
        keys = problem_keys(frame).to_numpy()
        # a problem on every GPU at once, identified by `problem_columns` (default: every problem field)
        cal_keys = problem_keys(frame, with_system=False, columns=self.problem_columns).to_numpy()
        weight = self._size_weights(X_df)
        q_lo, q_hi = min(self.quantiles), max(self.quantiles)
        q_boost = self.quantile_boost_round or max(1, self.num_boost_round // 2)
        jobs = len(targets) * 3 + int(self.feasibility) + int(self.ranking)
        bar = tqdm(total=jobs, desc="fit boosters", disable=not progress, leave=False)

        def train(name: str, params: dict[str, Any], ds: Any, rounds: int) -> Any:
            booster = lgb.train(params, ds, num_boost_round=rounds, init_model=(init or {}).get(name))
            bar.update(1)
            return booster

        def fit_pair(fit: np.ndarray, z: np.ndarray, names: tuple[str, str], count: bool = True) -> tuple[Any, Any]:
            """The lower and upper quantile boosters on `fit` rows (a seeded sample of at most
            `quantile_max_rows`); `count=False`: a cross-calibration pair (not a served booster)."""
            if len(fit) > self.quantile_max_rows:
                pick = np.random.default_rng(self.seed).choice(len(fit), self.quantile_max_rows, replace=False)
                fit = fit[np.sort(pick)]
            pair = []
            for name, alpha in zip(names, (q_lo, q_hi), strict=True):
                # one Dataset per booster: continuing from `init` sets a booster-specific init score
                ds_fit = lgb.Dataset(X[fit], label=z[fit], free_raw_data=False, params={"verbose": -1},
                                     weight=None if weight is None else weight[fit])
                params = self._lgb_params(objective="quantile", alpha=alpha)
                pair.append(train(name, params, ds_fit, q_boost) if count else
                            lgb.train(params, ds_fit, num_boost_round=q_boost, init_model=(init or {}).get(name)))
            return pair[0], pair[1]

        def fit_point(target: str, fit: np.ndarray) -> Any:
            """The point booster of `target` on `fit` rows only (an out-of-fold one, not served)."""
            ds = lgb.Dataset(X[fit], label=z_of[target][fit], weight=None if weight is None else weight[fit],
                             params={"verbose": -1})
            return lgb.train(self._lgb_params(objective="regression"), ds, num_boost_round=self.num_boost_round,
                             init_model=(init or {}).get(target))

        boosters: dict[str, Any] = {}
        target_meta: dict[str, Any] = {}
        # Out-of-fold predictions per output (NaN where not scored), each target's calibration fold per
        # row (-1: not a row of it) and its transformed labels: the interval's calibration scores them,
        # and `energy_point` compares the energy booster with power × runtime on them.
        oof: dict[str, np.ndarray] = {}
        fold_of: dict[str, np.ndarray] = {}
        z_of: dict[str, np.ndarray] = {}

        def cross_scores(target: str, rows: np.ndarray, folds: np.ndarray, ks: Any, names: tuple[str, str],
                         served_pair_held_out: bool) -> tuple[list[np.ndarray], np.ndarray]:
            """Scores of the interval as served (it contains the point prediction: `apply_correction`),
            each held-out fold by boosters fitted without it (fold 0 by the served pair when that was
            fitted without it); records the out-of-fold predictions. Returns the scores and the rows."""
            z, scores = z_of[target], []
            for k in ks:
                held, fit = rows[folds == k], rows[folds != k]
                lo_b, hi_b = (boosters[names[0]], boosters[names[1]]) if k == 0 and served_pair_held_out else \
                    fit_pair(fit, z, names, count=False)
                Xh = X[held]
                # fold 0's point was fitted on the same rows for the served pair's own scores
                pt_h = oof[target][held] if k == 0 and served_pair_held_out else fit_point(target, fit).predict(Xh)
                lo_h, hi_h = lo_b.predict(Xh), hi_b.predict(Xh)
                oof[names[0]][held], oof[names[1]][held], oof[target][held] = lo_h, hi_h, pt_h
                scores.append(conformity_scores(z[held], lo_h, hi_h, pt_h))
            return scores, rows[np.isin(folds, list(ks))]

        for target in targets:
            transform = TARGET_TRANSFORMS[target]
            y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=np.float64)
            z = z_of[target] = to_transformed(y, transform, offset)
            rows = np.flatnonzero(ok & np.isfinite(z))
            folds, rule = group_folds(pd.Series(cal_keys[rows]), self.calibration_fraction, self.seed)
            fold_of[target] = np.full(len(X), -1)
            fold_of[target][rows] = folds
            fit_rows, cal_rows = rows[folds != 0], rows[folds == 0]
            # Cross-conformal needs problem folds; over CROSS_CAL_MAX_ROWS rows, fold 0 only (bounds the fits).
            cross = rule != "row" and self.cross_calibration_problems > 0 and len(np.unique(folds)) > 1
            small = (cross and rule == "problem" and self.small_target_folds > 0
                     and MIN_CAL_ROWS + MIN_TARGET_ROWS <= len(rows) <= SMALL_TARGET_MAX_ROWS)
            if small:
                # the served pair sees every row; each fold is scored by boosters fitted without it
                folds = fold_of[target][rows] = problem_folds(pd.Series(cal_keys[rows]), self.small_target_folds, self.seed)
                fit_rows, cal_rows = rows, rows[:0]
            elif len(cal_rows) < MIN_CAL_ROWS or len(fit_rows) < MIN_TARGET_ROWS:
                # Fold 0 alone is too small to calibrate on: the served pair sees every row, and with
                # enough rows in all the folds together, each fold is scored by boosters fitted without it.
                fit_rows, cal_rows = rows, rows[:0]
                cross = cross and len(rows) >= MIN_CAL_ROWS + MIN_TARGET_ROWS and len(rows) <= CROSS_CAL_MAX_ROWS
            ds_all = lgb.Dataset(X[rows], label=z[rows], weight=None if weight is None else weight[rows],
                                 free_raw_data=False, params={"verbose": -1})
            boosters[target] = train(target, self._lgb_params(objective="regression"), ds_all, self.num_boost_round)
            lo_name, hi_name = f"{target}.q{round(q_lo * 100):02d}", f"{target}.q{round(q_hi * 100):02d}"
            for name in (target, lo_name, hi_name):
                oof[name] = np.full(len(X), np.nan)

            boosters[lo_name], boosters[hi_name] = fit_pair(fit_rows, z, (lo_name, hi_name))
            n_fit = min(len(fit_rows), self.quantile_max_rows)
            calib: dict[str, Any] = {"rule": rule, "n_fit": n_fit, "n_cal": len(cal_rows)}
            correction = 0.0
            if len(cal_rows):
                lo = oof[lo_name][cal_rows] = boosters[lo_name].predict(X[cal_rows])
                hi = oof[hi_name][cal_rows] = boosters[hi_name].predict(X[cal_rows])
                zc = z[cal_rows]
                calib["raw_coverage"] = float(np.mean((zc >= lo) & (zc <= hi)))
                # The served interval is widened to contain the point prediction (`apply_correction`), so
                # it is scored with a point booster fitted without the calibration rows: scored bare, the
                # pair's correction left the point outside it on 15% of the 2080 Ti's held-out configs, and
                # the served interval covered 0.858 where the bare one covered 0.806.
                pt = oof[target][cal_rows] = fit_point(target, fit_rows).predict(X[cal_rows])
                correction = conformal_quantile(conformity_scores(zc, lo, hi, pt), self.coverage)
                calib["scores"] = "served interval (point prediction included)"
                calib["n_cal_problems"] = n_problems = int(pd.Series(cal_keys[cal_rows]).nunique())
                if cross and n_problems < self.cross_calibration_problems:
                    # Every fold (cross-conformal) when the target has few rows, else fold 0 only.
                    calib["first_fold_correction"] = correction
                    ks = np.unique(folds) if len(rows) <= CROSS_CAL_MAX_ROWS else [0]
                    scores, held = cross_scores(target, rows, folds, ks, (lo_name, hi_name), True)
                    correction = conformal_quantile(np.concatenate(scores), self.coverage)
                    calib.update(folds=len(scores), n_cal=len(held), n_cal_problems=int(pd.Series(cal_keys[held]).nunique()),
                                 scores="served interval (point prediction included)")
            elif cross:
                scores, held = cross_scores(target, rows, folds, np.unique(folds), (lo_name, hi_name), False)
                correction = conformal_quantile(np.concatenate(scores), self.coverage)
                calib.update(folds=len(scores), n_cal=len(held), n_cal_problems=int(pd.Series(cal_keys[held]).nunique()),
                             scores="served interval (point prediction included)",
                             note=f"{len(scores)} problem folds (<= {SMALL_TARGET_MAX_ROWS} rows): each scored by "
                                  "boosters fitted without it" if small else
                                  f"fold 0 alone has < {MIN_CAL_ROWS} rows: every fold scored by boosters fitted without it")
            else:
                calib["note"] = "too few rows to hold out a calibration split: interval not conformalised"
            target_meta[target] = {
                "transform": transform,
                "point": target,
                "lower": lo_name,
                "upper": hi_name,
                "quantiles": [q_lo, 0.5, q_hi],
                "coverage": self.coverage,
                "correction": correction,
                "calibration": calib,
                "n_rows": len(rows),
            }

        derived: dict[str, Any] = {}
        if self.energy_point != "booster" and {"runtime_ms", "power_w", "energy_j"} <= set(targets):
            choice = self._energy_point_choice(target_meta["energy_j"], oof, fold_of, z_of)
            target_meta["energy_j"].update(choice)
            if choice["point"] == ENERGY_PRODUCT:
                derived[ENERGY_PRODUCT] = {**ENERGY_PRODUCT_SUM, "sum": list(ENERGY_PRODUCT_SUM["sum"])}  # a copy per model

        classifiers: list[str] = []
        extra_meta: dict[str, Any] = {}
        n_failed = int((~ok).sum())
        if self.feasibility and 0 < n_failed < len(ok):
            rows = np.arange(len(ok))
            if len(rows) > self.feasibility_max_rows:
                rows = np.sort(np.random.default_rng(self.seed).choice(len(rows), self.feasibility_max_rows, replace=False))
            ds = lgb.Dataset(X[rows], label=ok[rows].astype(np.int32), params={"verbose": -1})
            boosters["feasible_prob"] = train(
                "feasible_prob", self._lgb_params(objective="binary"), ds, max(50, self.num_boost_round // 4)
            )
            classifiers.append("feasible_prob")
            extra_meta["feasible_prob"] = {"n_ok": int(ok.sum()), "n_failed": n_failed}
        elif self.feasibility:
            extra_meta["feasible_prob"] = {"note": "no failed configs (or none ok) in the data: classifier not fitted"}
            bar.update(1)
        if self.ranking and "runtime_ms" in targets:
            y = pd.to_numeric(frame["runtime_ms"], errors="coerce").to_numpy(dtype=np.float64)
            rows = np.flatnonzero(ok & np.isfinite(y) & (y > 0))
            # LambdaRank needs contiguous query groups; cap a group's size so one huge problem (a
            # brute-force sweep of one shape) does not dominate the pairwise cost.
            rk = pd.Series(keys[rows])
            chunk = rk.groupby(rk).cumcount().to_numpy() // 2000
            qid = pd.Series(keys[rows] + "#" + chunk.astype(str))
            order = np.argsort(qid.to_numpy(), kind="stable")
            rows, qid = rows[order], qid.to_numpy()[order]
            label = _relevance(qid, y[rows])
            group = pd.Series(qid).groupby(qid, sort=False).size().to_numpy()
            ds = lgb.Dataset(X[rows], label=label, group=group, params={"verbose": -1})
            boosters["rank_score"] = train(
                "rank_score", self._lgb_params(objective="lambdarank", metric="ndcg"), ds, self.num_boost_round
            )
            extra_meta["rank_score"] = {"groups": int(len(group)), "note": "higher = faster within a problem"}
        bar.close()

        self.boosters_ = boosters
        self.classifiers_ = tuple(classifiers)
        rng = np.random.default_rng(self.seed)
        self._parity_X = X[rng.choice(len(X), size=min(len(X), 2000), replace=False)]
        self._graph = None
        self.meta_ = {
            "format_version": FORMAT_VERSION,
            "perfcast_version": _perfcast_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "targets": target_meta,
            "extra_outputs": extra_meta,
            "outputs": list(boosters),
            **({DERIVED_OUTPUTS: derived} if derived else {}),
            "quantiles": [q_lo, 0.5, q_hi],
            "coverage": self.coverage,
            "hyperparameters": self.get_params(),
            "lightgbm_params": self._lgb_params(),
            "feature_names": list(X_df.columns),
            "n_features": int(X.shape[1]),
            "data": data_snapshot(frame),
            # where each target was measured: predictions elsewhere are NaN, not made up
            MEASURED_PAIRS: measured_pairs(frame, targets, ok, MIN_TARGET_ROWS),
            "metrics": {},
        }

    def _energy_point_choice(
        self, spec: dict[str, Any], oof: dict[str, np.ndarray], fold_of: dict[str, np.ndarray],
        z_of: dict[str, np.ndarray],
    ) -> dict[str, Any]:
        """Energy's point (`energy_j` or `ENERGY_PRODUCT`), its interval correction and the record of the
        choice, from the energy rows where all of energy's interval and point, runtime and power have an
        out-of-fold prediction (each by its own calibration folds: the rows the interval calibration
        scored, fold 0 at least for every target with a calibration split)."""
        names = ("energy_j", spec["lower"], spec["upper"], "runtime_ms", "power_w")
        rows = np.flatnonzero(np.logical_and.reduce([np.isfinite(oof[n]) for n in names]))
        choice: dict[str, Any] = {"requested": self.energy_point, "n_rows": len(rows)}
        if len(rows) < MIN_CAL_ROWS:
            method = "product" if self.energy_point == "product" else "booster"
            choice.update(method=method, note=f"{len(rows)} energy rows with out-of-fold predictions of every "
                          f"model (< {MIN_CAL_ROWS}): not compared; the energy booster's correction kept")
            return {"point": ENERGY_PRODUCT if method == "product" else "energy_j", "point_choice": choice}
        z = z_of["energy_j"][rows]
        product = oof["runtime_ms"][rows] + oof["power_w"][rows] + ENERGY_PRODUCT_SUM["constant"]
        err_booster, err_product = np.abs(z - oof["energy_j"][rows]), np.abs(z - product)
        errors = {"booster": float(np.median(err_booster)), "product": float(np.median(err_product))}
        resample = np.random.default_rng(self.seed).integers(0, len(rows), size=(1000, len(rows)))
        better = float(np.mean(np.median(err_product[resample], axis=1) < np.median(err_booster[resample], axis=1)))
        method = self.energy_point if self.energy_point != "auto" else \
            ("product" if better >= ENERGY_PRODUCT_CONFIDENCE else "booster")
        choice.update(method=method, median_abs_log_error=errors, product_better_share=better,
                      folds=int(np.unique(fold_of["energy_j"][rows]).size))
        if method == "booster":
            return {"point": "energy_j", "point_choice": choice}
        # The pair was fitted around the booster's answer, not the product's: the interval is the product ±
        # c × the pair's half-width (normalised conformal), not the pair widened to reach the product
        # (README "Energy as power × runtime": as well covered, 11% narrower).
        scores = scaled_scores(z, oof[spec["lower"]][rows], oof[spec["upper"]][rows], product)
        return {"point": ENERGY_PRODUCT, "interval": "scaled", "correction": conformal_quantile(scores, self.coverage),
                "booster_correction": spec["correction"], "point_choice": choice}

    # ------------------------------------------------------------------------------- predict
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Canonical flat records -> `pred.<target>`, `pred.<target>.q10`, `pred.<target>.q90` (+ extras).

        A target is NaN on rows whose (kernel, system) had fewer than 20 measured ok rows of it in
        training (`meta_["measured_pairs"]`)."""
        if not self.is_fitted:
            raise RuntimeError("GBCostModel is not fitted: call fit(frame) or GBCostModel.load(dir)")
        if self._onnx is not None:  # loaded from a directory: predict exactly as serving does
            return self._onnx.predict_frame(frame)
        from perfcast.features import featurize  # noqa: PLC0415

        X_df, _ = featurize(frame, self.schema_)
        X = np.ascontiguousarray(X_df.to_numpy(dtype=np.float32))
        raw = {name: np.asarray(b.predict(X), dtype=np.float64) for name, b in self.boosters_.items()}
        raw.update(derived_outputs(raw, self.meta_))
        roofline = X_df["roofline_ms"].to_numpy(dtype=np.float64) if "roofline_ms" in X_df else None
        return mask_uncovered(outputs_to_frame(raw, self.meta_, roofline, frame.index), frame, self.meta_)

    # -------------------------------------------------------------------------------- update
    def update(self, frame: pd.DataFrame, *, rounds: int = 50, progress: bool = False) -> GBCostModel:
        """Add measurements and refit (TVM MetaSchedule-style online cost model).

        With the training data kept (`keep_data=True`, the default after `fit`), refits on old + new
        rows. A model loaded from a directory has no training data: its boosters continue for `rounds`
        more rounds on the new rows (same feature schema, conformal constants re-estimated on them).
        """
        if not self.is_fitted:
            return self.fit(frame, progress=progress)
        if self._data is not None:
            data = pd.concat([self._data, frame], ignore_index=True, sort=False)
            return self.fit(data, progress=progress)
        if not self.boosters_:
            raise RuntimeError("this model directory has no lightgbm/*.txt boosters: cannot continue training")
        from perfcast.features import featurize  # noqa: PLC0415

        frame = frame.reset_index(drop=True)
        X_df, _ = featurize(frame, self.schema_)
        old_pairs = (self.meta_ or {}).get(MEASURED_PAIRS)
        saved_rounds, saved_q = self.num_boost_round, self.quantile_boost_round
        self.num_boost_round, self.quantile_boost_round = rounds, rounds
        try:
            self._fit_arrays(frame, X_df, init=dict(self.boosters_), progress=progress)
        finally:
            self.num_boost_round, self.quantile_boost_round = saved_rounds, saved_q
        self.meta_[MEASURED_PAIRS] = _merge_pairs(old_pairs, self.meta_[MEASURED_PAIRS])
        if self.meta_[MEASURED_PAIRS] is None:
            del self.meta_[MEASURED_PAIRS]  # the loaded model predates the record: still covered everywhere
        self._onnx = None
        return self

    # ---------------------------------------------------------------------------- save / load
    def save(self, model_dir: str | Path, *, metrics: dict[str, Any] | None = None) -> Path:
        """Write `model.onnx`, `feature_schema.json`, `model.json` (+ `lightgbm/*.txt`) to a directory."""
        if not self.is_fitted or not self.boosters_:
            raise RuntimeError("nothing to save: fit the model first")
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta_)
        if metrics:
            meta["metrics"] = {**meta.get("metrics", {}), **metrics}
        graph, meta["onnx_parity"] = self.onnx_graph()
        (model_dir / MODEL_FILE).write_bytes(graph)
        (model_dir / SCHEMA_FILE).write_text(self.schema_.to_json())
        lgb_dir = model_dir / "lightgbm"
        lgb_dir.mkdir(exist_ok=True)
        for name, booster in self.boosters_.items():
            booster.save_model(str(lgb_dir / f"{name}.txt"))
        meta["classifiers"] = list(self.classifiers_)
        (model_dir / META_FILE).write_text(json.dumps(meta, indent=2, default=json_default))
        self.meta_ = meta
        return model_dir

    def onnx_graph(self) -> tuple[bytes, dict[str, float]]:
        """The boosters as one serialized ONNX graph (`model.onnx`) and its parity with LightGBM.

        Built once per fit and kept with the model: `perfcast train` builds it in the worker process
        that fitted a sub-model (the converter is pure Python, ~2 s a sub-model), so `save` only writes it.
        """
        from .onnx_export import merge_boosters  # noqa: PLC0415

        if not self.is_fitted or not self.boosters_:
            raise RuntimeError("nothing to export: fit the model first")
        if self._graph is None:
            corrections = {f"cqr.{t}": str(s["correction"]) for t, s in self.meta_["targets"].items()}
            onnx_model = merge_boosters(
                self.boosters_,
                self.meta_["n_features"],
                classifiers=self.classifiers_,
                derived=self.meta_.get(DERIVED_OUTPUTS),
                metadata={"perfcast.format_version": str(FORMAT_VERSION), **corrections},
            )
            graph = onnx_model.SerializeToString()
            self._graph = (graph, self._parity(graph))
        return self._graph

    def _parity(self, graph: bytes) -> dict[str, float]:
        """Max relative difference of ONNX vs LightGBM on a sample of training rows (recorded in model.json)."""
        if self._parity_X is None or not len(self._parity_X):
            return {}
        import onnxruntime as ort  # noqa: PLC0415

        sess = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        got = dict(zip(names, sess.run(names, {"X": self._parity_X}), strict=True))
        ref = {name: booster.predict(self._parity_X) for name, booster in self.boosters_.items()}
        ref.update(derived_outputs(ref, self.meta_))
        rel = [np.abs(got[name] - r) / np.maximum(np.abs(r), 1e-6) for name, r in ref.items()]
        r = np.concatenate(rel)
        return {"rows": len(self._parity_X), "p999_rel": float(np.quantile(r, 0.999)), "max_rel": float(r.max())}

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int | None = None) -> GBCostModel:
        """Load a saved directory: predicts through ONNX; LightGBM text boosters (if saved) enable `update`."""
        model_dir = Path(model_dir)
        onnx = OnnxCostModel.load(model_dir, threads=threads)
        hp = dict(onnx.meta.get("hyperparameters", {}))
        if hp.get("quantiles") is not None:
            hp["quantiles"] = tuple(hp["quantiles"])
        model = cls(**hp)
        model.meta_ = onnx.meta
        model.schema_ = onnx.schema
        model._onnx = onnx
        model.classifiers_ = tuple(onnx.meta.get("classifiers", ()))
        lgb_dir = model_dir / "lightgbm"
        if lgb_dir.is_dir():
            import lightgbm as lgb  # noqa: PLC0415

            model.boosters_ = {
                name: lgb.Booster(model_file=str(lgb_dir / f"{name}.txt"))
                for name in onnx.meta["outputs"]
                if (lgb_dir / f"{name}.txt").is_file()
            }
            if set(model.boosters_) != set(onnx.meta["outputs"]):
                model.boosters_ = {}
        return model


def _merge_pairs(old: dict[str, list[dict]] | None, new: dict[str, list[dict]]) -> dict[str, list[dict]] | None:
    """Coverage after continuing a loaded model on new rows: the pairs of both, row counts added
    (None when the loaded model has no record, i.e. is covered everywhere)."""
    if old is None:
        return None
    merged: dict[str, dict[tuple[str, str], int]] = {}
    for pairs in (old, new):
        for target, items in pairs.items():
            acc = merged.setdefault(target, {})
            for p in items:
                key = (p["kernel"], p["system"])
                acc[key] = acc.get(key, 0) + int(p.get("n_rows", 0))
    return {t: [{"kernel": k, "system": s, "n_rows": n} for (k, s), n in sorted(acc.items())] for t, acc in merged.items()}


def _perfcast_version() -> str:
    import perfcast  # noqa: PLC0415

    return perfcast.__version__
