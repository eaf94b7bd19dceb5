"""Kernel Tuner output -> canonical records: the plain cache JSON (`.json[.gz]`) and the T4 results schema.

Cache file: `{"device_name", "kernel_name", "problem_size", "tune_params_keys", "tune_params",
"cache": {"<config key>": {<param>: value, ..., "time": ms | "RuntimeFailedConfig" | ..., "times": [...],
"timestamp"?}}}`.
- `Xgemm` (CLBlast) -> `clblast.xgemm`: params are the tune params except PRECISION, which becomes
  `problem.dtype` (32 -> fp32, 16 -> fp16, 64 -> fp64); problem M=N=K=4096 (the benchmark_hub GEMM set's
  square 4096 problem; the file's `problem_size` is `[4096, 4096]`).
- `convolution_kernel` -> `kerneltuner.convolution`: params as given; problem `size_x`/`size_y` from the
  file's `problem_size`, dtype fp32 (the kernel computes in float).
- any other kernel -> `kerneltuner.<kernel_name>`, params as given, problem `size_x`/`size_y`.
`time` -> `runtime_ms`, `times` -> `runtime_ms_samples`. Error strings (`RuntimeFailedConfig`,
`CompilationFailedConfig`, `InvalidConfig`) -> `status: failed` rows without targets (kept, not dropped),
the error in `meta.error`; `compile_time` -> `meta.compile_time_ms`, `GFLOP/s` -> `meta.gflops`.
The system is `device_name`, or the file name (`MI250X.json.gz`) where the name is empty.

T4 results (`{"schema_version", "results": [{"timestamp", "configuration", "times": {"runtimes", ...},
"invalidity": "correct" | "compile" | "runtime" | "timeout" | "constraints" | "correctness",
"measurements": [{"name": "time", "value": ms, "unit": "ms"}, ...], "objectives"}]}`, Kernel Tuner's
`store_output_file`): T4 files carry neither device nor kernel nor problem, so those come from a cache
file beside it with the same stem (`A100_T4.json` -> `A100.json.gz`), else from the file name (system)
and the folder name (`gemm*` -> `clblast.xgemm`, `convolution*` -> `kerneltuner.convolution`), or from
the `system=`/`kernel=` options. `invalidity` maps to status: correct -> ok, timeout -> timeout,
compile/runtime -> failed, constraints/correctness -> invalid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from perfcast.measurements.ingest._common import (
    IngestChunk,
    IngestError,
    canonical_system,
    list_column,
    open_text,
    rejects_frame,
    strip_compression,
)
from perfcast.measurements.validate import LINE_COLUMN

PRECISION_DTYPES = {16: "fp16", 32: "fp32", 64: "fp64", 3232: "fp32", 6464: "fp64"}
T4_STATUS = {"correct": "ok", "timeout": "timeout", "compile": "failed", "runtime": "failed",
             "constraints": "invalid", "correctness": "invalid"}
KERNEL_FAMILIES = {"xgemm": "clblast.xgemm", "convolution_kernel": "kerneltuner.convolution"}
GEMM_PROBLEM = 4096


def sniff(path: Path, head: bytes) -> str | None:
    """'cache' or 't4' when the (decompressed) head looks like either, else None."""
    text = head.lstrip()
    if not text.startswith(b"{"):
        return None
    if b'"cache"' in head or b'"tune_params_keys"' in head or b'"device_name"' in head:
        return "cache"
    if b'"results"' in head:
        return "t4"
    return None  # a T4 *metadata* file ({"schema_version", "metadata"}) holds no measurements


def _family(kernel_name: str) -> str:
    key = (kernel_name or "").strip().lower()
    if key in KERNEL_FAMILIES:
        return KERNEL_FAMILIES[key]
    slug = re.sub(r"[^a-z0-9_]+", "_", key).strip("_") or "kernel"
    return f"kerneltuner.{slug}"


def _system_from_file(path: Path) -> str:
    stem = strip_compression(path.name)
    stem = re.sub(r"\.json$", "", stem, flags=re.I)
    stem = re.sub(r"(_T4|-results|_results|-metadata|_extended)$", "", stem, flags=re.I)
    return canonical_system(stem)


def _problem(kernel: str, problem_size, params: pd.DataFrame, n: int) -> dict[str, object]:
    size = list(problem_size) if isinstance(problem_size, list | tuple) else [problem_size]
    if kernel == "clblast.xgemm":
        dtype = np.full(n, "fp32", dtype=object)
        if "PRECISION" in params:
            dtype = params.pop("PRECISION").map(lambda p: PRECISION_DTYPES.get(int(p), str(p))).to_numpy(dtype=object)
        return {"problem.M": GEMM_PROBLEM, "problem.N": GEMM_PROBLEM, "problem.K": GEMM_PROBLEM,
                "problem.dtype": dtype, "problem.a_layout": "row", "problem.b_layout": "row"}
    out: dict[str, object] = {}
    for axis, value in zip(("size_x", "size_y", "size_z"), size, strict=False):
        if value is not None:
            out[f"problem.{axis}"] = int(value)
    out["problem.dtype"] = "fp32"
    return out


def _records_frame(configs: pd.DataFrame, times: pd.Series, samples: list | None, timestamps: pd.Series | None,
                   status: np.ndarray, kernel: str, system: str, problem_size, source: str,
                   param_names: list[str], meta: dict[str, object] | None = None) -> pd.DataFrame:
    n = len(configs)
    params = configs[[c for c in param_names if c in configs]].copy()
    problem = _problem(kernel, problem_size, params, n)
    frame = pd.DataFrame({"kernel": np.full(n, kernel, dtype=object)})
    for col in params.columns:
        frame[f"params.{col}"] = params[col].to_numpy()
    for col, value in problem.items():
        frame[col] = value
    frame["system"] = system
    frame["runtime_ms"] = times.to_numpy(dtype=np.float64)
    if samples is not None:
        lengths = np.array([len(s) if isinstance(s, list) else 0 for s in samples], dtype=np.int64)
        flat = np.fromiter((float(x) for s in samples if isinstance(s, list) for x in s), dtype=np.float64,
                           count=int(lengths.sum()))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        frame["runtime_ms_samples"] = list_column(values=flat, offsets=offsets, valid=lengths > 0)
    frame["status"] = status
    for col, values in (meta or {}).items():
        frame[f"meta.{col}"] = values
    if timestamps is not None:
        frame["measured_at"] = timestamps.to_numpy()
    frame["source"] = source
    frame[LINE_COLUMN] = np.arange(1, n + 1)  # record number inside the file's cache/results
    return frame


def _read_cache(path: Path, doc: dict) -> Iterator[IngestChunk]:
    cache = doc.get("cache")
    if not isinstance(cache, dict):
        raise IngestError(f"{path}: Kernel Tuner cache without a 'cache' object")
    kernel = _family(str(doc.get("kernel_name", "")))
    device = str(doc.get("device_name") or "").strip()
    system = canonical_system(device) if device else _system_from_file(path)
    param_names = list(doc.get("tune_params_keys") or doc.get("tune_params", {}).keys())
    configs = pd.DataFrame.from_records(list(cache.values()))
    if configs.empty:
        return
    raw_time = configs["time"] if "time" in configs else pd.Series([None] * len(configs))
    times = pd.to_numeric(raw_time, errors="coerce")
    error = raw_time.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    unknown = times.isna().to_numpy() & ~error
    status = np.where(error | unknown, "failed", "ok").astype(object)
    samples = configs["times"].tolist() if "times" in configs else None
    stamps = configs.get("timestamp")
    meta = {"error": raw_time.where(error).to_numpy(dtype=object)}  # RuntimeFailedConfig, CompilationFailedConfig
    for key, name in (("compile_time", "compile_time_ms"), ("GFLOP/s", "gflops")):
        if key in configs:
            meta[name] = pd.to_numeric(configs[key], errors="coerce").to_numpy(dtype=np.float64)
    frame = _records_frame(configs, times, samples, stamps, status, kernel, system, doc.get("problem_size"),
                           f"kerneltuner:{path.name}", param_names, meta)
    yield IngestChunk(frame, file=str(path))


def _t4_context(path: Path, kernel: str | None, system: str | None) -> tuple[str, str, object]:
    """(kernel family, system, problem_size) for a T4 file: options > sibling cache > names."""
    stem = re.sub(r"(_T4|-results|_results)$", "", re.sub(r"\.json$", "", strip_compression(path.name), flags=re.I),
                  flags=re.I)
    for sibling in (path.with_name(f"{stem}.json.gz"), path.with_name(f"{stem}.json")):
        if sibling.exists() and sibling != path:
            try:
                with open_text(sibling) as fh:
                    doc = json.load(fh)
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and "cache" in doc:
                device = str(doc.get("device_name") or "").strip()
                return (kernel or _family(str(doc.get("kernel_name", ""))),
                        system or (canonical_system(device) if device else _system_from_file(path)),
                        doc.get("problem_size"))
    folder = path.parent.name.lower()
    guess = "clblast.xgemm" if "gemm" in folder else "kerneltuner.convolution" if "convolution" in folder else None
    if kernel is None and guess is None:
        raise IngestError(f"{path}: a T4 results file names no kernel; pass kernel=... (e.g. "
                          "`perfcast ingest --kernel kerneltuner.convolution`) or keep its cache file beside it")
    problem_size = [GEMM_PROBLEM, GEMM_PROBLEM] if (kernel or guess) == "clblast.xgemm" else None
    return kernel or guess, system or _system_from_file(path), problem_size


def _read_t4(path: Path, doc: dict, kernel: str | None, system: str | None) -> Iterator[IngestChunk]:
    results = doc.get("results")
    if not isinstance(results, list):
        raise IngestError(f"{path}: T4 results file without a 'results' list")
    family, system_name, problem_size = _t4_context(path, kernel, system)
    good, rejects = [], []
    for i, result in enumerate(results, start=1):
        if not isinstance(result, dict) or not isinstance(result.get("configuration"), dict):
            rejects.append({"_line": i, "_reason": "T4 result without a 'configuration' object",
                            "raw": json.dumps(result)[:2000]})
            continue
        measurements = {m.get("name"): m.get("value") for m in result.get("measurements") or []
                        if isinstance(m, dict)}
        objective = (result.get("objectives") or ["time"])[0]
        value = measurements.get(objective, measurements.get("time"))
        invalidity = str(result.get("invalidity", "correct"))
        status = T4_STATUS.get(invalidity)
        if status is None:
            rejects.append({"_line": i, "_reason": f"unknown T4 invalidity {invalidity!r}",
                            "raw": json.dumps(result)[:2000]})
            continue
        runtimes = (result.get("times") or {}).get("runtimes")
        good.append({**result["configuration"], "__time": value if status == "ok" else None,
                     "__error": None if status == "ok" else invalidity,
                     "__compile": (result.get("times") or {}).get("compilation"),
                     "__times": runtimes if status == "ok" and isinstance(runtimes, list) and runtimes else None,
                     "__status": status, "__timestamp": result.get("timestamp"), "__line": i})
    configs = pd.DataFrame.from_records(good) if good else pd.DataFrame()
    frame = pd.DataFrame()
    if not configs.empty:
        param_names = [c for c in configs.columns if not c.startswith("__")]
        frame = _records_frame(configs, pd.to_numeric(configs["__time"], errors="coerce"), configs["__times"].tolist(),
                               configs["__timestamp"], configs["__status"].to_numpy(dtype=object), family,
                               system_name, problem_size, f"kerneltuner_t4:{path.name}", param_names,
                               {"error": configs["__error"].to_numpy(dtype=object),
                                "compile_time_ms": pd.to_numeric(configs["__compile"], errors="coerce").to_numpy()})
        frame[LINE_COLUMN] = configs["__line"].to_numpy()
    yield IngestChunk(frame, rejects_frame(rejects, str(path)), file=str(path))


def read(path: Path, *, kernel: str | None = None, system: str | None = None) -> Iterator[IngestChunk]:
    """Yield canonical chunks of a Kernel Tuner cache or T4 results file (`.json`, `.json.gz`)."""
    try:
        with open_text(path) as fh:
            doc = json.load(fh)
    except (OSError, ValueError, EOFError) as exc:
        raise IngestError(f"{path}: not readable as Kernel Tuner JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise IngestError(f"{path}: expected a JSON object (Kernel Tuner cache or T4 results)")
    if "cache" in doc:
        chunks = _read_cache(path, doc)
        if system is not None or kernel is not None:
            for chunk in chunks:
                if system is not None:
                    chunk.frame["system"] = canonical_system(system)
                if kernel is not None:
                    chunk.frame["kernel"] = kernel
                yield chunk
            return
        yield from chunks
    elif "results" in doc:
        yield from _read_t4(path, doc, kernel, system)
    elif "metadata" in doc:
        raise IngestError(f"{path}: a T4 metadata file holds no measurements (ingest the results file)")
    else:
        raise IngestError(f"{path}: neither a Kernel Tuner cache ('cache') nor T4 results ('results')")
