"""`perfcast quickstart`: the main job on the embedded defaults.

1. ingest the real measurement sets (`../shared/datasets` and the bundled `./data`) into the store,
   skipping files already ingested unchanged;
2. print the store summary;
3. train and register a champion when the registry has none (routed: one sub-model per kernel family
   behind one registered model, `perfcast.training.train.DEFAULT_BY`);
4. serve it over HTTP on 127.0.0.1, printing an example `/v1/rank` request.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from perfcast import config
from perfcast.config import STORE_HELP

MANIFEST_NAME = "quickstart_ingested.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=None, help=STORE_HELP)
    parser.add_argument("--data", type=Path, action="append", default=None,
                        help="file or folder to ingest (repeatable; default: ../shared/datasets and ./data)")
    parser.add_argument("--model-name", default=None, help="registered model name (default perfcast-default)")
    parser.add_argument("--retrain", action="store_true", help="train a new challenger even if a champion exists")
    parser.add_argument("--no-train", action="store_true", help="stop after ingest and the summary")
    parser.add_argument("--no-serve", action="store_true", help="stop after training (do not start the service)")
    parser.add_argument("--max-rows-per-group", type=int, default=40_000,
                        help="train the quickstart champion on at most this many rows per (kernel, system), "
                             "whole problems sampled (0 = all rows; `perfcast train` always uses all)")
    parser.add_argument("--rounds", type=int, default=250, help="boosting rounds of the quickstart champion")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="service worker processes")


def default_sources() -> list[Path]:
    """The real data the main job learns from: the shared public sets and the bundled H100 set."""
    return [p for p in (config.shared_datasets_dir(), config.bundled_data_dir()) if p.exists()]


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _ingested(store) -> tuple[Path, dict[str, str]]:
    """The store's manifest of files the quickstart ingested (path -> fingerprint) and where it lives."""
    manifest_path = Path(store.root) / MANIFEST_NAME
    return manifest_path, json.loads(manifest_path.read_text()) if manifest_path.exists() else {}


def pending_files(sources: list[Path], store, size_only: bool = False) -> list[Path]:
    """The recognised files under `sources` that changed since the last quickstart ingested into `store`
    (what the next `perfcast quickstart` ingests): a store that lists some is older than the data.

    `size_only`: only files whose size changed (a copied or re-provisioned data folder has new mtimes
    but the same content, which the quickstart re-reads and stores nothing of)."""
    from perfcast.measurements.ingest import iter_files  # noqa: PLC0415

    _, seen = _ingested(store)
    return [path for source in sources for path, _ in iter_files(source) if _changed(seen, path, size_only)]


def _changed(seen: dict[str, str], path: Path, size_only: bool = False) -> bool:
    """Whether `path` differs from what the manifest `seen` recorded for it (its size only, if asked)."""
    old, new = seen.get(str(path.resolve())), _fingerprint(path)
    return old is None or (old.split(":")[0] != new.split(":")[0] if size_only else old != new)


def ingest_new(sources: list[Path], store) -> dict[str, int]:
    """Ingest every recognised file under `sources` that changed since the last quickstart."""
    from perfcast.measurements.ingest import ingest_path, iter_files  # noqa: PLC0415

    manifest_path, seen = _ingested(store)
    totals = {"files": 0, "skipped": 0, "read": 0, "stored": 0, "duplicates": 0, "quarantined": 0}
    for source in sources:
        for path, fmt in iter_files(source):
            if not _changed(seen, path):
                totals["skipped"] += 1
                continue
            report = ingest_path(path, store, format=fmt)
            for r in report.files:
                status = f"error: {r.error}" if r.error else (
                    f"read {r.rows_read:,}, stored {r.stored:,}, duplicates {r.duplicates:,}, quarantined {r.quarantined:,}")
                print(f"  {r.file} [{r.format}]: {status}")
            totals["read"] += report.rows_read
            totals["stored"] += report.stored
            totals["duplicates"] += report.duplicates
            totals["quarantined"] += report.quarantined
            totals["files"] += 1
            seen[str(path.resolve())] = _fingerprint(path)
            manifest_path.parent.mkdir(parents=True, exist_ok=True)
            manifest_path.write_text(json.dumps(seen, indent=1, sort_keys=True))
    return totals


def main(args: argparse.Namespace) -> int:
    from perfcast.measurements.cli_data import format_summary  # noqa: PLC0415
    from perfcast.measurements.store import MeasurementStore  # noqa: PLC0415

    t0 = time.perf_counter()
    store = MeasurementStore(args.store)
    sources = args.data or default_sources()
    if not sources:
        print("perfcast quickstart: no data found: expected ../shared/datasets or ./data "
              "(set PERFCAST_DATASETS or pass --data PATH)", file=sys.stderr)
        return 2
    print(f"[1/4] ingest {', '.join(str(s) for s in sources)} -> {store.root}")
    totals = ingest_new(sources, store)
    print(f"  {totals['files']} file(s) ingested, {totals['skipped']} unchanged skipped; stored {totals['stored']:,}, "
          f"duplicates {totals['duplicates']:,}, quarantined {totals['quarantined']:,}")
    print("[2/4] store summary")
    print(format_summary(store.summary()))
    if args.no_train:
        return 0

    from perfcast.training.registry import CHAMPION, alias_version  # noqa: PLC0415
    from perfcast.training.train import (  # noqa: PLC0415
        DEFAULT_BY,
        DEFAULT_NAME,
        ensure_champion,
        load_training_frame,
        sample_problems,
        summarize,
        train_models,
    )

    name = args.model_name or DEFAULT_NAME
    if args.retrain or alias_version(name, CHAMPION) is None:
        frame = sample_problems(load_training_frame(store), args.max_rows_per_group)
        print(f"[3/4] train {name} on {len(frame):,} of {len(store):,} measurements "
              f"(≤ {args.max_rows_per_group:,} per kernel × system; MLflow: {config.tracking_uri()})")
        # the sample is recorded with the model (`training_sample`): promote re-draws it from the store
        results = train_models(frame=frame, name=name, by=DEFAULT_BY, hyperparameters={"num_boost_round": args.rounds},
                               max_rows_per_group=args.max_rows_per_group)
        print(summarize(results).to_string(index=False))
    else:
        print(f"[3/4] champion already registered: models:/{name}@{CHAMPION} (--retrain to train a challenger)")
    uri = ensure_champion(store, name=name)
    print(f"  ready in {time.perf_counter() - t0:.0f} s")
    if args.no_serve:
        print(f"[4/4] skipped (--no-serve); serve later with: perfcast serve --model {uri}")
        return 0
    print(f"[4/4] serve {uri}")
    from perfcast.serving.cli import serve  # noqa: PLC0415

    return serve(uri, host=args.host, port=args.port, workers=args.workers, store=str(store.root))
