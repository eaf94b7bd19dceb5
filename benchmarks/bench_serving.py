"""Serving latency and throughput: in-process Predictor and HTTP on loopback (bounded in count and time).

    python benchmarks/bench_serving.py [--model DIR|models:/perfcast-default@champion] [--no-http] [--quick]

Without a resolvable `--model` it trains one on real AutoHeuristic A100 data with `GBCostModel`'s default
hyperparameters (cached under .perfcast/bench_model). Numbers are medians (p50) and p99 of repeated calls;
each block also times the plain path in the same run, `OnnxCostModel.predict_frame` (featurize a
DataFrame + onnxruntime + DataFrame out), as the baseline.

"warm"/"repeated" = the query was answered before, so the Predictor's caches (feature rows and raw
graph outputs per query key) answer it (an autotuner re-ranking the same space, a service asked the
same config again); "features cached" = feature rows cached but onnxruntime runs; "cold" = never seen,
so the row is featurized on the request path (the Predictor's `compile_plan` path; `featurize` timed
beside it as the baseline). "NEW" rows use a problem size never asked before in every call.
HTTP load comes from `wrk` (apt-get install wrk) on 127.0.0.1 only; without wrk a bounded httpx client.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
A100 = "NVIDIA A100-SXM4-80GB"
GRID = {"BLOCK_M": [16, 32, 64, 128, 256], "BLOCK_N": [16, 32, 64, 128, 256], "BLOCK_K": [16, 32, 64, 128],
        "GROUP_M": [8], "num_warps": [2, 4, 8], "num_stages": [1, 2, 3, 4, 5]}  # fmt: skip
PROBLEM = {"M": 4096, "N": 4096, "K": 4096, "dtype": "fp16", "a_layout": "row", "b_layout": "row"}
KERNEL = "triton.matmul"
ROWS: list[tuple[str, str, float, float, str]] = []  # (section, what, p50, p99 or rate, unit/note)


def grid(n: int) -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, v, strict=True)) for v in itertools.islice(itertools.product(*GRID.values()), n)]


def timeit(fn: Callable[[int], object], n: int, budget_s: float) -> np.ndarray:
    """Per-call seconds of fn(i) for i < n, stopping early after budget_s."""
    times = []
    deadline = time.perf_counter() + budget_s
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return np.array(times)


def report(section: str, what: str, t: np.ndarray, scale: float, unit: str, target: str = "") -> float:
    p50, p99 = np.percentile(t, 50) * scale, np.percentile(t, 99) * scale
    ROWS.append((section, what, p50, p99, f"{unit} (n={len(t)}) {target}".rstrip()))
    print(f"  {what:<58} p50 {p50:10.1f} {unit}  p99 {p99:10.1f} {unit}  n={len(t)} {target}", flush=True)
    return p50


def model_dir(uri: str | None) -> Path:
    from perfcast.serving.predictor import resolve_model_dir

    if uri:
        return resolve_model_dir(uri)
    try:
        from perfcast.serving.cli import DEFAULT_MODEL

        return resolve_model_dir(DEFAULT_MODEL)
    except Exception as exc:  # no champion registered: train the benchmark's own model on real data
        print(f"(no champion: {exc}; training one on real A100 data)", flush=True)
    out = REPO / ".perfcast" / "bench_model"
    if (out / "model.json").is_file():
        return out
    from perfcast.measurements.ingest import read_path
    from perfcast.models import GBCostModel

    from perfcast.config import shared_datasets_dir

    frame = next(iter(read_path(shared_datasets_dir() / "autoheuristic_a100" / "a100_mm.zip"))).frame
    frame = frame[(frame["kernel"] == "triton.matmul") & (frame["problem.dtype"] == "fp16")]
    frame = frame.drop(columns=["problem.allow_tf32", "_line"], errors="ignore").sample(8000, random_state=0)
    t0 = time.perf_counter()
    GBCostModel().fit(frame.reset_index(drop=True)).save(out)
    print(f"(trained in {time.perf_counter() - t0:.0f} s -> {out})", flush=True)
    return out


def bench_in_process(directory: Path, quick: bool) -> None:
    import pandas as pd
    from perfcast.models import OnnxCostModel
    from perfcast.serving.autotune import complete_problem, problem_fields
    from perfcast.serving.predictor import Predictor

    pred = Predictor.load(directory)
    onnx = OnnxCostModel.load(directory)
    PROBLEM.update(complete_problem(PROBLEM, problem_fields(pred, KERNEL)))  # e.g. allow_tf32: null
    meta = json.loads((directory / "model.json").read_text())
    trees = meta.get("hyperparameters", {}).get("num_boost_round")
    print(f"model {directory} ({pred.meta.kernels}, targets {pred.targets}, {trees} rounds, "
          f"{len(onnx.output_names)} outputs, {len(onnx.schema.names)} features)")  # fmt: skip
    configs = grid(1500)
    n = 300 if quick else 2000

    def record(i: int, m: int = 4096) -> dict:
        return {"kernel": "triton.matmul", "system": A100, "params": configs[i % len(configs)], "problem": {**PROBLEM, "M": m}}

    def frame_of(records: list[dict]) -> pd.DataFrame:
        from perfcast.measurements.schema import records_to_frame

        return records_to_frame(records)

    from perfcast.features import compile_plan, featurize

    print("in-process: predict 1 config (runtime with q10/q90)")
    rec = record(0)
    pred.predict([rec])
    warm = report("in-process", "predict 1 config, warm (repeated)", timeit(lambda i: pred.predict([rec]), n, 10), 1e6, "µs", "(target p50 ≤ 150 µs)")
    fresh = n if not quick else 300  # never-seen configs: a new problem (M) and the next grid config per call
    new_rt = report("in-process", "predict 1 NEW config, runtime + q10/q90 (targets=)",
                    timeit(lambda i: pred.predict([record(i, 100_000 + i)], targets=("runtime_ms",)), fresh, 10), 1e6, "µs",
                    "(target p50 ≤ 150 µs)")  # fmt: skip
    cold = report("in-process", "predict 1 NEW config, all targets + intervals",
                  timeit(lambda i: pred.predict([record(i, 200_000 + i)]), fresh, 10), 1e6, "µs")  # fmt: skip
    one = frame_of([rec])
    plan = compile_plan(onnx.schema)
    columns = {c: one[c].to_numpy() for c in one.columns}
    plan.transform(columns)
    t_plan = report("in-process", "  features of 1 row: compile_plan(...).transform", timeit(lambda i: plan.transform(columns), n, 10), 1e6, "µs")
    t_feat = report("in-process", "  features of 1 row: baseline featurize(frame, schema)", timeit(lambda i: featurize(one, onnx.schema), 100, 10), 1e6, "µs")
    base = report("in-process", "baseline OnnxCostModel.predict_frame, 1 row", timeit(lambda i: onnx.predict_frame(one), 100, 10), 1e6, "µs")
    print(f"  -> plan {t_feat / t_plan:.0f}x faster than featurize; new-config predict {base / new_rt:.0f}x (runtime) "
          f"{base / cold:.0f}x (all) faster than the baseline; warm {base / warm:.0f}x")  # fmt: skip

    print("in-process: rank 1,000 candidates of one problem")
    cands = configs[:1000]
    pred.rank(A100, PROBLEM, cands, kernel=KERNEL)
    pred.rank(A100, PROBLEM, cands, kernel=KERNEL, top_k=10)
    k = 20 if quick else 60
    full = report("in-process", "rank 1000, repeated, all with intervals", timeit(lambda i: pred.rank(A100, PROBLEM, cands, kernel=KERNEL), k, 15), 1e3, "ms", "(target p50 ≤ 5 ms)")
    top = report("in-process", "rank 1000, repeated, top_k=10", timeit(lambda i: pred.rank(A100, PROBLEM, cands, kernel=KERNEL, top_k=10), k, 15), 1e3, "ms", "(target p50 ≤ 5 ms)")

    def features_only(i: int, top_k: int | None) -> None:
        pred._raw.clear()  # feature rows cached, graph outputs not: onnxruntime runs every call
        pred.rank(A100, PROBLEM, cands, kernel=KERNEL, top_k=top_k)

    report("in-process", "rank 1000, features cached, onnxruntime each call, all", timeit(lambda i: features_only(i, None), k, 15), 1e3, "ms")
    report("in-process", "rank 1000, features cached, onnxruntime each call, top_k=10", timeit(lambda i: features_only(i, 10), k, 15), 1e3, "ms")
    k_new = 15 if quick else 60
    report("in-process", "rank 1000 NEW (new problem each call), runtime, top_k=10",
           timeit(lambda i: pred.rank(A100, {**PROBLEM, "M": 300_000 + i}, cands, top_k=10, kernel=KERNEL, targets=("runtime_ms",)),
                  k_new, 20), 1e3, "ms", "(target p50 ≤ 5 ms)")  # fmt: skip
    report("in-process", "rank 1000 NEW, runtime + q10/q90 for all 1000",
           timeit(lambda i: pred.rank(A100, {**PROBLEM, "M": 400_000 + i}, cands, kernel=KERNEL, targets=("runtime_ms",)), k_new, 20),
           1e3, "ms")  # fmt: skip
    report("in-process", "rank 1000 NEW, all targets, top_k=10",
           timeit(lambda i: pred.rank(A100, {**PROBLEM, "M": 500_000 + i}, cands, top_k=10, kernel=KERNEL), k_new, 20), 1e3, "ms")  # fmt: skip
    pred2 = Predictor.load(directory, threads=2)
    report("in-process", "rank 1000 NEW, runtime, top_k=10, onnxruntime 2 threads",
           timeit(lambda i: pred2.rank(A100, {**PROBLEM, "M": 600_000 + i}, cands, top_k=10, kernel=KERNEL, targets=("runtime_ms",)),
                  k_new, 20), 1e3, "ms")  # fmt: skip
    frame = frame_of([{"kernel": "triton.matmul", "system": A100, "params": c, "problem": PROBLEM} for c in cands])
    cols = {"kernel": KERNEL, "system": A100, **{f"problem.{k}": v for k, v in PROBLEM.items()},
            **{f"params.{k}": [c[k] for c in cands] for k in cands[0]}}  # fmt: skip
    report("in-process", "  features of 1000 rows: compile_plan(...).transform", timeit(lambda i: plan.transform(cols), 30, 10), 1e3, "ms")
    report("in-process", "  features of 1000 rows: baseline featurize(frame, schema)", timeit(lambda i: featurize(frame, onnx.schema), 30, 10), 1e3, "ms")

    def baseline_rank(i: int) -> None:
        out = onnx.predict_frame(frame)
        np.argsort(out["pred.runtime_ms"].to_numpy())

    base = report("in-process", "baseline predict_frame 1000 rows + argsort", timeit(baseline_rank, 10 if quick else 30, 15), 1e3, "ms")
    print(f"  -> repeated full rank {base / full:.1f}x, repeated top_k {base / top:.1f}x faster than the baseline")
    x = np.stack(list(pred._features.values())[:1000]).astype(np.float32)
    report("in-process", "  of which onnxruntime alone, 1000 rows, all outputs",
           timeit(lambda i: onnx.session.run(None, {"X": x}), 20, 10), 1e3, "ms")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk(url: str, body: dict | None, connections: int, seconds: int, vary_m: bool = False) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from wrk on loopback."""
    payload = json.dumps(body)
    if vary_m:  # a new problem size per request: every request misses the feature cache
        head, tail = payload.split('"M": 4096', 1)
        lua = (f'local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format("POST", nil, '
               f'{{["Content-Type"]="application/json"}}, {json.dumps(head)} .. \'"M": \' .. (100000 + n) .. '
               f'{json.dumps(tail)})\nend\n')  # fmt: skip
    else:
        lua = f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(payload)}\n'
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "body.lua"
        script.write_text(lua)
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                             capture_output=True, text=True, timeout=seconds + 30).stdout  # fmt: skip
    rate = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))

    def pct(label: str) -> float:
        for line in out.splitlines():
            parts = line.split()
            if parts[:1] == [label]:
                v = parts[1]
                return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
        return float("nan")

    errors = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if errors:
        print("  wrk:", "; ".join(errors))
    return rate, pct("50%"), pct("99%")


def bench_http(directory: Path, quick: bool, workers: int) -> None:
    import httpx

    port = _free_port()
    env = {**os.environ, "PERFCAST_ORT_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "perfcast.cli", "serve", "--model", str(directory), "--port", str(port),
                               "--workers", str(workers), "--reload-interval", "0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready: " + server.stderr.read().decode()[-2000:])
        print(f"HTTP on 127.0.0.1 ({workers} uvicorn workers, onnxruntime 1 thread each)")
        cands = grid(100)
        rank_body = {"kernel": "triton.matmul", "system": A100, "problem": PROBLEM, "candidates": cands}
        with httpx.Client(base_url=base) as client:
            for _ in range(3 * workers):  # every worker sees the candidates once (warm feature cache)
                assert client.post("/v1/rank", json=rank_body).status_code == 200
            t = timeit(lambda i: client.post("/v1/rank", json=rank_body), 100 if quick else 400, 15)
        report("HTTP", "/v1/rank 100 candidates, concurrency 1, warm", t, 1e3, "ms", "(target p50 ≤ 3 ms)")
        one = {"records": [{"kernel": "triton.matmul", "system": A100, "params": cands[0], "problem": PROBLEM}]}
        seconds = 4 if quick else 10
        if shutil.which("wrk"):
            for label, vary in (("warm", False), ("cold: new problem size every request", True)):
                rate, p50, p99 = _wrk(base + "/v1/predict", one, 16, seconds, vary_m=vary)
                ROWS.append(("HTTP", f"/v1/predict 1 record, concurrency 16, {label}", rate, p99,
                             f"req/s; p50 {p50:.2f} ms, p99 {p99:.2f} ms (wrk {seconds} s)" +
                             (" (target ≥ 1,500 req/s)" if not vary else "")))  # fmt: skip
                print(f"  /v1/predict 1 record, c=16, {label:<40} {rate:8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms")
        else:
            print("  (wrk not installed: apt-get install wrk; skipping the concurrency-16 throughput run)")
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory or models:/ URI (default: champion, else train)")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PERFCAST_ORT_THREADS", "1")
    directory = model_dir(args.model)
    # the machine is shared: say how busy it was, numbers scale with it
    load_before = os.getloadavg()[0]
    bench_in_process(directory, args.quick)
    if not args.no_http:
        bench_http(directory, args.quick, args.workers)
    print(f"\n{os.cpu_count()} cores; 1-min load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print("\n| where | what | p50 (or req/s) | p99 | unit / note |\n|---|---|---:|---:|---|")
    for section, what, a, b, note in ROWS:
        print(f"| {section} | {what} | {a:,.1f} | {b:,.1f} | {note} |")


if __name__ == "__main__":
    main()
