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
from perfcast.measurements.validate import (  # noqa: F401 (canonical_system is re-exported for adapters)
    CANONICAL_SYSTEMS,
    FILE_COLUMN,
    LINE_COLUMN,
    REASON_COLUMN,
    canonical_system,
)


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
