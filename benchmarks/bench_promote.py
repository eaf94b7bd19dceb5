"""`perfcast promote` after new measurements: with the challenger's kept held-out predictions and re-fitting.

    python benchmarks/bench_promote.py          # ~1 min on 2 cores

Kernel Tuner GEMM on the RTX 3090: a champion trained on a random 30% of the configs, the other 70%
ingested and the same recipe retrained (the README's retraining example). `promote(dry_run=True)` is
timed as `perfcast train` leaves the challenger (it reads `heldout_predictions.npz`), then with that file
removed (it re-fits the challenger's hyperparameters on the split's training rows, as before the file
was kept). Prints both times and the decision's scores on the new test records, which must agree.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from perfcast.measurements.store import MeasurementStore
from perfcast.training.cli_promote import promote
from perfcast.training.evaluate import load_dataset
from perfcast.training.registry import resolve_model_dir
from perfcast.training.train import HELDOUT_PREDICTIONS_FILE, train_models

GPU = "NVIDIA GeForce RTX 3090"


def main() -> int:
    warnings.filterwarnings("ignore", category=UserWarning)
    root = Path(tempfile.mkdtemp(prefix="perfcast-bench-promote-"))
    rows = load_dataset("kerneltuner_gemm")
    rows = rows[rows["system"] == GPU].reset_index(drop=True)
    first = np.random.default_rng(0).random(len(rows)) < 0.3
    store, uri = MeasurementStore(root / "store"), f"sqlite:///{root / 'mlflow.db'}"
    for part in (rows[first], rows[~first]):
        store.append(part)
        train_models(store, tracking_uri=uri, progress=False)
    for label in ("kept held-out predictions", "re-fit (file removed)"):
        t0 = time.perf_counter()
        decision = promote("perfcast-default", store=store, tracking_uri=uri, dry_run=True, progress=False)
        seconds = time.perf_counter() - t0
        new = decision["new_measurements"]
        print(f"{label}: {seconds:.1f} s, {decision['outcome']}; {new['challenger_scored']}; on {new['n_rows']:,} "
              f"new test records: {new['challenger_metrics']}", flush=True)
        (resolve_model_dir("models:/perfcast-default@challenger", tracking_uri=uri) / HELDOUT_PREDICTIONS_FILE
         ).unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
