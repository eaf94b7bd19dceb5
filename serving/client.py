"""`Client(url)`: the `Predictor` API over HTTP (same arguments, same answers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx


class PerfcastHTTPError(RuntimeError):
    """A non-2xx answer; `status`, `detail` and (for unknown names) `known` come from the service."""

    def __init__(self, status: int, detail: Any, known: list[str] | None = None):
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail
        self.known = known


class Client:
    """Talks to `perfcast serve`; one keep-alive connection pool per client."""

    def __init__(self, url: str = "http://127.0.0.1:8000", *, timeout_s: float = 30.0):
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)
        #: Why the last `predict`/`rank` answer left targets out (the service's `unanswered`; [] if none).
        self.unanswered: list[str] = []

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            try:
                payload = response.json()
            except ValueError:
                payload = {"detail": response.text}
            raise PerfcastHTTPError(response.status_code, payload.get("detail"), payload.get("known"))
        return response.json()

    def predict(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, dict[str, float]]]:
        """Like `Predictor.predict`: per record `{target: {"value", "q10", "q90"}}`."""
        answer = self._call("POST", "/v1/predict", {"records": [dict(r) for r in records]})
        self.unanswered = answer.get("unanswered") or []
        return [{k: v for k, v in p.items() if v is not None} for p in answer["predictions"]]

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
    ) -> list[dict[str, Any]]:
        """Like `Predictor.rank`: candidates best first with `index`, `params`, `score`, `prediction`."""
        body: dict[str, Any] = {
            "system": system,
            "problem": dict(problem),
            "candidates": [dict(c) for c in candidates],
            "objective": objective,
        }
        for key, value in (("top_k", top_k), ("kernel", kernel), ("ir", dict(ir) if ir else None)):
            if value is not None:
                body[key] = value
        answer = self._call("POST", "/v1/rank", body)
        self.unanswered = answer.get("unanswered") or []
        for item in answer["candidates"]:
            item["prediction"] = {k: v for k, v in item["prediction"].items() if v is not None}
        return answer["candidates"]

    def add_measurements(self, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """POST canonical measurements; returns received/stored/duplicates/quarantined counts."""
        return self._call("POST", "/v1/measurements", {"records": [dict(r) for r in records]})

    def models(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/models")["models"]

    def reload(self) -> dict[str, Any]:
        return self._call("POST", "/v1/admin/reload")

    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False
