"""Writing record files: JSON Lines, CSV or Parquet, chosen by the file name, appended chunk by chunk.

What `perfcast predict` writes its output with and `perfcast data export` writes the store with. The
file is written beside its final name (`<name>.partial`) and moved into place by `close()`, so a failed
run never leaves a half-written file under the name asked for; `abort()` removes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .schema import frame_to_records


def file_kind(path: Path) -> str:
    """`jsonl`, `csv` or `parquet` from the file name (`.gz`, `.xz`, `.bz2` suffixes are looked through)."""
    name = path.name.lower()
    for suffix in (".gz", ".xz", ".bz2"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise ValueError(f"{path}: unknown format (use .jsonl[.gz|.xz], .csv or .parquet)")


#: Input bytes per chunk when record files are read (JSONL lines, CSV cells, Parquet's Arrow bytes), by
#: ingest and predict: records with IR text run to megabytes each, so memory follows a chunk's text, not
#: its row count (the bundled H100 JSONL, 920 MB of text, was one chunk: 3.5 GB to ingest; 0.8 GB, and
#: faster, in 64 MiB chunks).
DEFAULT_CHUNK_BYTES = 64 << 20


def json_cell(value: object) -> object:
    """A cell as JSON: NaN/NA -> null, numpy scalars -> Python, arrays -> lists."""
    if isinstance(value, np.ndarray):
        return [json_cell(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [json_cell(v) for v in value]
    if isinstance(value, dict):
        return {k: json_cell(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else str(value)
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)


def _is_list_column(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.ArrowDtype):
        return pa.types.is_list(series.dtype.pyarrow_dtype) or pa.types.is_large_list(series.dtype.pyarrow_dtype)
    if series.dtype != object:
        return False
    present = series.dropna()  # a column holds one kind of value: its first says which
    return len(present) > 0 and isinstance(present.iloc[0], list | tuple | np.ndarray)


class RecordWriter:
    """Append DataFrame chunks (dotted columns) to one record file.

    - `.jsonl` (`.gz`/`.xz` compress it): one object per row; `nested=True` writes canonical records
      (`{"params": {...}, "problem": {...}}`, missing values left out, numbers exact), else the flat
      dotted columns (pandas' `to_json`).
    - `.csv`: the flat columns; a list cell (`runtime_ms_samples`) is a JSON array, as ingest reads it.
    - `.parquet`: the flat columns in one schema: `schema` when given (columns a chunk lacks are written
      as nulls, others cast to it; a column outside it is an error), else the chunks' own.

    Chunks may differ in their columns (a file of several kernel families): a chunk that brings new
    columns (or, in Parquet, a type the file's cannot hold) starts a new part file, and `close()` merges
    the parts into one file with the union of the columns, earlier rows blank (null) in the new ones.
    """

    def __init__(self, path: Path | str, *, nested: bool = False, schema: pa.Schema | None = None):
        self.path = Path(path)
        self.kind = file_kind(self.path)
        self.nested = nested
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.rows = 0
        self._schema = schema
        self._fixed = schema is not None
        self._columns: list[str] | None = None  # the CSV header of the current part
        self._parts: list[Path] = []  # finished parts, when the columns changed along the way
        self._current = self.partial
        self._part_rows = 0
        self._pq = None
        self._text = None
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _opener(self):
        import bz2  # noqa: PLC0415
        import functools  # noqa: PLC0415
        import gzip  # noqa: PLC0415
        import lzma  # noqa: PLC0415

        # .gz at zlib's default level: gzip.open's 9 took 2.4x as long for 8% less (IR text)
        return {".gz": functools.partial(gzip.open, compresslevel=6), ".xz": lzma.open,
                ".bz2": bz2.open}.get(self.path.suffix.lower(), open)

    def _open_text(self):
        if self._text is None:
            # newline="": the csv module's rows (a merge) and pandas' keep their own line ends
            self._text = self._opener()(self._current, "wt", encoding="utf-8", newline="")  # closed in close() / abort()
        return self._text

    def _next_part(self) -> None:
        self._close_handles()
        self._parts.append(self._current)
        self._current = self.partial.with_name(f"{self.partial.name}.{len(self._parts)}")
        self._part_rows = 0

    def _conform(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        """`table` in `schema`: absent or all-null columns as typed nulls, others cast; ValueError if a
        column is outside it or cannot be cast."""
        if table.schema == schema:
            return table
        unknown = [name for name in table.column_names if schema.get_field_index(name) < 0]
        if unknown:  # never dropped silently
            raise ValueError(f"{self.path}: columns {unknown} are not in the file's schema")
        columns = []
        for field in schema:
            column = table.column(field.name) if field.name in table.column_names else None
            if column is None or column.null_count == len(column):  # absent or all missing in this chunk
                columns.append(pa.nulls(len(table), field.type))
            elif column.type == field.type:
                columns.append(column)
            else:
                try:
                    columns.append(column.cast(field.type))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise ValueError(f"{self.path}: column {field.name!r} is {column.type} here and "
                                     f"{field.type} in the file's schema ({exc})") from exc
        return pa.Table.from_arrays(columns, schema=schema)

    def write(self, frame: pd.DataFrame) -> None:
        """Append the rows of `frame`."""
        if self.kind == "parquet":
            self._write_parquet(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None))
        elif self.kind == "csv":
            out = frame.copy(deep=False)
            for col in out.columns:
                if _is_list_column(out[col]):
                    out[col] = [None if v is None or v is pd.NA else json.dumps(json_cell(v)) for v in out[col]]
            if self._columns is None:
                self._columns = list(out.columns)
            new = [c for c in out.columns if c not in self._columns]
            if new:  # a header is written once per file: these rows go to a part with the wider one
                self._next_part()
                self._columns = self._columns + new
            out.reindex(columns=self._columns).to_csv(self._open_text(), header=self._part_rows == 0, index=False)
        else:
            fh = self._open_text()
            if self.nested:
                fh.writelines(json.dumps(r, ensure_ascii=False, default=json_cell) + "\n" for r in frame_to_records(frame))
            elif len(frame):
                frame.to_json(fh, orient="records", lines=True)
        self.rows += len(frame)
        self._part_rows += len(frame)

    def _write_parquet(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq  # noqa: PLC0415

        if self._schema is None:
            self._schema = table.schema
        try:
            table = self._conform(table, self._schema)
        except ValueError:
            if self._fixed:
                raise
            self._next_part()  # a Parquet file has one schema: the rest goes to a part with a wider one
            self._schema = _widened(self._schema, table.schema)
            table = self._conform(table, self._schema)
        if self._pq is None:
            self._pq = pq.ParquetWriter(self._current, self._schema)
        self._pq.write_table(table)

    def _merge_parts(self) -> None:
        """One file of the parts, in order, with the last part's columns (a superset of the others')."""
        parts = [*self._parts, self._current]
        merged = self.partial.with_name(self.partial.name + ".merged")
        if self.kind == "parquet":
            import pyarrow.parquet as pq  # noqa: PLC0415

            with pq.ParquetWriter(merged, self._schema) as writer:
                for part in parts:
                    source = pq.ParquetFile(part)
                    for group in range(source.num_row_groups):  # a row group at a time: memory stays flat
                        writer.write_table(self._conform(source.read_row_group(group), self._schema))
        else:
            import csv  # noqa: PLC0415
            import sys  # noqa: PLC0415

            csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # IR text cells run to ~100 KB
            opener = self._opener()
            with opener(merged, "wt", encoding="utf-8", newline="") as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(self._columns)
                for part in parts:
                    with opener(part, "rt", encoding="utf-8", newline="") as fh:
                        reader = csv.reader(fh)
                        header = next(reader, None)
                        if header is None:
                            continue
                        pad = [""] * (len(self._columns) - len(header))
                        writer.writerows(row + pad for row in reader)
        for part in parts:
            part.unlink(missing_ok=True)
        merged.replace(self.partial)

    def _close_handles(self) -> None:
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        if self._text is not None:
            self._text.close()
            self._text = None

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        if self.kind == "parquet" and self._pq is None and self._schema is not None and not self._parts:
            import pyarrow.parquet as pq  # noqa: PLC0415

            pq.write_table(self._schema.empty_table(), self.partial)  # no rows: the columns only
        self._close_handles()
        if self._parts:
            self._merge_parts()
        if not self.partial.exists():
            self.partial.touch()
        self.partial.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written; nothing appears under `path`."""
        self._close_handles()
        for part in [*self._parts, self._current]:
            part.unlink(missing_ok=True)


def _widened(schema: pa.Schema, other: pa.Schema) -> pa.Schema:
    """`schema` with `other`'s new columns appended and each shared column's type widened to hold both
    (null -> bool, int64 -> double; text where nothing else holds both)."""
    fields = []
    for field in schema:
        i = other.get_field_index(field.name)
        if i < 0 or other.field(i).type == field.type:
            fields.append(field)
            continue
        try:
            fields.append(pa.unify_schemas([pa.schema([field]), pa.schema([other.field(i)])],
                                           promote_options="permissive").field(0))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fields.append(pa.field(field.name, pa.string()))
    return pa.schema(fields + [f for f in other if schema.get_field_index(f.name) < 0])


def write_records(path: Path | str, chunks: Iterable[pd.DataFrame], *, nested: bool = False,
                  schema: pa.Schema | None = None, desc: str = "write", total: int | None = None,
                  progress: bool = False, none_message: str = "no records") -> int:
    """Write every chunk to one record file (`RecordWriter`) under a progress bar; returns the rows written.

    If a chunk fails (or `chunks` raises) nothing appears under `path`; with no rows at all neither,
    and `ValueError(none_message)` is raised.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    writer = RecordWriter(path, nested=nested, schema=schema)
    bar = tqdm(desc=desc, unit="rows", total=total, disable=not progress)
    try:
        for chunk in chunks:
            writer.write(chunk)
            bar.update(len(chunk))
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    if writer.rows == 0:
        writer.abort()
        raise ValueError(none_message)
    writer.close()
    return writer.rows
