"""GPPerf (RTX 4070) -> canonical records: the CUTLASS profiler tarball and the naive tiled-matmul CSVs.

CUTLASS tarball (`cutlass_profiling_*.tar.gz`):
- `results.csv`: records span several physical lines (kernel characteristics pasted in); a record
  starts with a 10-digit Unix timestamp (the first one is glued to the header text). Fields:
  timestamp, M, N, K, kernel name, requested layout, requested tile M/N/K, requested stages, epilogue,
  alpha, beta, runtime (ms), (empty), power.draw (W, `[N/A]` in most rows -> missing), clocks, ...,
  device name, ..., and on the last line energy (J, where power was read), GFLOPS/W, GFLOPS.
- `failed_configs.csv`: one line per failed run (M, N, K, kernel, requested layout/tile/stages,
  epilogue, alpha, beta) -> `status: failed` rows.
The kernel name (`cutlass_simt_sgemm_128x128_8x2_nn_align1`) is what ran, so it gives the params:
op_class (simt/tensorop), tile_m x tile_n, tile_k, stages, alignment, and the problem's dtype and
layouts (CUTLASS: `n` = column-major -> col, `t` = row-major -> row, first letter A, second B).
The profiler's *requested* layout/tile/stages did not change the kernel (the README's "576 distinct
effective configs"); they are kept as `meta.requested_*` (facts about the run, not features), with the
nvidia-smi readings of the record (`meta.sm_clock_mhz`, `meta.mem_clock_mhz`, `meta.temperature_c`,
`meta.gpu_util_pct`, `meta.mem_util_pct`). Problem: M, N, K, dtype, layouts, `alpha`, `beta`.

Tiled CSVs (`tiled_execution_times_all.csv`: M,N,K,Tile Size,Execution Time [ms];
`tiled_power_usage_results_all.csv`: M,N,K,Tile Size,Average Power Usage (W)) -> `cuda.tiled_matmul`
(params TILE, problem M,N,K fp32): an outer join on (M, N, K, tile), so each key is one record with the
runtime and/or the power measured for it. Energy is not derived: the two were measured in separate runs.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from perfcast.measurements.ingest._common import IngestChunk, IngestError, canonical_system, rejects_frame
from perfcast.measurements.validate import LINE_COLUMN

SYSTEM = "NVIDIA GeForce RTX 4070"
RECORD_START = re.compile(rb"(?:(?<=\n)|(?<=^)|(?<=[A-Za-z]))(\d{10}),")
KERNEL_NAME = re.compile(
    r"^cutlass_(?P<op>simt|tensorop|wmma_tensorop)_(?P<body>[a-z0-9]*?)gemm(?:_[a-z0-9]+)?_"
    r"(?P<tm>\d+)x(?P<tn>\d+)_(?P<tk>\d+)x(?P<stages>\d+)_(?P<layout>[nt]{2})_align(?P<align>\d+)$")
DTYPE_LETTER = {"s": "fp32", "h": "fp16", "d": "fp64", "i": "int8", "bf": "bf16", "tf": "tf32"}
CUTLASS_LAYOUT = {"n": "col", "t": "row"}
EXEC_FILE, POWER_FILE = "tiled_execution_times", "tiled_power_usage"


def sniff(path: Path, head: bytes) -> str | None:
    """'cutlass' for the profiler tarball, 'tiled' for either tiled CSV, else None."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(path) as tf:
                return "cutlass" if any(m.name.endswith("/results.csv") or m.name == "results.csv"
                                        for m in tf.getmembers()) else None
        except (tarfile.TarError, OSError):
            return None
    if head.startswith(b"M,N,K,Tile Size,"):
        return "tiled"
    return None


def parse_kernel_name(name: str) -> dict[str, object] | None:
    """`cutlass_simt_sgemm_128x128_8x2_nn_align1` -> params and problem fields; None if unrecognised."""
    match = KERNEL_NAME.match(name.strip())
    if not match:
        return None
    body = match.group("body")
    letter = next((k for k in ("bf", "tf", "s", "h", "d", "i") if body.startswith(k)), None)
    if letter is None:
        return None
    layout = match.group("layout")
    return {"params.op_class": match.group("op"), "params.tile_m": int(match.group("tm")),
            "params.tile_n": int(match.group("tn")), "params.tile_k": int(match.group("tk")),
            "params.stages": int(match.group("stages")), "params.align": int(match.group("align")),
            "problem.dtype": DTYPE_LETTER[letter], "problem.a_layout": CUTLASS_LAYOUT[layout[0]],
            "problem.b_layout": CUTLASS_LAYOUT[layout[1]]}


def _float(text: str) -> float:
    text = text.strip()
    if not text or text.upper() in ("[N/A]", "N/A", "NAN"):
        return np.nan
    try:
        return float(text.split()[0])
    except ValueError:
        return np.nan


def _kernel_fields(names: pd.Series) -> pd.DataFrame:
    """Parse each distinct kernel name once and broadcast."""
    unique = names.unique()
    parsed = {n: parse_kernel_name(n) for n in unique}
    rows = [parsed[n] or {} for n in names]
    return pd.DataFrame.from_records(rows, index=names.index)


def _results(data: bytes, file_label: str, source: str) -> IngestChunk:
    starts = [m.start(1) for m in RECORD_START.finditer(data)]
    line_of = np.cumsum(np.frombuffer(data, dtype=np.uint8) == ord("\n"))  # newlines before each byte
    rows, rejects = [], []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        text = data[start:end].decode("utf-8", errors="replace").strip()
        line = int(line_of[start - 1]) + 1 if start else 1
        physical = text.split("\n")
        fields = physical[0].split(",")
        tail = physical[-1].split(",")
        if len(fields) < 22 or len(tail) < 3:
            rejects.append({"_line": line, "_reason": "truncated CUTLASS record (too few fields)", "raw": text[:2000]})
            continue
        try:
            row = {"measured_at": int(fields[0]), "problem.M": int(fields[1]), "problem.N": int(fields[2]),
                   "problem.K": int(fields[3]), "kernel_name": fields[4].strip(),
                   "meta.requested_layout": fields[5].strip(), "meta.requested_tile_m": int(fields[6]),
                   "meta.requested_tile_n": int(fields[7]), "meta.requested_tile_k": int(fields[8]),
                   "meta.requested_stages": int(fields[9]), "problem.alpha": float(fields[11]),
                   "problem.beta": float(fields[12]), "runtime_ms": _float(fields[13]),
                   "power_w": _float(fields[15]), "meta.sm_clock_mhz": _float(fields[16]),
                   "meta.mem_clock_mhz": _float(fields[17]), "meta.temperature_c": _float(fields[18]),
                   "meta.gpu_util_pct": _float(fields[19]), "meta.mem_util_pct": _float(fields[20]),
                   "system": fields[21].strip() or SYSTEM,
                   "energy_j": _float(tail[-3]), LINE_COLUMN: line}
        except (ValueError, IndexError) as exc:
            rejects.append({"_line": line, "_reason": f"unparseable CUTLASS record: {exc}", "raw": text[:2000]})
            continue
        rows.append(row)
    frame = pd.DataFrame.from_records(rows)
    if not frame.empty:
        frame["status"] = np.where(np.isfinite(frame["runtime_ms"]), "ok", "failed")
    return _finish(frame, rejects, file_label, source)


def _failed(data: bytes, file_label: str, source: str) -> IngestChunk:
    names = ["problem.M", "problem.N", "problem.K", "kernel_name", "meta.requested_layout",
             "meta.requested_tile_m", "meta.requested_tile_n", "meta.requested_tile_k",
             "meta.requested_stages", "epilogue", "problem.alpha", "problem.beta"]
    if not data.strip():
        return IngestChunk(pd.DataFrame(), file=file_label)
    frame = pd.read_csv(io.BytesIO(data), header=None, names=names, skip_blank_lines=False)
    frame[LINE_COLUMN] = np.arange(1, len(frame) + 1)
    frame = frame.dropna(how="all", subset=names).drop(columns=["epilogue"])
    frame["status"] = "failed"
    frame["system"] = SYSTEM
    return _finish(frame.reset_index(drop=True), [], file_label, source)


def _finish(frame: pd.DataFrame, rejects: list[dict], file_label: str, source: str) -> IngestChunk:
    if frame.empty:
        return IngestChunk(frame, rejects_frame(rejects, file_label), file=file_label)
    fields = _kernel_fields(frame["kernel_name"].astype(str))
    bad = fields.isna().all(axis=1).to_numpy() if len(fields.columns) else np.ones(len(frame), dtype=bool)
    if bad.any():
        for rec in frame.loc[bad].to_dict(orient="records"):
            rejects.append({"_line": rec[LINE_COLUMN], "_reason": f"unrecognised CUTLASS kernel name {rec['kernel_name']!r}"})
    out = pd.concat([frame.drop(columns=["kernel_name"]), fields], axis=1).loc[~bad].reset_index(drop=True)
    out.insert(0, "kernel", "cutlass.gemm")
    out["system"] = [canonical_system(s) for s in out["system"]] if out["system"].nunique() > 1 else \
        canonical_system(str(out["system"].iloc[0])) if len(out) else out["system"]
    out["source"] = source
    return IngestChunk(out, rejects_frame(rejects, file_label), file=file_label)


def read_cutlass(path: Path) -> Iterator[IngestChunk]:
    """Yield the profiler tarball's results and failures."""
    blobs: list[tuple[str, bytes]] = []
    try:
        with tarfile.open(path) as tf:
            members = {Path(m.name).name: m for m in tf.getmembers() if m.isfile()
                       and Path(m.name).name in ("results.csv", "failed_configs.csv")}
            for name in ("results.csv", "failed_configs.csv"):
                if name in members:
                    blobs.append((members[name].name, tf.extractfile(members[name]).read()))
    except (tarfile.TarError, OSError) as exc:
        raise IngestError(f"{path}: not a readable tarball ({exc})") from exc
    if not any(Path(member).name == "results.csv" for member, _ in blobs):
        raise IngestError(f"{path}: no results.csv in the CUTLASS profiling tarball")
    for member, data in blobs:
        reader = _results if Path(member).name == "results.csv" else _failed
        yield reader(data, f"{path}:{member}", f"gpperf:{Path(member).name}")


def tiled_pair(path: Path) -> tuple[Path | None, Path | None]:
    """(execution-times CSV, power CSV) for a tiled file and its sibling, where they exist."""
    name = path.name
    if name.startswith(EXEC_FILE):
        other = path.with_name(name.replace(EXEC_FILE, POWER_FILE + "_results", 1))
        return path, other if other.exists() else None
    if name.startswith(POWER_FILE):
        other = path.with_name(name.replace(POWER_FILE + "_results", EXEC_FILE, 1))
        return (other if other.exists() else None), path
    return None, None


def read_tiled(path: Path) -> Iterator[IngestChunk]:
    """Yield the tiled-matmul records, joining runtime and power by (M, N, K, tile) where both exist."""
    key = ["M", "N", "K", "Tile Size"]
    exec_path, power_path = tiled_pair(path)
    if exec_path is None and power_path is None:  # a tiled-shaped CSV under another name: sniff its columns
        head = pd.read_csv(path, nrows=0).columns
        exec_path, power_path = (path, None) if "Execution Time" in head else (None, path)
    frames = []
    if exec_path is not None:
        frames.append(pd.read_csv(exec_path).rename(columns={"Execution Time": "runtime_ms"}))
    if power_path is not None:
        frames.append(pd.read_csv(power_path).rename(columns={"Average Power Usage (W)": "power_w"}))
    for f in frames:
        missing = [c for c in key if c not in f]
        if missing:
            raise IngestError(f"{path}: tiled CSV lacks columns {missing}")
    table = frames[0] if len(frames) == 1 else frames[0].merge(frames[1], on=key, how="outer")
    table = table.sort_values(key).reset_index(drop=True)
    frame = pd.DataFrame({"kernel": "cuda.tiled_matmul", "params.TILE": table["Tile Size"].to_numpy(),
                          "problem.M": table["M"].to_numpy(), "problem.N": table["N"].to_numpy(),
                          "problem.K": table["K"].to_numpy(), "problem.dtype": "fp32",
                          "problem.a_layout": "row", "problem.b_layout": "row",
                          "system": canonical_system(SYSTEM)})
    for target in ("runtime_ms", "power_w"):
        if target in table:
            frame[target] = table[target].to_numpy(dtype=np.float64)
    frame["status"] = "ok"
    frame["source"] = "gpperf:tiled"
    frame[LINE_COLUMN] = np.arange(1, len(frame) + 1)  # row of the joined table (sorted by M, N, K, tile)
    label = " + ".join(str(p) for p in (exec_path, power_path) if p is not None)
    yield IngestChunk(frame, file=label)


def read(path: Path) -> Iterator[IngestChunk]:
    """Yield canonical chunks of a GPPerf file (tarball or tiled CSV)."""
    head = b""
    if path.suffix.lower() == ".csv":
        with open(path, "rb") as fh:
            head = fh.read(4096)
    kind = sniff(path, head)
    if kind == "cutlass":
        yield from read_cutlass(path)
    elif kind == "tiled":
        yield from read_tiled(path)
    else:
        raise IngestError(f"{path}: not a GPPerf CUTLASS tarball or tiled-matmul CSV")
