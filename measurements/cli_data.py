"""`perfcast data summary [--store DIR] [--json]`: what the measurement store holds; `perfcast data compact`;
`perfcast data export OUT`: the stored records as one JSONL, CSV or Parquet file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from perfcast.measurements.store import MeasurementStore

from perfcast.config import STORE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    summary = sub.add_parser("summary", help="counts per system, kernel and status; targets present; value ranges")
    summary.add_argument("--store", type=Path, default=None,
                         help=STORE_HELP)
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    compact = sub.add_parser("compact", help="merge each kernel family's Parquet files into one")
    compact.add_argument("--store", type=Path, default=None,
                         help=STORE_HELP)
    compact.add_argument("--kernel", default=None, help="only this kernel family")
    export = sub.add_parser("export", help="write the stored records to one .jsonl[.gz|.xz], .csv or .parquet file "
                                           "(canonical records; `perfcast ingest` reads it back)")
    export.add_argument("output", type=Path, help="the file to write; its suffix picks the format")
    export.add_argument("--store", type=Path, default=None,
                        help=STORE_HELP)
    export.add_argument("--kernel", action="append", default=None, help="only this kernel family (repeatable)")
    export.add_argument("--system", action="append", default=None, help="only this system (repeatable)")
    export.add_argument("--no-ir", action="store_true", help="leave out the IR text (`ir.*`)")
    export.add_argument("--quiet", action="store_true", help="no progress bar")


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def format_summary(s: dict) -> str:
    """Human-readable summary text."""
    lines = [f"store {s['root']}: {s['records']:,} records in {s['files']} files"]
    for title, key in (("per kernel", "per_kernel"), ("per system", "per_system"), ("per status", "per_status")):
        lines.append(f"{title}:")
        lines.extend(f"  {name:<40} {count:>10,}" for name, count in s[key].items())
    lines.append("targets (present / min / median / max):")
    for target, entry in s["targets"].items():
        if "min" in entry:
            lines.append(f"  {target:<20} {entry['present']:>10,}  {_fmt(entry['min'])} / {_fmt(entry['median'])} / "
                         f"{_fmt(entry['max'])}")
        else:
            lines.append(f"  {target:<20} {entry['present']:>10,}")
    lines.append("per kernel ranges:")
    for kernel, targets in s.get("targets_per_kernel", {}).items():
        for target, entry in targets.items():
            lines.append(f"  {kernel:<26} {target:<11} {entry['present']:>9,}  {_fmt(entry['min'])} .. "
                         f"{_fmt(entry['max'])} (median {_fmt(entry['median'])})")
    if s.get("unknown_systems"):
        lines.append("systems unknown to the registry (add them with a systems YAML file, see `perfcast systems`): "
                     + ", ".join(s["unknown_systems"]))
    lines.append(f"quarantined rows: {s['quarantined_rows']:,} in {s['quarantine_files']} files "
                 f"under {Path(s['root']) / 'quarantine'}")
    if s.get("unreadable_files"):
        lines.append(f"UNREADABLE store files ({len(s['unreadable_files'])}; their records are not counted above, and "
                     "reading the store fails until each is moved out or restored):")
        lines += [f"  {entry}" for entry in s["unreadable_files"]]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    store = MeasurementStore(args.store)
    if args.action == "compact":
        result = store.compact(args.kernel)  # a broken file: the CLI dispatcher prints the StoreError, exit 1
        print(f"store {store.root}: {result['files_before']} files -> {result['files_after']}; {len(store):,} records")
        return 0
    if args.action == "export":
        t0 = time.perf_counter()
        try:
            rows = store.export(args.output, kernel=args.kernel, system=args.system, with_ir=not args.no_ir,
                                progress=not args.quiet)
        except ValueError as exc:
            print(f"perfcast data export: {exc}", file=sys.stderr)
            return 1
        print(f"{rows:,} records -> {args.output} ({time.perf_counter() - t0:.1f} s)")
        return 0
    summary = store.summary()
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 1 if summary["unreadable_files"] else 0
