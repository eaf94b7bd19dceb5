"""Shared pieces of the ingest adapters: the chunk type, canonical system names, small helpers."""

from __future__ import annotations

import gzip
import io
import lzma
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from perfcast.measurements.validate import FILE_COLUMN, LINE_COLUMN, REASON_COLUMN


@dataclass
class IngestChunk:
    """One batch from an adapter: canonical flat records plus rows it could not parse.

    `frame` carries `_line` (1-based line/record number in `file`) so quarantined rows can be traced;
    `rejects` has `_file`, `_line`, `_reason` and whatever raw fields were readable.
    `source_rows` is how many source records this chunk covers (frame rows + rejects).
    """

    frame: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)
    file: str = ""

    @property
    def source_rows(self) -> int:
        return len(self.frame) + len(self.rejects)


class IngestError(ValueError):
    """A file that cannot be ingested at all (unknown format, unreadable container)."""


#: Dataset spellings -> the team's canonical system names (used until/unless `perfcast.systems` knows them).
CANONICAL_SYSTEMS: dict[str, str] = {
    "gtx 680": "NVIDIA GeForce GTX 680",
    "geforce gtx 680": "NVIDIA GeForce GTX 680",
    "rtx_2080_ti": "NVIDIA GeForce RTX 2080 Ti",
    "rtx 2080 ti": "NVIDIA GeForce RTX 2080 Ti",
    "rtx_3060_laptop": "NVIDIA GeForce RTX 3060 Laptop GPU",
    "rtx 3060 laptop": "NVIDIA GeForce RTX 3060 Laptop GPU",
    "rtx_3090": "NVIDIA GeForce RTX 3090",
    "rtx 3090": "NVIDIA GeForce RTX 3090",
    "rtx_titan": "NVIDIA TITAN RTX",
    "titan rtx": "NVIDIA TITAN RTX",
    "a100": "NVIDIA A100-SXM4-80GB",
    "a100 sxm4 80gb": "NVIDIA A100-SXM4-80GB",
    "a100 pcie 40gb": "NVIDIA A100-PCIE-40GB",
    "a4000": "NVIDIA RTX A4000",
    "a6000": "NVIDIA RTX A6000",
    "mi250x": "AMD Instinct MI250X",
    "w6600": "AMD Radeon PRO W6600",
    "w7800": "AMD Radeon PRO W7800",
    "rtx 4070": "NVIDIA GeForce RTX 4070",
    "h100": "NVIDIA H100 80GB HBM3",
    "h100 sxm": "NVIDIA H100 80GB HBM3",
    "nvidia h100": "NVIDIA H100 80GB HBM3",
    "h100 pcie": "NVIDIA H100 PCIe",
    "h200": "NVIDIA H200",
    "nvidia h200 141gb hbm3e": "NVIDIA H200",
}


def canonical_system(name: str) -> str:
    """A dataset's GPU name -> the registry's canonical name; unknown names are returned unchanged.

    Prefers `perfcast.systems.resolve_name` (the registry, with its aliases); falls back to the team's
    agreed table above while the registry is not importable. Measurements are data: an unknown name is
    kept as given and flagged later by `perfcast data summary`.
    """
    text = (name or "").strip()
    try:
        from perfcast.systems import resolve_name  # noqa: PLC0415 (optional: another stage)
    except ImportError:
        resolve_name = None
    if resolve_name is not None:
        for candidate in (text, CANONICAL_SYSTEMS.get(text.lower(), "")):
            if not candidate:
                continue
            try:
                return resolve_name(candidate)
            except Exception:  # unknown to the registry: try the next spelling, else keep as given
                continue
    return CANONICAL_SYSTEMS.get(text.lower(), text)


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file, transparently decompressing `.gz`/`.xz`."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    if name.endswith(".xz"):
        return io.TextIOWrapper(lzma.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def open_bytes(path: Path) -> io.BufferedIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def strip_compression(name: str) -> str:
    lower = name.lower()
    for ext in (".gz", ".xz"):
        if lower.endswith(ext):
            return name[: -len(ext)]
    return name


def list_column(matrix: np.ndarray | None = None, *, values: np.ndarray | None = None,
                offsets: np.ndarray | None = None, valid: np.ndarray | None = None) -> pd.Series:
    """A `list<double>` column from a 2-D array (fixed length) or flat values + offsets, no per-row Python."""
    if matrix is not None:
        matrix = np.asarray(matrix, dtype=np.float64)
        n, width = matrix.shape
        values = matrix.reshape(-1)
        offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    arr = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.float64()),
                                   mask=None if valid is None else pa.array(~np.asarray(valid, dtype=bool)))
    return pd.Series(pd.arrays.ArrowExtensionArray(arr))


def rejects_frame(rows: Iterable[dict], file: str) -> pd.DataFrame:
    """Rejected source rows -> a frame with `_file`, `_line`, `_reason` first."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=[FILE_COLUMN, LINE_COLUMN, REASON_COLUMN])
    frame[FILE_COLUMN] = file
    front = [FILE_COLUMN, LINE_COLUMN, REASON_COLUMN]
    return frame[front + [c for c in frame.columns if c not in front]]
