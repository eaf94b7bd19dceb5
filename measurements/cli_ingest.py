"""`perfcast ingest PATH... [--format F] [--store DIR]`: measurement files into the store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perfcast.measurements.ingest import FORMATS, IngestError, ingest_path
from perfcast.measurements.store import MeasurementStore

from perfcast.config import STORE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="files or directories (a directory ingests every file in it that an adapter recognises)")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS),
                        help="adapter to use (default: detect from name and content)")
    parser.add_argument("--store", type=Path, default=None,
                        help=STORE_HELP)
    parser.add_argument("--system", default=None,
                        help="system name for files that do not name theirs (T4 results, AutoHeuristic logs)")
    parser.add_argument("--kernel", default=None, help="kernel family for T4 results files (e.g. clblast.xgemm)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    store = MeasurementStore(args.store)
    options = {k: v for k, v in (("system", args.system), ("kernel", args.kernel)) if v is not None}
    reports, skipped, failed = [], [], False
    for path in args.paths:
        try:
            report = ingest_path(path, store, format=args.format, progress=not args.no_progress, **options)
        except IngestError as exc:
            print(f"perfcast ingest: {exc}", file=sys.stderr)
            failed = True
            continue
        reports.extend(report.files)
        skipped.extend(report.skipped)
        failed |= bool(report.errors)
    if args.json:
        print(json.dumps({"files": [vars(r) for r in reports], "skipped": skipped}, indent=2))
    else:
        for r in reports:
            line = (f"{r.file} [{r.format}]: read {r.rows_read:,}, stored {r.stored:,}, "
                    f"duplicates {r.duplicates:,}, quarantined {r.quarantined:,}")
            if r.quarantine_path:
                line += f" -> {r.quarantine_path}"
            if r.error:
                line += f"  ERROR: {r.error}"
            print(line)
            for reason in r.first_reasons:
                print(f"  {reason}")
            if r.quarantined > len(r.first_reasons) and r.first_reasons:
                print(f"  ... and {r.quarantined - len(r.first_reasons):,} more in the quarantine file")
        if skipped:
            print(f"skipped {len(skipped)} file(s) no adapter recognises: " + ", ".join(skipped[:10])
                  + (" ..." if len(skipped) > 10 else ""))
        total = {k: sum(getattr(r, k) for r in reports) for k in ("rows_read", "stored", "duplicates", "quarantined")}
        print(f"total: read {total['rows_read']:,}, stored {total['stored']:,}, duplicates {total['duplicates']:,}, "
              f"quarantined {total['quarantined']:,}; store {store.root} holds {len(store):,} records")
    return 1 if failed else 0
