"""`perfcast predict INPUT OUTPUT`: batch prediction, streamed in chunks (memory stays flat).

Input: JSONL (also .gz/.xz), CSV or Parquet query records; output: the same rows in the same order
plus `pred.*` columns, written as Parquet, CSV or JSONL by OUTPUT's suffix. The model comes from
`--model` (a directory or `models:/name@alias`), default the registry's `perfcast-default@champion`;
it may be routed (`perfcast.models.routed`): each chunk's rows go to their kernel family's sub-model.
No mlflow import: the registry is read directly (see `perfcast.training.registry`).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.recordfile import file_kind, write_records
from perfcast.measurements.validate import LINE_COLUMN, REASON_COLUMN, check_queries

DEFAULT_MODEL = "models:/perfcast-default@champion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="query records: .jsonl[.gz|.xz], .csv or .parquet")
    parser.add_argument("output", type=Path, help="output: .parquet, .csv or .jsonl")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model directory or registry URI (default {DEFAULT_MODEL})")
    parser.add_argument("--chunk-rows", type=int, default=131072, help="rows per chunk (default 131072)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (default 2)")
    parser.add_argument("--dask", action="store_true", help="Parquet in/out on a local Dask cluster (very large inputs)")
    parser.add_argument("--quiet", action="store_true")


def iter_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Canonical flat frames of at most `chunk_rows` rows, in file order (nested JSONL records flattened)."""
    kind = file_kind(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    elif kind == "csv":
        yield from _csv_chunks(path, chunk_rows)
    else:
        # ingest's reader: a line that is not a JSON object keeps its place as a row with a reason
        from perfcast.measurements.ingest.canonical import read_jsonl

        for chunk in read_jsonl(path, chunk_rows=chunk_rows):
            bad = {line: f"line {line}: {reason}"
                   for line, reason in zip(chunk.rejects[LINE_COLUMN], chunk.rejects[REASON_COLUMN], strict=True)}
            yield _in_place(chunk.frame, bad)


def _in_place(frame: pd.DataFrame, bad: dict[int, str]) -> pd.DataFrame:
    """`frame` (file lines in `_line`) with a row per unreadable line {line: reason} in its place, the
    reason in `_reason`; `_line` dropped."""
    if bad:
        rows = pd.DataFrame({LINE_COLUMN: list(bad), REASON_COLUMN: list(bad.values())})
        frame = pd.concat([frame, rows], ignore_index=True).sort_values(LINE_COLUMN, kind="stable")
    return frame.drop(columns=[LINE_COLUMN], errors="ignore").reset_index(drop=True)


_SKIPPED = re.compile(r"Skipping line (\d+): ([^\n]*)")


def _skipped_lines(caught: list[warnings.WarningMessage]) -> dict[int, str]:
    """`{file line: reason}` of the rows pandas skipped, from its ParserWarnings (then forgotten)."""
    found = {int(m.group(1)): f"line {m.group(1)}: {m.group(2).replace('fields', 'cells')}"
             for w in caught for m in _SKIPPED.finditer(str(w.message))}
    caught.clear()
    return found


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """pandas' C reader; a row with more cells than the header (which made pandas stop the whole file)
    keeps its place as a row with a `_reason`. pandas reports each such line with the chunk it falls in."""
    next_line = 2  # the file line of the next data row (after the header)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        for chunk in pd.read_csv(path, chunksize=chunk_rows, on_bad_lines="warn"):
            skipped = _skipped_lines(caught)
            if skipped:
                total = len(chunk) + len(skipped)
                chunk[LINE_COLUMN] = [n for n in range(next_line, next_line + total) if n not in skipped][: len(chunk)]
                chunk = _in_place(chunk, skipped)
            next_line += len(chunk)
            yield chunk
        tail = _skipped_lines(caught)  # bad lines after the last good row come with no chunk of their own
        if tail:
            yield pd.DataFrame({REASON_COLUMN: [tail[n] for n in sorted(tail)]})


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
        self.count += len(failed)
        self.first += [f"row {start + i + 1}: {reasons.iloc[i]}" for i in failed[: self.keep - len(self.first)]]


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
                 threads: int = 2, progress: bool = True, errors: RowErrors | None = None) -> int:
    """Stream INPUT through the model into OUTPUT; returns the number of rows written. `errors`, when
    given, counts the rows without a prediction."""
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
        for chunk in iter_chunks(input_path, chunk_rows):
            chunk = chunk.reset_index(drop=True)
            pred = predict_rows(model, chunk)
            chunk = chunk.drop(columns=[REASON_COLUMN], errors="ignore")  # the reader's note, now in pred.error
            if errors is not None:
                errors.add(start, pred[ERROR_COLUMN])
            start += len(chunk)
            yield pd.concat([chunk, pred], axis=1)

    # written beside OUTPUT and moved into place at the end: a failed run leaves no half-written OUTPUT
    return write_records(output_path, chunks(), desc="predict", progress=progress,
                         none_message=f"{input_path}: no records")


def predict_dask(input_path: Path, output_path: Path, model_uri: str, *, threads: int = 1,
                 errors: RowErrors | None = None) -> int:
    """Parquet -> Parquet on a local Dask cluster (one onnxruntime session per partition task);
    `errors` as in `predict_file`."""
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster
    from perfcast.training.registry import resolve_model_dir

    model_dir = str(resolve_model_dir(model_uri))
    if file_kind(input_path) != "parquet" or file_kind(output_path) != "parquet":
        raise ValueError("--dask reads and writes Parquet")

    def run(part: pd.DataFrame) -> pd.DataFrame:
        from perfcast.models.routed import load_cost_model

        m = load_cost_model(model_dir, threads=threads)
        return pd.concat([part, predict_rows(m, part.reset_index(drop=True)).set_axis(part.index)], axis=1)

    from perfcast.models.routed import load_cost_model

    pred_cols = [f"pred.{c}" for c in load_cost_model(model_dir, threads=1).output_columns()]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, Client(cluster):
        ddf = dd.read_parquet(str(input_path))
        # explicit meta: dask must not call the model on its made-up sample rows
        meta = ddf._meta.assign(**{c: pd.Series(dtype="float64") for c in pred_cols},
                                **{ERROR_COLUMN: pd.Series(dtype="string")})
        ddf.map_partitions(run, meta=meta).to_parquet(str(output_path), write_index=False)
    import pyarrow.dataset as ds

    written = ds.dataset(str(output_path), format="parquet")
    if errors is not None:  # the parts are written in input order
        errors.add(0, written.to_table(columns=[ERROR_COLUMN]).column(ERROR_COLUMN).to_pandas())
    return int(written.count_rows())


def main(args: argparse.Namespace) -> int:
    from perfcast.training.registry import ModelNotFoundError

    t0 = time.perf_counter()
    errors = RowErrors()
    try:
        if args.dask:
            rows = predict_dask(args.input, args.output, args.model, threads=1, errors=errors)
        else:
            rows = predict_file(args.input, args.output, args.model, chunk_rows=args.chunk_rows,
                                threads=args.threads, progress=not args.quiet, errors=errors)
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
