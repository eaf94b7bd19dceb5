"""`OnnxCostModel`: predict from a saved model directory with onnxruntime only.

The prediction path imports numpy, pandas, onnxruntime and `perfcast.features` — never LightGBM,
MLflow or pickle-based loaders (tests/test_onnx_model.py checks `sys.modules` in a fresh process).

A model directory holds:
- `model.onnx`: one graph, input `X` (float32 [N, n_features]), one float32 [N] output per
  target x quantile (+ `feasible_prob`, `rank_score`), in the model's transformed space;
- `feature_schema.json`: the `perfcast.features.FeatureSchema` that builds `X`;
- `model.json`: format version, targets, how each output maps back to units, CQR corrections, data
  snapshot, metrics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
SCHEMA_FILE = "feature_schema.json"
META_FILE = "model.json"
#: `model.json` key: per target, the (kernel, system) pairs the model has measurements of
#: (`[{"kernel", "system", "n_rows"}, ...]`). A model saved without it is covered everywhere.
MEASURED_PAIRS = "measured_pairs"
#: `model.json` key: graph outputs computed from booster outputs, `{name: {"sum": [outputs], "constant": c}}`
#: in the transformed space (e.g. energy as power × runtime); the graph computes them with Sum nodes.
DERIVED_OUTPUTS = "derived_outputs"

#: transform name -> meaning; the inverse is applied in `to_units`.
TRANSFORMS = {
    "log_ratio_roofline": "log(value / roofline_ms) where roofline_ms is finite and > 0, else log(value)",
    "log": "log(value)",
}


def json_default(o: Any) -> Any:
    """`json.dumps(default=...)` for model.json: numpy scalars/arrays and paths as plain JSON."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def log_offset(roofline_ms: np.ndarray | pd.Series | np.float64 | None, n: int) -> np.ndarray:
    """log(roofline_ms) where usable, else 0: the offset between log(value) and the learned log-ratio.

    One row's np.float64 gives an np.float64 (numpy's own log, so the same value as in an array)."""
    if roofline_ms is None:
        return np.zeros(n)
    if type(roofline_ms) is np.float64:  # one row: scalar numpy maths is ~10x cheaper than 1-element arrays
        return np.log(roofline_ms) if 0 < roofline_ms < np.inf else np.float64(0.0)
    r = np.asarray(roofline_ms, dtype=np.float64)
    out = np.zeros(r.shape)
    ok = np.isfinite(r) & (r > 0)
    out[ok] = np.log(r[ok])
    return out


def to_transformed(values: np.ndarray, transform: str, offset: np.ndarray) -> np.ndarray:
    """Physical values -> the space a booster learns (NaN where the value is not finite and > 0)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v) & (v > 0)
    out[ok] = np.log(v[ok])
    if transform == "log_ratio_roofline":
        out = out - offset
    elif transform != "log":
        raise ValueError(f"unknown transform {transform!r}; known: {sorted(TRANSFORMS)}")
    return out


def to_units(raw: np.ndarray, transform: str, offset: np.ndarray) -> np.ndarray:
    """Inverse of `to_transformed` (one row's np.float64 scalars give an np.float64)."""
    if type(raw) is not np.float64:
        raw = np.asarray(raw, dtype=np.float64)
    if transform == "log_ratio_roofline":
        return np.exp(raw + offset)
    if transform == "log":
        return np.exp(raw)
    raise ValueError(f"unknown transform {transform!r}; known: {sorted(TRANSFORMS)}")


def derived_outputs(raw: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The outputs `meta["derived_outputs"]` defines, from booster outputs: what the graph's Sum nodes
    compute, for predictions made by LightGBM itself."""
    return {name: np.sum([np.asarray(raw[s], dtype=np.float64) for s in spec["sum"]], axis=0) + spec["constant"]
            for name, spec in (meta.get(DERIVED_OUTPUTS) or {}).items()}


def outputs_to_frame(
    raw: Mapping[str, np.ndarray], meta: Mapping[str, Any], roofline_ms: np.ndarray | None, index: pd.Index
) -> pd.DataFrame:
    """Raw graph outputs -> `pred.*` columns in units, CQR-corrected intervals, ordered lo <= point <= hi.

    Shared by `OnnxCostModel` and `GBCostModel` (native LightGBM) so both map outputs the same way.
    """
    from .calibration import interval_function  # noqa: PLC0415 (pure numpy module)

    n = len(index)
    offset = log_offset(roofline_ms, n)
    cols: dict[str, np.ndarray] = {}
    for target, spec in meta["targets"].items():
        transform = spec["transform"]
        point = np.asarray(raw[spec["point"]], dtype=np.float64)
        cols[f"pred.{target}"] = to_units(point, transform, offset)
        if spec.get("lower") and spec.get("upper"):
            lo, hi = interval_function(spec)(
                raw[spec["lower"]], raw[spec["upper"]], float(spec.get("correction", 0.0)), point
            )
            cols[f"pred.{spec['lower']}"] = to_units(lo, transform, offset)
            cols[f"pred.{spec['upper']}"] = to_units(hi, transform, offset)
    for extra in ("feasible_prob", "rank_score"):
        if extra in raw:
            cols[f"pred.{extra}"] = np.asarray(raw[extra], dtype=np.float64)
    return pd.DataFrame(cols, index=index)


def _factorized_pairs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(kernel codes, system codes, distinct kernels, distinct canonical systems) of a frame.

    Factorizing each column once and resolving system aliases per distinct name keeps this O(rows)
    hashing with no per-row string work; unknown system names are kept as written, so a query by
    alias (`A100`) matches the training name."""
    from perfcast.systems import UnknownSystemError, resolve_name  # noqa: PLC0415

    def codes(name: str) -> tuple[np.ndarray, list[str]]:
        if name not in frame.columns:
            return np.zeros(len(frame), dtype=np.intp), [""]
        c, uniques = pd.factorize(frame[name], use_na_sentinel=False)
        return c, ["" if pd.isna(u) else str(u) for u in uniques]

    def canonical(name: str) -> str:
        try:
            return resolve_name(name)
        except (UnknownSystemError, ValueError, TypeError):
            return name

    k_codes, kernels = codes("kernel")
    s_codes, systems = codes("system")
    return k_codes, s_codes, kernels, [canonical(s) for s in systems]


def measured_pairs(frame: pd.DataFrame, targets: Any, ok: np.ndarray, min_rows: int) -> dict[str, list[dict]]:
    """Per target, the (kernel, system) pairs with at least `min_rows` rows that are ok and have the
    target measured (finite, > 0): where the model has data for that target."""
    k_codes, s_codes, kernels, systems = _factorized_pairs(frame)
    pair = k_codes * len(systems) + s_codes  # one int per (kernel, system)
    out: dict[str, list[dict]] = {}
    for target in targets:
        y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=np.float64)
        counts = np.bincount(pair[ok & np.isfinite(y) & (y > 0)], minlength=len(kernels) * len(systems))
        merged: dict[tuple[str, str], int] = {}  # two aliases of one system are one pair
        for code in np.flatnonzero(counts):
            key = (kernels[code // len(systems)], systems[code % len(systems)])
            merged[key] = merged.get(key, 0) + int(counts[code])
        out[target] = [{"kernel": k, "system": s, "n_rows": n} for (k, s), n in sorted(merged.items()) if n >= min_rows]
    return out


def mask_uncovered(pred: pd.DataFrame, frame: pd.DataFrame, meta: Mapping[str, Any]) -> pd.DataFrame:
    """Set `pred.<target>*` to NaN on rows whose (kernel, system) the model has no `<target>`
    measurements of (per `meta["measured_pairs"]`; a model without that record is covered everywhere)."""
    measured = meta.get(MEASURED_PAIRS)
    if not measured or len(pred) == 0:
        return pred
    factorized = None
    for target, pairs in measured.items():
        cols = [c for c in pred.columns if c == f"pred.{target}" or c.startswith(f"pred.{target}.")]
        if not cols:
            continue
        if factorized is None:
            factorized = _factorized_pairs(frame)
        k_codes, s_codes, kernels, systems = factorized
        have = {(p["kernel"], p["system"]) for p in pairs}
        # a (distinct kernel x distinct system) table, then one gather per row: no per-row Python
        table = np.array([[(k, s) in have for s in systems] for k in kernels], dtype=bool)
        covered = table[k_codes, s_codes]
        if not covered.all():
            pred.loc[~covered, cols] = np.nan
    return pred


def read_meta(model_dir: Path) -> dict[str, Any]:
    """`model_dir/model.json`, refusing a format version this perfcast does not read."""
    meta = json.loads((model_dir / META_FILE).read_text())
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{model_dir / META_FILE}: format_version {version!r}, this perfcast reads {FORMAT_VERSION}")
    return meta


def default_threads() -> int:
    """onnxruntime intra-op threads: `PERFCAST_ORT_THREADS`, default 1 (one worker process per core)."""
    try:
        return max(1, int(os.environ.get("PERFCAST_ORT_THREADS", "1")))
    except ValueError:
        return 1


class OnnxCostModel:
    """A saved cost model served by onnxruntime: `predict_frame(records) -> pred.* columns`."""

    def __init__(self, session: Any, schema: Any, meta: dict[str, Any], model_dir: Path | None = None):
        self.session = session
        self.schema = schema
        self.meta = meta
        self.model_dir = model_dir
        self.output_names = [o.name for o in session.get_outputs()]
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int | None = None) -> OnnxCostModel:
        """Load `model.onnx` + `feature_schema.json` + `model.json` from a directory."""
        import onnxruntime as ort  # noqa: PLC0415
        from perfcast.features import FeatureSchema  # noqa: PLC0415

        model_dir = Path(model_dir)
        missing = [f for f in (MODEL_FILE, SCHEMA_FILE, META_FILE) if not (model_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{model_dir} is not a perfcast model directory: missing {', '.join(missing)}")
        meta = read_meta(model_dir)
        schema = FeatureSchema.from_json((model_dir / SCHEMA_FILE).read_text())
        opts = ort.SessionOptions()
        n = threads or default_threads()
        opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(model_dir / MODEL_FILE), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        return cls(session, schema, meta, model_dir)

    @property
    def targets(self) -> list[str]:
        """Targets this model predicts (`runtime_ms`, `power_w`, `energy_j`)."""
        return list(self.meta["targets"])

    def featurize(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Canonical flat records -> the feature matrix this model was trained on (schema-checked)."""
        from perfcast.features import featurize  # noqa: PLC0415

        X, _ = featurize(frame, self.schema)
        return X

    def raw_outputs(self, X: np.ndarray | pd.DataFrame) -> dict[str, np.ndarray]:
        """Run the graph on a feature matrix; outputs in the transformed space."""
        arr = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        values = self.session.run(self.output_names, {self.input_name: arr})
        return dict(zip(self.output_names, values, strict=True))

    def predict_features(self, X: pd.DataFrame) -> pd.DataFrame:
        """Feature frame (from `featurize`) -> `pred.*` columns, same index (raw graph answers: features
        carry no (kernel, system), so targets are not masked by coverage here; `predict_frame` does)."""
        roofline = X["roofline_ms"].to_numpy(dtype=np.float64) if "roofline_ms" in X.columns else None
        return outputs_to_frame(self.raw_outputs(X), self.meta, roofline, X.index)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Canonical flat records -> DataFrame of `pred.*` columns with the input's index and order.

        `pred.<target>*` is NaN where the model has no `<target>` measurements of the row's
        (kernel, system) (`meta["measured_pairs"]`): no made-up power for a GPU never power-measured."""
        if len(frame) == 0:
            cols = [f"pred.{c}" for c in self.output_columns()]
            return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in cols}, index=frame.index)
        X = self.featurize(frame)
        out = self.predict_features(X)
        out.index = frame.index
        # a target the model has no measurements of for a row's (kernel, system) is not answered
        return mask_uncovered(out, frame, self.meta)

    def output_columns(self) -> list[str]:
        """Names (without `pred.`) of the columns `predict_frame` returns, in order."""
        cols: list[str] = []
        for target, spec in self.meta["targets"].items():
            cols.append(target)
            if spec.get("lower") and spec.get("upper"):
                cols += [spec["lower"], spec["upper"]]
        cols += [e for e in ("feasible_prob", "rank_score") if e in self.output_names]
        return cols
