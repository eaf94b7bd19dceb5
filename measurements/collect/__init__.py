"""The CUDA collector: sweep specs -> compiled Triton/cuBLAS kernels -> timed (and power-measured)
canonical JSONL records. torch/triton/nvidia-ml-py are imported only when a collection runs."""

from .bundle import bundle, iter_jsonl
from .records import JsonlWriter, build_record, compile_artefacts
from .runner import Budget, Collector, RunReport
from .spec import CollectSpec, SpecError, Sweep, WorkItem, expand_spec, load_spec, parse_spec

__all__ = [
    "Budget",
    "CollectSpec",
    "Collector",
    "JsonlWriter",
    "RunReport",
    "SpecError",
    "Sweep",
    "WorkItem",
    "build_record",
    "bundle",
    "compile_artefacts",
    "expand_spec",
    "iter_jsonl",
    "load_spec",
    "parse_spec",
]
