"""`perfcast predict INPUT OUTPUT`: batch prediction, streamed in chunks (memory stays flat).

Input: JSONL (also .gz/.xz), CSV or Parquet query records; output: the same rows in the same order
plus `pred.*` columns, written as Parquet, CSV or JSONL by OUTPUT's suffix. The model comes from
`--model` (a directory or `models:/name@alias`), default the registry's `perfcast-default@champion`;
it may be routed (`perfcast.models.routed`): each chunk's rows go to their kernel family's sub-model.
No mlflow import: the registry is read directly (see `perfcast.training.registry`).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.recordfile import DEFAULT_CHUNK_BYTES, file_kind, write_records
from perfcast.measurements.validate import LINE_COLUMN, REASON_COLUMN, check_queries

DEFAULT_MODEL = "models:/perfcast-default@champion"
DEFAULT_CHUNK_MB = DEFAULT_CHUNK_BYTES / 2**20  # the readers' byte budget per chunk, in MiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="query records: .jsonl[.gz|.xz], .csv or .parquet")
    parser.add_argument("output", type=Path, help="output: .parquet, .csv or .jsonl")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model directory or registry URI (default {DEFAULT_MODEL})")
    parser.add_argument("--chunk-rows", type=int, default=131072, help="rows per chunk (default 131072)")
    parser.add_argument("--chunk-mb", type=float, default=DEFAULT_CHUNK_MB,
                        help=f"input MiB per chunk, whichever limit comes first: IR text makes rows large "
                             f"(default {DEFAULT_CHUNK_MB:g}; 0: rows only)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (default 2)")
    parser.add_argument("--ir-jobs", type=int, default=-1,
                        help="processes featurising IR text columns (default -1: all cores; 1: in this process)")
    parser.add_argument("--dask", action="store_true", help="Parquet in/out on a local Dask cluster (very large inputs)")
    parser.add_argument("--quiet", action="store_true")


def iter_chunks(path: Path, chunk_rows: int, chunk_bytes: int | None = DEFAULT_CHUNK_BYTES) -> Iterator[pd.DataFrame]:
    """Canonical flat frames of at most `chunk_rows` rows and about `chunk_bytes` of input (None: rows
    only), in file order (nested JSONL records flattened)."""
    kind = file_kind(path)
    if kind == "parquet":
        from perfcast.measurements.ingest.canonical import read_parquet

        for chunk in read_parquet(path, chunk_rows=chunk_rows, chunk_bytes=chunk_bytes):
            yield _in_place(chunk.frame, {})
    else:
        # ingest's readers: a line that is not a JSON object, a CSV row with too few or too many cells,
        # keeps its place as a row with a reason
        from perfcast.measurements.ingest.canonical import read_csv, read_jsonl

        reader = read_csv if kind == "csv" else read_jsonl
        for chunk in reader(path, chunk_rows=chunk_rows, chunk_bytes=chunk_bytes):
            rejects = chunk.rejects
            bad = {} if rejects.empty else {line: f"line {line}: {reason}" for line, reason in
                                            zip(rejects[LINE_COLUMN], rejects[REASON_COLUMN], strict=True)}
            yield _in_place(chunk.frame, bad)


def _in_place(frame: pd.DataFrame, bad: dict[int, str]) -> pd.DataFrame:
    """`frame` (file lines in `_line`) with a row per unreadable line {line: reason} in its place, the
    reason in `_reason`; `_line` dropped."""
    if bad:
        rows = pd.DataFrame({LINE_COLUMN: list(bad), REASON_COLUMN: list(bad.values())})
        frame = pd.concat([frame, rows], ignore_index=True).sort_values(LINE_COLUMN, kind="stable")
    return frame.drop(columns=[LINE_COLUMN], errors="ignore").reset_index(drop=True)


ERROR_COLUMN = "pred.error"


class RowErrors:
    """Rows without a prediction: how many, and the first few as `row N: reason` (N from 1)."""

    def __init__(self, keep: int = 5):
        self.count = 0
        self.first: list[str] = []
        self.keep = keep

    def add(self, start: int, reasons: pd.Series) -> None:
        """Count the non-null `reasons` of rows numbered from `start` (0-based)."""
        failed = np.flatnonzero(reasons.notna().to_numpy())
        self.add_counted(start, len(failed), [(int(i), reasons.iloc[i]) for i in failed[: self.keep]])

    def add_counted(self, start: int, count: int, first: list[tuple[int, str]]) -> None:
        """`count` more rows without a prediction, the first of them as (position from `start`, reason)."""
        self.count += count
        self.first += [f"row {start + i + 1}: {reason}" for i, reason in first[: self.keep - len(self.first)]]


def predict_rows(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """`pred.*` of each row of `frame` (same order), and `pred.error`: why a row has no prediction (None
    where it has one). A row the measurements' rules refuse (`check_queries`: an unknown system, M <= 0,
    dtype `fp99`), one the reader could not parse (a `_reason` column, not part of the output) or whose
    kernel family the model cannot answer keeps its place with NaN predictions."""
    columns = [f"pred.{c}" for c in model.output_columns()]
    unread = frame.get(REASON_COLUMN)
    if unread is not None:
        frame = frame.drop(columns=[REASON_COLUMN])
    checked, reasons = check_queries(frame)
    if unread is not None:
        has = unread.notna().to_numpy()
        reasons[has] = unread[has].to_numpy(dtype=object)
    out = pd.DataFrame(np.nan, index=checked.index, columns=columns)
    known = _known_kernels(model)
    if known is not None and "kernel" in checked:  # (without the column every row says "kernel missing")
        unknown = (reasons == "") & ~checked["kernel"].astype(str).isin(known).to_numpy()
        reasons[unknown] = [f"unknown kernel {k!r}: this model knows {known}" for k in checked["kernel"][unknown]]
    ok = reasons == ""
    if ok.any():
        try:
            parts = [(np.flatnonzero(ok), model.predict_frame(checked[ok].reset_index(drop=True)))]
        except ValueError:  # rows the model refuses (an adaptation answers one GPU): the others answered
            parts = []
            groups = pd.Series(pd.factorize(pd.MultiIndex.from_arrays(
                [checked["kernel"].astype(str), checked["system"].astype(str)]))[0])
            for code in pd.unique(groups[ok]):
                rows = np.flatnonzero(ok & (groups == code).to_numpy())
                try:
                    parts.append((rows, model.predict_frame(checked.iloc[rows].reset_index(drop=True))))
                except ValueError as exc:
                    reasons[rows] = str(exc)
        for rows, pred in parts:
            out.iloc[rows, [out.columns.get_loc(c) for c in pred.columns]] = pred.to_numpy(dtype=np.float64)
        # a (kernel, system) the model has no measurements of is not answered (see mask_uncovered)
        unanswered = (reasons == "") & out[columns].isna().all(axis=1).to_numpy()
        reasons[unanswered] = [f"the model has no measurements of {k} on {s} (`perfcast adapt` fits one from a "
                               "few hundred of them)" for k, s in zip(checked["kernel"][unanswered],
                                                                      checked["system"][unanswered], strict=True)]
    out[ERROR_COLUMN] = pd.Series(np.where(reasons == "", None, reasons), index=out.index, dtype="string")
    return out


def _known_kernels(model: Any) -> list[str] | None:
    """The kernel families a loaded model answers (a routed model's routes, else its feature schema's)."""
    kernels = getattr(model, "kernels", None)
    if kernels:
        return sorted(kernels)
    inputs = getattr(getattr(model, "schema", None), "inputs", None)
    return sorted(inputs) if inputs else None


def predict_file(input_path: Path, output_path: Path, model_uri: str, *, chunk_rows: int = 131072,
                 chunk_mb: float | None = DEFAULT_CHUNK_MB, threads: int = 2, ir_jobs: int = -1,
                 progress: bool = True, errors: RowErrors | None = None) -> int:
    """Stream INPUT through the model into OUTPUT; returns the number of rows written. A chunk is at most
    `chunk_rows` rows and about `chunk_mb` MiB of input (None: rows only). `errors`, when given,
    counts the rows without a prediction; `ir_jobs` processes featurise IR text (-1: all cores)."""
    from perfcast.features import prefetch_ir_features
    from perfcast.models.routed import load_cost_model
    from perfcast.training.registry import resolve_model_dir

    in_kind = file_kind(input_path)
    file_kind(output_path)  # fail on a bad suffix before any work
    if not input_path.is_file():
        raise FileNotFoundError(f"{input_path}: no such file ({in_kind} input)")
    # a routed model splits each chunk by kernel over its per-family sub-models, order kept
    model = load_cost_model(resolve_model_dir(model_uri), threads=threads)

    def chunks() -> Iterator[pd.DataFrame]:
        start = 0
        for chunk in iter_chunks(input_path, chunk_rows, _chunk_bytes(chunk_mb)):
            chunk = chunk.reset_index(drop=True)
            prefetch_ir_features(chunk, ir_jobs)
            pred = predict_rows(model, chunk)
            chunk = chunk.drop(columns=[REASON_COLUMN], errors="ignore")  # the reader's note, now in pred.error
            if errors is not None:
                errors.add(start, pred[ERROR_COLUMN])
            start += len(chunk)
            yield pd.concat([chunk, pred], axis=1)

    # written beside OUTPUT and moved into place at the end: a failed run leaves no half-written OUTPUT
    return write_records(output_path, chunks(), desc="predict", progress=progress,
                         none_message=f"{input_path}: no records")


@functools.lru_cache(maxsize=2)
def _worker_model(model_dir: str, threads: int) -> Any:
    """The model, loaded once per Dask worker process (a routed model takes about a second to load)."""
    from perfcast.models.routed import load_cost_model

    return load_cost_model(model_dir, threads=threads)


def _chunk_bytes(chunk_mb: float | None) -> int | None:
    return None if chunk_mb is None else int(chunk_mb * 2**20)


def _row_group_runs(rows_per_group: list[int], chunk_rows: int, bytes_per_group: list[int] | None = None,
                    chunk_bytes: int | None = None) -> list[list[int]]:
    """Consecutive row groups in runs that end once they reach `chunk_rows` rows or `chunk_bytes` bytes
    (`bytes_per_group`: the groups' uncompressed sizes); the last may be shorter. One Dask partition
    each, in file order."""
    runs: list[list[int]] = [[]]
    count = size = 0
    for group, rows in enumerate(rows_per_group):
        if count >= chunk_rows or (chunk_bytes is not None and bytes_per_group is not None and size >= chunk_bytes):
            runs.append([])
            count = size = 0
        runs[-1].append(group)
        count += rows
        size += bytes_per_group[group] if bytes_per_group is not None else 0
    return runs


def predict_dask(input_path: Path, output_path: Path, model_uri: str, *, threads: int = 1,
                 chunk_rows: int = 131072, chunk_mb: float | None = DEFAULT_CHUNK_MB,
                 errors: RowErrors | None = None) -> int:
    """Parquet -> Parquet on a local Dask cluster: partitions of about `chunk_rows` rows or `chunk_mb`
    MiB (whole row groups by their uncompressed size, read like ingest reads Parquet), one model per
    worker process; `errors` as in `predict_file`."""
    import dask.dataframe as dd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from dask.distributed import Client, LocalCluster
    from perfcast.measurements.ingest.canonical import arrow_to_frame
    from perfcast.training.registry import resolve_model_dir

    model_dir = str(resolve_model_dir(model_uri))
    if file_kind(input_path) != "parquet" or file_kind(output_path) != "parquet":
        raise ValueError("--dask reads and writes Parquet")
    source = pq.ParquetFile(input_path)
    keep = errors.keep if errors is not None else 0
    groups = [source.metadata.row_group(g) for g in range(source.num_row_groups)]
    runs = _row_group_runs([g.num_rows for g in groups], chunk_rows, [g.total_byte_size for g in groups],
                           _chunk_bytes(chunk_mb))

    def read(groups: list[int]) -> pd.DataFrame:  # dd.read_parquet fails on the list columns pandas wrote
        return arrow_to_frame(pq.ParquetFile(input_path).read_row_groups(groups))

    # every part has the input's columns and types plus the predictions: a column that is null
    # throughout one part keeps its type, so the parts read as one dataset
    index_cols = [c for c in (source.schema_arrow.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)]
    columns = [f for f in source.schema_arrow if f.name not in index_cols and not f.name.startswith("pred.")]
    pred_cols = [f"pred.{c}" for c in _worker_model(model_dir, 1).output_columns()]
    schema = pa.schema([*columns, *(pa.field(c, pa.float64()) for c in pred_cols), pa.field(ERROR_COLUMN, pa.string())])

    def run(part: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        pred = predict_rows(_worker_model(model_dir, threads), part.reset_index(drop=True))
        out = pd.concat([part.reset_index(drop=True), pred], axis=1)
        # written here, not by dask's to_parquet: its pandas metadata for a list column is one pandas
        # cannot read back, and zero-padded names keep the parts in input order when listed
        table = pa.Table.from_pandas(out[schema.names], schema=schema, preserve_index=False)
        pq.write_table(table.replace_schema_metadata(None), partial / f"part.{partition_info['number']:06d}.parquet")
        failed = np.flatnonzero(out[ERROR_COLUMN].notna().to_numpy())  # counted here: no pass over the output
        first = [(int(i), str(out[ERROR_COLUMN].iloc[i])) for i in failed[:keep]]
        return pd.DataFrame({"number": [partition_info["number"]], "rows": [len(out)], "failed": [len(failed)],
                             "first": [first]})

    # written beside the target and moved at the end: a failure leaves no partial output, and the parts
    # of an earlier run in the same place are not mixed into this one's
    partial = output_path.with_name(f".{output_path.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, Client(cluster):
            ddf = dd.from_map(read, runs, meta=arrow_to_frame(source.schema_arrow.empty_table()))
            # explicit meta: dask must not call the model on its made-up sample rows
            parts = ddf.map_partitions(run, meta={"number": "int64", "rows": "int64", "failed": "int64",
                                                  "first": "object"}).compute()
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if output_path.is_dir():
        shutil.rmtree(output_path)
    elif output_path.exists():
        output_path.unlink()
    partial.replace(output_path)
    start = 0
    for part in parts.sort_values("number").itertuples():  # one row per partition, in input order
        if errors is not None:
            errors.add_counted(start, int(part.failed), part.first)
        start += int(part.rows)
    return start


def main(args: argparse.Namespace) -> int:
    from perfcast.training.registry import ModelNotFoundError

    t0 = time.perf_counter()
    errors = RowErrors()
    try:
        if args.chunk_mb < 0 or args.chunk_rows < 1:
            raise ValueError(f"--chunk-rows must be >= 1 and --chunk-mb >= 0 (got {args.chunk_rows}, {args.chunk_mb:g})")
        if args.dask:
            rows = predict_dask(args.input, args.output, args.model, threads=1, chunk_rows=args.chunk_rows,
                                chunk_mb=args.chunk_mb or None, errors=errors)
        else:
            rows = predict_file(args.input, args.output, args.model, chunk_rows=args.chunk_rows,
                                chunk_mb=args.chunk_mb or None, threads=args.threads, ir_jobs=args.ir_jobs,
                                progress=not args.quiet, errors=errors)
    except (ModelNotFoundError, FileNotFoundError, ValueError) as exc:
        print(f"perfcast predict: {exc}", file=sys.stderr)
        return 1
    if errors.count:
        more = f"\n  ... and {errors.count - len(errors.first):,} more" if errors.count > len(errors.first) else ""
        rest = "; the others are predicted" if errors.count < rows else ""
        print(f"perfcast predict: {errors.count:,} of {rows:,} rows have no prediction ({ERROR_COLUMN} in "
              f"{args.output} says why{rest}):\n  " + "\n  ".join(errors.first) + more, file=sys.stderr)
        if errors.count == rows:
            return 1
    if not args.quiet:
        print(f"{rows:,} rows -> {args.output} in {time.perf_counter() - t0:.1f} s")
    return 0
