"""Canonical record files: JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.xz`), CSV and Parquet.

JSONL holds one nested record per line (see README "Canonical measurement record"); CSV and Parquet
hold flat records with dotted column names (`params.BLOCK_M`, `problem.M`, `ir.ttgir`). In CSV,
`runtime_ms_samples` is a JSON array in one cell (`"[0.151, 0.153]"`). Lines that are not valid JSON
objects are rejected with their line number; everything else is checked by `validate_frame`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from perfcast.measurements.ingest._common import (
    IngestChunk,
    IngestError,
    open_bytes,
    rejects_frame,
)
from perfcast.measurements.recordfile import DEFAULT_CHUNK_BYTES
from perfcast.measurements.schema import flatten_record
from perfcast.measurements.validate import LINE_COLUMN


def read_jsonl(path: Path, *, chunk_rows: int = 100_000,
               chunk_bytes: int | None = DEFAULT_CHUNK_BYTES) -> Iterator[IngestChunk]:
    """Yield chunks of a (possibly gzip/xz-compressed) JSON Lines file: at most `chunk_rows` records and
    about `chunk_bytes` of line text (a chunk ends at the line that reaches it; None: rows only)."""
    records: list[dict] = []
    lines: list[int] = []
    rejects: list[dict] = []
    size = 0

    def flush() -> IngestChunk:
        nonlocal size
        size = 0
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
        if len(frame):
            frame[LINE_COLUMN] = lines
        chunk = IngestChunk(frame, rejects_frame(rejects, str(path)), file=str(path))
        records.clear()
        lines.clear()
        rejects.clear()
        return chunk

    number = 0
    try:
        # bytes per line, decoded one line at a time: a stray non-UTF-8 byte costs its line, not the file
        with open_bytes(path) as fh:
            for number, line in enumerate(fh, start=1):
                text = line.strip()
                if number == 1 and text.startswith(b"\xef\xbb\xbf"):  # a byte-order mark (Windows editors)
                    text = text[3:]
                if not text:
                    continue
                try:
                    record = json.loads(text.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    rejects.append({"_line": number, "_reason": f"not UTF-8 text: byte 0x{text[exc.start]:02x} at "
                                    f"column {exc.start + 1}", "raw": text[:2000].decode("utf-8", "backslashreplace")})
                    continue
                except ValueError as exc:
                    rejects.append({"_line": number, "_reason": f"not valid JSON: {exc.msg} (column {exc.colno})",
                                    "raw": text[:2000].decode("utf-8", "backslashreplace")})
                    continue
                if not isinstance(record, dict):
                    rejects.append({"_line": number, "_reason": "a record must be a JSON object",
                                    "raw": text[:2000].decode("utf-8", "backslashreplace")})
                    continue
                records.append(flatten_record(record))
                lines.append(number)
                size += len(text)
                if len(records) >= chunk_rows or (chunk_bytes is not None and size >= chunk_bytes):
                    yield flush()
    except (OSError, EOFError) as exc:
        # a truncated .gz/.xz (e.g. a collector killed mid-write): keep what was read, report the rest
        rejects.append({"_line": number + 1, "_reason": f"file unreadable from this line on: {exc}"})
    if records or rejects:
        yield flush()


#: Bytes of CSV text pyarrow parses per block (one block at a time in memory per thread).
CSV_BLOCK_BYTES = 1 << 24
#: CSV columns always read as text (never typed from their values).
TEXT_COLUMNS = frozenset({"kernel", "system", "status", "source", "measured_at", "runtime_ms_samples"})


def _typed(values: pa.Array) -> pa.Array:
    """A text column typed from its values, as Arrow infers a CSV column: int64, else float64, else
    booleans (`true`/`false`, any case), else text. All-missing stays text (missing)."""
    present = values.drop_null()
    if len(present) == 0:
        return values
    first = present[0].as_py().strip().lower()
    if first in ("true", "false"):
        lowered = pc.utf8_lower(values)
        is_true = pc.equal(lowered, "true")
        return is_true if pc.all(pc.or_(is_true, pc.equal(lowered, "false"))).as_py() else values
    try:  # a failed cast scans the whole column: the first value rules out most text columns at once
        float(first)
    except ValueError:
        return values
    for target in (pa.int64(), pa.float64()):
        try:
            return pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return values


def read_csv(path: Path, *, chunk_rows: int = 262_144,
             chunk_bytes: int | None = DEFAULT_CHUNK_BYTES) -> Iterator[IngestChunk]:
    """Yield chunks of a flat canonical CSV (dotted columns), parsed by pyarrow's multithreaded reader.

    A chunk holds at most `chunk_rows` rows and at most one parsed block (`CSV_BLOCK_BYTES` of text);
    `chunk_bytes` (None: rows only) bounds it too where the file is read row by row.

    Columns are parsed as text and typed per block (`_typed`): Arrow's own inference fixes a column's
    type from the file's first block, so a file of several kernel families (a column empty for the
    first family, numbers for a later one) stopped at the first such value and lost the rest.
    A row with too few or too many cells is quarantined and the rest of the file read: Arrow drops such
    a row without saying where it was, so from the first one on the file is read by `_read_csv_exact`,
    which keeps every row's line number.
    """
    with open_bytes(path) as fh:
        header = fh.readline().decode("utf-8-sig", errors="replace")
    names = next(csv.reader([header.rstrip("\r\n")]), [])
    # IR text spans lines inside quoted cells; pyarrow parses those only when told (a slower mode)
    multiline = any(name.startswith(("ir.", "meta.")) for name in names)
    ragged = False

    def skip(row: Any) -> str:
        nonlocal ragged
        ragged = True
        return "skip"

    line = 2  # the line of the next data row (after the header)
    try:
        with open_bytes(path) as fh:
            reader = pacsv.open_csv(
                fh,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=multiline, invalid_row_handler=skip),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                     strings_can_be_null=True),
            )
            for batch in reader:
                if ragged:  # a row of this batch (or of one read ahead) was dropped: line numbers unknown
                    break
                frame = _typed_frame(batch.schema.names, batch.columns)
                frame[LINE_COLUMN] = np.arange(line, line + len(frame))
                line += len(frame)
                for start in range(0, len(frame), chunk_rows):
                    yield IngestChunk(frame.iloc[start:start + chunk_rows].reset_index(drop=True), file=str(path))
    except pa.ArrowInvalid as exc:
        raise IngestError(f"{path}: not a readable CSV ({exc})") from exc
    if ragged:
        yield from _read_csv_exact(path, names, line - 2, chunk_rows, chunk_bytes)


def _typed_frame(names: list[str], columns: list[pa.Array]) -> pd.DataFrame:
    columns = [column if name in TEXT_COLUMNS or name.startswith("ir.") else _typed(column)
               for name, column in zip(names, columns, strict=True)]
    return pa.RecordBatch.from_arrays(columns, names=names).to_pandas()


def _read_csv_exact(path: Path, names: list[str], done_rows: int, chunk_rows: int,
                    chunk_bytes: int | None = None) -> Iterator[IngestChunk]:
    """The data rows after the first `done_rows` (already read), by Python's csv module: each row with
    the line it starts on, a row whose cell count is not the header's as a reject. Cells are typed as
    in `read_csv` (Arrow's null spellings are missing)."""
    nulls = frozenset(pacsv.ConvertOptions().null_values)
    csv.field_size_limit(2**31 - 1)  # IR text cells run to megabytes
    cells: list[list[str | None]] = [[] for _ in names]
    lines: list[int] = []
    rejects: list[dict[str, Any]] = []
    size = 0

    def flush() -> IngestChunk:  # the rejects go with the chunk of rows around them (predict keeps their place)
        nonlocal size
        size = 0
        frame = _typed_frame(names, [pa.array(column, pa.string()) for column in cells])
        frame[LINE_COLUMN] = lines.copy()
        chunk = IngestChunk(frame, rejects_frame(rejects, str(path)), file=str(path))
        for column in cells:
            column.clear()
        lines.clear()
        rejects.clear()
        return chunk

    with io.TextIOWrapper(open_bytes(path), encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)  # the header
        start, row_number = reader.line_num + 1, 0
        for row in reader:
            if row:
                row_number += 1
                if row_number > done_rows:
                    if len(row) != len(names):
                        text = io.StringIO()
                        csv.writer(text, lineterminator="").writerow(row)
                        rejects.append({LINE_COLUMN: start, "_reason": f"expected {len(names)} cells (the header's), "
                                        f"got {len(row)}", "raw": text.getvalue()[:2000]})
                    else:
                        for column, value in zip(cells, row, strict=True):
                            column.append(None if value in nulls else value)
                        lines.append(start)
                        if chunk_bytes is not None:
                            size += sum(map(len, row))
                        if len(lines) >= chunk_rows or (chunk_bytes is not None and size >= chunk_bytes):
                            yield flush()
            start = reader.line_num + 1
    if lines or rejects:
        yield flush()


def _list_as_arrow(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(arrow_type) if pa.types.is_list(arrow_type) else None


def arrow_to_frame(data: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """Arrow data of canonical records -> pandas, as every Parquet reader here does it: list columns
    (`runtime_ms_samples`) as `pd.ArrowDtype`. pandas writes such a column's dtype into the file's
    metadata in a form its own `to_pandas` cannot read back ("data type 'list<item: double>[pyarrow]'
    not understood"), so a plain `to_pandas()` fails on a Parquet file pandas wrote from a store read."""
    return data.to_pandas(types_mapper=_list_as_arrow)


#: Rows per Arrow batch when a Parquet chunk is filled up to a byte budget.
PARQUET_STEP_ROWS = 4096


def read_parquet(path: Path, *, chunk_rows: int = 262_144,
                 chunk_bytes: int | None = DEFAULT_CHUNK_BYTES) -> Iterator[IngestChunk]:
    """Yield chunks of a flat canonical Parquet file (dotted columns): at most `chunk_rows` rows and
    about `chunk_bytes` of Arrow data (None: rows only)."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(f"{path}: not a readable Parquet file ({exc})") from exc
    row = 1
    for batch in _parquet_chunks(pf, chunk_rows, chunk_bytes):
        frame = arrow_to_frame(batch)
        frame[LINE_COLUMN] = np.arange(row, row + len(frame))  # 1-based row number in the file
        row += len(frame)
        yield IngestChunk(frame, file=str(path))


def _parquet_chunks(pf: pq.ParquetFile, chunk_rows: int, chunk_bytes: int | None) -> Iterator[pa.RecordBatch | pa.Table]:
    if chunk_bytes is None:
        yield from pf.iter_batches(batch_size=chunk_rows)
        return
    # small batches, cut at the row that reaches either limit and gathered into one table per chunk
    parts: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in pf.iter_batches(batch_size=min(chunk_rows, PARQUET_STEP_ROWS)):
        ends = np.cumsum(_row_bytes(batch))  # bytes up to and including each row
        start = 0
        while start < len(batch):
            before = ends[start - 1] if start else 0
            reach = int(np.searchsorted(ends, chunk_bytes - size + before))  # the row that reaches the budget
            stop = max(start + 1, min(len(batch), start + chunk_rows - rows, reach + 1))  # a row at least
            parts.append(batch.slice(start, stop - start))
            rows += stop - start
            size += int(ends[stop - 1] - before)
            start = stop
            if rows >= chunk_rows or size >= chunk_bytes:
                yield pa.Table.from_batches(parts)
                parts, rows, size = [], 0, 0
    if parts:
        yield pa.Table.from_batches(parts)


def _row_bytes(batch: pa.RecordBatch) -> np.ndarray:
    """Bytes of each row's values: text and binary by length, fixed-width by width, others their column's mean."""
    total = np.zeros(len(batch), dtype=np.int64)
    for column in batch.columns:
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
                or pa.types.is_large_binary(kind):
            total += pc.binary_length(column).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        else:
            try:
                total += max(kind.bit_width // 8, 1)
            except ValueError:  # not fixed-width (lists of samples): the column's mean
                total += column.nbytes // max(len(batch), 1)
    return total
