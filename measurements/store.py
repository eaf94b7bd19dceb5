"""The measurement store: append-only, deduplicated, schema-validated Parquet on local disk.

Layout under the root (default `perfcast.config.store_dir()`, i.e. `./.perfcast/store` or `$PERFCAST_STORE`)::

    data/kernel=<family>/part-<utc time>-<uuid>.parquet   one file per kernel family per append
    quarantine/<utc time>-<name>-<uuid>.jsonl              rejected rows with _file, _line, _reason
    .tmp/                                                  files being written (never read)
    .lock                                                  serialises appends across processes

Each kernel family has its own columns (`params.*`, `problem.*` differ between families), so files are
partitioned by family and schemas are unified on read (a column absent from a file reads as missing).
Every file is written to `.tmp/` and moved into place with `os.replace`, so a crash mid-append leaves
no partial file visible. Rows are deduplicated by `record_hash` against everything already stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from perfcast.measurements.recordfile import json_cell, write_records
from perfcast.measurements.schema import SAMPLES_COLUMN, TARGETS
from perfcast.measurements.validate import (
    FILE_COLUMN,
    HASH_COLUMN,
    LINE_COLUMN,
    REASON_COLUMN,
    canonical_system,
    hash_to_hex,
    hex_column_to_hash,
    is_known_system,
    record_hash_u64,
    validate_frame,
)

from perfcast import config

PART_PREFIX = "kernel="
#: Parquet row groups hold at most this many rows and about this many bytes: a reader decodes a whole
#: group at once, so this bounds what streaming (`iter_batches`, `export`) holds in memory. IR text makes
#: some rows ~100 KB and others ~100 B in one family, so groups are cut by the rows' own sizes.
ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 32 << 20


@dataclass
class AppendReport:
    """What one `append` did: rows stored, dropped as duplicates, quarantined (and where)."""

    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantine_path: Path | None = None
    files: list[Path] = field(default_factory=list)
    #: The quarantined rows themselves, with `_line` and `_reason` (with `append(..., write_quarantine=False)`
    #: the caller writes them).
    quarantine_rows: pd.DataFrame | None = field(default=None, repr=False)

    def __iadd__(self, other: AppendReport) -> AppendReport:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.quarantine_path = other.quarantine_path or self.quarantine_path
        self.files.extend(other.files)
        return self


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _safe_name(text: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)
    return keep[:80] or "records"


def _row_group_bounds(table: pa.Table) -> list[int]:
    """Row offsets that cut `table` into groups of at most `ROW_GROUP_ROWS` rows, a new group starting
    where the values so far cross a multiple of `ROW_GROUP_BYTES` (so a group exceeds it by at most a row)."""
    n = table.num_rows
    row_bytes = np.zeros(n)
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or pa.types.is_binary(column.type):
            row_bytes += pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
        else:
            row_bytes += column.nbytes / max(n, 1)
    bucket = ((np.cumsum(row_bytes) - row_bytes) // ROW_GROUP_BYTES).astype(np.int64)
    cuts = np.union1d(np.flatnonzero(np.diff(bucket)) + 1, np.arange(0, n, ROW_GROUP_ROWS))
    return [*(int(c) for c in cuts if c > 0), n] if n else [0]


class StoreError(ValueError):
    """A file of the store cannot be read (truncated, corrupted, not Parquet); the message names it."""


@contextlib.contextmanager
def _store_file(path: Path | str) -> Iterator[None]:
    """Reading one store file: a broken one is a `StoreError` that names it and says what to do."""
    try:
        yield
    except (pa.ArrowInvalid, OSError) as exc:
        raise StoreError(f"unreadable store file {path} ({exc}); move it out of the store to go on (its records "
                         "leave the store: re-ingest their source files to get them back) or restore it from a "
                         "backup. `perfcast data summary` lists every such file") from exc


def _read_table(path: Path, **options) -> pa.Table:
    with _store_file(path):
        return pq.read_table(path, **options).replace_schema_metadata(None)


def _read_schema(path: Path) -> pa.Schema:
    with _store_file(path):
        return pq.read_schema(path).remove_metadata()


def _read_metadata(path: Path) -> pq.FileMetaData:
    with _store_file(path):
        return pq.read_metadata(path)


def _read_row_group(pf: pq.ParquetFile, path: str, group: int, columns: list[str]) -> pa.Table:
    with _store_file(path):
        return pf.read_row_group(group, columns=columns)


def _oversized_groups(path: Path) -> bool:
    """Whether a file has a row group beyond the bounds `_write_parquet` keeps (written before them)."""
    meta = _read_metadata(path)
    groups = (meta.row_group(g) for g in range(meta.num_row_groups))
    return any(g.num_rows > ROW_GROUP_ROWS or g.total_byte_size > 4 * ROW_GROUP_BYTES for g in groups)


def _write_parquet(table: pa.Table, path: Path) -> None:
    with pq.ParquetWriter(path, table.schema, compression="lz4") as writer:
        for start, stop in itertools.pairwise([0, *_row_group_bounds(table)]):
            writer.write_table(table.slice(start, stop - start), row_group_size=max(stop - start, 1))


def _tighten(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-family storage types: drop all-missing columns, integral float params/problem -> Int64."""
    frame = frame.dropna(axis=1, how="all")
    for col in frame.columns:
        if not col.startswith(("params.", "problem.", "meta.")):
            continue
        s = frame[col]
        if pd.api.types.is_float_dtype(s.dtype):
            values = s.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = values[~np.isnan(values)]
            if len(finite) and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53):
                frame[col] = s.round().astype("Int64")
    return frame


class MeasurementStore:
    """Append-only Parquet store of canonical measurement records (see module docstring)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else config.store_dir()
        self._hashes: np.ndarray | None = None  # sorted uint64 hashes of everything stored (lazy)
        self._hashes_state: tuple | None = None

    # ------------------------------------------------------------------ layout
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def _tmp_dir(self) -> Path:
        path = self.root / ".tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def kernels(self) -> list[str]:
        """Kernel families present in the store."""
        if not self.data_dir.is_dir():
            return []
        return sorted(p.name[len(PART_PREFIX):] for p in self.data_dir.iterdir()
                      if p.is_dir() and p.name.startswith(PART_PREFIX) and any(p.glob("*.parquet")))

    def files(self, kernel: str | Sequence[str] | None = None) -> list[Path]:
        """Visible Parquet files, optionally of some kernel families only."""
        if not self.data_dir.is_dir():
            return []
        wanted = None if kernel is None else ({kernel} if isinstance(kernel, str) else set(kernel))
        out: list[Path] = []
        for part in sorted(self.data_dir.iterdir()):
            if not part.is_dir() or not part.name.startswith(PART_PREFIX):
                continue
            if wanted is not None and part.name[len(PART_PREFIX):] not in wanted:
                continue
            out.extend(sorted(part.glob("*.parquet")))
        return out

    def _atomic_write(self, target: Path, write) -> None:
        """Write through a temp file in `.tmp/` and `os.replace` it into place (same filesystem)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_dir() / f"{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            write(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @contextlib.contextmanager
    def _lock(self, shared: bool = False) -> Iterator[None]:
        """Exclusive for writers (append, compact), shared for readers listing and opening files."""
        if shared and not self.root.is_dir():
            yield  # nothing stored yet: do not create the store just to read it
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ dedup state
    def _files_state(self) -> tuple:
        return tuple((str(p), p.stat().st_mtime_ns) for p in self.files())

    def _stored_hashes(self) -> np.ndarray:
        state = self._files_state()
        if self._hashes is None or self._hashes_state != state:
            chunks = [hex_column_to_hash(_read_table(p, columns=[HASH_COLUMN]).column(0)) for p in self.files()]
            self._hashes = _sorted_unique(np.concatenate(chunks)) if chunks else np.array([], dtype=np.uint64)
            self._hashes_state = state
        return self._hashes

    # ------------------------------------------------------------------ writing
    def write_quarantine(self, rows: pd.DataFrame, *, file: str | os.PathLike | None = None) -> Path | None:
        """Write rejected rows (with `_file`, `_line`, `_reason`) as one JSONL file; returns its path."""
        if rows is None or rows.empty:
            return None
        rows = rows.copy()
        if FILE_COLUMN not in rows or rows[FILE_COLUMN].isna().all():
            rows[FILE_COLUMN] = None if file is None else str(file)
        name = _safe_name(Path(str(file)).name) if file is not None else "records"
        target = self.quarantine_dir / f"{_utc_stamp()}-{name}-{uuid.uuid4().hex[:8]}.jsonl"
        front = [c for c in (FILE_COLUMN, LINE_COLUMN, REASON_COLUMN) if c in rows]
        ordered = front + [c for c in rows.columns if c not in front]
        lines = []
        for record in rows[ordered].to_dict(orient="records"):
            lines.append(json.dumps({k: json_cell(v) for k, v in record.items()
                                     if k in front or json_cell(v) is not None}))

        def write(tmp: Path) -> None:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")

        self._atomic_write(target, write)
        return target

    def append(self, frame: pd.DataFrame, *, file: str | os.PathLike | None = None,
               rejects: pd.DataFrame | None = None, write_quarantine: bool = True) -> AppendReport:
        """Validate, deduplicate and store a flat canonical frame.

        `file` labels quarantined rows (and names the quarantine file); rows that fail validation,
        plus any `rejects` an adapter could not even parse, go to one quarantine JSONL file.
        Duplicates (same `record_hash` as a stored row or an earlier row of this frame) are dropped.
        The rejected rows come back in `report.quarantine_rows`; with `write_quarantine=False` they are not
        written (ingest collects them so that one source file gives one quarantine file).
        """
        report = AppendReport()
        valid, quarantine = validate_frame(frame) if len(frame) else (frame.iloc[0:0], frame.iloc[0:0])
        if rejects is not None and len(rejects):
            quarantine = pd.concat([quarantine, rejects], ignore_index=True) if len(quarantine) else rejects
        if len(quarantine):
            if file is not None:
                if FILE_COLUMN not in quarantine:
                    quarantine[FILE_COLUMN] = str(file)
                else:
                    quarantine[FILE_COLUMN] = quarantine[FILE_COLUMN].fillna(str(file))
            report.quarantined = len(quarantine)
            report.quarantine_rows = quarantine
            if write_quarantine:
                report.quarantine_path = self.write_quarantine(quarantine, file=file)
        if valid.empty:
            return report

        hashes = record_hash_u64(valid)
        with self._lock():
            stored = self._stored_hashes()
            keep = ~pd.Series(hashes).duplicated().to_numpy()  # first occurrence within this frame
            if len(stored):
                at = np.minimum(np.searchsorted(stored, hashes), len(stored) - 1)
                keep &= stored[at] != hashes
            report.duplicates = int(len(valid) - keep.sum())
            new = valid.loc[keep].copy()
            new[HASH_COLUMN] = hash_to_hex(hashes[keep])
            stamp = _utc_stamp()
            for kernel, part in new.groupby("kernel", sort=True):
                part = _tighten(part.reset_index(drop=True))
                # no pandas metadata: files are read column subsets and merged across families
                table = pa.Table.from_pandas(part, preserve_index=False).replace_schema_metadata(None)
                target = self.data_dir / f"{PART_PREFIX}{kernel}" / f"part-{stamp}-{uuid.uuid4().hex[:12]}.parquet"
                self._atomic_write(target, lambda tmp, t=table: _write_parquet(t, tmp))
                report.files.append(target)
            report.stored = int(keep.sum())
            if self._hashes is not None and report.stored:
                self._hashes = _sorted_unique(np.concatenate([stored, hashes[keep]]))
                self._hashes_state = self._files_state()
        return report

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _select(names: Sequence[str], columns: Sequence[str] | None, with_ir: bool, with_hash: bool = False) -> list[str]:
        if columns is not None:
            return [c for c in columns if c in names]
        return [c for c in names if (with_ir or not c.startswith("ir.")) and (with_hash or c != HASH_COLUMN)]

    @staticmethod
    def _unify(tables: list[pa.Table]) -> pa.Table:
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # the same column stored as text in one file and as a number in another: read both as text
            types: dict[str, set] = {}
            for t in tables:
                for f in t.schema:
                    types.setdefault(f.name, set()).add(f.type)
            clash = {name for name, ts in types.items() if len({str(t) for t in ts}) > 1
                     and any(pa.types.is_string(t) or pa.types.is_large_string(t) for t in ts)}
            fixed = []
            for t in tables:
                for name in clash & set(t.column_names):
                    i = t.column_names.index(name)
                    t = t.set_column(i, name, t.column(i).cast(pa.string()))
                fixed.append(t)
            return pa.concat_tables(fixed, promote_options="permissive")

    def read(self, kernel: str | Sequence[str] | None = None, system: str | Sequence[str] | None = None,
             columns: Sequence[str] | None = None, *, with_hash: bool = False,
             unreadable: list[str] | None = None) -> pd.DataFrame:
        """Stored records as one flat DataFrame (dotted columns).

        `ir.*` columns (IR text can be large) come back only when named in `columns`, `_hash` (each
        record's identity) only when named or with `with_hash`.
        Columns missing from some files (other kernel families) read as missing values. `system` keeps
        those systems' rows; a registered alias (`H100`) matches the canonical name ingest stores.
        A broken file raises `StoreError`, or with `unreadable` (a list) is appended to it and skipped.
        """
        with self._lock(shared=True):  # compaction cannot swap files under a reader
            tables = self._read_tables(self.files(kernel), system, columns, unreadable, with_hash=with_hash)
        if not tables:
            return pd.DataFrame(columns=list(columns) if columns is not None else [])
        frame = self._unify(tables).to_pandas(types_mapper=_types_mapper)
        if columns is not None:
            frame = frame.reindex(columns=[c for c in columns if c in frame.columns]
                                  + [c for c in columns if c not in frame.columns])
        return frame

    def _read_tables(self, files: Sequence[Path], system, columns, unreadable: list[str] | None = None,
                     with_hash: bool = False) -> list[pa.Table]:
        """One table per file; a broken file raises `StoreError`, or is listed in `unreadable` when given."""
        tables = []
        for path in files:
            try:
                names = _read_schema(path).names
                wanted = self._select(names, columns, with_ir=False, with_hash=with_hash)
                if system is not None and "system" not in wanted:
                    wanted = [*wanted, "system"]
                table = _read_table(path, columns=wanted)
            except StoreError as exc:
                if unreadable is None:
                    raise
                unreadable.append(f"{path}: {exc.__cause__}")
                continue
            if system is not None:
                mask = pc.is_in(table.column("system"), value_set=pa.array(_system_names(system), pa.string()))
                table = table.filter(mask)
                if columns is not None and "system" not in columns:
                    table = table.drop_columns(["system"])
            tables.append(table)
        return tables

    def iter_batches(self, batch_rows: int = 131072, kernel: str | Sequence[str] | None = None,
                     columns: Sequence[str] | None = None,
                     system: str | Sequence[str] | None = None, *, with_ir: bool = False) -> Iterator[pd.DataFrame]:
        """Stream stored records in DataFrames of at most `batch_rows` rows (file by file).

        Every batch has the same columns: the union over the selected files (or `columns`; `ir.*` text
        only with `with_ir` or when named). `system` keeps only those systems' rows, aliases as in `read`
        (batches may then be shorter, never empty).
        """
        with self._lock(shared=True):
            # open every file now: an open file stays readable even if compaction replaces it later
            raw = [open(path, "rb") for path in self.files(kernel)]  # noqa: SIM115 (closed below)
        systems = None if system is None else _system_names(system)
        try:
            handles = []
            for fh in raw:
                with _store_file(fh.name):
                    handles.append(pq.ParquetFile(fh))
            union: list[str] = []
            for pf in handles:
                for name in self._select(pf.schema_arrow.names, columns, with_ir=with_ir):
                    if name not in union:
                        union.append(name)
            if columns is not None:
                union = [c for c in columns if c in union] + [c for c in columns if c not in union]
            for fh, pf in zip(raw, handles, strict=True):
                names = pf.schema_arrow.names
                wanted = [c for c in union if c in names]
                if systems is not None and "system" not in wanted and "system" in names:
                    wanted.append("system")
                # a row group at a time: ParquetFile.iter_batches read ahead over the groups (a
                # 267k-row family with IR text peaked at 600 MB of Arrow memory, one group at 150 MB)
                batches = (batch for g in range(pf.num_row_groups)
                           for batch in _read_row_group(pf, fh.name, g, wanted).to_batches(batch_rows))
                for batch in batches:
                    frame = batch.to_pandas(types_mapper=_types_mapper)
                    if systems is not None:
                        frame = frame[frame["system"].isin(systems)] if "system" in frame else frame.iloc[0:0]
                        if frame.empty:
                            continue
                    yield frame.reindex(columns=union).reset_index(drop=True)
        finally:
            for fh in raw:
                fh.close()

    def schema(self, kernel: str | Sequence[str] | None = None, *, with_ir: bool = False) -> pa.Schema:
        """The Arrow schema of what `iter_batches` gives: the union of the selected files' columns (a
        column stored as text in one file and as a number in another is text, as `read` has it)."""
        with self._lock(shared=True):
            schemas = [_read_schema(path) for path in self.files(kernel)]
        if not schemas:
            return pa.schema([])
        union = self._unify([s.empty_table() for s in schemas]).schema
        return pa.schema([f for f in union if f.name in self._select(union.names, None, with_ir)])

    def export(self, path: Path | str, *, kernel: str | Sequence[str] | None = None,
               system: str | Sequence[str] | None = None, with_ir: bool = True, batch_rows: int = 4096,
               progress: bool = False) -> int:
        """Write the stored records (those of `kernel` / `system` when given) to one file, streamed: `.jsonl`
        (`.gz`/`.xz`) as canonical nested records, `.csv` or `.parquet` with dotted columns. Any of them
        reads back with `perfcast ingest`. Returns the number of records; raises `ValueError` when none
        match (and writes nothing)."""
        wanted = ", ".join(f"{k} {v!r}" for k, v in (("kernel", kernel), ("system", system)) if v is not None)
        return write_records(
            path, self.iter_batches(batch_rows, kernel=kernel, system=system, with_ir=with_ir), nested=True,
            schema=self.schema(kernel, with_ir=with_ir), desc="export", progress=progress,
            total=len(self) if kernel is None and system is None else None,
            none_message=f"store {self.root}: no records" + (f" of {wanted}" if wanted else "")
            + " to export (`perfcast data summary` lists what it has)")

    def __len__(self) -> int:
        with self._lock(shared=True):
            return int(sum(_read_metadata(p).num_rows for p in self.files()))

    def compact(self, kernel: str | Sequence[str] | None = None) -> dict[str, int]:
        """Merge each kernel family's files into one (appends from the HTTP endpoint make many small ones);
        a lone file is rewritten when its row groups are larger than the store writes now.

        Runs under the exclusive lock, so no reader sees the old and the new files together; the merged
        file is written atomically before the old ones are removed. Returns files before and after.
        """
        before = after = 0
        with self._lock():
            families = [kernel] if isinstance(kernel, str) else list(kernel) if kernel is not None else self.kernels()
            for family in families:
                files = self.files(family)
                before += len(files)
                if len(files) == 0 or (len(files) == 1 and not _oversized_groups(files[0])):
                    after += len(files)
                    continue
                tables = [_read_table(p) for p in files]
                merged = self._unify(tables)
                target = self.data_dir / f"{PART_PREFIX}{family}" / f"part-{_utc_stamp()}-{uuid.uuid4().hex[:12]}.parquet"
                self._atomic_write(target, lambda tmp, t=merged: _write_parquet(t, tmp))
                for path in files:
                    path.unlink()
                after += 1
        return {"files_before": before, "files_after": after}

    # ------------------------------------------------------------------ summary
    def quarantine_files(self) -> list[Path]:
        return sorted(self.quarantine_dir.glob("*.jsonl")) if self.quarantine_dir.is_dir() else []

    def summary(self) -> dict:
        """Counts per system, kernel and status; targets present; value ranges; unknown systems."""
        cols = ["kernel", "system", "status", *TARGETS, SAMPLES_COLUMN]
        unreadable: list[str] = []  # listed, not raised: the summary is where one looks for them
        frame = self.read(columns=cols, unreadable=unreadable)
        n = len(frame)
        out: dict = {"root": str(self.root), "records": n, "files": len(self.files()), "unreadable_files": unreadable}
        out["per_kernel"] = _counts(frame, "kernel")
        out["per_system"] = _counts(frame, "system")
        out["per_status"] = _counts(frame, "status")
        out["per_system_kernel"] = {f"{s} | {k}": c for (s, k), c in
                                    sorted(Counter(zip(frame["system"], frame["kernel"], strict=True)).items())} if n else {}
        targets = {}
        for target in (*TARGETS, SAMPLES_COLUMN):
            col = frame[target] if target in frame else pd.Series(dtype="float64")
            present = int(col.notna().sum())
            entry: dict = {"present": present}
            if present and target != SAMPLES_COLUMN:
                values = col.dropna().astype("float64")
                entry.update(min=float(values.min()), median=float(values.median()), max=float(values.max()))
            targets[target] = entry
        out["targets"] = targets
        per_kernel: dict[str, dict] = {}
        for kernel, group in frame.groupby("kernel", sort=True) if n else ():
            entry = {}
            for target in TARGETS:
                values = group[target].dropna().astype("float64") if target in group else pd.Series(dtype="float64")
                if len(values):
                    entry[target] = {"present": len(values), "min": float(values.min()),
                                     "median": float(values.median()), "max": float(values.max())}
            per_kernel[str(kernel)] = entry
        out["targets_per_kernel"] = per_kernel
        out["unknown_systems"] = [name for name in out["per_system"] if not is_known_system(name)]
        quarantined = 0
        for path in self.quarantine_files():
            with open(path, "rb") as fh:
                quarantined += sum(1 for _ in fh)
        out["quarantined_rows"] = quarantined
        out["quarantine_files"] = len(self.quarantine_files())
        return out


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct uint64s (a sort beats numpy's hash-based unique here by ~10x)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _types_mapper(dtype: pa.DataType):
    """Arrow -> pandas: lists stay Arrow lists; strings become pandas strings; ints nullable."""
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return pd.ArrowDtype(dtype)
    if pa.types.is_integer(dtype):
        return pd.Int64Dtype()
    if pa.types.is_boolean(dtype):
        return pd.BooleanDtype()
    return None


def _counts(frame: pd.DataFrame, col: str) -> dict[str, int]:
    if col not in frame or frame.empty:
        return {}
    counts = frame[col].fillna("<missing>").value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _system_names(system: str | Sequence[str]) -> list[str]:
    """The stored names a `system=` filter matches: each name as given and its canonical registry name
    (ingest stores the canonical one, so `H100` finds `NVIDIA H100 80GB HBM3`)."""
    given = [system] if isinstance(system, str) else list(system)
    return list(dict.fromkeys([*given, *(canonical_system(name) for name in given)]))
