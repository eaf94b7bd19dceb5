"""Cost models: `GBCostModel` (LightGBM, fit/predict/update/save/load), `OnnxCostModel` (ONNX-only
prediction) and `RoutedCostModel` (one sub-model per kernel family); `load_cost_model(dir)` loads either.

Imports are lazy so that `from perfcast.models import OnnxCostModel` never pulls in LightGBM.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from importlib import import_module
from typing import Any


def openmp_wait_defaults(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """How LightGBM's idle OpenMP threads wait, unless the user chose (`OMP_WAIT_POLICY`): set before
    the OpenMP runtime starts (LightGBM's import), so this runs when `perfcast.models` is imported.

    libgomp (Linux wheels) spins 1,000 times before sleeping (`GOMP_SPINCOUNT`). Its default (300,000
    spins) made a 2-thread fit 4-14x slower than passive waiting beside one busy process on this 2-core
    machine; sleeping at once (`OMP_WAIT_POLICY=PASSIVE`, perfcast's earlier setting) made an idle
    machine's fits 1.3-3.4x slower, since each of LightGBM's many short parallel regions then waits
    for a sleeping vCPU to wake (`python benchmarks/bench_retrain.py --omp-sweep`). LLVM libomp (macOS
    wheels) keeps passive waiting (`KMP_BLOCKTIME=0`, not measured here). Returns what it set."""
    if "OMP_WAIT_POLICY" in environ:
        return {}
    wanted = {"GOMP_SPINCOUNT": "1000", "KMP_BLOCKTIME": "0"}
    chosen = {k: v for k, v in wanted.items() if k not in environ}
    environ.update(chosen)
    return chosen


openmp_wait_defaults()

_LAZY = {
    "GBCostModel": "perfcast.models.gbm",
    "data_snapshot": "perfcast.models.gbm",
    "OnnxCostModel": "perfcast.models.onnx_model",
    "RoutedCostModel": "perfcast.models.routed",
    "load_cost_model": "perfcast.models.routed",
    "is_routed": "perfcast.models.routed",
    "cqr_correction": "perfcast.models.calibration",
    "problem_keys": "perfcast.models.calibration",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'perfcast.models' has no attribute {name!r}")


__all__ = sorted(_LAZY)
