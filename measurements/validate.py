"""Schema validation and content hashing of canonical measurement frames.

`validate_frame` is the one gate every row passes before it reaches the store (ingest adapters,
`MeasurementStore.append`, the HTTP endpoint). It is vectorised: checks run column-wise, never per row.
It also *normalises* the valid rows into the canonical form (dtype aliases, default layouts, ISO 8601
UTC timestamps, `runtime_ms_samples` as a list column), so that the same measurement arriving as JSONL,
CSV or Parquet hashes to the same value.

Queries (records to predict) pass the same rules: `canonical_problem` and `check_params` per record,
`bad_count_param` per batch of new rank candidates (the service), `check_queries` per frame
(`perfcast predict`), so a query means what a stored row means.

`record_hash` is the content hash used for deduplication: every field of the record except `source`
(a provenance label: the same measurement arriving through another path or tool is still the same
measurement). `measured_at` *is* part of the hash, so repeated measurements of one config at different
times are all kept, while re-ingesting the same file (whose timestamps come from the file) stores nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from perfcast.measurements.schema import (
    DTYPES,
    MATMUL_FAMILIES,
    MATMUL_PROBLEM_DEFAULTS,
    NESTED_SECTIONS,
    SAMPLES_COLUMN,
    STATUSES,
    TARGETS,
    TOP_LEVEL,
    is_missing,
)

#: Bookkeeping columns: provenance of a row inside its source file, and the reason it was rejected.
FILE_COLUMN, LINE_COLUMN, REASON_COLUMN = "_file", "_line", "_reason"
#: The stored content hash (16 hex digits).
HASH_COLUMN = "_hash"
BOOKKEEPING: tuple[str, ...] = (FILE_COLUMN, LINE_COLUMN, REASON_COLUMN, HASH_COLUMN)
#: Fields left out of the content hash (see module docstring).
HASH_EXCLUDED: frozenset[str] = frozenset({"source", *BOOKKEEPING})

KERNEL_PATTERN = r"^[a-z0-9_]+\.[a-z0-9_]+$"
LAYOUTS: tuple[str, ...] = ("row", "col")
#: Problem sizes: positive integers in measurements and queries alike (the features divide by them and
#: take their logs). Besides the matmul shape: `kerneltuner.convolution`'s image (`size_x`, `size_y`) and
#: the Triton row kernels' (`rows`, `cols`; `numel` of elementwise). A query with `size_x=0` or
#: `rows=-5` was answered (0.001 ms; a softmax of -5 rows at 0.005 ms) as if it were a problem.
INTEGER_PROBLEM_FIELDS: tuple[str, ...] = ("problem.M", "problem.N", "problem.K", "problem.batch",
                                           "problem.size_x", "problem.size_y", "problem.rows", "problem.cols",
                                           "problem.numel")

#: Spellings accepted for `problem.dtype`, normalised to the canonical names in `DTYPES`.
DTYPE_ALIASES: dict[str, str] = {
    "float16": "fp16", "half": "fp16", "torch.float16": "fp16", "f16": "fp16",
    "bfloat16": "bf16", "torch.bfloat16": "bf16",
    "float32": "fp32", "float": "fp32", "single": "fp32", "torch.float32": "fp32", "f32": "fp32",
    "float64": "fp64", "double": "fp64", "torch.float64": "fp64", "f64": "fp64",
    "tf32": "tf32", "int8": "int8", "torch.int8": "int8", "i8": "int8", "int4": "int4",
    "fp8": "fp8e4m3", "float8_e4m3fn": "fp8e4m3", "torch.float8_e4m3fn": "fp8e4m3", "e4m3": "fp8e4m3",
    "float8_e5m2": "fp8e5m2", "torch.float8_e5m2": "fp8e5m2", "e5m2": "fp8e5m2",
}
LAYOUT_ALIASES: dict[str, str] = {"row": "row", "r": "row", "t": "row", "rowmajor": "row", "row_major": "row",
                                  "col": "col", "c": "col", "n": "col", "column": "col", "colmajor": "col",
                                  "col_major": "col", "column_major": "col"}


def allowed_column(name: str) -> bool:
    """Whether a flat column name belongs to the canonical record (or is bookkeeping)."""
    if name in TOP_LEVEL or name in TARGETS or name == SAMPLES_COLUMN or name in BOOKKEEPING:
        return True
    section, dot, sub = name.partition(".")
    return bool(dot and sub) and section in NESTED_SECTIONS


#: Dataset spellings -> the team's canonical system names (used until/unless `perfcast.systems` knows them).
CANONICAL_SYSTEMS: dict[str, str] = {
    "gtx 680": "NVIDIA GeForce GTX 680",
    "geforce gtx 680": "NVIDIA GeForce GTX 680",
    "rtx_2080_ti": "NVIDIA GeForce RTX 2080 Ti",
    "rtx 2080 ti": "NVIDIA GeForce RTX 2080 Ti",
    "rtx_3060_laptop": "NVIDIA GeForce RTX 3060 Laptop GPU",
    "rtx 3060 laptop": "NVIDIA GeForce RTX 3060 Laptop GPU",
    "rtx_3090": "NVIDIA GeForce RTX 3090",
    "rtx 3090": "NVIDIA GeForce RTX 3090",
    "rtx_titan": "NVIDIA TITAN RTX",
    "titan rtx": "NVIDIA TITAN RTX",
    "a100": "NVIDIA A100-SXM4-80GB",
    "a100 sxm4 80gb": "NVIDIA A100-SXM4-80GB",
    "a100 pcie 40gb": "NVIDIA A100-PCIE-40GB",
    "a4000": "NVIDIA RTX A4000",
    "a6000": "NVIDIA RTX A6000",
    "mi250x": "AMD Instinct MI250X",
    "w6600": "AMD Radeon PRO W6600",
    "w7800": "AMD Radeon PRO W7800",
    "rtx 4070": "NVIDIA GeForce RTX 4070",
    "h100": "NVIDIA H100 80GB HBM3",
    "h100 sxm": "NVIDIA H100 80GB HBM3",
    "nvidia h100": "NVIDIA H100 80GB HBM3",
    "h100 pcie": "NVIDIA H100 PCIe",
    "h200": "NVIDIA H200",
    "nvidia h200 141gb hbm3e": "NVIDIA H200",
}


def canonical_system(name: str) -> str:
    """A dataset's GPU name -> the registry's canonical name; unknown names are returned unchanged.

    Prefers `perfcast.systems.resolve_name` (the registry, with its aliases); falls back to the team's
    agreed table above while the registry is not importable. Measurements are data: an unknown name is
    kept as given and flagged later by `perfcast data summary`.
    """
    text = (name or "").strip()
    try:
        from perfcast.systems import resolve_name  # noqa: PLC0415 (optional: another stage)
    except ImportError:
        resolve_name = None
    if resolve_name is not None:
        for candidate in (text, CANONICAL_SYSTEMS.get(text.lower(), "")):
            if not candidate:
                continue
            try:
                return resolve_name(candidate)
            except Exception:  # unknown to the registry: try the next spelling, else keep as given
                continue
    return CANONICAL_SYSTEMS.get(text.lower(), text)


def canonical_systems(names: pd.Series) -> pd.Series:
    """`canonical_system` of each name, looked up once per distinct value; missing values and inline
    JSON specs (`{...}`) are kept as they are."""
    distinct = [v for v in names.dropna().unique() if isinstance(v, str) and v and not v.startswith("{")]
    changed = {v: c for v in distinct if (c := canonical_system(v)) != v}
    return names.replace(changed) if changed else names


def is_known_system(name: str) -> bool:
    """Whether the registry knows `name`; an inline spec object (JSON text) is known, and so is every
    name when the registry is not importable (nothing to check against)."""
    if name.startswith("{"):
        return True
    try:
        from perfcast.systems import resolve_name  # noqa: PLC0415 (optional: another stage)
    except ImportError:
        return True
    try:
        resolve_name(name)
    except Exception:  # noqa: BLE001 (the registry's UnknownSystemError, whatever its base)
        return False
    return True


class QueryError(ValueError):
    """A query field no model can answer for; `field` names it (`problem.M`)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


#: Params that count or size something (tile edges, threads, warps, pipeline stages, vector widths,
#: filter taps): the features divide by them, so a measurement or a query gives a positive integer or
#: null. Every real dataset's values are (`BLOCK_M` 16..256, `num_warps` 1..16, `MDIMC` 8..32, ...);
#: flags and switches that may be 0 (`SA`, `STRM`, `use_shmem`, `read_only`) are not in the list.
COUNT_PARAMS: frozenset[str] = frozenset({
    "BLOCK_M", "BLOCK_N", "BLOCK_K", "BLOCK_SIZE_M", "BLOCK_SIZE_N", "BLOCK_SIZE_K", "BLOCK_SIZE",
    "GROUP_M", "GROUP_SIZE_M", "num_warps", "warps", "num_stages", "stages",
    "MWG", "NWG", "KWG", "MDIMC", "NDIMC", "MDIMA", "NDIMB", "KWI", "VWM", "VWN",
    "block_size_x", "block_size_y", "tile_size_x", "tile_size_y", "filter_width", "filter_height",
    "tile_m", "tile_n", "tile_k", "cta_m", "cta_n", "cta_k", "threadblock_m", "threadblock_n", "threadblock_k",
    "threads", "threads_per_cta", "TILE", "TILE_SIZE", "tile", "tile_size", "align", "alignment",
})

#: The largest count or problem dimension taken: no GPU holds an operand of 2^40 elements (512 GiB even
#: at 4 bits), and above 2^63 a value no longer fits the store's int64 columns (1e30 wrapped to -2^63).
MAX_INTEGER = 2**40
#: How every message says the rule for those fields.
INTEGER_RULE = "a positive integer (at most 2^40)"

_INTEGER_KEYS = tuple(c.split(".", 1)[1] for c in INTEGER_PROBLEM_FIELDS)
_MATMUL_REQUIRED = ("M", "N", "K")
_TF32_TEXT = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


def _positive_integer(value: object) -> int | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return int(number) if math.isfinite(number) and 0 < number <= MAX_INTEGER and number == round(number) else None


def _bad_count(value: object) -> bool:
    """A present value that is not a positive integer (the `COUNT_PARAMS` rule for one value)."""
    return (not (type(value) is int and 0 < value <= MAX_INTEGER) and not is_missing(value)
            and _positive_integer(value) is None)


def _not_positive_integers(values: Any) -> np.ndarray:
    """Mask of the present values (not null) that are not positive integers (booleans are not)."""
    if isinstance(values, pd.Series):
        if pd.api.types.is_integer_dtype(values.dtype):  # the store's Int64 columns: a missing value is fine
            arr = values.to_numpy(dtype="int64", na_value=1)
            return (arr <= 0) | (arr > MAX_INTEGER)
        numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
        arr = values.to_numpy(dtype="float64", na_value=np.nan) if numeric else values.to_numpy(dtype=object)
    elif isinstance(values, list | tuple):  # numpy would read True as 1 and [64, "x"] as text
        arr = np.asarray(values) if set(map(type, values)) <= {int, float} else np.asarray(values, dtype=object)
    else:
        arr = np.asarray(values)
        if arr.ndim == 0:
            arr = arr.reshape(1)
    kind = arr.dtype.kind
    if kind in "iu":
        return (arr <= 0) | (arr > MAX_INTEGER)
    if kind == "f":
        return ~np.isnan(arr) & ~((arr > 0) & (arr <= MAX_INTEGER) & (arr == np.round(arr)))
    if kind == "b":
        return np.ones(arr.shape, dtype=bool)
    return np.fromiter(map(_bad_count, arr.ravel()), dtype=bool, count=arr.size)


def check_params(params: Mapping[str, Any] | None) -> None:
    """A query's `params` by the measurements' rule: each `COUNT_PARAMS` field present is a positive
    integer (or null). Raises `QueryError` naming the first bad field (`params.BLOCK_M`)."""
    if not params:
        return
    if not isinstance(params, Mapping):
        raise QueryError(f"params must be an object of config fields, got {type(params).__name__}", "params")
    for key, value in params.items():
        if key in COUNT_PARAMS and _bad_count(value):
            raise QueryError(f"params.{key} must be {INTEGER_RULE}, got {_plain(value)!r}", f"params.{key}")


def bad_count_param(columns: Mapping[str, Any]) -> tuple[str, int, Any] | None:
    """The first `params.*` count (`COUNT_PARAMS`) in dotted `columns` (lists, arrays or scalars) that is
    present but not a positive integer, as (column, row, value); None when every one is good."""
    for name, values in columns.items():
        if not name.startswith("params.") or name[7:] not in COUNT_PARAMS:
            continue
        if type(values) is list and (len(values) == 1 and type(values[0]) is int and 0 < values[0] <= MAX_INTEGER
                                     or values and set(map(type, values)) == {int} and min(values) > 0
                                     and max(values) <= MAX_INTEGER):
            continue  # plain positive ints (one record, or a rank's candidates): the common case, kept cheap
        bad = np.flatnonzero(_not_positive_integers(values))
        if len(bad):
            row = int(bad[0])
            value = values if np.ndim(values) == 0 else values[row]
            return name, row, _plain(value)
    return None


def _spelling(problem: Mapping, key: str, aliases: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    value = problem.get(key)
    if type(value) is str and value in allowed:  # already canonical: the common case, kept cheap
        return value
    if is_missing(value):
        return None
    name = value.strip().lower() if isinstance(value, str) else None
    name = aliases.get(name, name)
    if name not in allowed:
        raise QueryError(f"problem.{key} must be one of {list(allowed)}, got {_plain(value)!r}", f"problem.{key}")
    return name


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it is, for messages (`-5`, not `np.int64(-5)`)."""
    return value.item() if isinstance(value, np.generic) else value


def canonical_problem(kernel: object, problem: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A query's `problem` section by the rules `validate_frame` applies to measurements, so a query
    means what the stored rows mean: M, N, K, batch positive integers (M, N, K required for matmul
    kernels), dtype and layout spellings made canonical (`half` is `fp16`), matmul layouts defaulted,
    `allow_tf32` a boolean on fp32 operands and null on others. Returns `problem` itself when nothing
    changes; raises `QueryError` naming the first bad field."""
    matmul = kernel in MATMUL_FAMILIES
    if problem is None and not matmul:
        return None
    if problem is not None and not isinstance(problem, Mapping):
        raise QueryError(f"problem must be an object of problem fields, got {type(problem).__name__}", "problem")
    source: Mapping[str, Any] = problem or {}
    changed: dict[str, Any] = {}
    for key in _INTEGER_KEYS:
        value = source.get(key)
        if type(value) is int and 0 < value <= MAX_INTEGER:
            continue
        if is_missing(value):
            if matmul and key in _MATMUL_REQUIRED:
                raise QueryError(f"problem.{key} missing (required for matmul kernels)", f"problem.{key}")
            continue
        number = _positive_integer(value)
        if number is None:
            raise QueryError(f"problem.{key} must be {INTEGER_RULE}, got {_plain(value)!r}", f"problem.{key}")
        if type(value) is not int:
            changed[key] = number
    dtype = _spelling(source, "dtype", DTYPE_ALIASES, DTYPES)
    if dtype is not None and dtype != source.get("dtype"):
        changed["dtype"] = dtype
    for key in ("a_layout", "b_layout"):
        layout = _spelling(source, key, LAYOUT_ALIASES, LAYOUTS)
        if layout is None and matmul:
            layout = MATMUL_PROBLEM_DEFAULTS[key]
        if layout is not None and layout != source.get(key):
            changed[key] = layout
    tf32 = source.get("allow_tf32")
    if tf32 is not None and type(tf32) is not bool and not is_missing(tf32):
        flag = bool(tf32) if isinstance(tf32, np.bool_) else _TF32_TEXT.get(str(tf32).strip().lower())
        if flag is None:
            raise QueryError(f"problem.allow_tf32 must be a boolean, got {_plain(tf32)!r}", "problem.allow_tf32")
        changed["allow_tf32"] = flag
    if dtype is not None and dtype != "fp32" and not is_missing(tf32):  # as validate_frame: fp32 only
        changed["allow_tf32"] = None
    return {**source, **changed} if changed or problem is None else problem


def check_queries(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Query rows (records to predict, no targets) by the rules measurements follow: per row the reason
    it cannot be answered (`""` when it can), and the frame with canonical system names and problems
    (`canonical_problem` once per distinct kernel and problem; `COUNT_PARAMS` positive integers). Rows
    are never dropped."""
    n = len(frame)
    out = frame.reset_index(drop=True)
    reasons = np.full(n, "", dtype=object)
    for col in ("kernel", "system"):
        if col not in out:
            reasons[:] = f"{col} missing"
            return out, reasons
        reasons[_is_blank(out[col]) & (reasons == "")] = f"{col} missing"
    text = out["system"].astype("string").str.strip()
    canonical = canonical_systems(text)
    unknown = {v for v in canonical.dropna().unique() if not is_known_system(v)}
    bad = canonical.isin(unknown).fillna(False).to_numpy(dtype=bool) & (reasons == "")
    reasons[bad] = [f"unknown system {v!r} (`perfcast systems list` shows the known ones; add specs with a "
                    "systems YAML file)" for v in canonical[bad]]
    changed = (canonical != text).fillna(False).to_numpy(dtype=bool)
    if changed.any():  # only renamed rows are written: an inline spec object stays an object
        out.loc[changed, "system"] = canonical[changed]
    cols = ["kernel", *(c for c in out.columns if isinstance(c, str) and c.startswith("problem."))]
    try:
        hashes = pd.util.hash_pandas_object(out[cols], index=False).to_numpy()
    except TypeError:  # an unhashable cell (a list): hash the text of each value
        hashes = pd.util.hash_pandas_object(out[cols].astype(str), index=False).to_numpy()
    _, first, codes = np.unique(hashes, return_index=True, return_inverse=True)
    problems: list[Mapping[str, Any] | None] = []
    errors: list[str] = []
    keys = [c.split(".", 1)[1] for c in cols[1:]]
    for row in out[cols].iloc[first].itertuples(index=False, name=None):  # one per distinct problem
        kernel = row[0]
        given = {k: v for k, v in zip(keys, row[1:], strict=True) if not is_missing(v)}
        try:
            problems.append(canonical_problem(kernel, given))
            errors.append("")
        except QueryError as exc:
            problems.append(given)
            errors.append(str(exc))
    bad = np.array(errors, dtype=object)[codes]
    reasons = np.where(reasons == "", bad, reasons)
    for col in out.columns:
        if isinstance(col, str) and col.startswith("params.") and col[7:] in COUNT_PARAMS:
            bad = _not_positive_integers(out[col]) & (reasons == "")
            if bad.any():
                reasons[bad] = [f"{col} must be {INTEGER_RULE}, got {_plain(v)!r}"
                                for v in out[col].to_numpy(dtype=object)[bad]]
    for key in dict.fromkeys(k for problem in problems for k in (problem or {})):
        values = np.array([(problem or {}).get(key) for problem in problems], dtype=object)[codes]
        column = f"problem.{key}"
        if column not in out or not np.array_equal(values, out[column].to_numpy(dtype=object), equal_nan=False):
            out[column] = pd.Series(values, index=out.index).infer_objects()
    return out, reasons


class _Reasons:
    """Accumulates per-row rejection reasons without a per-row loop."""

    def __init__(self, n: int) -> None:
        self.values = np.full(n, "", dtype=object)

    def add(self, mask: np.ndarray | pd.Series, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        current = self.values[mask]
        self.values[mask] = np.where(current == "", message, current + "; " + message)

    @property
    def bad(self) -> np.ndarray:
        return self.values != ""


def _is_blank(series: pd.Series) -> np.ndarray:
    """Missing, or an empty/whitespace string."""
    missing = series.isna().to_numpy()
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        stripped = series.astype("string").str.strip()
        missing = missing | (stripped == "").fillna(True).to_numpy(dtype=bool)
    return missing


def _as_string(series: pd.Series) -> pd.Series:
    """A column as pandas string dtype; dicts (inline systems) become sorted JSON text."""
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        is_map = series.map(lambda v: isinstance(v, Mapping)).to_numpy(dtype=bool)
        if is_map.any():
            series = series.copy()
            series[is_map] = [json.dumps(dict(v), sort_keys=True) for v in series[is_map]]
    out = series.astype("string")
    return out


def _apply_aliases(series: pd.Series, aliases: Mapping[str, str]) -> pd.Series:
    """Replace alias spellings by canonical ones; one dict lookup per *distinct* value."""
    distinct = series.dropna().unique()
    mapping = {v: aliases.get(v, v) for v in distinct}
    if all(k == v for k, v in mapping.items()):
        return series.astype("string")
    return series.map(mapping).astype("string")


def _to_numeric(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numeric float64 column and the mask of values that were present but not numbers."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64"), np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64"), np.zeros(len(series), dtype=bool)
    present = ~_is_blank(series)
    values = pd.to_numeric(series.where(present), errors="coerce")
    if values.dtype == object:  # booleans or mixed objects left behind
        values = pd.to_numeric(values.map(lambda v: float(v) if isinstance(v, bool | int | float) else np.nan))
    values = values.astype("float64")
    return values, present & values.isna().to_numpy()


def _samples_array(series: pd.Series) -> tuple[pa.ListArray | pa.LargeListArray, np.ndarray]:
    """`runtime_ms_samples` as an Arrow list<double> array plus the mask of unparseable cells."""
    bad = np.zeros(len(series), dtype=bool)
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_list(series.dtype.pyarrow_dtype):
        arr = pa.array(series.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return arr.cast(pa.list_(pa.float64())), bad
    fast = _samples_from_text(series)
    if fast is not None:
        return fast, bad
    values = series.to_numpy(dtype=object).copy()
    for i, v in enumerate(values):  # the general path: record batches (lists) and irregular text
        if v is None or (isinstance(v, float) and np.isnan(v)):
            values[i] = None
        elif isinstance(v, str):
            text = v.strip()
            if not text:
                values[i] = None
                continue
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in parsed):
                values[i] = [float(x) for x in parsed]
            else:
                values[i], bad[i] = None, True
        elif isinstance(v, list | tuple | np.ndarray):
            try:
                values[i] = [float(x) for x in v]
            except (TypeError, ValueError):
                values[i], bad[i] = None, True
        else:
            values[i], bad[i] = None, True
    return pa.array(list(values), type=pa.list_(pa.float64())), bad


def _samples_from_text(series: pd.Series) -> pa.ListArray | None:
    """Vectorised parse of JSON number arrays in text cells (`"[0.15, 0.16]"`, CSV); None if not all such."""
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        return None
    try:
        text = pa.array(series.astype("string").array, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    shaped = pc.match_substring_regex(text, r"^\[[-+0-9eE.,\s]*\]$")
    if not pc.all(pc.or_kleene(shaped, pc.is_null(text))).as_py():
        return None
    inner = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(text, 1, -1))
    parts = pc.split_pattern(inner, ",")
    flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    lengths = pc.list_value_length(parts)
    # "[]" splits into one empty string: an empty list
    empty = pc.fill_null(pc.equal(inner, ""), False)
    lengths = pc.if_else(empty, 0, lengths)
    flat = pc.filter(flat, pc.not_equal(flat, ""))
    try:
        values = pc.cast(flat, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    lengths_np = lengths.to_numpy(zero_copy_only=False)
    lengths_np = np.where(np.isnan(lengths_np.astype(float)), 0, lengths_np).astype(np.int64)
    if lengths_np.sum() != len(values):
        return None
    offsets = np.concatenate([[0], np.cumsum(lengths_np)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=text.is_null())


def normalise_timestamps(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """ISO 8601 (or Unix seconds) -> `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` strings; mask of unparseable values."""
    present = ~_is_blank(series)
    out = pd.Series(pd.NA, index=series.index, dtype="string")
    if not present.any():
        return out, np.zeros(len(series), dtype=bool)
    raw = series[present]
    if pd.api.types.is_numeric_dtype(raw.dtype):
        parsed = pd.to_datetime(raw, unit="s", utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(raw.astype("string"), utc=True, format="ISO8601", errors="coerce")
    ok = parsed.notna().to_numpy()
    whole = parsed.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frac = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = whole.where(parsed.dt.microsecond == 0, frac)
    out[present] = text.astype("string")
    bad = np.zeros(len(series), dtype=bool)
    bad[np.flatnonzero(present)[~ok]] = True
    return out, bad


def _normalise_scalars(series: pd.Series) -> pd.Series:
    """`params.*` values: numbers stay numbers, text stays text; mixed object columns are made uniform."""
    if series.dtype != object:
        return series
    nonnull = series.dropna()
    if nonnull.empty:
        return series.astype("float64")
    if nonnull.map(lambda v: isinstance(v, bool | np.bool_)).all():
        return series.astype("boolean")
    numeric = pd.to_numeric(nonnull, errors="coerce")
    if numeric.notna().all():
        return pd.to_numeric(series, errors="coerce")
    return series.map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).astype("string")


def validate_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a flat canonical frame into (valid, quarantine).

    Valid rows come back normalised (canonical dtypes and spellings), without `_file`/`_line`.
    Quarantine rows keep every original column plus `_file`, `_line` (1-based source line, or the row
    number in the frame when the frame has no `_line`) and `_reason` (every problem found, `; `-joined).
    """
    n = len(frame)
    reasons = _Reasons(n)
    out = frame.reset_index(drop=True)  # a copy: the caller's frame is never modified

    unknown = [c for c in out.columns if not isinstance(c, str) or not allowed_column(c)]
    if unknown:
        reasons.add(np.ones(n, dtype=bool), f"unknown field(s) {sorted(map(str, unknown))}: a record has "
                    f"kernel, system, status, source, measured_at, {', '.join(TARGETS)}, {SAMPLES_COLUMN} and "
                    "params.*/problem.*/ir.*/meta.* columns")
        out = out.drop(columns=unknown)

    # kernel: `<library>.<op>`
    if "kernel" in out:
        kernel = _as_string(out["kernel"]).str.strip()
        reasons.add(_is_blank(out["kernel"]), "kernel missing")
        bad_kernel = ~kernel.str.match(KERNEL_PATTERN).fillna(True).to_numpy(dtype=bool)
        reasons.add(bad_kernel, "kernel must look like '<library>.<op>' (lower case), e.g. 'triton.matmul'")
        out["kernel"] = kernel
    else:
        reasons.add(np.ones(n, dtype=bool), "kernel missing")
        out["kernel"] = pd.Series(pd.NA, index=out.index, dtype="string")

    # system: a registered name/alias or inline specs (JSON object text)
    if "system" in out:
        reasons.add(_is_blank(out["system"]), "system missing")
        system = _as_string(out["system"]).str.strip()
        out["system"] = canonical_systems(system)  # aliases -> the registry's names; unknown names kept
    else:
        reasons.add(np.ones(n, dtype=bool), "system missing")
        out["system"] = pd.Series(pd.NA, index=out.index, dtype="string")

    # status: defaults to ok
    if "status" in out:
        status = _as_string(out["status"]).str.strip().str.lower()
        status = status.fillna("ok").where(~pd.Series(_is_blank(out["status"]), index=out.index), "ok")
    else:
        status = pd.Series("ok", index=out.index, dtype="string")
    reasons.add(~status.isin(STATUSES).to_numpy(dtype=bool), f"status must be one of {list(STATUSES)}")
    out["status"] = status
    is_ok = (status == "ok").to_numpy(dtype=bool)

    for col in ("source",):
        if col in out:
            out[col] = _as_string(out[col])
    if "measured_at" in out:
        out["measured_at"], bad_ts = normalise_timestamps(out["measured_at"])
        reasons.add(bad_ts, "measured_at is not an ISO 8601 timestamp")

    # targets: finite, runtime > 0, power/energy >= 0; a failed row may carry none (inf/NaN -> missing)
    has_target = np.zeros(n, dtype=bool)
    for target in TARGETS:
        if target not in out:
            continue
        raw = out[target]
        values, not_number = _to_numeric(raw)
        # true/false is not a measurement (pandas would read it as 1/0)
        if pd.api.types.is_bool_dtype(raw.dtype):
            is_bool = raw.notna().to_numpy(dtype=bool)
        elif raw.dtype == object:
            is_bool = raw.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        else:
            is_bool = np.zeros(len(raw), dtype=bool)
        if is_bool.any():
            not_number = not_number | is_bool
            values = values.where(~pd.Series(is_bool, index=values.index))
        reasons.add(not_number, f"{target} is not a number")
        arr = values.to_numpy()
        nonfinite = ~np.isfinite(arr) & ~np.isnan(arr)
        reasons.add(nonfinite & is_ok, f"{target} is infinite on a status=ok row")
        arr = np.where(nonfinite, np.nan, arr)
        if target == "runtime_ms":
            reasons.add(arr <= 0, "runtime_ms must be > 0")
        else:
            reasons.add(arr < 0, f"{target} must be >= 0")
        has_target |= ~np.isnan(arr)
        out[target] = arr
    reasons.add(is_ok & ~has_target, f"status=ok needs at least one target ({', '.join(TARGETS)})")

    if SAMPLES_COLUMN in out:
        samples, bad_samples = _samples_array(out[SAMPLES_COLUMN])
        reasons.add(bad_samples, f"{SAMPLES_COLUMN} must be a list of numbers")
        flat = pc.list_flatten(samples).to_numpy(zero_copy_only=False)
        if len(flat):
            bad_value = ~np.isfinite(flat) | (flat <= 0)
            if bad_value.any():
                parents = pc.list_parent_indices(samples).to_numpy(zero_copy_only=False)
                row_bad = np.zeros(n, dtype=bool)
                row_bad[np.unique(parents[bad_value])] = True
                reasons.add(row_bad, f"{SAMPLES_COLUMN} values must be finite and > 0")
        out[SAMPLES_COLUMN] = pd.Series(pd.arrays.ArrowExtensionArray(samples), index=out.index)

    # problem
    kernel_values = out["kernel"].fillna("").to_numpy(dtype=object)
    is_matmul = np.isin(kernel_values, MATMUL_FAMILIES)
    absent: dict[str, np.ndarray] = {}
    for col in INTEGER_PROBLEM_FIELDS:
        if col in out:
            values, not_number = _to_numeric(out[col])
            arr = values.to_numpy()
            absent[col] = np.isnan(arr) & ~not_number  # a bad value is reported as bad, not as missing
            good = (arr > 0) & (arr <= MAX_INTEGER) & (arr == np.round(arr))
            reasons.add(~absent[col] & ~good, f"{col} must be {INTEGER_RULE}")
            out[col] = pd.array(np.where(good, arr, np.nan), dtype="Float64").round().astype("Int64")
    for col in ("problem.M", "problem.N", "problem.K"):
        reasons.add(is_matmul & absent.get(col, np.ones(n, dtype=bool)), f"{col} missing (required for matmul kernels)")
    if "problem.dtype" in out:
        dtype = _as_string(out["problem.dtype"]).str.strip().str.lower()
        dtype = _apply_aliases(dtype, DTYPE_ALIASES)
        reasons.add(dtype.notna().to_numpy(dtype=bool) & ~dtype.isin(DTYPES).to_numpy(dtype=bool),
                    f"problem.dtype must be one of {list(DTYPES)}")
        out["problem.dtype"] = dtype
    for col in ("problem.a_layout", "problem.b_layout"):
        if col in out:
            layout = _as_string(out[col]).str.strip().str.lower()
            layout = _apply_aliases(layout, LAYOUT_ALIASES)
            reasons.add(layout.notna().to_numpy(dtype=bool) & ~layout.isin(LAYOUTS).to_numpy(dtype=bool),
                        f"{col} must be one of {list(LAYOUTS)}")
        else:
            layout = pd.Series(pd.NA, index=out.index, dtype="string")
        # the contract's default, made explicit so equal records hash equal
        out[col] = layout.where(~(is_matmul & layout.isna().to_numpy()), MATMUL_PROBLEM_DEFAULTS[col.split(".", 1)[1]])
        if not is_matmul.any() and layout.isna().all():
            out = out.drop(columns=col)
    if "problem.allow_tf32" in out:
        raw = out["problem.allow_tf32"]
        if not pd.api.types.is_bool_dtype(raw.dtype):
            text = _as_string(raw).str.strip().str.lower()
            mapped = text.map({"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False})
            reasons.add(text.notna().to_numpy(dtype=bool) & mapped.isna().to_numpy(), "problem.allow_tf32 must be a boolean")
            raw = mapped
        out["problem.allow_tf32"] = raw.astype("boolean")
        # TF32 applies to fp32 operands only: on another dtype the flag means nothing, and sources disagree
        # on writing it (the collector writes False, AutoHeuristic's logs leave it out), so a model learnt
        # the source from it. Measurements and queries (`canonical_problem`) keep it for fp32 alone.
        if "problem.dtype" in out:
            other = (out["problem.dtype"].notna() & (out["problem.dtype"] != "fp32")).to_numpy(dtype=bool)
            if other.any():
                out.loc[other, "problem.allow_tf32"] = pd.NA

    for col in out.columns:
        if col.startswith("params.") and col[7:] in COUNT_PARAMS:
            reasons.add(_not_positive_integers(out[col]), f"{col} must be {INTEGER_RULE}")

    for col in out.columns:
        if col.startswith(("params.", "meta.")) or (col.startswith("problem.") and out[col].dtype == object):
            out[col] = _normalise_scalars(out[col])
        elif col.startswith("ir."):
            out[col] = _as_string(out[col])

    bad = reasons.bad
    valid = out.loc[~bad].drop(columns=[c for c in BOOKKEEPING if c in out], errors="ignore").reset_index(drop=True)
    quarantine = frame.iloc[np.flatnonzero(bad)].reset_index(drop=True)
    if FILE_COLUMN not in quarantine:
        quarantine[FILE_COLUMN] = None
    if LINE_COLUMN not in quarantine:
        quarantine[LINE_COLUMN] = np.flatnonzero(bad) + 1
    quarantine[REASON_COLUMN] = reasons.values[bad]
    return valid, quarantine.reset_index(drop=True)


# ---------------------------------------------------------------- content hash

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


def _name_hash(name: str) -> np.uint64:
    return np.uint64(pd.util.hash_array(np.array([name], dtype=object))[0])


def _column_hash(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(value hash, present mask) for one column; numbers hash by float64 value (int 4 == float 4.0)."""
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_list(series.dtype.pyarrow_dtype):
        arr = pa.array(series.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        present = arr.is_valid().to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(arr).cast(pa.float64()).to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
        lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        position = np.arange(len(flat), dtype=np.int64) - starts
        with np.errstate(over="ignore"):
            element = _mix(pd.util.hash_array(flat) ^ (position.astype(np.uint64) * _M2))
        h = np.zeros(len(arr), dtype=np.uint64)
        np.add.at(h, parents, element)
        return _mix(h ^ lengths.astype(np.uint64)), present
    present = series.notna().to_numpy(dtype=bool)
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        values = np.where(values == 0, 0.0, values)  # -0.0 == 0.0
        return pd.util.hash_array(values), present
    if series.dtype == object:
        # lists in an object column (records straight from JSON): hash through the Arrow path
        first = series[present].iloc[0] if present.any() else None
        if isinstance(first, list | tuple | np.ndarray):
            samples, _ = _samples_array(series)
            return _column_hash(pd.Series(pd.arrays.ArrowExtensionArray(samples)))
    # text: hash each distinct value once, then gather by the factorised codes
    codes, uniques = pd.factorize(series.astype("string"), use_na_sentinel=True)
    hashed = pd.util.hash_array(np.asarray(uniques, dtype=object), categorize=False) if len(uniques) else \
        np.array([], dtype=np.uint64)
    values = hashed[np.maximum(codes, 0)] if len(hashed) else np.zeros(len(series), dtype=np.uint64)
    return values, codes >= 0


def record_hash_u64(frame: pd.DataFrame) -> np.ndarray:
    """Content hash of each row as uint64 (see `record_hash`)."""
    h = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in frame.columns:
            if col in HASH_EXCLUDED:
                continue
            values, present = _column_hash(frame[col])
            # a sum over columns: independent of column order, and a missing value equals an absent column
            h += np.where(present, _mix(values ^ _name_hash(str(col))), np.uint64(0))
    return _mix(h)


def hash_to_hex(h: np.ndarray) -> np.ndarray:
    """uint64 hashes -> 16-digit lower-case hex strings, vectorised."""
    if len(h) == 0:
        return np.array([], dtype=object)
    text = np.ascontiguousarray(h, dtype=">u8").tobytes().hex().encode()
    return np.frombuffer(text, dtype="S16").astype(str).astype(object)


def hex_to_hash(values: np.ndarray | pd.Series) -> np.ndarray:
    """16-digit hex strings -> uint64, vectorised."""
    values = np.asarray(values, dtype=object)
    if len(values) == 0:
        return np.array([], dtype=np.uint64)
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=">u8").astype(np.uint64)


def hex_column_to_hash(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow string column of 16-digit hex hashes -> uint64, straight from its data buffer."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.array([], dtype=np.uint64)
    arr = arr.cast(pa.string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    if arr.null_count or not np.all(np.diff(offsets) == 16):
        return hex_to_hash(arr.to_numpy(zero_copy_only=False))
    data = arr.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
    return np.frombuffer(bytes.fromhex(data.decode("ascii")), dtype=">u8").astype(np.uint64)


def record_hash(frame: pd.DataFrame) -> pd.Series:
    """Content hash of each record (16 hex digits), over every field except `source` and bookkeeping.

    Order of columns, absent vs missing values and int vs float spellings of a number do not change it.
    Hash a *validated* frame (`validate_frame` normalises spellings first) to compare across file formats.
    """
    return pd.Series(hash_to_hex(record_hash_u64(frame)), index=frame.index, name=HASH_COLUMN, dtype=object)

