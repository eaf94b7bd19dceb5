"""perfcast: learned cost models for GPU kernels (runtime, power, energy with uncertainty).

Data flows one way, one folder per stage:
measurements (records, ingest, store, collector) -> systems (GPU specs) -> features -> models
-> training (fit, evaluate, MLflow registry) -> serving (Predictor, HTTP service, autotuner adapters).

Heavy modules are imported lazily so that `import perfcast` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Predictor": "perfcast.serving.predictor",
    "Client": "perfcast.serving.client",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'perfcast' has no attribute {name!r}")


__all__ = ["Client", "Predictor", "__version__"]
