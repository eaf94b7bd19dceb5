"""`perfcast serve`: run the HTTP prediction service (uvicorn, loopback by default)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from perfcast.config import STORE_HELP

DEFAULT_MODEL = "models:/perfcast-default@champion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=os.environ.get("PERFCAST_MODEL", DEFAULT_MODEL),
        help=f"model directory or registry URI (default: $PERFCAST_MODEL or {DEFAULT_MODEL})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (one per core is best)")
    parser.add_argument("--store", default=None, help=STORE_HELP + "; POST /v1/measurements writes to it")
    parser.add_argument(
        "--reload-interval", type=float, default=30.0, help="seconds between alias checks for a new champion (0: off)"
    )
    parser.add_argument("--log-level", default="warning")


def example_request(predictor: Any, host: str = "127.0.0.1", port: int = 8000) -> str:
    """A `curl` command ranking a few configs the loaded model knows, to paste into a shell."""
    body = example_rank_body(predictor)
    return (
        f"curl -s http://{host}:{port}/v1/rank -H 'content-type: application/json' \\\n"
        f"  -d '{json.dumps(body, separators=(',', ':'))}'"
    )


#: Typical values used to build an example request from a model's input columns.
_EXAMPLE_PARAMS: dict[str, list[Any]] = {
    "BLOCK_M": [64, 128], "BLOCK_N": [64, 128], "BLOCK_K": [32, 64], "GROUP_M": [8], "num_warps": [4, 8],
    "num_stages": [3, 4], "TILE": [8, 16, 32],
    # CLBlast/CLTune xgemm (Kernel Tuner GEMM, SGEMM UCI): valid tilings around the fast 128x128 region
    "MWG": [64, 128], "NWG": [64, 128], "KWG": [32], "MDIMC": [16], "NDIMC": [8, 16], "MDIMA": [16], "NDIMB": [16],
    "KWI": [2], "VWM": [2, 4], "VWN": [2], "STRM": [0], "STRN": [0], "SA": [1], "SB": [1],
}  # fmt: skip
_A100 = "NVIDIA A100-SXM4-80GB"
_EXAMPLE_PROBLEM: dict[str, Any] = {"M": 4096, "N": 4096, "K": 4096, "dtype": "fp16", "a_layout": "row", "b_layout": "col"}


def example_rank_body(predictor: Any) -> dict[str, Any]:
    """A small `/v1/rank` request built from the model itself: a kernel it knows (triton.matmul when it
    can), a system it was trained on and every input column its feature schema reads for that kernel
    (typical values; null where no typical value is known, which the model reads as missing)."""
    import itertools  # noqa: PLC0415

    meta = predictor.meta
    info = json.loads((meta.directory / "model.json").read_text()) if (meta.directory / "model.json").is_file() else {}
    data = info.get("data") or {}
    kernel_rows = data.get("kernels") or {}
    kernel = "triton.matmul" if "triton.matmul" in meta.kernels else max(meta.kernels, key=lambda k: kernel_rows.get(k, 0))
    systems = data.get("systems") or {}
    if kernel == "triton.matmul" and _A100 in systems:
        system = _A100  # the AutoHeuristic Triton sweeps
    else:
        system = max(systems, key=systems.get) if systems else _A100
    # a model that answers runtime on named systems only (an adaptation: its one new GPU) gets one of those
    measured = [p.split(" on ", 1)[1] for p in predictor.measured_on("runtime_ms") if p.startswith(f"{kernel} on ")]
    if measured and "*" not in measured and system not in measured:
        system = measured[0]
    inputs = predictor.inputs(kernel)
    params = [c.split(".", 1)[1] for c in inputs if c.startswith("params.")]
    problem = {k: _EXAMPLE_PROBLEM.get(k) for k in (c.split(".", 1)[1] for c in inputs if c.startswith("problem."))}
    grid = [_EXAMPLE_PARAMS.get(p, [1]) for p in params]
    candidates = [dict(zip(params, values, strict=True)) for values in itertools.islice(itertools.product(*grid), 8)]
    rows = getattr(predictor.model, "measured_rows", None)  # an adaptation keeps the new GPU's measurements
    if rows is not None and (rows["kernel"] == kernel).any():
        # its most measured problem and the 8 fastest configs measured there: a real request, not typical values
        from perfcast.measurements.schema import frame_to_records  # noqa: PLC0415
        from perfcast.models.calibration import problem_keys  # noqa: PLC0415

        rows = rows[rows["kernel"] == kernel]
        keys = problem_keys(rows)
        fastest = frame_to_records(rows[keys == keys.value_counts().index[0]].nsmallest(8, "runtime_ms"))
        problem = {k: fastest[0].get("problem", {}).get(k) for k in problem}  # null where not measured
        candidates = [{p: r.get("params", {}).get(p) for p in params} for r in fastest]
    return {"kernel": kernel, "system": system, "problem": problem, "candidates": candidates or [{}], "top_k": 3}


def serve(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    store: str | None = None,
    reload_interval_s: float = 30.0,
    log_level: str = "warning",
    print_example: bool = True,
) -> int:
    """Run the service until interrupted (what `perfcast serve` and the quickstart call)."""
    import uvicorn  # noqa: PLC0415
    from perfcast.serving.predictor import Predictor, resolve_model_dir  # noqa: PLC0415

    try:
        model_dir = resolve_model_dir(model)
    except Exception as exc:  # the CLI reports any resolve failure as one clear line
        print(f"perfcast serve: cannot resolve model {model!r}: {exc}", file=sys.stderr)
        return 2
    print(f"perfcast serve: model {model} -> {model_dir}", file=sys.stderr)
    os.environ["PERFCAST_SERVE_MODEL"] = str(model)
    os.environ["PERFCAST_SERVE_RELOAD_S"] = str(reload_interval_s)
    if store:
        os.environ["PERFCAST_SERVE_STORE"] = str(Path(store).resolve())
    # onnxruntime: one intra-op thread per worker process; the workers are the parallelism
    os.environ.setdefault("PERFCAST_ORT_THREADS", "1")
    os.environ.setdefault("PERFCAST_ORT_BATCH_THREADS", "1")  # big ranks too: no worker takes two cores
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # must be set before any worker imports prometheus_client
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="perfcast-prom-")
    if print_example:
        print(f"perfcast serve: try\n{example_request(Predictor.load(model_dir), host, port)}", file=sys.stderr)
    print(f"perfcast serve: http://{host}:{port} (OpenAPI docs at /docs, {workers} worker(s))", file=sys.stderr)
    uvicorn.run(
        "perfcast.serving.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )
    return 0


def main(args: argparse.Namespace) -> int:
    return serve(
        args.model,
        host=args.host,
        port=args.port,
        workers=args.workers,
        store=args.store,
        reload_interval_s=args.reload_interval,
        log_level=args.log_level,
    )
