"""The HTTP service: endpoints, bad input (422/413/400, never 500), metrics, hot reload, Client."""

# ruff: noqa: F811  (pytest fixtures imported from test_serving_helpers are "redefined" as arguments)
from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn
from fastapi.testclient import TestClient
from perfcast.serving.app import create_app
from perfcast.serving.client import Client, PerfcastHTTPError
from perfcast.serving.predictor import Predictor
from perfcast.serving.schemas import MAX_IR_CHARS, MAX_RECORDS
from test_serving_helpers import (  # noqa: F401 (fixtures)
    A100,
    ah_frames,
    power_model_dir,
    query_record,
    runtime_model_dir,
    runtime_model_dir_v2,
)


@pytest.fixture(scope="module")
def app_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api_store")


@pytest.fixture(scope="module")
def client(runtime_model_dir: Path, app_store: Path) -> TestClient:
    app = create_app(runtime_model_dir, store_dir=app_store, reload_interval_s=0)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def heldout_records(ah_frames: tuple[pd.DataFrame, pd.DataFrame]) -> list[dict]:
    return [query_record(r) for _, r in ah_frames[1].head(20).iterrows()]


def test_predict_answers_each_record_with_intervals_and_version(client: TestClient, heldout_records: list[dict],
                                                                runtime_model_dir: Path) -> None:  # fmt: skip
    r = client.post("/v1/predict", json={"records": heldout_records})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = Predictor.load(runtime_model_dir).predict(heldout_records)
    assert body["model_version"].startswith("sha-")
    assert [p["runtime_ms"] for p in body["predictions"]] == [p["runtime_ms"] for p in expected]
    assert all(p["power_w"] is None and p["energy_j"] is None for p in body["predictions"])


def test_rank_sorts_candidates_and_honours_top_k(client: TestClient, heldout_records: list[dict]) -> None:
    problem = heldout_records[0]["problem"]
    candidates = [r["params"] for r in heldout_records]
    r = client.post("/v1/rank", json={"system": "A100", "problem": problem, "candidates": candidates, "top_k": 3})
    assert r.status_code == 200, r.text
    ranked = r.json()["candidates"]
    assert len(ranked) == 3 and [c["score"] for c in ranked] == sorted(c["score"] for c in ranked)
    assert ranked[0]["params"] == candidates[ranked[0]["index"]]
    r = client.post("/v1/rank", json={"system": "A100", "problem": problem, "candidates": candidates,
                                      "objective": "energy"})  # fmt: skip
    assert r.status_code == 400 and "power_w" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"records": [{"system": "A100", "params": {}, "problem": {}}]}, "kernel"),
        ({"records": [{"kernel": "triton.matmul", "system": "A100", "params": {"BLOCK_M": [1, 2]}}]}, "BLOCK_M"),
        ({"records": []}, "records"),
        ({"records": [{"kernel": "triton.matmul", "system": "A100", "params": {"BLOCK_M": 2**60}}]}, "BLOCK_M"),
        ({"records": [{"kernel": "triton.matmul", "system": "A100", "colour": "red"}]}, "colour"),
    ],
)
def test_validation_errors_are_422_naming_the_field(client: TestClient, body: dict, field: str) -> None:
    r = client.post("/v1/predict", json=body)
    assert r.status_code == 422
    assert any(field in [str(x) for x in err["loc"]] for err in r.json()["detail"]), r.json()


def test_nan_and_inf_are_rejected(client: TestClient) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = '{"records": [{"kernel": "triton.matmul", "system": "A100", "params": {"BLOCK_M": LIT}}]}'
        raw = raw.replace("LIT", literal)
        r = client.post("/v1/predict", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (literal, r.text)
    r = client.post("/v1/measurements", content='{"records": [{"kernel": "k", "system": "A100", "runtime_ms": NaN}]}',
                    headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 422


def test_too_many_records_or_too_much_ir_is_413(client: TestClient, heldout_records: list[dict]) -> None:
    record = heldout_records[0]
    r = client.post("/v1/predict", json={"records": [record] * (MAX_RECORDS + 1)})
    assert r.status_code == 413 and str(MAX_RECORDS) in r.json()["detail"]
    r = client.post("/v1/predict", json={"records": [{**record, "ir": {"ttgir": "x" * (MAX_IR_CHARS + 1)}}]})
    assert r.status_code == 413
    r = client.post("/v1/rank", json={"system": "A100", "problem": {}, "candidates": [{}] * (MAX_RECORDS + 1)})
    assert r.status_code == 413


def test_unknown_system_or_kernel_is_400_listing_the_known(client: TestClient, heldout_records: list[dict]) -> None:
    record = heldout_records[0]
    r = client.post("/v1/predict", json={"records": [{**record, "system": "Voodoo2"}]})
    assert r.status_code == 400
    assert r.json()["field"] == "records.0.system" and A100 in r.json()["known"]
    r = client.post("/v1/rank", json={"kernel": "cutlass.gemm", "system": "A100", "problem": {}, "candidates": [{}]})
    assert r.status_code == 400 and r.json()["known"] == ["triton.matmul"]
    # a record without a field the model reads: 400 naming it, also when sent with complete records
    partial = {**record, "params": {k: v for k, v in record["params"].items() if k != "num_warps"}}
    r = client.post("/v1/predict", json={"records": [record, partial]})
    assert r.status_code == 400 and r.json()["field"] == "records.1.params" and "params.num_warps" in r.json()["detail"]
    r = client.post("/v1/rank", json={"system": "A100", "problem": record["problem"], "candidates": [record["params"], partial["params"]]})
    assert r.status_code == 400 and r.json()["field"] == "candidates.params"
    # an IR kind the IR features do not know: 400 saying so
    r = client.post("/v1/predict", json={"records": [{**record, "ir": {"sass": "IMAD R1, R2"}}]})
    assert r.status_code == 400 and "sass" in r.json()["detail"]
    # a value of the wrong kind for a feature: a clear 400, not a 500
    bad = {**record, "params": {**record["params"], "BLOCK_M": "big"}}
    r = client.post("/v1/predict", json={"records": [bad]})
    assert r.status_code == 400 and "BLOCK_M" in r.json()["detail"]
    # a tile size no stored measurement could have: a 400 naming it, not a confident made-up runtime
    negative = {**record["params"], "BLOCK_M": -128}
    r = client.post("/v1/predict", json={"records": [record, {**record, "params": negative}]})
    assert r.status_code == 400 and r.json()["field"] == "records.1.params.BLOCK_M" and "-128" in r.json()["detail"]
    r = client.post("/v1/rank", json={"system": "A100", "problem": record["problem"], "candidates": [record["params"], negative]})
    assert r.status_code == 400 and r.json()["field"] == "candidates.1.BLOCK_M"


def test_measurements_are_stored_deduplicated_and_quarantined(client: TestClient, ah_frames: tuple, app_store: Path) -> None:
    rows = ah_frames[1].head(5)
    records = [{**query_record(r), "runtime_ms": float(r["runtime_ms"]), "status": "ok", "source": "test"}
               for _, r in rows.iterrows()]  # fmt: skip
    bad = {**records[0], "runtime_ms": -1.0}
    r = client.post("/v1/measurements", json={"records": [*records, bad]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["received"], body["stored"], body["quarantined"]) == (6, 5, 1)
    assert body["quarantine"][0]["index"] == 5 and "runtime_ms" in body["quarantine"][0]["reason"]
    again = client.post("/v1/measurements", json={"records": records}).json()
    assert again["stored"] == 0 and again["duplicates"] == 5
    from perfcast.measurements.store import MeasurementStore

    assert len(MeasurementStore(app_store).read()) == 5
    # a store file broken outside perfcast (a disk fault, a half-copied backup): 503 naming it, not a 500
    (part,) = MeasurementStore(app_store).files()
    original = part.read_bytes()
    part.write_bytes(original[: len(original) // 2])
    try:
        r = client.post("/v1/measurements", json={"records": [{**records[0], "runtime_ms": 0.123}]})
        assert r.status_code == 503 and str(part) in r.json()["detail"] and "unreadable store file" in r.json()["detail"]
    finally:
        part.write_bytes(original)


def test_models_health_ready_and_metrics(client: TestClient, heldout_records: list[dict]) -> None:
    models = client.get("/v1/models").json()["models"]
    assert models[0]["targets"] == ["runtime_ms"] and models[0]["kernels"] == ["triton.matmul"]
    assert len(models[0]["feature_schema_version"]) == 16
    assert "params.BLOCK_M" in models[0]["inputs"]["triton.matmul"]
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["model_version"] == models[0]["version"]
    client.post("/v1/predict", json={"records": heldout_records[:1]})
    text = client.get("/metrics").text
    assert 'perfcast_requests_total{endpoint="/v1/predict",method="POST",status="200"}' in text
    assert 'perfcast_request_latency_seconds_bucket{endpoint="/v1/predict",le="0.005"}' in text
    assert f'perfcast_model_info{{model="{models[0]["name"]}",version="{models[0]["version"]}"}} 1.0' in text
    assert client.get("/openapi.json").json()["paths"]["/v1/rank"]["post"]["responses"]["400"]


def test_hot_reload_swaps_models_without_failing_requests(runtime_model_dir: Path, runtime_model_dir_v2: Path,
                                                          tmp_path: Path, heldout_records: list[dict]) -> None:  # fmt: skip
    live = tmp_path / "champion"
    shutil.copytree(runtime_model_dir, live)
    app = create_app(live, reload_interval_s=0)
    with TestClient(app) as c:
        v1 = c.get("/v1/models").json()["models"][0]["version"]
        assert c.post("/v1/admin/reload").json()["reloaded"] is False
        stop = threading.Event()
        statuses: list[int] = []

        def hammer() -> None:
            while not stop.is_set():
                statuses.append(c.post("/v1/predict", json={"records": heldout_records[:2]}).status_code)

        worker = threading.Thread(target=hammer)
        worker.start()
        # "the alias moves": the directory now holds another model; swap it in while requests run
        staged = tmp_path / "staged"
        shutil.copytree(runtime_model_dir_v2, staged)
        for name in ("model.onnx", "feature_schema.json", "model.json"):
            (staged / name).replace(live / name)
        answer = c.post("/v1/admin/reload").json()
        time.sleep(0.2)
        stop.set()
        worker.join()
        assert answer["reloaded"] is True and answer["previous_version"] == v1 and answer["model_version"] != v1
        assert c.post("/v1/predict", json={"records": heldout_records[:1]}).json()["model_version"] == answer["model_version"]
        assert statuses and set(statuses) == {200}


def test_reload_polling_follows_the_directory(runtime_model_dir: Path, runtime_model_dir_v2: Path, tmp_path: Path) -> None:
    live = tmp_path / "champion"
    shutil.copytree(runtime_model_dir, live)
    with TestClient(create_app(live, reload_interval_s=0.2)) as c:
        v1 = c.get("/readyz").json()["model_version"]
        shutil.copy(runtime_model_dir_v2 / "model.onnx", live / "model.onnx")
        shutil.copy(runtime_model_dir_v2 / "model.json", live / "model.json")
        deadline = time.time() + 10
        while time.time() < deadline and c.get("/readyz").json()["model_version"] == v1:
            time.sleep(0.1)
        assert c.get("/readyz").json()["model_version"] != v1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client_over_loopback_matches_the_in_process_predictor(runtime_model_dir: Path, heldout_records: list[dict],
                                                               tmp_path: Path) -> None:  # fmt: skip
    port = _free_port()
    app = create_app(runtime_model_dir, store_dir=tmp_path / "store", reload_interval_s=0)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1",
                                           port=port, log_level="error"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            deadline = time.time() + 20
            while not client.ready() and time.time() < deadline:
                time.sleep(0.05)
            local = Predictor.load(runtime_model_dir)
            assert client.predict([{**heldout_records[0], "system": "H100"}]) == [{}]  # not measured there
            assert client.unanswered == [
                "runtime_ms: this model has no runtime_ms measurements of triton.matmul on NVIDIA H100 80GB HBM3 (asked as 'H100'); "
                f"it has them on {A100}"]
            assert client.predict(heldout_records) == local.predict(heldout_records)
            assert client.unanswered == []
            problem = heldout_records[0]["problem"]
            candidates = [r["params"] for r in heldout_records]
            assert client.rank("A100", problem, candidates, top_k=4) == local.rank("A100", problem, candidates, top_k=4)
            with pytest.raises(PerfcastHTTPError) as err:
                client.rank("Voodoo2", problem, candidates)
            assert err.value.status == 400 and A100 in err.value.known
            assert client.models()[0]["kernels"] == ["triton.matmul"]
            assert client.reload()["reloaded"] is False  # a directory that did not change
            measured = [{**r, "runtime_ms": 0.5, "status": "ok"} for r in heldout_records[:3]]
            assert client.add_measurements(measured)["stored"] == 3
            with pytest.raises(PerfcastHTTPError) as err:
                client.predict([{"kernel": "triton.matmul"}])
            assert err.value.status == 422
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_concurrent_cold_requests_are_batched_and_a_bad_one_fails_alone(runtime_model_dir: Path,
                                                                         heldout_records: list[dict]) -> None:  # fmt: skip
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime_model_dir, reload_interval_s=0), host="127.0.0.1",
                                           port=port, log_level="error"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # distinct problems: nothing is in the feature cache, every request goes through the batcher
    records = [{**r, "problem": {**r["problem"], "M": 1000 + i}} for i, r in enumerate(heldout_records * 2)]
    bad = {**records[0], "params": {**records[0]["params"], "BLOCK_M": "big"}}
    bodies = [{"records": [r]} for r in records] + [{"records": [bad]}]
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            deadline = time.time() + 20
            while not client.ready() and time.time() < deadline:
                time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http, ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda b: http.post("/v1/predict", json=b), bodies))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [a.status_code for a in answers] == [200] * len(records) + [400]
    expected = Predictor.load(runtime_model_dir).predict(records)
    assert [a.json()["predictions"][0]["runtime_ms"] for a in answers[:-1]] == [e["runtime_ms"] for e in expected]


def test_schemathesis_finds_no_server_errors(runtime_model_dir: Path, tmp_path: Path) -> None:
    """Property-based run over every operation of the OpenAPI document (bounded examples and time):
    schema-valid requests (positive mode) and schema-invalid ones (negative mode)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    app = create_app(runtime_model_dir, store_dir=tmp_path / "store", reload_interval_s=0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    statuses: dict[GenerationMode, list[int]] = {mode: [] for mode in GenerationMode}
    started = time.time()

    def run(operation: Any, mode: GenerationMode, examples: int) -> None:
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            response = case.call()
            statuses[mode].append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{operation.label} ({mode.value}): {response.status_code} for {case.body!r:.300}")

        check()

    for result in schema.get_all_operations():
        operation = result.ok()
        run(operation, GenerationMode.POSITIVE, 50)
        # an operation with no input to get wrong (GET /healthz, /v1/models, ...) has no negative case
        with contextlib.suppress(Unsatisfiable):
            run(operation, GenerationMode.NEGATIVE, 20)
        assert time.time() - started < 180, "schemathesis run over its time budget"
    assert not failures, failures[:5]
    # it really exercised the service: many calls, valid ones answered 200 (or 400 where the model cannot
    # answer a well-formed request, e.g. an unknown kernel) and schema-invalid bodies 422 (a negative case
    # the service may ignore, e.g. an unused query parameter, can still be a 200), never 5xx
    positive, negative = statuses[GenerationMode.POSITIVE], statuses[GenerationMode.NEGATIVE]
    assert len(positive) > 50 and 200 in positive, sorted(set(positive))
    assert 422 in negative, sorted(set(negative))


def test_perfcast_serve_with_two_workers_aggregates_metrics(runtime_model_dir: Path, heldout_records: list[dict]) -> None:
    """`perfcast serve --workers 2`: both workers answer, /metrics sums them (prometheus multiprocess mode)."""
    import subprocess
    import sys

    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "perfcast.cli", "serve", "--model", str(runtime_model_dir),
                             "--port", str(port), "--workers", "2", "--reload-interval", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with Client(base) as client:
            deadline = time.time() + 60
            while not client.ready():
                assert time.time() < deadline and proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.2)
            with httpx.Client(base_url=base) as http:  # new connections spread over both workers
                for _ in range(20):
                    assert http.post("/v1/predict", json={"records": heldout_records[:1]}, headers={"connection": "close"}).status_code == 200
                text = http.get("/metrics").text
        line = next(x for x in text.splitlines() if x.startswith('perfcast_requests_total{endpoint="/v1/predict"'))
        assert float(line.rsplit(" ", 1)[1]) == 20.0, line
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_broken_new_model_keeps_the_old_one_serving(runtime_model_dir: Path, tmp_path: Path, heldout_records: list[dict]) -> None:
    live = tmp_path / "champion"
    shutil.copytree(runtime_model_dir, live)
    with TestClient(create_app(live, reload_interval_s=0)) as c:
        version = c.get("/readyz").json()["model_version"]
        (live / "model.json").write_text('{"format_version": 1, "targets": {}}')  # half-written / broken
        r = c.post("/v1/admin/reload")
        assert r.status_code == 503 and "still serving" in r.json()["detail"]
        answer = c.post("/v1/predict", json={"records": heldout_records[:1]})
        assert answer.status_code == 200 and answer.json()["model_version"] == version
