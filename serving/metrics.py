"""Prometheus metrics of the service: request counts, latency histograms per endpoint, model version.

With more than one uvicorn worker, `perfcast serve` sets `PROMETHEUS_MULTIPROC_DIR` before any worker
imports prometheus_client, so every worker writes its samples to shared files and `/metrics` (answered
by whichever worker) aggregates them all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Endpoints get their own label; anything else is `other` (bounded label cardinality).
ENDPOINTS = (
    "/v1/predict",
    "/v1/rank",
    "/v1/measurements",
    "/v1/models",
    "/v1/admin/reload",
    "/healthz",
    "/readyz",
    "/metrics",
)
LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

REQUESTS = Counter("perfcast_requests", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "perfcast_request_latency_seconds", "Time to answer a request", ["endpoint"], buckets=LATENCY_BUCKETS_S
)
RECORDS = Counter("perfcast_predicted_records", "Records predicted (rank candidates included)", ["endpoint"])
MODEL_INFO = Gauge(
    "perfcast_model_info", "The loaded model (1) and earlier ones (0)", ["model", "version"], multiprocess_mode="max"
)
RELOADS = Counter("perfcast_model_reloads", "Model swaps after the champion alias moved", ["result"])


def set_model(name: str, version: str, previous: tuple[str, str] | None = None) -> None:
    if previous is not None and previous != (name, version):
        MODEL_INFO.labels(model=previous[0], version=previous[1]).set(0)
    MODEL_INFO.labels(model=name, version=version).set(1)


def render() -> tuple[bytes, str]:
    """The exposition text; aggregated over worker processes in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it costs ~2x per request) timing every request."""

    def __init__(self, app: ASGIApp):
        self.app = app
        # pre-bound children: labels() is a dict lookup + lock each time otherwise
        self._latency = {e: LATENCY.labels(endpoint=e) for e in (*ENDPOINTS, "other")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in self._latency else "other"
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._latency[endpoint].observe(time.perf_counter() - start)
            REQUESTS.labels(endpoint=endpoint, method=scope.get("method", ""), status=str(status)).inc()


class BodyLimitMiddleware:
    """413 for request bodies over `max_bytes`, by Content-Length or by counting a streamed body."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_413(send, self.max_bytes)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _send_413(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _send_413(send: Send, max_bytes: int) -> None:
    body = f'{{"detail":"request body over {max_bytes} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
