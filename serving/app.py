"""The FastAPI app: `create_app(model_uri)` builds the prediction service around a hot-swappable `Predictor`.

Handlers are `async def` and call onnxruntime inline: a prediction takes well under a millisecond, so a
thread-pool hop would cost more than it saves. Model reloads (polling the alias, or
`POST /v1/admin/reload`) load the new model in a thread and then swap one reference; a request reads
that reference once at its start, so in-flight requests finish on the model they started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from perfcast.measurements.schema import TARGETS
from perfcast.models.routed import info_file
from perfcast.serving import metrics
from perfcast.serving.predictor import (
    InputTooLargeError,
    Predictor,
    PredictorInputError,
    model_json_digest,
    registry_version,
    resolve_model_dir,
)
from perfcast.serving.schemas import (
    MAX_BODY_BYTES,
    MAX_IR_CHARS,
    MAX_RECORDS,
    ErrorResponse,
    Health,
    MeasurementsRequest,
    MeasurementsResponse,
    ModelInfo,
    ModelsResponse,
    PredictRequest,
    PredictResponse,
    RankRequest,
    RankResponse,
    ReloadResponse,
)

log = logging.getLogger("perfcast.serving")

#: Seconds between checks whether the model alias moved (0 disables polling).
DEFAULT_RELOAD_INTERVAL_S = 30.0

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Unknown system/kernel (lists the known ones) or unusable input."},
    413: {"model": ErrorResponse, "description": f"More than {MAX_RECORDS} records or {MAX_IR_CHARS} IR characters."},
}


def model_version_of(uri: str) -> str:
    """The version the URI points at now, cheaply (no model load, no mlflow import)."""
    version = registry_version(uri)
    if version is not None:
        return version
    path = resolve_model_dir(uri)
    info = json.loads(info_file(path).read_text())
    return str(info.get("version") or model_json_digest(path))


class ModelHolder:
    """The current `Predictor`, swapped atomically on reload."""

    def __init__(self, predictor: Predictor, uri: str | None):
        self.predictor = predictor
        self.uri = uri
        self._reload_lock = threading.Lock()

    def reload(self, force: bool = False) -> tuple[bool, str, str]:
        """Load the model the URI points at now if its version differs; returns (swapped, old, new)."""
        if self.uri is None:
            return False, self.predictor.version, self.predictor.version
        with self._reload_lock:
            old = self.predictor
            if not force and model_version_of(self.uri) == self.predictor.version:
                return False, old.version, old.version
            new = Predictor.load(self.uri)
            if not force and new.version == old.version:
                return False, old.version, old.version
            self.predictor = new  # one reference assignment: atomic for readers
        metrics.set_model(new.meta.name, new.version, previous=(old.meta.name, old.version))
        metrics.RELOADS.labels(result="swapped").inc()
        log.info("model reloaded: %s -> %s", old.version, new.version)
        return True, old.version, new.version


def _json(payload: dict[str, Any]) -> Response:
    """Serialise an answer the Predictor built in the declared response shape, skipping FastAPI's
    re-validation of it (~0.3 ms for a 100-candidate rank); NaN/inf (a model that cannot say) -> null."""
    return Response(content=pydantic_core.to_json(payload, inf_nan_mode="null"), media_type="application/json")


def _error(status: int, detail: Any, known: list[str] | None = None, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if field is not None:
        body["field"] = field
    if known is not None:
        body["known"] = known
    return JSONResponse(body, status_code=status)


def _check_ir_size(irs: list[dict[str, str] | None], where: str) -> None:
    total = sum(len(text) for ir in irs if ir for text in ir.values())
    if total > MAX_IR_CHARS:
        raise InputTooLargeError(f"{where}: {total} IR characters, more than the limit of {MAX_IR_CHARS}")


def _check_count(n: int, where: str) -> None:
    if n > MAX_RECORDS:
        raise InputTooLargeError(f"{where}: {n} items, more than the limit of {MAX_RECORDS}")


def create_app(
    model_uri: str | Path | None = None,
    *,
    predictor: Predictor | None = None,
    store_dir: str | Path | None = None,
    reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S,
) -> FastAPI:
    """The service for a model directory or `models:/name@alias` URI (or a loaded `predictor`)."""
    if predictor is None:
        if model_uri is None:
            raise ValueError("create_app needs a model_uri or a predictor")
        predictor = Predictor.load(model_uri)
    uri = str(model_uri) if model_uri is not None else None
    holder = ModelHolder(predictor, uri)
    metrics.set_model(predictor.meta.name, predictor.version)
    store_lock = threading.Lock()
    batcher = PredictBatcher()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if uri is not None and reload_interval_s > 0:
            task = asyncio.create_task(_poll(holder, reload_interval_s))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="perfcast",
        version=__import__("perfcast").__version__,
        summary="Learned GPU-kernel cost model: runtime, power and energy with 10-90 % intervals, and ranking.",
        lifespan=lifespan,
    )
    app.state.holder = holder

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each bad `input` back, which cannot be JSON when it is NaN/inf and
        # can be megabytes: answer the location, message and type only
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]  # fmt: skip
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(PredictorInputError)
    async def _bad_input(request: Request, exc: PredictorInputError) -> JSONResponse:
        return _error(400, str(exc), known=exc.known, field=exc.field)

    @app.exception_handler(InputTooLargeError)
    async def _too_large(request: Request, exc: InputTooLargeError) -> JSONResponse:
        return _error(413, str(exc))

    from perfcast.features.schema import FeatureSchemaError  # noqa: PLC0415
    from perfcast.measurements.store import StoreError  # noqa: PLC0415

    @app.exception_handler(FeatureSchemaError)
    async def _schema_error(request: Request, exc: FeatureSchemaError) -> JSONResponse:
        return _error(400, f"cannot build the model's features from this input: {exc}")

    @app.exception_handler(StoreError)
    async def _store_broken(request: Request, exc: StoreError) -> JSONResponse:
        return _error(503, f"the measurement store cannot take records now: {exc}")

    @app.post("/v1/predict", response_model=PredictResponse, responses=_ERRORS)
    async def predict(body: PredictRequest) -> Response:
        """Per record: runtime_ms, power_w, energy_j (those the model predicts), each with q10/q90."""
        pred = holder.predictor  # read once: a reload during this request does not affect it
        _check_count(len(body.records), "records")
        _check_ir_size([r.ir for r in body.records], "records")
        records = [r.model_dump(exclude_none=True) for r in body.records]
        if pred.all_cached(records):
            predictions = pred.predict(records)  # no featurization: answer inline
        else:
            predictions = await batcher.predict(pred, records)
        metrics.RECORDS.labels(endpoint="/v1/predict").inc(len(records))
        n_targets = len(pred.meta.targets)
        short = {(r.get("kernel"), r["system"]): None for r, p in zip(records, predictions, strict=True) if len(p) < n_targets}
        for p in predictions:
            for target in TARGETS:
                p.setdefault(target, None)
        body = {"model": pred.meta.name, "model_version": pred.version, "predictions": predictions}
        unanswered = [line for kernel, system in short for line in pred.unanswered(kernel, system)]
        if unanswered:
            body["unanswered"] = unanswered
        return _json(body)

    @app.post("/v1/rank", response_model=RankResponse, responses=_ERRORS)
    async def rank(body: RankRequest) -> Response:
        """Candidate params of one system + problem, best first by `objective` (lower is better)."""
        pred = holder.predictor
        _check_count(len(body.candidates), "candidates")
        _check_ir_size([body.ir], "ir")
        ranked = pred.rank(
            body.system,
            body.problem,
            body.candidates,
            objective=body.objective,
            top_k=body.top_k,
            kernel=body.kernel,
            ir=body.ir,
        )
        metrics.RECORDS.labels(endpoint="/v1/rank").inc(len(body.candidates))
        short = bool(ranked) and len(ranked[0]["prediction"]) < len(pred.meta.targets)
        for item in ranked:
            for target in TARGETS:
                item["prediction"].setdefault(target, None)
        out = {"model": pred.meta.name, "model_version": pred.version, "objective": body.objective, "candidates": ranked}
        unanswered = pred.unanswered(body.kernel, body.system) if short else []
        if unanswered:
            out["unanswered"] = unanswered
        return _json(out)

    @app.post("/v1/measurements", response_model=MeasurementsResponse,
              responses={**_ERRORS, 503: {"model": ErrorResponse, "description": "A store file is unreadable (named)."}})
    async def measurements(body: MeasurementsRequest) -> dict[str, Any]:
        """Store new canonical measurements: validated, deduplicated, bad rows quarantined with a reason."""
        _check_count(len(body.records), "records")
        _check_ir_size([r.ir for r in body.records], "records")
        records = [r.model_dump(exclude_none=True) for r in body.records]
        root = Path(store_dir) if store_dir is not None else None
        return await asyncio.to_thread(_store_records, records, root, store_lock)

    @app.get("/v1/models", response_model=ModelsResponse)
    async def models() -> dict[str, Any]:
        """The loaded model: name, version, aliases, targets, kernels, feature schema version, metrics."""
        m = holder.predictor.meta  # one routed model is one entry: its kernels, routes and per-kernel schemas
        info = ModelInfo(
            name=m.name,
            version=m.version,
            aliases=list(m.aliases),
            uri=m.uri,
            directory=str(m.directory),
            targets=list(m.targets),
            kernels=list(m.kernels),
            inputs=holder.predictor.schema_inputs(),
            measured_on={t: holder.predictor.measured_on(t) for t in m.targets},
            feature_schema_version=m.feature_schema_version,
            feature_schema_versions=dict(m.feature_schema_versions),
            routes=dict(m.routes) or None,
            metrics=dict(m.metrics),
        )
        return {"models": [info]}

    @app.post("/v1/admin/reload", response_model=ReloadResponse, responses={503: {"model": ErrorResponse}})
    async def reload() -> Any:
        """Load the model the URI points at now (if its version changed) and swap it in."""
        try:
            swapped, old, new = await asyncio.to_thread(holder.reload)
        except Exception as exc:  # noqa: BLE001 (the old model keeps serving; say why the new one did not load)
            metrics.RELOADS.labels(result="failed").inc()
            return _error(503, f"reload failed, still serving {holder.predictor.version}: {type(exc).__name__}: {exc}")
        return {"reloaded": swapped, "model_version": new, "previous_version": old}

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, Any]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz() -> Any:
        """A model is loaded and answers."""
        pred = holder.predictor
        if pred is None:
            return JSONResponse({"status": "no model"}, status_code=503)
        return {"status": "ready", "model_version": pred.version}

    @app.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        """Prometheus exposition: request counts, latency histograms per endpoint, model version."""
        data, content_type = metrics.render()
        return Response(content=data, media_type=content_type)

    # the last added is outermost: metrics also count the 413s of the body limit
    app.add_middleware(metrics.BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(metrics.MetricsMiddleware)
    return app


class PredictBatcher:
    """Featurize the records of concurrent `/v1/predict` requests in one call.

    Featurizing has a fixed per-call cost (~0.5 ms on the compile_plan path, far more than per row), and
    while one call blocks the event loop the next requests queue up. Each request that needs featurization parks its records here;
    one flush per loop iteration predicts every parked request with a single `Predictor.predict`, so
    under load the fixed cost is shared. A batch that fails is retried request by request, so one bad
    request only fails itself.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Predictor, list[dict[str, Any]], asyncio.Future]] = []
        self._scheduled = False

    async def predict(self, pred: Predictor, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((pred, records, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        groups: dict[int, list[tuple[Predictor, list[dict[str, Any]], asyncio.Future]]] = {}
        for item in pending:  # a reload may have swapped the model between requests
            groups.setdefault(id(item[0]), []).append(item)
        for items in groups.values():
            pred = items[0][0]
            try:
                answers = pred.predict([r for _, records, _ in items for r in records])
            except Exception:  # noqa: BLE001 (isolate the failing request below)
                answers = None
            start = 0
            for _, records, future in items:
                if future.cancelled():
                    start += len(records)
                    continue
                if answers is not None:
                    future.set_result(answers[start : start + len(records)])
                else:
                    try:
                        future.set_result(pred.predict(records))
                    except Exception as exc:  # noqa: BLE001 (the handler re-raises it as its own error)
                        future.set_exception(exc)
                start += len(records)


def _store_records(records: list[dict[str, Any]], root: Path | None, lock: threading.Lock) -> dict[str, Any]:
    import pandas as pd  # noqa: PLC0415
    from perfcast.measurements.schema import records_to_frame  # noqa: PLC0415
    from perfcast.measurements.store import MeasurementStore  # noqa: PLC0415

    from perfcast.config import store_dir  # noqa: PLC0415

    with lock:
        report = MeasurementStore(root or store_dir()).append(records_to_frame(records))
    quarantine = report.quarantine_rows
    reasons = []
    if quarantine is not None and len(quarantine):
        # validate_frame numbers rows from 1 (`_line`, as in a file); answer positions in the request
        lines = pd.to_numeric(quarantine["_line"], errors="coerce") if "_line" in quarantine else pd.Series(dtype=float)
        for line, reason in zip(list(lines)[:100], list(quarantine["_reason"])[:100], strict=False):
            reasons.append({"index": int(line) - 1 if line == line else -1, "reason": str(reason)})
    return {
        "received": len(records),
        "stored": int(report.stored),
        "duplicates": int(report.duplicates),
        "quarantined": int(report.quarantined),
        "quarantine": reasons,
    }


async def _poll(holder: ModelHolder, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(holder.reload)
        except Exception:  # a broken registry must not take the service down: keep serving the old model
            metrics.RELOADS.labels(result="failed").inc()
            log.exception("model reload check failed; still serving %s", holder.predictor.version)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers (`perfcast serve --workers N`): settings come from PERFCAST_SERVE_* vars."""
    return create_app(
        os.environ["PERFCAST_SERVE_MODEL"],
        store_dir=os.environ.get("PERFCAST_SERVE_STORE") or None,
        reload_interval_s=float(os.environ.get("PERFCAST_SERVE_RELOAD_S", DEFAULT_RELOAD_INTERVAL_S)),
    )
