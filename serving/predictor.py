"""`Predictor`: the in-process prediction API (the HTTP service wraps one).

`Predictor.load(uri)` takes a model directory or a registry URI (`models:/perfcast-<name>@champion`),
resolved to a local directory without importing mlflow, and predicts from the ONNX model with
onnxruntime only. `.predict(records)` and `.rank(system, problem, candidates, ...)` have exactly the
semantics of `POST /v1/predict` and `POST /v1/rank`.

Answers are plain dicts (JSON-ready): per record and target `{"value", "q10", "q90"}`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.schema import KERNEL_FAMILIES, TARGETS, flatten_record
from perfcast.measurements.validate import (
    INTEGER_RULE,
    QueryError,
    bad_count_param,
    canonical_problem,
    check_params,
)
from perfcast.models.calibration import interval_function
from perfcast.models.onnx_model import MEASURED_PAIRS, log_offset, to_units
from perfcast.models.routed import info_file

OBJECTIVES: tuple[str, ...] = ("runtime", "energy", "edp")
#: Rows kept in each query cache (feature rows: ~0.75 KB each for ~90 features; graph outputs: ~50 B).
DEFAULT_CACHE_ROWS = 100_000
#: From this many rows onnxruntime runs with `batch_threads` intra-op threads (a big rank); below, `threads`.
BATCH_ROWS = 256
#: `batch_threads` is opt-in (default: `threads`). Measured on the 2-core machine, 1,000 rows of the
#: routed triton.matmul point booster: at load ~2, 2.8 ms on 1 thread and 1.7 ms on 2 (3.0 ms with
#: onnxruntime's pool spinning off); at load 3.6-5 (the other engineers' jobs) a 1,000-candidate rank
#: of the champion took 10.0 ms on 1 thread and 18.4 ms on 2. An autotuner that owns its cores passes
#: `batch_threads=2` (or sets PERFCAST_ORT_BATCH_THREADS); `perfcast serve` pins 1 per worker.


class PredictorInputError(ValueError):
    """Input the model cannot answer for (HTTP 400); `field` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None, known: Sequence[str] | None = None):
        super().__init__(message)
        self.field = field
        self.known = list(known) if known is not None else None


def _query_rule(rule: Any, *args: Any) -> Any:
    """A measurements' query rule (`canonical_problem`: `half` is `fp16`, M > 0; `check_params`: tile
    sizes are positive integers), its `QueryError` as the 400 `PredictorInputError`: the model saw only
    values that pass them."""
    try:
        return rule(*args)
    except QueryError as exc:
        raise PredictorInputError(str(exc), field=exc.field) from exc


class UnknownNameError(PredictorInputError):
    """An unknown system or kernel; `known` lists what is known."""


class InputTooLargeError(ValueError):
    """Too many records or too much IR text (HTTP 413)."""


@dataclass(frozen=True)
class ModelMeta:
    """What `/v1/models` reports about a loaded model."""

    name: str
    version: str
    uri: str
    directory: Path
    targets: tuple[str, ...]
    kernels: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    #: the feature schema version of a single model (a routed model: None, see the per-kernel map)
    feature_schema_version: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    #: routed models: kernel -> sub-directory answering it (empty for a single model)
    routes: Mapping[str, str] = field(default_factory=dict)
    #: kernel -> feature schema version of the (sub-)model answering it
    feature_schema_versions: Mapping[str, str] = field(default_factory=dict)


def _aliases_of(uri: str) -> tuple[str, ...]:
    # models:/name@alias -> ("alias",)
    if uri.startswith("models:/") and "@" in uri:
        return (uri.rsplit("@", 1)[1],)
    return ()


def resolve_model_dir(uri: str | Path) -> Path:
    """A model directory as is, else the registry resolver (no mlflow import on this path)."""
    path = Path(uri).expanduser()
    if path.is_dir():
        return path.resolve()
    if not str(uri).startswith("models:/"):
        raise FileNotFoundError(f"model {uri!r} is neither a model directory nor a models:/ registry URI")
    from perfcast.training.registry import resolve_model_dir as resolve  # noqa: PLC0415

    return Path(resolve(str(uri)))


def _env_threads(name: str) -> int | None:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if value >= 1 else None


def _submodels(model: Any) -> list[Any]:
    """The single models behind `model` (a routed model's distinct sub-models, else itself)."""
    return list(getattr(model, "submodels", None) or [model])


class _RowCache:
    """Rows (feature rows or raw graph outputs) by query: `blocks[context][params] -> row`, at most
    about `max_rows` rows in all (the oldest contexts are dropped first).

    A context is (kernel, system, problem, IR digest, param names) and `params` the param values: a
    rank's 1,000 candidates share one context, so it is hashed once per call rather than per row, and
    a never-seen problem costs no per-candidate lookups at all."""

    def __init__(self, max_rows: int):
        self.max_rows = max_rows
        self.blocks: dict[tuple, dict[Any, np.ndarray]] = {}
        self.rows = 0

    def get(self, context: tuple, params: Any) -> np.ndarray | None:
        block = self.blocks.get(context)
        return None if block is None else block.get(params)

    def put(self, context: tuple, params: Sequence[Any], rows: Any) -> None:
        if self.rows + len(params) > self.max_rows:
            # drop the oldest contexts (dicts keep insertion order) down to half: cheap, bounded
            for old in list(self.blocks):
                if self.rows + len(params) <= self.max_rows // 2 or old == context:
                    break
                self.rows -= len(self.blocks.pop(old, None) or ())
        block = self.blocks.get(context)
        if block is None:
            block = self.blocks[context] = {}
        before = len(block)
        block.update(zip(params, rows, strict=True))
        self.rows += len(block) - before

    def clear(self) -> None:
        self.blocks.clear()
        self.rows = 0


class _Engine:
    """Everything that answers for one single model (a routed model has one per sub-model): its
    compiled feature plan, onnxruntime sessions and output subgraphs, the roofline column, and the
    bounded caches of feature rows and raw graph outputs per query key."""

    def __init__(self, model: Any, directory: Path, cache_rows: int, batch_threads: int | None = None):
        self._init_common(model, directory, model.meta["targets"], cache_rows)
        self.threads = int(model.session.get_session_options().intra_op_num_threads or 1)
        self.batch_threads = int(batch_threads or self.threads)
        names = list(getattr(model.schema, "names", ()))
        self.roofline_col = names.index("roofline_ms") if "roofline_ms" in names else None
        self.sessions: dict[tuple[str, ...], Any] = {}
        self._runs: dict[tuple[Any, bool], tuple[Any, list[str]]] = {}  # (outputs, big) -> session, names
        #: per target: its output names, transform, interval function and correction, `pred.*` names (read once)
        self._mapping = [
            (spec["point"], spec.get("lower"), spec.get("upper"), spec["transform"], interval_function(spec),
             float(spec.get("correction", 0.0)), (f"pred.{t}", f"pred.{spec.get('lower')}", f"pred.{spec.get('upper')}"))
            for t, spec in self.specs.items()
        ]  # fmt: skip
        #: per target, the (kernel, system) pairs it was measured on; a target absent here (or a model
        #: saved before this record existed) is answered everywhere
        measured = (getattr(model, "meta", None) or {}).get(MEASURED_PAIRS) or {}
        self.measured: dict[str, frozenset[tuple[str, str]]] = {
            t: frozenset((p["kernel"], p["system"]) for p in pairs) for t, pairs in measured.items()
        }

    def _init_common(self, model: Any, directory: Path, specs: dict[str, dict[str, Any]], cache_rows: int) -> None:
        """What every engine has: the model, its target specs, the field checks and the query caches."""
        self.model = model
        self.directory = directory
        self.schema = model.schema
        self.specs = specs
        self.targets = tuple(t for t in TARGETS if t in specs)
        self.cache_rows = cache_rows
        #: feature rows by query (context, params); bounded to about `cache_rows`
        self.features = _RowCache(cache_rows)
        #: answers by the same keys (raw graph outputs + roofline_ms): a repeated query skips onnxruntime too
        self.raw = _RowCache(cache_rows)
        self.needed: dict[tuple[str, str], tuple[str, ...]] = {}
        self._outputs_of: dict[tuple[str, ...], tuple[str, ...]] = {}  # targets -> their graph outputs
        self.plan: Any = None  # compiled feature plan (featurize's values without DataFrames)

    # ---- checks ---------------------------------------------------------------------------------
    def inputs(self, kernel: str) -> tuple[str, ...]:
        return tuple(getattr(self.schema, "inputs", {}).get(kernel, ()))

    def check_fields(self, kernel: str, section: str, values: Mapping[str, Any] | None, where: str) -> None:
        needed = self.needed.get((kernel, section))
        if needed is None:
            prefix = f"{section}."
            needed = self.needed[(kernel, section)] = tuple(c[len(prefix):] for c in self.inputs(kernel) if c.startswith(prefix))
        if not needed:
            return
        present = values or {}
        missing = [f"{section}.{name}" for name in needed if name not in present]
        if missing:
            raise PredictorInputError(
                f"kernel {kernel!r} needs {missing} (the model's features read them; send null where one does not apply)",
                field=f"{where}{section}",
            )

    def covers(self, target: str, kernel: str, system: str) -> bool:
        if target not in self.specs:
            return False
        pairs = self.measured.get(target)
        return pairs is None or (kernel, system) in pairs

    def answered(self, targets: Sequence[str], pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray | None]:
        """Per target, a bool per record (covered), or None where every record is covered."""
        distinct = set(pairs)
        out: dict[str, np.ndarray | None] = {}
        for t in targets:
            missing = {p for p in distinct if not self.covers(t, *p)}
            out[t] = None if not missing else np.fromiter((p not in missing for p in pairs), bool, len(pairs))
        return out

    def target_outputs(self, targets: Sequence[str] | None) -> tuple[str, ...] | None:
        """Graph outputs (point, q10, q90) of those of `targets` this model has; None for all."""
        if targets is None:
            return None
        key = tuple(targets)
        hit = self._outputs_of.get(key)
        if hit is None:
            specs = self.specs
            hit = self._outputs_of[key] = tuple(
                specs[t][k] for t in targets if t in specs for k in ("point", "lower", "upper") if specs[t].get(k)
            )
        return hit

    def score_outputs(self, objective: str, kernel: str, system: str) -> tuple[str, ...]:
        """The point outputs an objective needs (a subgraph of the model runs ~3x faster than all):
        energy from energy_j where the model has it for (kernel, system), else power_w × runtime_ms."""
        wanted = ["runtime_ms"]
        if objective != "runtime":
            wanted.append("energy_j" if self.covers("energy_j", kernel, system) else "power_w")
        return tuple(self.specs[t]["point"] for t in wanted if t in self.specs)

    # ---- prediction -----------------------------------------------------------------------------
    def predict(
        self, records: Sequence[Mapping[str, Any]], keys: Sequence[tuple], targets: Sequence[str] | None
    ) -> list[dict[str, dict[str, float]]]:
        """`Predictor.predict` for records this model answers (keys already checked)."""
        outputs = self.target_outputs(targets)
        if outputs == ():
            return [{} for _ in records]  # none of the asked targets is one this model predicts

        def build(rows: list[int]) -> dict[str, list]:
            if len(rows) == 1:  # one record: its dotted fields as one-row columns
                i = rows[0]
                row = flatten_record(records[i])
                row["kernel"], row["system"] = keys[i][0][0], keys[i][0][1]
                return {name: [value] for name, value in row.items()}
            flat = []
            for i in rows:
                row = flatten_record(records[i])
                row["kernel"], row["system"] = keys[i][0][0], keys[i][0][1]
                flat.append(row)
            names: dict[str, None] = {}
            for row in flat:
                names.update(dict.fromkeys(row))
            return {name: [row.get(name) for row in flat] for name in names}

        values = self.cached_outputs(keys) if outputs is None else None
        if values is None:
            values = self.outputs(self.feature_rows(keys, build), outputs, keys=keys)
        present = _present(values)
        # a target the model has no measurements of for a record's (kernel, system) is left out
        if len(keys) == 1:
            kernel, system = keys[0][0][0], keys[0][0][1]
            return [{t: _estimate(values, t, 0) for t in present if self.covers(t, kernel, system)}]
        answered = self.answered(present, [(k[0][0], k[0][1]) for k in keys])
        return [{t: _estimate(values, t, i) for t in present if answered[t] is None or answered[t][i]}
                for i in range(len(records))]  # fmt: skip

    def feature_rows(self, keys: Sequence[tuple[tuple, Any]], build: Any) -> np.ndarray:
        """Feature matrix for `keys` ((context, params) per record), featurizing (in one batch) only
        rows never seen before."""
        cache = self.features
        missing: dict[tuple, int] = {}
        for i, key in enumerate(keys):
            if key not in missing and cache.get(*key) is None:
                missing[key] = i
        if missing:
            X = self.featurize(build(list(missing.values())), len(missing))
            for key, row in zip(missing, X, strict=True):
                cache.put(key[0], (key[1],), (row,))
            if len(missing) == len(keys):
                return X
        rows = [cache.get(*key) for key in keys]
        if any(r is None for r in rows):  # evicted by a concurrent call: featurize without the cache
            return self.featurize(build(list(range(len(keys)))), len(keys))
        return np.stack(rows) if len(rows) > 1 else rows[0][None, :]

    def context_rows(self, context: tuple, params: Sequence[Any], build: Any) -> np.ndarray:
        """`feature_rows` for rows sharing one context (a rank's candidates): one context lookup,
        and none per row for a never-seen problem."""
        cache = self.features
        block = cache.blocks.get(context)
        if block is None:
            X = self.featurize(build(list(range(len(params)))), len(params))
            cache.put(context, params, X)
            return X
        rows = [block.get(p) for p in params]
        missing: dict[Any, int] = {}
        for i, row in enumerate(rows):
            if row is None and params[i] not in missing:
                missing[params[i]] = i
        if missing:
            X = self.featurize(build(list(missing.values())), len(missing))
            cache.put(context, list(missing), X)
            if len(missing) == len(params):
                return X
            new = dict(zip(missing, X, strict=True))
            rows = [row if row is not None else new[p] for row, p in zip(rows, params, strict=True)]
        return np.stack(rows)

    def featurize(self, columns: Mapping[str, Any], n: int) -> np.ndarray:
        """Feature rows of dotted `columns` through the compiled plan (`featurize`'s exact values)."""
        from perfcast.features.schema import FeatureSchemaError  # noqa: PLC0415

        plan = self.plan
        if plan is None:
            from perfcast.features import compile_plan  # noqa: PLC0415

            plan = self.plan = compile_plan(self.schema)
        try:
            return plan.transform(columns, n=n, dtype=np.float64)
        except FeatureSchemaError:
            raise
        except (ValueError, TypeError) as exc:
            # the input passed the structural checks but a feature extractor refuses it (e.g. an `ir`
            # kind it does not know): the caller's input, so a 400 that says why, not a server error
            raise PredictorInputError(f"cannot build the model's features from this input: {exc}") from exc

    def session(self, outputs: tuple[str, ...] | None, rows: int = 1) -> Any:
        """onnxruntime session computing only `outputs` (None: the whole model), with `batch_threads`
        intra-op threads from `BATCH_ROWS` rows on; built once each."""
        big = rows >= BATCH_ROWS and self.batch_threads != self.threads
        whole = outputs is None or set(outputs) >= set(self.model.output_names)
        if whole and not big:
            return self.model.session
        key = (None if whole else outputs, big)
        session = self.sessions.get(key)
        if session is None:
            import onnx  # noqa: PLC0415 (only when a subgraph is first needed)
            import onnxruntime as ort  # noqa: PLC0415
            from onnx.utils import Extractor  # noqa: PLC0415

            proto = onnx.load(str(self.directory / "model.onnx"))
            if not whole:
                proto = Extractor(proto).extract_model([self.model.input_name], list(outputs))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.batch_threads if big else self.threads
            opts.inter_op_num_threads = 1
            session = ort.InferenceSession(proto.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
            self.sessions[key] = session
        return session

    def outputs(
        self, X: np.ndarray, outputs: tuple[str, ...] | None = None, *, keys: Sequence[tuple[tuple, Any]] | None = None
    ) -> dict[str, np.ndarray]:
        """Feature matrix -> `pred.*` arrays in units; the same mapping as `OnnxCostModel.predict_features`,
        without building a DataFrame (tests check both agree). `outputs` limits the graph outputs run;
        with `keys` ((context, params) per row) the raw outputs of the whole graph are cached for them."""
        big = len(X) >= BATCH_ROWS
        hit = self._runs.get((outputs, big))
        if hit is None:  # the session and its output names, once per (outputs, batch size class)
            session = self.session(outputs, len(X))
            names = [o.name for o in session.get_outputs()] if outputs is not None else self.model.output_names
            hit = self._runs[(outputs, big)] = (session, names)
        session, names = hit
        arrays = [np.asarray(a, dtype=np.float64) for a in
                  session.run(names, {self.model.input_name: np.ascontiguousarray(X, dtype=np.float32)})]  # fmt: skip
        # float64 from here on, exactly as the cached path below sees them
        raw = dict(zip(names, arrays, strict=True))
        roofline = X[:, self.roofline_col] if self.roofline_col is not None else np.full(len(X), np.nan)
        if keys is not None and outputs is None:
            self.remember(keys, np.column_stack([*arrays, roofline]))
        return self.map(raw, roofline)

    def remember(self, keys: Sequence[tuple[tuple, Any]], rows: np.ndarray) -> None:
        context = keys[0][0] if keys else None
        if all(k[0] == context for k in keys):
            self.raw.put(context, [k[1] for k in keys], rows)
            return
        for key, row in zip(keys, rows, strict=True):
            self.raw.put(key[0], (key[1],), (row,))

    def cached_outputs(self, keys: Sequence[tuple[tuple, Any]] | None, *, context: tuple | None = None,
                       params: Sequence[Any] = ()) -> dict[str, np.ndarray] | None:  # fmt: skip
        """`pred.*` arrays from cached raw graph outputs when every query has them, else None; the
        queries are `keys` or, sharing one `context`, its `params`."""
        if keys is None:
            block = self.raw.blocks.get(context)  # type: ignore[arg-type]
            if block is None:
                return None
            rows = [block.get(p) for p in params]
        else:
            rows = [self.raw.get(*key) for key in keys]
        if not rows or any(r is None for r in rows):
            return None
        return self.from_cached(np.stack(rows) if len(rows) > 1 else rows[0][None, :])

    def from_cached(self, M: np.ndarray) -> dict[str, np.ndarray]:
        """Cached rows (raw graph outputs, roofline_ms last) -> `pred.*` arrays."""
        raw = {name: M[:, j] for j, name in enumerate(self.model.output_names)}
        return self.map(raw, M[:, -1])

    def map(self, raw: Mapping[str, np.ndarray], roofline: np.ndarray) -> dict[str, np.ndarray]:
        """Raw graph outputs (transformed space) -> `pred.*` arrays in units, CQR-corrected intervals."""
        one = len(roofline) == 1  # one row: the same functions on np.float64 scalars (~10x cheaper)
        r = np.float64(roofline[0]) if one else roofline
        offset = log_offset(r if self.roofline_col is not None else None, len(roofline))
        out: dict[str, np.ndarray] = {}
        for point_name, lower, upper, transform, interval, correction, names in self._mapping:
            if point_name not in raw:
                continue
            point = np.float64(raw[point_name][0]) if one else np.asarray(raw[point_name], dtype=np.float64)
            values = [to_units(point, transform, offset)]
            if lower in raw and upper in raw:
                lo, hi = (np.float64(raw[lower][0]), np.float64(raw[upper][0])) if one else (raw[lower], raw[upper])
                lo, hi = interval(lo, hi, correction, point)
                values += [to_units(lo, transform, offset), to_units(hi, transform, offset)]
            for name, value in zip(names, values, strict=False):
                out[name] = np.array([value]) if one else value
        return out


class _TransferEngine(_Engine):
    """The engine of an adaptation to a new GPU (`TransferCostModel`, runtime only, one system).

    Its cached "feature rows" are the model's `prediction_inputs` (features, the base's answer as if on
    each source GPU, log roofline), built with compiled feature plans: its own schema's, and the base's
    engines (a `Predictor` of the base, routed or single) for each source GPU. Its cached outputs are
    the `pred.*` values. Checks, caches and rank are `_Engine`'s."""

    def __init__(self, model: Any, directory: Path, cache_rows: int, batch_threads: int | None = None):
        from perfcast.models.transfer import BASE_DIR  # noqa: PLC0415

        point, lower, upper = (f"runtime_ms{s}" for s in ("", ".q10", ".q90"))
        interval = {"lower": lower, "upper": upper} if model.interval_ is not None else {}
        self._init_common(model, directory, {"runtime_ms": {"point": point, "transform": "log", **interval}}, cache_rows)
        #: the `pred.*` columns, in the order the output cache keeps them
        self.pred_names = [f"pred.{point}"] + ([f"pred.{lower}", f"pred.{upper}"] if interval else [])
        # runtime of every kernel the adaptation saw, on its one system (others: not answered)
        self.measured = {"runtime_ms": frozenset((k, model.system) for k in getattr(model.schema, "inputs", {}))}
        base_dir = directory / BASE_DIR
        self.base = Predictor(model.base_, read_meta(base_dir, str(base_dir), model.base_), cache_rows=1,
                              batch_threads=batch_threads)
        # the base's runtime-only subgraph sessions, built now rather than on the first query (~0.5 s)
        for kernel, _ in self.measured["runtime_ms"]:
            engine = self.base.engine(kernel)
            for source in model.sources_:
                if engine.covers("runtime_ms", kernel, source):
                    engine.session(engine.score_outputs("runtime", kernel, source))

    def featurize(self, columns: Mapping[str, Any], n: int) -> np.ndarray:
        """`prediction_inputs` of dotted `columns` (scalars broadcast to `n` rows), as the model computes
        them from a frame: the base masks a (kernel, source) pair it has no runtime of (NaN)."""
        X = super().featurize({**columns, "system": self.model.system}, n)
        kernels = columns.get("kernel")
        if isinstance(kernels, list):  # records of several kernels: each to its base engine
            groups: dict[str, list[int]] = {}
            for i, kernel in enumerate(kernels):
                groups.setdefault(kernel, []).append(i)
        else:
            groups = {kernels: list(range(n))}
        runtime_ms = [np.full(n, np.nan) for _ in self.model.sources_]
        for kernel, rows in groups.items():
            part = columns if len(rows) == n else {
                name: [value[i] for i in rows] if isinstance(value, list) else value for name, value in columns.items()}
            engine = self.base.engine(kernel)
            for j, source in enumerate(self.model.sources_):
                if engine.covers("runtime_ms", kernel, source):
                    Xs = engine.featurize({**part, "system": source}, len(rows))
                    runtime_ms[j][rows] = engine.outputs(Xs, engine.score_outputs("runtime", kernel, source))["pred.runtime_ms"]
        return self.model.assemble_inputs(X, runtime_ms)

    def outputs(self, X: np.ndarray, outputs: tuple[str, ...] | None = None, *,
                keys: Sequence[tuple[tuple, Any]] | None = None) -> dict[str, np.ndarray]:
        """`prediction_inputs` rows -> `pred.runtime_ms` (+ interval) arrays, cached under `keys`."""
        values = self.model.predict_inputs(np.asarray(X, dtype=np.float64))
        if keys is not None:
            self.remember(keys, np.column_stack([values[name] for name in self.pred_names]))
        return values

    def from_cached(self, M: np.ndarray) -> dict[str, np.ndarray]:
        return {name: M[:, j] for j, name in enumerate(self.pred_names)}


class Predictor:
    """Predict runtime/power/energy with intervals and rank candidate configs, in-process.

    A routed model (one sub-model per kernel family, `perfcast.models.routed`) gets one engine per
    sub-model (plan, sessions, caches); each record and each rank goes to its kernel's engine."""

    def __init__(
        self, model: Any, meta: ModelMeta, *, cache_rows: int = DEFAULT_CACHE_ROWS, batch_threads: int | None = None
    ):
        self.model = model
        self.meta = meta
        self.cache_rows = cache_rows
        self._system_names: dict[str, str] = {}
        self._unanswered: dict[tuple[str | None, str], list[str]] = {}
        self._lock = threading.Lock()
        routes = getattr(model, "routes", None)
        if routes:  # routed: kernels sharing a sub-model share its engine
            by_model: dict[int, _Engine] = {}
            for sub in _submodels(model):
                by_model[id(sub)] = _Engine(sub, Path(sub.model_dir or meta.directory), cache_rows, batch_threads)
            self._engines = {kernel: by_model[id(sub)] for kernel, sub in routes.items()}
            self._default: _Engine | None = None
        else:
            transfer = hasattr(model, "prediction_inputs")  # an adaptation to a new GPU (perfcast adapt)
            engine = _TransferEngine if transfer else _Engine
            self._default = engine(model, meta.directory, cache_rows, batch_threads)
            self._engines = dict.fromkeys(meta.kernels, self._default)

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def load(
        cls, uri: str | Path, *, threads: int | None = None, batch_threads: int | None = None,
        cache_rows: int = DEFAULT_CACHE_ROWS,
    ) -> Predictor:  # fmt: skip
        """Load from a model directory (single, routed, or an adaptation to a new GPU from `perfcast adapt`)
        or a `models:/name@alias` registry URI.

        `threads`: onnxruntime intra-op threads (default `PERFCAST_ORT_THREADS`, else 1: the service runs
        one worker per core). `batch_threads`: threads for batches of `BATCH_ROWS` rows or more (a big
        rank; default `PERFCAST_ORT_BATCH_THREADS`, else `threads`): an autotuner that owns its cores
        gives its ranks more (faster on an idle machine, slower on a busy one; see `BATCH_ROWS`).
        """
        from perfcast.models.routed import load_cost_model  # noqa: PLC0415
        from perfcast.models.transfer import is_transfer_dir  # noqa: PLC0415

        version = registry_version(uri)
        directory = resolve_model_dir(uri)
        model = load_cost_model(directory, threads=threads)
        if not is_transfer_dir(directory):  # an adaptation's outputs are its numpy mapping + residual graph
            for sub in _submodels(model):
                _check_outputs(sub, Path(getattr(sub, "model_dir", None) or directory))
        if batch_threads is None:
            batch_threads = _env_threads("PERFCAST_ORT_BATCH_THREADS")
        meta = read_meta(directory, str(uri), model, version=version)
        return cls(model, meta, cache_rows=cache_rows, batch_threads=batch_threads)

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def targets(self) -> tuple[str, ...]:
        return self.meta.targets

    @property
    def routed(self) -> bool:
        """Whether each kernel family is answered by its own sub-model."""
        return self._default is None

    def engine(self, kernel: str) -> _Engine:
        """The engine answering `kernel` (checked with `check_kernel` first)."""
        engine = self._engines.get(kernel)
        if engine is None:
            if self._default is None:
                raise UnknownNameError(f"unknown kernel {kernel!r}: this model routes {list(self.meta.kernels)}",
                                       field="kernel", known=self.meta.kernels)  # fmt: skip
            engine = self._default
        return engine

    def inputs(self, kernel: str) -> tuple[str, ...]:
        """The record fields (`params.*`, `problem.*`, `ir.*`, `system`) the model's features read for `kernel`."""
        return self.engine(kernel).inputs(kernel)

    def schema_inputs(self) -> dict[str, list[str]]:
        """Per kernel the model knows, the fields its features read (what `/v1/models` shows)."""
        return {k: list(self.inputs(k)) for k in self.meta.kernels}

    def clear_caches(self) -> None:
        """Forget cached feature rows and graph outputs (benchmarks of never-seen queries)."""
        for engine in {id(e): e for e in self._engines.values()}.values():
            engine.features.clear()
            engine.raw.clear()

    # ---- checks -------------------------------------------------------------------------------
    def system_name(self, name: str) -> str:
        """Canonical system name, or `UnknownNameError` listing the known systems."""
        cached = self._system_names.get(name)
        if cached is not None:
            return cached
        from perfcast.systems import UnknownSystemError, get_system, list_systems  # noqa: PLC0415

        try:
            canonical = get_system(name).name
        except UnknownSystemError as exc:
            known = [getattr(s, "name", s) for s in list_systems()]
            raise UnknownNameError(str(exc), field="system", known=[str(k) for k in known]) from exc
        with self._lock:
            if len(self._system_names) > 10_000:  # bounded: names come from users
                self._system_names.clear()
            self._system_names[name] = canonical
        return canonical

    def check_kernel(self, kernel: str | None) -> str:
        kernels = self.meta.kernels
        if kernel is None:
            if len(kernels) == 1:
                return kernels[0]
            raise PredictorInputError(f"`kernel` is required: this model knows {list(kernels)}", field="kernel", known=kernels)
        if kernel not in self._engines:
            raise UnknownNameError(
                f"unknown kernel {kernel!r}: this model was trained on {list(kernels)}", field="kernel", known=kernels
            )
        return kernel

    def check_fields(self, kernel: str, section: str, values: Mapping[str, Any] | None, where: str) -> None:
        """Every `section` field the model's features read for `kernel` must be present (null allowed):
        the same rule `featurize` applies to a frame's columns, applied per record, so a record's answer
        never depends on the other records it is sent (or batched) with."""
        self.engine(kernel).check_fields(kernel, section, values, where)

    # ---- prediction ---------------------------------------------------------------------------
    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Flat query frame (dotted columns) -> `pred.<target>`, `.q10`, `.q90` columns, same rows."""
        return self.model.predict_frame(frame)

    def _record_keys(self, records: Sequence[Mapping[str, Any]]
                     ) -> tuple[list[Mapping[str, Any]], list[tuple[tuple, Any]], list[_Engine]]:  # fmt: skip
        """The records with canonical problems, and per record its cache key (context, params) and
        engine, after checking kernel, system and fields."""
        out, keys, engines = [], [], []
        for i, record in enumerate(records):
            if type(record) is not dict and not isinstance(record, Mapping):
                raise PredictorInputError(f"record {i} is not a mapping", field=f"records.{i}")
            try:
                kernel = self.check_kernel(record.get("kernel"))
                system = self.system_name(str(record.get("system")))
                problem = _query_rule(canonical_problem, kernel, record.get("problem"))
                _query_rule(check_params, record.get("params"))
            except PredictorInputError as exc:
                exc.field = f"records.{i}.{exc.field}"
                raise
            if problem is not record.get("problem"):
                record = {**record, "problem": problem}
            out.append(record)
            engine = self._engines.get(kernel) or self.engine(kernel)
            params, ir = record.get("params"), record.get("ir")
            engine.check_fields(kernel, "params", params, f"records.{i}.")
            engine.check_fields(kernel, "problem", problem, f"records.{i}.")
            engine.check_fields(kernel, "ir", ir, f"records.{i}.")
            names, values = _params_key(params)
            keys.append(((kernel, system, _freeze(problem), _ir_key(ir), names), values))
            engines.append(engine)
        return out, keys, engines

    def all_cached(self, records: Sequence[Mapping[str, Any]]) -> bool:
        """Whether every record's feature row is cached (its prediction needs no featurization)."""
        try:
            _, keys, engines = self._record_keys(records)
        except PredictorInputError:
            return False
        return all(e.features.get(*key) is not None or e.raw.get(*key) is not None
                   for key, e in zip(keys, engines, strict=True))  # fmt: skip

    def predict(
        self, records: Iterable[Mapping[str, Any]], *, targets: Sequence[str] | None = None
    ) -> list[dict[str, dict[str, float]]]:
        """Query records -> per record `{target: {"value", "q10", "q90"}}` for the model's targets
        (or only `targets`: onnxruntime then evaluates only their outputs). Records of several kernel
        families may be mixed (a routed model answers each with its family's sub-model); answers come
        back in the records' order."""
        records, keys, engines = self._record_keys(list(records))
        if not records:
            return []
        if targets is not None:
            unknown = [t for t in targets if t not in self.meta.targets]
            if unknown:
                raise PredictorInputError(
                    f"this model does not predict {unknown} (it predicts {list(self.meta.targets)})", field="targets"
                )
        first = engines[0]
        if all(e is first for e in engines):
            return first.predict(records, keys, targets)
        # several sub-models: each answers its records, put back in the records' order
        groups: dict[int, list[int]] = {}
        for i, e in enumerate(engines):
            groups.setdefault(id(e), []).append(i)
        out: list[Any] = [None] * len(records)
        for rows in groups.values():
            engine = engines[rows[0]]
            answers = engine.predict([records[i] for i in rows], [keys[i] for i in rows], targets)
            for i, answer in zip(rows, answers, strict=True):
                out[i] = answer
        return out

    def covers(self, target: str, kernel: str, system: str) -> bool:
        """Whether the model has `target` measurements of `kernel` on (canonical) `system`."""
        engine = self._engines.get(kernel) or self._default
        return engine is not None and engine.covers(target, kernel, system)

    def unanswered(self, kernel: str | None, system: str) -> list[str]:
        """Why targets the model predicts for `kernel` are left out of answers about `system`, one line
        per such target ([] when it answers them all): it has no measurements of them there. A short
        name of another GPU (`A100` for the PCIe card) is the usual cause, so the line names the GPUs
        it does have."""
        key = (kernel, system)
        lines = self._unanswered.get(key)
        if lines is None:
            kernel = self.check_kernel(kernel)
            engine = self.engine(kernel)
            canonical = self.system_name(system)
            given = "" if canonical == system else f" (asked as {system!r})"
            by_gpus: dict[str, list[str]] = {}  # targets measured on the same GPUs share a line
            for target in engine.targets:
                if not engine.covers(target, kernel, canonical):
                    systems = [pair.split(" on ", 1)[1] for pair in self.measured_on(target) if pair.startswith(f"{kernel} on ")]
                    by_gpus.setdefault(", ".join(systems) or "no GPU", []).append(target)
            lines = [f"{', '.join(targets)}: this model has no {' or '.join(targets)} measurements of {kernel} on "
                     f"{canonical}{given}; it has them on {gpus}" for gpus, targets in by_gpus.items()]
            if len(self._unanswered) < 4096:  # systems are registry names: few pairs, but stay bounded
                self._unanswered[key] = lines
        return lines

    def measured_on(self, target: str) -> list[str]:
        """`kernel on system` pairs the model has `target` measurements of (all: `["*"]`; a routed
        sub-model saved without this record: `"<kernel> on *"` for each of its kernels)."""
        found: set[str] = set()
        for kernel, engine in self._engines.items():
            if target not in engine.specs:
                continue
            pairs = engine.measured.get(target)
            if pairs is None:
                if not self.routed:
                    return ["*"]
                found.add(f"{kernel} on *")
            else:
                found.update(f"{k} on {s}" for k, s in pairs if not self.routed or k == kernel)
        return sorted(found)

    def rank(
        self,
        system: str,
        problem: Mapping[str, Any],
        candidates: Sequence[Mapping[str, Any]],
        objective: str = "runtime",
        top_k: int | None = None,
        *,
        kernel: str | None = None,
        ir: Mapping[str, str] | None = None,
        targets: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Candidates (`params` dicts) sorted best first by `objective` (lower is better).

        `targets` limits the predictions computed and returned (they must cover the objective:
        runtime_ms, plus energy_j or power_w for energy/edp); None returns all of the model's.

        Each item: `index` (position in `candidates`), `params`, `score` and `prediction`.
        `energy` uses the model's energy_j, else power_w × runtime_ms; `edp` is energy_j × runtime_ms.
        """
        if objective not in OBJECTIVES:
            raise PredictorInputError(f"unknown objective {objective!r}; use one of {list(OBJECTIVES)}", field="objective")
        if top_k is not None and top_k < 1:
            raise PredictorInputError("top_k must be >= 1", field="top_k")
        kernel = self.check_kernel(kernel)
        engine = self.engine(kernel)
        self._check_objective(objective, engine)
        system = self.system_name(system)
        self._check_covered(objective, kernel, system, engine)
        problem = _query_rule(canonical_problem, kernel, problem)
        n = len(candidates)
        if n == 0:
            return []
        engine.check_fields(kernel, "problem", problem, "")
        engine.check_fields(kernel, "ir", ir, "")
        context, params, by_keys = _candidate_keys((kernel, system, _freeze(problem), _ir_key(ir)), candidates)
        for cand in by_keys.values():  # each distinct set of param names checked once: cheap for 1,000
            engine.check_fields(kernel, "params", cand, "candidates.")

        def build(rows: list[int]) -> dict[str, Any]:
            columns = candidate_columns(rows)
            bad = bad_count_param(columns)  # only candidates never featurized get here
            if bad is not None:
                name, row, value = bad
                raise PredictorInputError(f"{name} must be {INTEGER_RULE}, got {value!r}",
                                          field=f"candidates.{rows[row]}.{name.split('.', 1)[1]}")
            return columns

        def candidate_columns(rows: list[int]) -> dict[str, Any]:
            # the problem, system and IR are one value for every candidate: scalars, broadcast by the plan
            columns: dict[str, Any] = {"kernel": kernel, "system": system}
            for key, value in problem.items():
                columns[f"problem.{key}"] = value
            for key, value in (ir or {}).items():
                columns[f"ir.{key}"] = value
            if len(rows) == n and context[-1] is not None and len(context[-1]) > 1:
                # every candidate keyed by its values in `names` order: the columns are their transpose
                for key, column in zip(context[-1], zip(*params, strict=True), strict=True):
                    columns[f"params.{key}"] = list(column)
                return columns
            chosen = candidates if len(rows) == n else [candidates[i] for i in rows]
            if len(by_keys) == 1:  # every candidate has these keys: C-level gets
                for key in next(iter(by_keys)):
                    columns[f"params.{key}"] = list(map(itemgetter(key), chosen))
                return columns
            param_keys: dict[str, None] = {}
            for cand in by_keys.values():
                param_keys.update(dict.fromkeys(cand))
            for key in param_keys:
                columns[f"params.{key}"] = [cand.get(key) for cand in chosen]
            return columns

        if targets is not None:
            unknown = [t for t in targets if t not in engine.specs]
            if unknown:
                raise PredictorInputError(
                    f"this model does not predict {unknown} for {kernel!r} (it predicts {list(engine.targets)})", field="targets"
                )
        outputs = engine.target_outputs(targets)
        if outputs is not None and not set(engine.score_outputs(objective, kernel, system)) <= set(outputs):
            raise PredictorInputError(f"targets {list(targets)} do not cover objective {objective!r}", field="targets")
        cached = engine.cached_outputs(None, context=context, params=params) if outputs is None else None
        if cached is not None:  # every candidate predicted before: no featurize, no onnxruntime
            values = cached
            order = positions = None
        else:
            X = engine.context_rows(context, params, build)
            if top_k is not None and top_k < n:
                # score every candidate with the point boosters only, then intervals for the top_k rows
                point = engine.outputs(X, engine.score_outputs(objective, kernel, system))
                point.update(_derived_energy(point))
                order = _order(_objective(point, objective))[:top_k]
                values = engine.outputs(X[order], outputs, keys=[(context, params[i]) for i in order])
                positions = np.arange(len(order))
            else:
                values = engine.outputs(X, outputs, keys=[(context, p) for p in params])
                order = positions = None
        for t in TARGETS:  # targets not measured for this (kernel, system) are left out of every answer
            if not engine.covers(t, kernel, system):
                for name in (f"pred.{t}", f"pred.{t}.q10", f"pred.{t}.q90"):
                    values.pop(name, None)
        values.update(_derived_energy(values))
        score = _objective(values, objective)
        if order is None:
            order = positions = _order(score)
            if top_k is not None:
                order = positions = order[:top_k]
        present = _present(values)
        lists = {k: v.tolist() for k, v in values.items()}
        scores = score.tolist()
        out = []
        for i, j in zip(order.tolist(), positions.tolist(), strict=True):
            prediction = {}
            for t in present:
                v = lists[f"pred.{t}"][j]
                q10, q90 = lists.get(f"pred.{t}.q10"), lists.get(f"pred.{t}.q90")
                prediction[t] = {"value": v, "q10": q10[j] if q10 else v, "q90": q90[j] if q90 else v}
            out.append({"index": i, "params": dict(candidates[i]), "score": scores[j], "prediction": prediction})
        return out

    def _check_covered(self, objective: str, kernel: str, system: str, engine: _Engine) -> None:
        """The objective's targets must have measurements of (kernel, system): no ranking on made-up numbers."""
        needed = [["runtime_ms"]]  # alternatives per need: any one of them will do
        if objective != "runtime":
            needed.append([t for t in ("energy_j", "power_w") if t in engine.specs])
        for alternatives in needed:
            if any(engine.covers(t, kernel, system) for t in alternatives):
                continue
            known = sorted({pair for t in alternatives for pair in self.measured_on(t)})
            have = "; ".join(f"{t} on {', '.join(self.measured_on(t)) or 'none'}" for t in alternatives)
            raise PredictorInputError(
                f"objective {objective!r} needs {' or '.join(alternatives)}, but this model has no such measurements "
                f"of kernel {kernel!r} on system {system!r} (it has {have})",
                field="objective",
                known=known,
            )

    def _check_objective(self, objective: str, engine: _Engine) -> None:
        targets = set(engine.targets)
        if "runtime_ms" not in targets:
            raise PredictorInputError("this model does not predict runtime_ms", field="objective")
        if objective in ("energy", "edp") and not ({"energy_j", "power_w"} & targets):
            raise PredictorInputError(
                f"objective {objective!r} needs energy_j or power_w, but this model predicts only {sorted(targets)}",
                field="objective",
            )


#: per target, its `pred.*` point, q10 and q90 column names
_PRED_NAMES = {t: (f"pred.{t}", f"pred.{t}.q10", f"pred.{t}.q90") for t in TARGETS}


def _present(values: Mapping[str, np.ndarray]) -> list[str]:
    return [t for t in TARGETS if _PRED_NAMES[t][0] in values]


def _derived_energy(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """energy_j from power_w × runtime_ms when the model has power but not energy (W × ms / 1000 = J)."""
    if "pred.energy_j" in values or "pred.power_w" not in values or "pred.runtime_ms" not in values:
        return {}
    out = {}
    for suffix in ("", ".q10", ".q90"):
        p, r = values.get(f"pred.power_w{suffix}"), values.get(f"pred.runtime_ms{suffix}")
        if p is not None and r is not None:
            out[f"pred.energy_j{suffix}"] = p * r / 1000.0
    return out


def _order(score: np.ndarray) -> np.ndarray:
    """Best (lowest) first; NaN scores (a model that cannot say) last; ties keep request order."""
    return np.lexsort((np.arange(len(score)), np.nan_to_num(score, nan=np.inf)))


def _objective(values: dict[str, np.ndarray], objective: str) -> np.ndarray:
    runtime = values["pred.runtime_ms"]
    if objective == "runtime":
        return runtime
    energy = values["pred.energy_j"]
    return energy if objective == "energy" else energy * runtime


def _estimate(values: dict[str, np.ndarray], target: str, i: int) -> dict[str, float]:
    name, lower, upper = _PRED_NAMES[target]
    v = float(values[name][i])
    q10 = values.get(lower)
    q90 = values.get(upper)
    return {"value": v, "q10": float(q10[i]) if q10 is not None else v, "q90": float(q90[i]) if q90 is not None else v}


def _freeze(value: Any) -> Any:
    """A hashable, order-independent key for a params/problem mapping (None -> ())."""
    if value is None:
        return ()
    if isinstance(value, dict):
        # fast path: flat mapping of hashable scalars (what the HTTP API allows). Insertion order is
        # kept: the same params in another order only make a second cache entry, never a wrong one.
        try:
            key = tuple(value.items())
            hash(key)
            return key
        except TypeError:
            pass
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, float) and value != value:
        return "nan"  # NaN != NaN would defeat the cache
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _params_key(params: Any) -> tuple[tuple, Any]:
    """(param names, param values) of one params mapping: the cache key's context part and row part.
    Values that cannot be hashed key by their frozen form."""
    if isinstance(params, dict) and params:
        values = tuple(params.values())
        try:
            hash(values)
            return tuple(params), values
        except TypeError:
            pass
    return (), _freeze(params)


def _candidate_keys(context: tuple, candidates: Sequence[Mapping[str, Any]]) -> tuple[tuple, list[Any], dict[tuple, Any]]:
    """(context, per-candidate params keys, candidates by their tuple of param names) of a rank.

    Every candidate has the param names of the first (the usual case: checked at C level, as equal
    lengths and an itemgetter of the first's names that finds them all) -> their value tuples in the
    order of those names, one context; else one `_params_key` each. The third item holds one
    candidate per distinct tuple of names (each set is checked for the model's fields once)."""
    first = candidates[0]
    names = tuple(first) if isinstance(first, Mapping) else ()
    if len(names) > 1:
        try:
            if len(set(map(len, candidates))) == 1:
                values = list(map(itemgetter(*names), candidates))
                hash(tuple(values))
                return (*context, names), values, {names: first}
        except (KeyError, TypeError):  # another name, not a mapping, or an unhashable value
            pass
    by_names: dict[tuple, Mapping[str, Any]] = {}
    for cand in candidates:
        by_names.setdefault(tuple(cand), cand)
    if len(by_names) == 1:
        values = [tuple(c.values()) for c in candidates]
        try:
            hash(tuple(values))
            return (*context, next(iter(by_names))), values, by_names
        except TypeError:
            pass
    return (*context, None), [_params_key(c) for c in candidates], by_names


def _ir_key(ir: Any) -> Any:
    """IR texts enter the key as digests (a 1 MB text must not be kept alive by the cache)."""
    if not ir:
        return ()
    if not isinstance(ir, Mapping):
        return repr(ir)
    return tuple(sorted((str(k), hashlib.blake2b(str(v).encode(), digest_size=16).digest()) for k, v in ir.items()))


def _check_outputs(model: Any, directory: Path) -> None:
    """A model that predicts nothing, or whose model.json names outputs the graph lacks, is not loaded
    (a reload then keeps the old model serving)."""
    specs = model.meta.get("targets") or {}
    if "runtime_ms" not in specs:
        raise ValueError(f"{directory}: model.json lists no runtime_ms target (targets: {sorted(specs)})")
    names = set(model.output_names)
    for target, spec in specs.items():
        missing = [spec.get(k) for k in ("point", "lower", "upper") if spec.get(k) and spec.get(k) not in names]
        if missing:
            raise ValueError(f"{directory}: {target} outputs {missing} are not in model.onnx (has {sorted(names)})")


def registry_version(uri: str | Path) -> str | None:
    """The registry version a `models:/name@alias` URI points at now (None for a directory)."""
    if not str(uri).startswith("models:/") or Path(uri).is_dir():
        return None
    from perfcast.training.registry import current_version  # noqa: PLC0415

    return str(current_version(str(uri)))


def read_meta(directory: Path, uri: str, model: Any = None, *, version: str | None = None) -> ModelMeta:
    """Model name, version, targets, kernels and metrics from `model.json` (and the model object).

    A routed model reports its routes and, per kernel, the feature schema version of its sub-model."""
    info: dict[str, Any] = {}
    path = info_file(directory)
    if path.is_file():
        info = json.loads(path.read_text())
    targets = tuple(getattr(model, "targets", None) or info.get("targets") or ())
    routes = getattr(model, "routes", None)
    schema_versions: dict[str, str] = {}
    if routes:
        kernels = tuple(sorted(routes))
        for kernel, sub in routes.items():
            schema_versions[kernel] = str(getattr(sub.schema, "version", ""))
        schema_version = None
        sub_dirs = {k: Path(sub.model_dir).name for k, sub in routes.items() if getattr(sub, "model_dir", None)}
    else:
        # the kernel families the feature schema was fitted on are the ones the model knows
        schema_inputs = getattr(getattr(model, "schema", None), "inputs", None)
        kernels = tuple(sorted(schema_inputs)) if schema_inputs else tuple(info.get("kernels") or KERNEL_FAMILIES)
        schema_version = None
        schema_path = directory / "feature_schema.json"
        if schema_path.is_file():
            schema_version = json.loads(schema_path.read_text()).get("version")
        if schema_version is not None:
            schema_versions = dict.fromkeys(kernels, str(schema_version))
        sub_dirs = {}
    registered = uri[len("models:/"):].split("@", 1)[0].split("/", 1)[0] if uri.startswith("models:/") else None
    name = str(info.get("name") or registered or directory.name)
    version = version or str(info.get("version") or model_json_digest(directory))
    metrics = info.get("metrics") or {}
    return ModelMeta(
        name=name,
        version=version,
        uri=uri,
        directory=directory,
        targets=tuple(t for t in TARGETS if t in targets),
        kernels=kernels,
        aliases=_aliases_of(uri),
        feature_schema_version=schema_version,
        metrics=_finite(metrics),
        routes=sub_dirs,
        feature_schema_versions=schema_versions,
    )


def model_json_digest(directory: Path) -> str:
    """Version of an unregistered model directory: a digest of its `model.json` (`transfer.json` for an
    adaptation; unique per training)."""
    path = info_file(directory)
    if not path.is_file():
        return "unversioned"
    return "sha-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _finite(obj: Any) -> Any:
    """Metrics for JSON: NaN/inf become None."""
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
