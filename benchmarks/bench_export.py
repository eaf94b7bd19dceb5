"""`perfcast data export` to JSON Lines (`MeasurementStore.export`): the canonical records built a column
at a time (`frame_to_records`) against the earlier per-row build (`unflatten_record` of each row of
`DataFrame.to_dict`), in the same run.

    perfcast quickstart --no-serve                      # or `perfcast ingest ...`: a store to export
    python benchmarks/bench_export.py [--store DIR] [--kernel K]... [--suffix .jsonl.gz] [--repeats 3]

The two builds alternate (so both see the same machine load), each exporting the same records to its own
file. Prints records/s per build (median of the repeats) and their ratio, and checks that the two `.jsonl`
files are byte for byte the same (compressed files are compared after decompressing).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import lzma
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np


def _per_row_records(frame):
    """The earlier `frame_to_records`: one `unflatten_record` call per row (the baseline)."""
    from perfcast.measurements.schema import unflatten_record

    return [unflatten_record(row) for row in frame.to_dict(orient="records")]


def _text(path: Path) -> bytes:
    opener = {".gz": gzip.open, ".xz": lzma.open}.get(path.suffix, open)
    with opener(path, "rb") as fh:
        return fh.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=None, help="measurement store (default: the configured one)")
    parser.add_argument("--kernel", action="append", default=None, help="only this kernel family (repeatable)")
    parser.add_argument("--suffix", default=".jsonl", help=".jsonl (default), .jsonl.gz or .jsonl.xz")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from perfcast.measurements import recordfile
    from perfcast.measurements.store import MeasurementStore

    store = MeasurementStore(args.store)
    if len(store) == 0:
        print(f"store {store.root} is empty: run `perfcast quickstart --no-serve` (or `perfcast ingest`) first",
              file=sys.stderr)
        return 2
    seconds: dict[str, list[float]] = {"per-row (before)": [], "by column (now)": []}
    rows = 0
    with tempfile.TemporaryDirectory(prefix="perfcast-bench-export-") as tmp:
        files = {name: Path(tmp) / f"{i}{args.suffix}" for i, name in enumerate(seconds)}
        for repeat in range(args.repeats):
            for name in seconds:  # alternating
                patch = (mock.patch.object(recordfile, "frame_to_records", _per_row_records)
                         if name.startswith("per-row") else contextlib.nullcontext())
                with patch:
                    start = time.perf_counter()
                    rows = store.export(files[name], kernel=args.kernel)
                    seconds[name].append(time.perf_counter() - start)
                print(f"repeat {repeat + 1}/{args.repeats} {name}: {rows:,} records in {seconds[name][-1]:.1f} s",
                      file=sys.stderr, flush=True)
        texts = [_text(path) for path in files.values()]
        same = texts[0] == texts[1]
        size_mb = len(texts[0]) / 1e6
    before, now = (float(np.median(v)) for v in seconds.values())
    print(f"\nexport of {rows:,} records ({size_mb:,.0f} MB of JSON Lines) to {args.suffix}, "
          f"median of {args.repeats}:")
    for name, median in zip(seconds, (before, now), strict=True):
        print(f"  {name:<17} {median:7.1f} s  {rows / median:9,.0f} records/s")
    print(f"  ratio: {before / now:.2f}x faster; files identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
