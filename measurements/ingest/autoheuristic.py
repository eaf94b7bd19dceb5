"""PyTorch Inductor AutoHeuristic matmul logs -> `triton.matmul` / `cublas.matmul` records.

A log is one JSON metadata line (`shared_memory`, `device_capa`, feature names) followed by CSV:
`m,k,n,mat1_dtype,mat2_dtype,mat1_stride_0,mat1_stride_1,mat2_stride_0,mat2_stride_1,mat1_iscontig,
mat2_iscontig,using_tf32,choice,feedback`. Mapping (fully vectorised: the ~630k rows parse with
pyarrow's CSV reader, and `choice` strings are parsed once per *distinct* value):
- `choice = type=triton_BLOCK-M=64_BLOCK-K=32_BLOCK-N=64_numstages=3_numwarps=4` -> `triton.matmul` with
  params BLOCK_M/BLOCK_N/BLOCK_K/num_stages/num_warps and GROUP_M=8 (Inductor's mm template);
  `extern_mm` -> `cublas.matmul` with no params; any other choice is quarantined.
- problem M=m, N=n, K=k; dtype from `mat1_dtype` (`torch.float16` -> fp16 ...; rows whose two dtypes
  differ are quarantined); layouts from strides (stride_1 == 1 -> row, else stride_0 == 1 -> col), the
  strides themselves kept in `meta.mat1_stride_0` ... `meta.mat2_stride_1`;
  `allow_tf32` from `using_tf32` for fp32 (`not_float_32` elsewhere -> absent).
- `feedback` is the runtime in ms; `inf` (the config failed to compile or run) -> `status: failed`.
- system: the logs name only compute capability 8.0 and 166,912 B shared memory; we assume
  `NVIDIA A100-SXM4-80GB` (the team's agreed name; override with `system=`).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from perfcast.measurements.ingest._common import IngestChunk, IngestError, canonical_system, rejects_frame
from perfcast.measurements.validate import LINE_COLUMN

SYSTEM = "NVIDIA A100-SXM4-80GB"
GROUP_M = 8
COLUMNS = ("m", "k", "n", "mat1_dtype", "mat2_dtype", "mat1_stride_0", "mat1_stride_1", "mat2_stride_0",
           "mat2_stride_1", "using_tf32", "choice", "feedback")
TORCH_DTYPES = {"torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float32": "fp32", "torch.float64": "fp64",
                "torch.int8": "int8", "torch.float8_e4m3fn": "fp8e4m3", "torch.float8_e5m2": "fp8e5m2"}
TRITON_CHOICE = re.compile(r"^type=triton_(?P<body>.*)$")
PARAM_NAMES = {"BLOCK-M": "BLOCK_M", "BLOCK-N": "BLOCK_N", "BLOCK-K": "BLOCK_K", "numstages": "num_stages",
               "numwarps": "num_warps", "GROUP-M": "GROUP_M"}
TRITON_PARAMS = ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "num_warps", "num_stages")


def _is_metadata_line(line: bytes) -> bool:
    try:
        meta = json.loads(line)
    except ValueError:
        return False
    return isinstance(meta, dict) and ("numerical_features" in meta or "device_capa" in meta)


def sniff(path: Path, head: bytes) -> bool:
    """A `.txt` log (JSON metadata line + CSV), or a zip of such logs."""
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    if name.endswith(".txt") and not name.startswith("__MACOSX"):
                        with zf.open(name) as fh:
                            return _is_metadata_line(fh.readline())
        except zipfile.BadZipFile:
            return False
        return False
    return _is_metadata_line(head.split(b"\n", 1)[0]) and b"choice" in head


def parse_choice(choice: str) -> dict[str, int] | None:
    """`type=triton_BLOCK-M=64_BLOCK-K=32_...` -> {BLOCK_M: 64, ...} (GROUP_M=8 added); None if not Triton."""
    match = TRITON_CHOICE.match(choice)
    if not match:
        return None
    params: dict[str, int] = {"GROUP_M": GROUP_M}
    for part in match.group("body").split("_"):
        key, eq, value = part.partition("=")
        if not eq or key not in PARAM_NAMES:
            return None
        try:
            params[PARAM_NAMES[key]] = int(value)
        except ValueError:
            return None
    return params if all(p in params for p in TRITON_PARAMS) else None


def _members(path: Path) -> list[tuple[str, bytes]]:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.endswith(".txt") and "__MACOSX" not in n)
            return [(n, zf.read(n)) for n in names]
    return [(path.name, path.read_bytes())]


def to_frame(table: pd.DataFrame, source: str, system: str, first_line: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parsed CSV columns -> (canonical frame, rejects) without per-row Python."""
    n = len(table)
    lines = np.arange(first_line, first_line + n)
    choice = table["choice"].astype("category")
    categories = list(choice.cat.categories)
    parsed = [parse_choice(c) for c in categories]
    codes = choice.cat.codes.to_numpy()
    is_extern = np.array([c == "extern_mm" for c in categories] + [False], dtype=bool)[codes]
    is_triton = np.array([p is not None for p in parsed] + [False], dtype=bool)[codes]
    bad_choice = ~(is_extern | is_triton)

    d1 = table["mat1_dtype"].astype("string")
    d2 = table["mat2_dtype"].astype("string")
    dtype = d1.map(TORCH_DTYPES).astype("string")
    bad_dtype = (d1 != d2).fillna(True).to_numpy(dtype=bool) | dtype.isna().to_numpy()

    reasons = np.full(n, "", dtype=object)
    reasons[bad_choice] = "unrecognised choice (expected extern_mm or type=triton_...)"
    reasons[bad_dtype & (reasons == "")] = "mat1_dtype and mat2_dtype differ or are unknown"
    bad = reasons != ""

    frame = pd.DataFrame({"kernel": np.where(is_triton, "triton.matmul", "cublas.matmul").astype(object)})
    for name in TRITON_PARAMS:
        lookup = np.array([p[name] if p else np.nan for p in parsed] + [np.nan], dtype=np.float64)
        frame[f"params.{name}"] = np.where(is_triton, lookup[codes], np.nan)
    frame["problem.M"] = table["m"].to_numpy()
    frame["problem.N"] = table["n"].to_numpy()
    frame["problem.K"] = table["k"].to_numpy()
    frame["problem.dtype"] = dtype.to_numpy(dtype=object)
    for side, mat in (("a", "mat1"), ("b", "mat2")):
        s0 = table[f"{mat}_stride_0"].to_numpy()
        s1 = table[f"{mat}_stride_1"].to_numpy()
        frame[f"problem.{side}_layout"] = np.where(s1 == 1, "row", np.where(s0 == 1, "col", "row")).astype(object)
    tf32 = table["using_tf32"].astype("string").str.lower().map({"true": True, "false": False})
    frame["problem.allow_tf32"] = tf32.where(dtype == "fp32").astype("boolean")
    for mat in ("mat1", "mat2"):  # the raw strides: layout is derived from them, the rest is kept as fact
        for axis in ("0", "1"):
            frame[f"meta.{mat}_stride_{axis}"] = table[f"{mat}_stride_{axis}"].to_numpy()
    feedback = table["feedback"].to_numpy(dtype=np.float64)
    failed = ~np.isfinite(feedback)
    frame["runtime_ms"] = np.where(failed, np.nan, feedback)
    frame["status"] = np.where(failed, "failed", "ok").astype(object)
    frame["system"] = system
    frame["source"] = source
    frame[LINE_COLUMN] = lines

    rejects = pd.DataFrame()
    if bad.any():
        raw = table.loc[bad].copy()
        raw["_line"] = lines[bad]
        raw["_reason"] = reasons[bad]
        rejects = rejects_frame(raw.to_dict(orient="records"), source)
    return frame.loc[~bad].reset_index(drop=True), rejects


def read(path: Path, *, system: str | None = None, chunk_rows: int = 262144) -> Iterator[IngestChunk]:
    """Yield canonical chunks of an AutoHeuristic log (`.txt`) or a zip of logs."""
    system_name = canonical_system(system or SYSTEM)
    for name, data in _members(path):
        first, _, body = data.partition(b"\n")
        if not _is_metadata_line(first):
            raise IngestError(f"{path}:{name}: first line is not AutoHeuristic JSON metadata")
        table = pacsv.read_csv(io.BytesIO(body), read_options=pacsv.ReadOptions(block_size=1 << 24),
                               convert_options=pacsv.ConvertOptions(
                                   include_columns=list(COLUMNS),
                                   column_types={"feedback": pa.float64(), "using_tf32": pa.string()}))
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise IngestError(f"{path}:{name}: missing columns {missing}")
        file_label = f"{path}:{name}" if path.suffix.lower() == ".zip" else str(path)
        source = f"autoheuristic:{Path(name).name}"
        for start in range(0, table.num_rows, chunk_rows):
            part = table.slice(start, chunk_rows).to_pandas()
            frame, rejects = to_frame(part, source, system_name, first_line=3 + start)  # metadata + header lines
            if len(rejects):
                rejects["_file"] = file_label
            yield IngestChunk(frame, rejects, file=file_label)
