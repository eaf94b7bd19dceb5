"""The canonical measurement record: the one contract every adapter, model and endpoint speaks.

A record is a nested dict (JSON Lines is the canonical file form)::

    {"kernel": "triton.matmul",
     "params": {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8, "num_warps": 4, "num_stages": 3},
     "problem": {"M": 4096, "N": 4096, "K": 4096, "dtype": "fp16", "a_layout": "row", "b_layout": "row"},
     "system": "NVIDIA H100 80GB HBM3",
     "ir": {"ttgir": "..."},
     "runtime_ms": 0.153, "runtime_ms_samples": [...], "power_w": 512.0, "energy_j": 7.8e-2,
     "status": "ok", "source": "perfcast.collect", "measured_at": "2026-11-24T10:00:00Z"}

In memory (features, models, store) a batch of records is a pandas DataFrame with flat *dotted*
columns (`params.BLOCK_M`, `problem.M`, `ir.ttgir`); CSV and Parquet files use the same names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Nested sections of a record; in flat form their keys become `section.key` columns.
#: `meta` holds measurement facts that are neither inputs nor targets (SM clock, temperature,
#: registers, spills, shared memory, kernel hash, power-window details): see README `collect`.
NESTED_SECTIONS: tuple[str, ...] = ("params", "problem", "ir", "meta")
#: Measured quantities; all optional, a query record has none.
TARGETS: tuple[str, ...] = ("runtime_ms", "power_w", "energy_j")
SAMPLES_COLUMN = "runtime_ms_samples"
STATUSES: tuple[str, ...] = ("ok", "failed", "timeout", "invalid")
#: Scalar top-level fields besides the targets.
TOP_LEVEL: tuple[str, ...] = ("kernel", "system", "status", "source", "measured_at")
#: Known kernel families `<library>.<op>`; others are accepted and use the generic extractor.
KERNEL_FAMILIES: tuple[str, ...] = (
    "triton.matmul",
    "cublas.matmul",
    "clblast.xgemm",
    "cltune.sgemm",
    "cutlass.gemm",
    "kerneltuner.convolution",
    "triton.softmax",
    "triton.layernorm",
    "triton.elementwise",
    "triton.reduction",
    "cuda.tiled_matmul",
)
MATMUL_FAMILIES: tuple[str, ...] = (
    "triton.matmul",
    "cublas.matmul",
    "clblast.xgemm",
    "cltune.sgemm",
    "cutlass.gemm",
    "cuda.tiled_matmul",
)
DTYPES: tuple[str, ...] = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8e4m3", "fp8e5m2", "int8", "int4")
#: The contract's defaults for omitted matmul problem fields (ingest stores them explicitly; queries get them too).
MATMUL_PROBLEM_DEFAULTS: dict[str, Any] = {"a_layout": "row", "b_layout": "row"}


def flatten_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Nested record -> flat dict with dotted keys for `params`, `problem` and `ir`."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key in NESTED_SECTIONS and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                flat[f"{key}.{sub}"] = sub_value
        else:
            flat[key] = value
    return flat


_FLOATS = (float, np.floating)  # a tuple: isinstance checks it faster than the `float | np.floating` union


def ok_status(frame: pd.DataFrame) -> np.ndarray:
    """Rows of an ok run: `status` missing or "ok" (a frame without `status`: every row)."""
    if "status" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    s = frame["status"]
    return (s.isna() | (s.astype(str) == "ok")).to_numpy()


def usable(frame: pd.DataFrame, target: str) -> np.ndarray:
    """Rows with a finite, positive `target` measured on an ok run (none where the column is absent)."""
    if target not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=np.float64)
    return np.isfinite(y) & (y > 0) & ok_status(frame)


def is_hashable(value: Any) -> bool:
    """Whether `value` can be a dict key (a list or dict cell cannot): such cells are keyed by their text."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def is_missing(value: Any) -> bool:
    """A missing cell: None, NA, NaT or a float NaN, numpy's included (a list is a value, even an empty one).

    The one test of a missing scalar, from ingest to the serving hot path (a few tens of ns)."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, _FLOATS) and value != value)


def unflatten_record(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat dotted dict -> nested record; missing values (None/NaN) are left out."""
    record: dict[str, Any] = {}
    for key, value in flat.items():
        if not isinstance(value, list | tuple) and is_missing(value):
            continue
        section, dot, sub = key.partition(".")
        if dot and section in NESTED_SECTIONS:
            record.setdefault(section, {})[sub] = value
        else:
            record[key] = value
    return record


def records_to_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Nested records -> DataFrame with dotted columns, rows in input order."""
    return pd.DataFrame.from_records([flatten_record(r) for r in records])


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame with dotted columns -> nested records (missing values left out); the records
    `unflatten_record` makes of each row, built a column at a time."""
    # column by column: a chunk of one kernel family leaves most of the store's columns empty, and
    # the missing test is one vectorised mask per column instead of a Python call per cell
    records: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    present = frame.notna().to_numpy()
    for j, name in enumerate(frame.columns):
        has = present[:, j]
        if not has.any():
            continue
        column = frame.iloc[:, j]
        # tolist: Python scalars, as to_dict gives (iterating a nullable column yields numpy scalars)
        if has.all():
            pairs = zip(records, column.tolist(), strict=True)
        else:
            rows = np.flatnonzero(has)
            pairs = zip([records[i] for i in rows], column.iloc[rows].tolist(), strict=True)
        section, dot, sub = name.partition(".")
        if dot and section in NESTED_SECTIONS:
            for record, value in pairs:
                record.setdefault(section, {})[sub] = value
        else:
            for record, value in pairs:
                record[name] = value
    return records


def section_columns(frame: pd.DataFrame, section: str) -> list[str]:
    """The dotted columns of one section (`params`, `problem`, `ir`) present in a frame."""
    prefix = f"{section}."
    return [c for c in frame.columns if isinstance(c, str) and c.startswith(prefix)]
