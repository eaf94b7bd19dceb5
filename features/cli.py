"""`perfcast features INPUT [--json] [--schema FILE]`: show the feature vectors of query records.

INPUT is a canonical record file (`.jsonl`, `.csv`, `.parquet`, read by the ingest adapters), a
`.json` file holding one record or a list of records, an inline JSON record/list, or `-` (JSON or
JSON Lines on stdin). With `--schema` (e.g. a model's `feature_schema.json`) the vectors have
exactly that schema's columns, or the command names what does not match.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.features.registry import featurize
from perfcast.features.schema import FeatureSchema, FeatureSchemaError
from perfcast.measurements.schema import records_to_frame
from perfcast.measurements.validate import LINE_COLUMN, REASON_COLUMN, check_queries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="record file (.jsonl/.csv/.parquet/.json), inline JSON, or - for stdin")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per record) instead of a table")
    parser.add_argument("--schema", type=Path, help="feature_schema.json to transform with (default: derive one)")
    parser.add_argument("--limit", type=int, default=20, help="show at most this many records (default 20)")


def _parse_json_records(text: str, origin: str) -> pd.DataFrame:
    text = text.strip()
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        # JSON Lines: one record per non-empty line
        data = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{origin}: line {number} is not valid JSON ({exc.msg})") from exc
    records = data if isinstance(data, list) else [data]
    bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise ValueError(f"{origin}: records must be JSON objects (item {bad[0]} is not)")
    return records_to_frame(records)


def iter_records(source: str) -> Iterator[pd.DataFrame]:
    """Query records from a path, inline JSON or stdin, as canonical flat frames: a record file chunk by
    chunk (the ingest readers: memory stays bounded), the rest as one frame."""
    if source == "-":
        yield _parse_json_records(sys.stdin.read(), "stdin")
        return
    if source.lstrip().startswith(("{", "[")):
        yield _parse_json_records(source, "inline JSON")
        return
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".json":
        yield _parse_json_records(path.read_text(), str(path))
        return
    from perfcast.measurements.ingest import read_path  # noqa: PLC0415 (the one way to read record files)

    shown = 0
    for chunk in read_path(path):
        # (not itertuples: namedtuple fields cannot start with "_", so `_line` came out as "?")
        for row in chunk.rejects.head(max(0, 5 - shown)).to_dict(orient="records"):
            print(f"rejected {path} line {row.get(LINE_COLUMN, '?')}: {row.get(REASON_COLUMN, '?')}", file=sys.stderr)
            shown += 1
        if len(chunk.frame):
            yield chunk.frame


def first_records(source: str, limit: int) -> tuple[pd.DataFrame, list[int], int]:
    """The first `limit` records of `source` that pass the query rules, their record numbers, and how many
    pass in all. Records past the first `limit` are read and checked, not featurized (IR text makes that
    the slow part); the first five left out are named on stderr."""
    kept: list[pd.DataFrame] = []
    numbers: list[int] = []
    total = passed = 0
    for frame in iter_records(source):
        # the problem by the rules measurements pass (`half` is fp16; M > 0), as `perfcast predict` has it
        frame, reasons = check_queries(frame)
        for i in np.flatnonzero(reasons != "")[: max(0, 5 - (total - passed))]:
            print(f"perfcast features: record {total + i} left out: {reasons[i]}", file=sys.stderr)
        ok = np.flatnonzero(reasons == "")
        take = ok[: max(0, limit - len(numbers))]
        if len(take):
            kept.append(frame.iloc[take])
            numbers += [total + int(i) for i in take]
        passed += len(ok)
        total += len(frame)
    if total == 0:
        raise ValueError(f"{source}: no records read")
    if passed == 0:
        raise ValueError(f"none of the {total} records can be featurized")
    return pd.concat(kept, ignore_index=True), numbers, passed


def _clean(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def main(args: argparse.Namespace) -> int:
    try:
        if args.limit < 1:
            raise ValueError(f"--limit must be >= 1 (got {args.limit})")
        # only the records shown are featurized: the bundled H100 set took 81 s and 3.2 GB to show 20
        frame, numbers, passed = first_records(args.input, args.limit)
        schema = FeatureSchema.from_json(args.schema.read_text()) if args.schema else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            X, schema = featurize(frame, schema)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
    except (FeatureSchemaError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"perfcast features: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = {
            "schema_version": schema.version,
            "categorical": {name: list(schema.categories[name]) for name in schema.categorical},
            "records": [{k: _clean(v) for k, v in row.items()} for row in X.to_dict(orient="records")],
        }
        print(json.dumps(payload, indent=2))
        return 0
    table = X.T
    table.columns = [f"record {i}" for i in numbers]  # the records' own numbers label the table
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(table.to_string(float_format=lambda v: f"{v:.6g}"))
    print(f"\n{len(schema)} features, schema version {schema.version}; categorical codes index the vocabulary "
          "(-1 = unseen value)", file=sys.stderr)
    if passed > len(X):
        print(f"(showing {len(X)} of {passed} records; --limit to change)", file=sys.stderr)
    return 0
