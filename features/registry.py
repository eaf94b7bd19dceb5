"""Extractor registry, the generic fallback extractor and `featurize` (frame -> feature matrix).

An extractor turns the rows of one kernel family into raw features: float columns (numeric) and
object columns (categorical strings, encoded later with the schema's vocabulary). `featurize`
splits a frame by `kernel`, runs each family's extractor (the generic one for unknown families),
adds the system spec columns and IR text features, and then either derives a `FeatureSchema`
(fit) or produces exactly the columns of a given schema (transform).
"""

from __future__ import annotations

import warnings
from importlib import import_module

import numpy as np
import pandas as pd
from perfcast.features.schema import (
    FeatureSchema,
    FeatureSchemaError,
    category_strings,
    encode_categorical,
)

ROOFLINE = "roofline_ms"
#: Input sections read by the generic extractor (numeric -> float, anything else -> categorical).
GENERIC_SECTIONS = ("params.", "problem.")
#: Top-level categoricals every feature vector carries.
TOP_CATEGORICALS = ("kernel", "system")
OUTPUT_DTYPE = "float64"


class Extractor:
    """Base extractor: the generic one. Subclasses add family physics on top of `extract`.

    `extract(frame, specs)` gets the rows of one kernel family (`frame`, canonical flat columns) and
    their system specs (`specs`, `sys.*` float columns, same index) and returns a DataFrame with
    the same index: float columns for numeric features, object columns for categoricals.
    """

    #: Families this extractor is written for (documentation; the registry is keyed by kernel).
    families: tuple[str, ...] = ()

    def input_columns(self, frame: pd.DataFrame) -> list[str]:
        """The input columns this extractor read for these rows (recorded in the schema)."""
        return [c for c in frame.columns if c.startswith(GENERIC_SECTIONS) and frame[c].notna().any()]

    def extract(self, frame: pd.DataFrame, specs: pd.DataFrame) -> pd.DataFrame:
        return generic_columns(frame)


class GenericExtractor(Extractor):
    """Fallback for families without physics: numeric params/problem fields as floats, the rest
    as categoricals. `roofline_ms` is NaN (nothing is known about the work such a kernel does)."""


def generic_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Every `params.*`/`problem.*` column: numeric (bools as 0/1) -> float64, else categorical."""
    out: dict[str, pd.Series] = {}
    for col in frame.columns:
        if not col.startswith(GENERIC_SECTIONS):
            continue
        series = frame[col]
        if series.isna().all():
            continue
        numeric = as_numeric(series)
        if numeric is not None:
            out[col] = numeric
        else:
            out[col] = category_strings(series)
    return pd.DataFrame(out, index=frame.index)


def as_numeric(series: pd.Series) -> pd.Series | None:
    """Series -> float64 if every non-missing value is a number or bool, else None."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64")
    values = series.dropna()
    if values.empty:
        return series.astype("float64")
    sample = values.map(type).unique()
    if all(issubclass(t, bool | np.bool_) for t in sample):
        return series.map(lambda v: np.nan if pd.isna(v) else float(bool(v))).astype("float64")
    if all(issubclass(t, int | float | np.integer | np.floating | bool | np.bool_) for t in sample):
        return pd.to_numeric(series, errors="coerce").astype("float64")
    return None


# ---- registry --------------------------------------------------------------------------------
_REGISTRY: dict[str, Extractor] = {}
_GENERIC = GenericExtractor()
#: Modules that register the built-in family extractors on import.
_BUILTIN_MODULES = ("perfcast.features.matmul", "perfcast.features.convolution")
_builtins_loaded = False


def register_extractor(kernel: str, extractor: Extractor) -> None:
    """Use `extractor` for rows whose `kernel` is `kernel` (replaces an earlier registration)."""
    if not isinstance(kernel, str) or not kernel:
        raise ValueError("kernel must be a non-empty string like 'triton.matmul'")
    if not callable(getattr(extractor, "extract", None)):
        raise TypeError(f"extractor for {kernel!r} has no extract(frame, specs) method")
    _REGISTRY[kernel] = extractor


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for name in _BUILTIN_MODULES:
            import_module(name)


def get_extractor(kernel: str) -> Extractor:
    """The extractor registered for `kernel`, or the generic fallback."""
    _load_builtins()
    return _REGISTRY.get(kernel, _GENERIC)


def registered_kernels() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


# ---- system specs ------------------------------------------------------------------------------
def system_specs(names: pd.Series) -> pd.DataFrame:
    """`sys.*` float columns for each row's `system` (NaN rows, with a warning, for unknown systems)."""
    try:
        spec_table = import_module("perfcast.systems").spec_table
    except (ImportError, AttributeError):
        warnings.warn("perfcast.systems.spec_table is not available: system spec features are NaN", stacklevel=3)
        return pd.DataFrame(index=names.index)
    keys = names.astype(object).where(names.notna(), None)
    table = spec_table(keys, errors="nan").astype("float64")
    table.index = names.index
    unknown_rows = keys.notna().to_numpy() & table.isna().all(axis=1).to_numpy()
    if unknown_rows.any():
        unknown = sorted({str(v) for v in keys[unknown_rows].unique()})
        warnings.warn(
            f"unknown systems {unknown}: their spec features and roofline_ms are NaN "
            "(add them with perfcast.systems.register_system or a PERFCAST_SYSTEMS YAML file)",
            stacklevel=3,
        )
    return table


def canonical_system_names(names: pd.Series) -> pd.Series:
    """Aliases (`RTX_3090`, `H100`) -> registry names, so one GPU is one category; unknown kept as is."""
    try:
        resolve = import_module("perfcast.systems").resolve_name
    except (ImportError, AttributeError):
        return names
    codes, uniques = pd.factorize(names, use_na_sentinel=True)
    resolved = []
    for name in uniques:
        try:
            resolved.append(resolve(str(name)))
        except Exception:  # noqa: BLE001 (unknown systems keep their spelling; system_specs warns about them)
            resolved.append(str(name))
    lookup = np.array([*resolved, None], dtype=object)
    return pd.Series(lookup[codes], index=names.index, dtype=object)


# ---- IR text features ----------------------------------------------------------------------------
def ir_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric features of every `ir.<kind>` text column via `perfcast.features.ir` (if present)."""
    ir_cols = [c for c in frame.columns if c.startswith("ir.") and frame[c].notna().any()]
    if not ir_cols:
        return pd.DataFrame(index=frame.index)
    try:
        ir_module = import_module("perfcast.features.ir")
        ir_feature_frame = ir_module.ir_feature_frame
    except (ImportError, AttributeError):
        warnings.warn("perfcast.features.ir is not available: IR text columns are ignored", stacklevel=3)
        return pd.DataFrame(index=frame.index)
    parts = []
    for col in ir_cols:
        kind = col[len("ir."):]
        texts = frame[col]
        present = texts.notna().to_numpy()
        part = ir_feature_frame(texts.where(texts.notna(), "").astype(str), kind)
        part = pd.DataFrame(part).reset_index(drop=True).apply(pd.to_numeric, errors="coerce").astype("float64")
        part.index = frame.index
        part.loc[~present] = np.nan  # a row without this IR has no IR features (not "empty text")
        part.columns = [f"ir.{kind}.{c}" for c in part.columns]
        parts.append(part)
    return pd.concat(parts, axis=1)


# ---- featurize -----------------------------------------------------------------------------------
def _raw_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """All raw features of a (RangeIndex) frame and the input columns used per kernel family."""
    if "kernel" not in frame.columns:
        raise FeatureSchemaError("input frame has no 'kernel' column (every record names its kernel family)")
    kernels = frame["kernel"].astype(object).where(frame["kernel"].notna(), "")
    specs = system_specs(frame["system"]) if "system" in frame.columns else pd.DataFrame(index=frame.index)
    parts: list[pd.DataFrame] = []
    inputs: dict[str, list[str]] = {}
    groups = kernels.groupby(kernels, sort=True).indices if kernels.nunique() > 1 else {kernels.iloc[0]: None}
    for kernel, positions in groups.items():
        sub = frame if positions is None else frame.iloc[positions]
        sub_specs = specs if positions is None else specs.iloc[positions]
        extractor = get_extractor(str(kernel))
        part = extractor.extract(sub, sub_specs)
        if ROOFLINE not in part.columns:
            part[ROOFLINE] = np.nan
        parts.append(part)
        used = set(extractor.input_columns(sub))
        if "system" in frame.columns:
            used.add("system")
        inputs[str(kernel)] = sorted(used)
    raw = parts[0] if len(parts) == 1 else pd.concat(parts, axis=0, sort=False).reindex(frame.index)
    extra = [specs, ir_features(frame)]
    tops = {c: category_strings(frame[c]) for c in TOP_CATEGORICALS if c in frame.columns}
    if "system" in tops:
        tops["system"] = canonical_system_names(tops["system"])
    raw = pd.concat([raw, *extra, pd.DataFrame(tops, index=frame.index)], axis=1)
    raw = raw.loc[:, ~raw.columns.duplicated()]
    ir_cols = [c for c in frame.columns if c.startswith("ir.") and frame[c].notna().any()]
    for kernel in inputs:
        present = kernels == kernel
        inputs[kernel] = sorted(set(inputs[kernel]) | {c for c in ir_cols if frame.loc[present, c].notna().any()})
    return raw, inputs


def _is_categorical(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def featurize(frame: pd.DataFrame, schema: FeatureSchema | None = None) -> tuple[pd.DataFrame, FeatureSchema]:
    """Canonical flat records -> (feature matrix, schema).

    Without `schema` the schema is derived from the frame (fit); with one, the output has exactly
    its columns in order (float64) or `FeatureSchemaError` names what is missing or mismatched.
    Extra input columns are ignored; mixed kernel families give the union of their features, NaN
    where a feature does not apply. `roofline_ms` is always a column.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"featurize expects a pandas DataFrame, got {type(frame).__name__}")
    original_index = frame.index
    work = frame.reset_index(drop=True)
    if work.empty:
        if schema is None:
            raise FeatureSchemaError("cannot derive a feature schema from an empty frame")
        empty = pd.DataFrame({n: pd.Series(dtype=d) for n, d in zip(schema.names, schema.dtypes, strict=True)})
        return empty.set_axis(original_index[:0]), schema
    if schema is not None:
        _check_inputs(work, schema)
    raw, inputs = _raw_features(work)
    if schema is None:
        schema = _derive_schema(raw, inputs)
    out = _apply_schema(raw, schema)
    out.index = original_index
    return out, schema


def _derive_schema(raw: pd.DataFrame, inputs: dict[str, list[str]]) -> FeatureSchema:
    keep = [c for c in raw.columns if c == ROOFLINE or raw[c].notna().any()]
    names = [ROOFLINE] + sorted(c for c in keep if c != ROOFLINE)
    categories = {}
    for name in names:
        if _is_categorical(raw[name]):
            categories[name] = tuple(sorted(str(v) for v in pd.unique(raw[name].dropna())))
    return FeatureSchema(
        names=tuple(names), dtypes=tuple(OUTPUT_DTYPE for _ in names), categories=categories, inputs=inputs
    )


def _check_inputs(frame: pd.DataFrame, schema: FeatureSchema) -> None:
    """Every family present that the schema knows must bring the input columns it was fitted on."""
    if "kernel" not in frame.columns:
        raise FeatureSchemaError("input frame has no 'kernel' column (every record names its kernel family)")
    problems = []
    for kernel in pd.unique(frame["kernel"].dropna()):
        needed = schema.inputs.get(str(kernel))
        if needed is None:
            continue  # a family the model never saw: its features are computed, unknown ones dropped
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            problems.append(f"kernel {kernel!r} lacks input columns {missing}")
    if problems:
        raise FeatureSchemaError(
            f"input does not match feature schema {schema.version}: " + "; ".join(problems)
        )


def _apply_schema(raw: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {}
    problems: list[str] = []
    n = len(raw)
    for name, dtype in zip(schema.names, schema.dtypes, strict=True):
        if name not in raw.columns:
            columns[name] = np.full(n, np.nan, dtype=dtype)
            continue
        series = raw[name]
        if name in schema.categories:
            columns[name] = encode_categorical(series, schema.categories[name]).astype(dtype)
        elif _is_categorical(series):
            numeric = pd.to_numeric(series, errors="coerce")
            bad = series.notna() & numeric.isna()
            if bad.any():
                examples = sorted({str(v) for v in series[bad].head(3)})
                problems.append(f"{name}: expected numbers, got {examples}")
                continue
            columns[name] = numeric.to_numpy(dtype=dtype, na_value=np.nan)
        else:
            columns[name] = series.to_numpy(dtype=dtype, na_value=np.nan)
    if problems:
        raise FeatureSchemaError(f"input does not match feature schema {schema.version}: " + "; ".join(problems))
    return pd.DataFrame(columns, index=raw.index)
