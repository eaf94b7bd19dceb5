"""`RoutedCostModel`: one model directory that routes each kernel family to its own sub-model.

Per-family models are 20-50% more accurate than one model across families (README `models`), so
the served default is a *routed* directory:

```
<model dir>/
  routes.json    {"format_version": 1, "routes": {"triton.matmul": "triton-matmul", ...}}
                 (kernel -> sub-directory; several kernels may share one sub-directory)
  model.json     top-level meta: "routed": true, targets (union), measured_pairs (union), kernels,
                 metrics, eval_split, data snapshot, per sub-model summary
  <subdir>/      a normal single-model directory (model.onnx, feature_schema.json, model.json)
```

A single-model directory (no `routes.json`) stays valid everywhere: `load_cost_model` is the one
loader every caller uses and returns an `OnnxCostModel` or a `RoutedCostModel`. Like `OnnxCostModel`,
this module imports numpy, pandas and onnxruntime only (no LightGBM, no MLflow).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .onnx_model import (
    FORMAT_VERSION,
    MEASURED_PAIRS,
    META_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    OnnxCostModel,
    json_default,
    read_meta,
)

M = TypeVar("M")
ROUTES_FILE = "routes.json"
#: single-model files every sub-directory holds
SINGLE_FILES = (MODEL_FILE, SCHEMA_FILE, META_FILE)
_SUBDIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: target spec keys that are the same in every sub-model (the correction and point are per sub-model:
#: `energy_point` answers energy with the booster in one family and power × runtime in another)
_SHARED_SPEC_KEYS = ("transform", "lower", "upper", "quantiles", "coverage")


def is_routed(model_dir: str | Path) -> bool:
    """True when `model_dir` is a routed model directory (it has `routes.json`)."""
    return (Path(model_dir) / ROUTES_FILE).is_file()


def read_routes(model_dir: str | Path) -> dict[str, str]:
    """`routes.json` -> {kernel: sub-directory name}, validated (raises ValueError naming the file/field)."""
    path = Path(model_dir) / ROUTES_FILE
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        version = doc.get("format_version") if isinstance(doc, dict) else None
        raise ValueError(f"{path}: format_version {version!r}, this perfcast reads {FORMAT_VERSION}")
    routes = doc.get("routes")
    if not isinstance(routes, dict) or not routes:
        raise ValueError(f"{path}: field 'routes' must be a non-empty object {{kernel: sub-directory}}")
    for kernel, sub in routes.items():
        if not isinstance(sub, str) or not _SUBDIR.match(sub):
            # a plain folder name: no '..', no absolute path escaping the model directory
            raise ValueError(f"{path}: routes[{kernel!r}] = {sub!r} is not a sub-directory name")
    return {str(k): str(v) for k, v in routes.items()}


def info_file(model_dir: str | Path) -> Path:
    """The JSON that describes a model directory (what it was fitted on, its version and metrics):
    `model.json`, or an adaptation's `transfer.json` (whose `base/` has a `model.json` of its own)."""
    from .transfer import TRANSFER_FILE, is_transfer_dir  # noqa: PLC0415

    return Path(model_dir) / (TRANSFER_FILE if is_transfer_dir(model_dir) else META_FILE)


def missing_files(model_dir: str | Path) -> list[str]:
    """Files a model directory (single, routed, or a saved `TransferCostModel` with its base) lacks, as
    paths relative to it; [] when complete."""
    from .transfer import BASE_DIR, TRANSFER_FILES, is_transfer_dir  # noqa: PLC0415 (transfer loads bases through here)

    model_dir = Path(model_dir)
    if is_transfer_dir(model_dir):
        missing = [f for f in TRANSFER_FILES if not (model_dir / f).is_file()]
        return missing + [f"{BASE_DIR}/{f}" for f in missing_files(model_dir / BASE_DIR)]
    if not is_routed(model_dir):
        return [f for f in SINGLE_FILES if not (model_dir / f).is_file()]
    missing = [] if (model_dir / META_FILE).is_file() else [META_FILE]
    try:
        subdirs = sorted(set(read_routes(model_dir).values()))
    except ValueError:
        return missing  # the loader reports the malformed routes.json itself
    for sub in subdirs:
        missing += [f"{sub}/{f}" for f in SINGLE_FILES if not (model_dir / sub / f).is_file()]
    return missing


class RoutedCostModel:
    """Routes each record by `kernel` to its family's `OnnxCostModel`: `predict_frame(records)`."""

    def __init__(self, routes: Mapping[str, OnnxCostModel], meta: dict[str, Any], model_dir: Path | None = None):
        if not routes:
            raise ValueError("a routed model needs at least one route")
        self.routes: dict[str, OnnxCostModel] = dict(routes)
        self.meta = meta
        self.model_dir = model_dir
        # distinct sub-models in first-route order (kernels sharing a sub-directory share one object)
        self.submodels: list[OnnxCostModel] = list({id(m): m for m in self.routes.values()}.values())

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int | None = None) -> RoutedCostModel:
        """Load `routes.json` + `model.json` and every routed sub-directory (each sub-directory once)."""
        model_dir = Path(model_dir)
        if not is_routed(model_dir):
            raise FileNotFoundError(f"{model_dir} is not a routed model directory: missing {ROUTES_FILE}")
        routes = read_routes(model_dir)
        missing = missing_files(model_dir)
        if missing:
            raise FileNotFoundError(f"{model_dir} is not a complete routed model directory: missing {', '.join(missing)}")
        meta = read_meta(model_dir)
        loaded: dict[str, OnnxCostModel] = {}
        for sub in dict.fromkeys(routes.values()):
            loaded[sub] = OnnxCostModel.load(model_dir / sub, threads=threads)
        return cls({kernel: loaded[sub] for kernel, sub in routes.items()}, meta, model_dir)

    @property
    def targets(self) -> list[str]:
        """Targets some sub-model predicts (union, in `model.json` order)."""
        return list(self.meta["targets"])

    @property
    def kernels(self) -> list[str]:
        """Kernel families this model routes."""
        return sorted(self.routes)

    def output_columns(self) -> list[str]:
        """Names (without `pred.`) of the columns `predict_frame` returns: the union over sub-models."""
        return output_columns_of([m.meta for m in self.submodels], self.meta["targets"])

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Canonical flat records -> `pred.*` columns (union over sub-models) with the input's index and order.

        Rows are split by `kernel`, each part goes through its sub-model's `predict_frame` (which
        masks targets it has no measurements of), and the parts are put back in input order; a
        column a sub-model lacks (e.g. `pred.power_w` of a family never power-measured) is NaN there.
        """
        cols = [f"pred.{c}" for c in self.output_columns()]
        return predict_routed(frame, self.routes, lambda model, part: model.predict_frame(part), cols)


def output_columns_of(metas: Sequence[Mapping[str, Any]], targets: Iterable[str] | None = None) -> list[str]:
    """`pred.*` column names (without `pred.`) of a routed model over sub-models with these `model.json`s:
    per target (in `targets` order, default first seen) its point, lower, upper; then the extras."""
    order = list(targets) if targets is not None else list(dict.fromkeys(t for m in metas for t in m["targets"]))
    cols: list[str] = []
    for target in order:
        for meta in metas:
            spec = meta["targets"].get(target)
            if spec is not None:
                cols += [c for c in (target, spec.get("lower"), spec.get("upper")) if c and c not in cols]
    cols += [e for e in ("feasible_prob", "rank_score") if any(e in m.get("outputs", ()) for m in metas)]
    return cols


def predict_routed(
    frame: pd.DataFrame,
    routes: Mapping[str, M],
    predict_part: Callable[[M, pd.DataFrame], pd.DataFrame],
    columns: Sequence[str],
) -> pd.DataFrame:
    """Split `frame`'s rows by `kernel` over `routes` (kernel -> model; kernels may share a model),
    call `predict_part(model, rows)` once per distinct model, and put the answers back in input order
    under `columns` (NaN where a model lacks a column). Unknown or missing kernel -> ValueError naming it."""
    columns = list(columns)
    if len(frame) == 0:
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns}, index=frame.index)
    known = sorted(routes)
    if "kernel" not in frame.columns:
        raise ValueError(f"records need a 'kernel' field to be routed (this model knows {known})")
    codes, uniques = pd.factorize(frame["kernel"], use_na_sentinel=False)
    unknown = sorted({"<missing>" if pd.isna(k) else str(k) for k in uniques if pd.isna(k) or str(k) not in routes})
    if unknown:
        raise ValueError(f"unknown kernel(s) {unknown}: this model knows {known}")
    models = list({id(m): m for m in routes.values()}.values())
    position = {id(m): i for i, m in enumerate(models)}
    which = np.array([position[id(routes[str(k)])] for k in uniques], dtype=np.intp)[codes]
    values = np.full((len(frame), len(columns)), np.nan)
    col_pos = {c: j for j, c in enumerate(columns)}
    for i, model in enumerate(models):
        rows = np.flatnonzero(which == i)
        if not len(rows):
            continue
        part = predict_part(model, frame.iloc[rows])
        for c in part.columns:
            values[rows, col_pos[c]] = part[c].to_numpy(dtype=np.float64)
    return pd.DataFrame(values, index=frame.index, columns=columns)


def load_cost_model(model_dir: str | Path, *, threads: int | None = None) -> Any:
    """THE loader: a routed directory -> `RoutedCostModel`, a single-model directory -> `OnnxCostModel`,
    a saved adaptation to a new GPU -> `TransferCostModel` (all answer `predict_frame`)."""
    from .transfer import TransferCostModel, is_transfer_dir  # noqa: PLC0415 (transfer loads bases through here)

    if is_transfer_dir(model_dir):
        return TransferCostModel.load(model_dir, threads=threads)
    if is_routed(model_dir):
        return RoutedCostModel.load(model_dir, threads=threads)
    return OnnxCostModel.load(model_dir, threads=threads)


# ----------------------------------------------------------------------------------- writing


def _merge_snapshots(snapshots: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One data snapshot of the union of sub-models' training frames (counts added, hash of hashes)."""
    out: dict[str, Any] = {"n_rows": 0, "systems": {}, "kernels": {}, "status": {}, "targets": {}}
    for snap in snapshots:
        out["n_rows"] += int(snap.get("n_rows", 0))
        for key in ("systems", "kernels", "status", "targets"):
            for name, n in (snap.get(key) or {}).items():
                out[key][name] = out[key].get(name, 0) + int(n)
    for key in ("systems", "kernels", "status", "targets"):
        out[key] = dict(sorted(out[key].items()))
    hashes = sorted(str(s.get("hash")) for s in snapshots)
    out["hash"] = hashlib.sha256(",".join(hashes).encode()).hexdigest()[:16]
    return out


def write_routed_dir(
    model_dir: str | Path,
    routes: Mapping[str, str],
    *,
    metrics: Mapping[str, Any] | None = None,
    eval_split: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `routes.json` + the top-level `model.json` over sub-model directories already saved in
    `model_dir/<subdir>` (e.g. by `GBCostModel.save`). The top-level meta merges the sub-models':
    targets (shared spec keys + per sub-model CQR corrections and point outputs), measured_pairs, data snapshot."""
    model_dir = Path(model_dir)
    routes = {str(k): str(v) for k, v in routes.items()}
    if not routes:
        raise ValueError("routes is empty: a routed model needs at least one kernel -> sub-directory")
    for kernel, sub in routes.items():
        if not _SUBDIR.match(sub):
            raise ValueError(f"routes[{kernel!r}] = {sub!r} is not a sub-directory name")
    subs = list(dict.fromkeys(routes.values()))
    missing = [f"{s}/{f}" for s in subs for f in SINGLE_FILES if not (model_dir / s / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{model_dir}: sub-model files missing: {', '.join(missing)}")
    metas = {s: json.loads((model_dir / s / META_FILE).read_text()) for s in subs}

    targets: dict[str, dict[str, Any]] = {}
    for sub, meta in metas.items():
        for target, spec in meta["targets"].items():
            merged = targets.setdefault(
                target, {**{k: spec[k] for k in _SHARED_SPEC_KEYS if k in spec}, "corrections": {}, "points": {}}
            )
            merged["corrections"][sub] = spec.get("correction", 0.0)
            merged["points"][sub] = spec["point"]
    for merged in targets.values():  # `point` where every sub-model answers the target with the same output
        if len(set(merged["points"].values())) == 1:
            merged["point"] = next(iter(merged["points"].values()))
    # measured pairs (union): each sub-model records only its own kernels; one without the record
    # (saved before it existed) is covered everywhere, and then so is the routed model's summary
    pairs: dict[str, list[dict]] | None = {}
    for sub, meta in metas.items():
        own = meta.get(MEASURED_PAIRS)
        if own is None:
            pairs = None
            break
        mine = {k for k, s in routes.items() if s == sub}
        for target, items in own.items():
            pairs.setdefault(target, []).extend(p for p in items if p["kernel"] in mine)
    if pairs is not None:
        pairs = {t: sorted(v, key=lambda p: (p["kernel"], p["system"])) for t, v in pairs.items()}

    outputs: list[str] = []
    for meta in metas.values():
        outputs += [o for o in meta.get("outputs", []) if o not in outputs]
    first = next(iter(metas.values()))
    top: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "routed": True,
        "perfcast_version": first.get("perfcast_version"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "routes": dict(sorted(routes.items())),
        "kernels": sorted(routes),
        "targets": targets,
        "outputs": outputs,
        "quantiles": first.get("quantiles"),
        "coverage": first.get("coverage"),
        "data": _merge_snapshots([m.get("data", {}) for m in metas.values()]),
        "submodels": {
            s: {"kernels": sorted(k for k, v in routes.items() if v == s), "n_rows": m.get("data", {}).get("n_rows"),
                "n_features": m.get("n_features"), "metrics": m.get("metrics", {})}
            for s, m in metas.items()
        },
        "metrics": dict(metrics or {}),
        "eval_split": dict(eval_split) if eval_split is not None else None,
        **dict(extra or {}),
    }
    if pairs is not None:
        top[MEASURED_PAIRS] = pairs
    (model_dir / META_FILE).write_text(json.dumps(top, indent=2, default=json_default))
    (model_dir / ROUTES_FILE).write_text(
        json.dumps({"format_version": FORMAT_VERSION, "routes": dict(sorted(routes.items()))}, indent=2)
    )
    return model_dir


