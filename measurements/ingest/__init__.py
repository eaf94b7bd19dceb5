"""Ingest adapters: real measurement files -> canonical flat frames -> the measurement store.

`read_path(path, format="auto")` yields `IngestChunk`s (canonical frame + rows the adapter could not
parse) for a file or every recognised file under a directory; `ingest_path(path, store)` validates,
deduplicates and appends them, one `FileReport` per source file. Formats:

| format | files |
|---|---|
| `sgemm_uci` | UCI SGEMM zip (`sgemm_product_dataset.zip`) or its `sgemm_product.csv` |
| `kerneltuner` | Kernel Tuner cache JSON (`.json`, `.json.gz`) and T4 results JSON |
| `autoheuristic` | PyTorch AutoHeuristic logs (`.txt`) or a zip of them |
| `gpperf` | GPPerf CUTLASS profiling tarball, tiled-matmul CSVs |
| `jsonl` | canonical JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.xz`) |
| `csv` | canonical flat CSV (dotted columns) |
| `parquet` | canonical flat Parquet (dotted columns) |
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from perfcast.measurements.ingest import autoheuristic, canonical, gpperf, kerneltuner, sgemm_uci
from perfcast.measurements.ingest._common import IngestChunk, IngestError, open_bytes, strip_compression
from perfcast.measurements.store import MeasurementStore
from perfcast.measurements.validate import LINE_COLUMN, REASON_COLUMN, normalise_timestamps
from tqdm.auto import tqdm

__all__ = ["FORMATS", "FileReport", "IngestChunk", "IngestError", "IngestReport", "detect_format", "ingest_path",
           "iter_files", "read_file", "read_path"]

FORMATS: tuple[str, ...] = ("sgemm_uci", "kerneltuner", "autoheuristic", "gpperf", "jsonl", "csv", "parquet")
#: Quarantine reasons a `FileReport` keeps to show (all of them are in its quarantine file).
SHOWN_REASONS = 3
#: Files never ingested when walking a directory.
IGNORED_NAMES = {"license", "license.txt", "readme", "readme.md", "readme.txt"}


def _head(path: Path, size: int = 4096) -> bytes:
    try:
        with open_bytes(path) as fh:
            return fh.read(size)
    except (OSError, EOFError):
        return b""


def detect_format(path: Path) -> str | None:
    """The adapter for one file from its name and first bytes, or None when no adapter recognises it."""
    path = Path(path)
    name = path.name.lower()
    base = strip_compression(name)
    if name.endswith(".parquet"):
        return "parquet"
    if base.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".zip"):
        if sgemm_uci.sniff(path, b""):
            return "sgemm_uci"
        if autoheuristic.sniff(path, b""):
            return "autoheuristic"
        return None
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "gpperf" if gpperf.sniff(path, b"") else None
    head = _head(path)
    if base.endswith(".json"):
        return "kerneltuner" if kerneltuner.sniff(path, head) else None
    if base.endswith(".txt"):
        return "autoheuristic" if autoheuristic.sniff(path, head) else None
    if base.endswith(".csv"):
        if gpperf.sniff(path, head):
            return "gpperf"
        if sgemm_uci.sniff(path, head):
            return "sgemm_uci"
        header = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip().split(",")
        if "kernel" in [h.strip().strip('"') for h in header]:
            return "csv"
    return None


def iter_files(path: Path, format: str = "auto", skipped: list[Path] | None = None) -> list[tuple[Path, str]]:
    """(file, format) pairs to ingest: the file itself, or every recognised file under a directory.

    Files of a directory that no adapter recognises are appended to `skipped` when it is given.
    """
    path = Path(path)
    if format != "auto" and format not in FORMATS:
        raise IngestError(f"unknown format {format!r}; choose auto or one of {', '.join(FORMATS)}")
    if not path.exists():
        raise IngestError(f"{path}: no such file or directory")
    if path.is_file():
        if path.stat().st_size == 0:
            raise IngestError(f"{path}: empty file (0 bytes): nothing to ingest")
        fmt = format if format != "auto" else detect_format(path)
        if fmt is None:
            raise IngestError(f"{path}: format not recognised; pass --format ({', '.join(FORMATS)})")
        return [(path, fmt)]
    out: list[tuple[Path, str]] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            file = Path(root) / name
            if name.startswith(".") or name.lower() in IGNORED_NAMES:
                continue
            fmt = detect_format(file)
            if fmt is None or (format != "auto" and fmt != format):
                if skipped is not None:
                    skipped.append(file)
                continue
            # the tiled-matmul pair is read (joined) once, through its execution-times file
            if fmt == "gpperf" and name.startswith(gpperf.POWER_FILE) and gpperf.tiled_pair(file)[0] is not None:
                continue
            out.append((file, fmt))
    return out


def read_file(path: Path, format: str, **options) -> Iterator[IngestChunk]:
    """Chunks of one file through the named adapter (`options`: `system=`, `kernel=` where supported).

    Timestamps come out as ISO 8601 UTC (`measured_at`), whatever the source wrote (Unix seconds,
    `2023-12-22 09:54:05+00:00`); values that do not parse are left as given for validation to report.
    """
    for chunk in _read_file(Path(path), format, **options):
        if "measured_at" in chunk.frame and len(chunk.frame):
            text, bad = normalise_timestamps(chunk.frame["measured_at"])
            if bad.any():
                text = text.astype(object)
                text[bad] = chunk.frame["measured_at"][bad]
            chunk.frame["measured_at"] = text
        yield chunk


def _read_file(path: Path, format: str, **options) -> Iterator[IngestChunk]:
    if format == "sgemm_uci":
        yield from sgemm_uci.read(path)
    elif format == "kerneltuner":
        yield from kerneltuner.read(path, kernel=options.get("kernel"), system=options.get("system"))
    elif format == "autoheuristic":
        yield from autoheuristic.read(path, system=options.get("system"))
    elif format == "gpperf":
        yield from gpperf.read(path)
    elif format == "jsonl":
        yield from canonical.read_jsonl(path)
    elif format == "csv":
        yield from canonical.read_csv(path)
    elif format == "parquet":
        yield from canonical.read_parquet(path)
    else:
        raise IngestError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")


def read_path(path: Path | str, format: str = "auto", **options) -> Iterator[IngestChunk]:
    """Canonical chunks of a file, or of every recognised file under a directory."""
    for file, fmt in iter_files(Path(path), format):
        yield from read_file(file, fmt, **options)


@dataclass
class FileReport:
    """Ingest outcome of one source file."""

    file: str
    format: str
    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantine_path: str | None = None
    #: `line N: reason` of the first quarantined lines (at most `SHOWN_REASONS`), by line.
    first_reasons: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class IngestReport:
    """Ingest outcome of a path: one `FileReport` per source file, and totals."""

    files: list[FileReport] = field(default_factory=list)
    #: Files under a directory that no adapter recognised (or not of the requested format).
    skipped: list[str] = field(default_factory=list)

    def _total(self, name: str) -> int:
        return int(sum(getattr(f, name) for f in self.files))

    @property
    def rows_read(self) -> int:
        return self._total("rows_read")

    @property
    def stored(self) -> int:
        return self._total("stored")

    @property
    def duplicates(self) -> int:
        return self._total("duplicates")

    @property
    def quarantined(self) -> int:
        return self._total("quarantined")

    @property
    def errors(self) -> list[str]:
        return [f"{f.file}: {f.error}" for f in self.files if f.error]


def _first_reasons(rows: pd.DataFrame, shown: int = SHOWN_REASONS) -> list[str]:
    """`line N: reason` of the `shown` quarantined rows with the lowest line numbers (unnumbered last)."""
    lines = (pd.to_numeric(rows[LINE_COLUMN], errors="coerce") if LINE_COLUMN in rows
             else pd.Series(float("nan"), index=rows.index))
    first = lines.sort_values(kind="stable", na_position="last").index[:shown]
    reasons = rows[REASON_COLUMN] if REASON_COLUMN in rows else pd.Series(None, index=rows.index)
    return [f"line {int(lines[i]) if lines[i] == lines[i] else '?'}: {reasons[i]}" for i in first]


def ingest_path(path: Path | str, store: MeasurementStore | None = None, format: str = "auto",
                progress: bool = True, **options) -> IngestReport:
    """Ingest a file or directory into `store` (default store if None); never stops at a bad file.

    Each file's rejected rows (adapter rejects + validation failures) go to one quarantine JSONL file.
    A file that cannot be read at all is reported in `FileReport.error` and the rest continue.
    """
    import time  # noqa: PLC0415

    store = store if store is not None else MeasurementStore()
    report = IngestReport()
    skipped: list[Path] = []
    files = iter_files(Path(path), format, skipped)
    report.skipped = [str(p) for p in skipped]
    bar = tqdm(total=None, unit="rec", unit_scale=True, disable=not progress, desc="ingest", leave=False)
    try:
        for file, fmt in files:
            entry = FileReport(file=str(file), format=fmt)
            report.files.append(entry)
            bar.set_description(f"ingest {file.name}")
            started = time.perf_counter()
            quarantine: list[pd.DataFrame] = []
            try:
                for chunk in read_file(file, fmt, **options):
                    result = store.append(chunk.frame, file=chunk.file or str(file), rejects=chunk.rejects,
                                          write_quarantine=False)
                    entry.rows_read += chunk.source_rows
                    entry.stored += result.stored
                    entry.duplicates += result.duplicates
                    entry.quarantined += result.quarantined
                    if result.quarantine_rows is not None and len(result.quarantine_rows):
                        quarantine.append(result.quarantine_rows)
                    bar.update(chunk.source_rows)
            except IngestError as exc:
                entry.error = str(exc)
            finally:
                if quarantine:
                    rows = pd.concat(quarantine, ignore_index=True)
                    written = store.write_quarantine(rows, file=file)
                    entry.quarantine_path = str(written) if written else None
                    entry.first_reasons = _first_reasons(rows)
                entry.seconds = time.perf_counter() - started
    finally:
        bar.close()
    return report
