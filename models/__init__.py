"""Cost models: `GBCostModel` (LightGBM, fit/predict/update/save/load), `OnnxCostModel` (ONNX-only
prediction) and `RoutedCostModel` (one sub-model per kernel family); `load_cost_model(dir)` loads either.

Imports are lazy so that `from perfcast.models import OnnxCostModel` never pulls in LightGBM.
"""

from __future__ import annotations

import os
from importlib import import_module

# LightGBM's OpenMP threads spin-wait by default; on a shared 2-core machine that made a 2-thread fit
# ~20x slower than 1 thread (measured). Passive waiting must be set before libgomp starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from typing import Any

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
