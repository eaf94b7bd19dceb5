"""Extractor registry, the generic fallback extractor and `featurize` (frame -> feature matrix).

An extractor turns the rows of one kernel family into raw features: float columns (numeric) and
categorical columns (strings, encoded later with the schema's vocabulary). `featurize`
splits a frame by `kernel`, runs each family's extractor (the generic one for unknown families),
adds the system spec columns and IR text features, and then either derives a `FeatureSchema`
(fit) or produces exactly the columns of a given schema (transform).
"""

from __future__ import annotations

import warnings
from importlib import import_module

import numpy as np
import pandas as pd
from perfcast.features.physics import labels
from perfcast.features.schema import (
    FeatureSchema,
    FeatureSchemaError,
    category_strings,
    encode_categorical,
)

ROOFLINE = "roofline_ms"
#: Input sections read by the generic extractor (numeric -> float, anything else -> categorical).
GENERIC_SECTIONS = ("params.", "problem.")
OUTPUT_DTYPE = "float64"


#: Raw features: column name -> float64 array (numeric) or pd.Categorical (categorical), one per row.
Columns = dict[str, "np.ndarray | pd.Categorical"]


class ColumnTable:
    """Equal-length numpy columns by name, read like a DataFrame by the extractors' helpers
    (`columns`, `table[name]`, `len(table)`): the compiled plan's DataFrame-free input.

    Numeric columns are numeric arrays; anything else an object array of the raw values.
    """

    __slots__ = ("_data", "_n")

    def __init__(self, data: dict[str, np.ndarray], n: int):
        self._data = data
        self._n = n

    @property
    def columns(self):  # noqa: ANN201 (a keys view: `name in table.columns` is one hash lookup)
        return self._data.keys()

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __len__(self) -> int:
        return self._n

    def take(self, positions: np.ndarray) -> ColumnTable:
        """The rows at `positions`, in that order."""
        return ColumnTable({k: v[positions] for k, v in self._data.items()}, len(positions))


class Extractor:
    """Base extractor: the generic one. Subclasses add family physics on top of `extract`.

    `extract(frame, specs)` gets the rows of one kernel family (`frame`, canonical flat columns) and
    their system specs (`specs`, `sys.*` float columns, same index) and returns the raw features of
    those rows, in row order: a DataFrame, or a dict of column -> array (cheaper for a million
    rows). Numeric columns become float64; strings/objects/categoricals are categorical features.
    """

    #: Families this extractor is written for (documentation; the registry is keyed by kernel).
    families: tuple[str, ...] = ()

    #: Bumped when the extractor's features change meaning (models fitted with another version refit).
    version: int = 1

    @property
    def name(self) -> str:
        """What a fitted schema records (`FeatureSchema.extractors`): the class name, and `.v<version>`
        from version 2 on. A model computes its features with the extractor it was fitted with."""
        cls = type(self).__name__
        return cls if self.version == 1 else f"{cls}.v{self.version}"

    def input_columns(self, frame: pd.DataFrame) -> list[str]:
        """The input columns these rows require (recorded in the schema, checked at transform).

        A column is required when every fitting row of the family has a value: a query without it
        would get features the model never saw missing. A column only some fitting rows had
        (`problem.allow_tf32` only on fp32 rows) is optional: a query may leave it out (NaN).
        """
        return [c for c in frame.columns if c.startswith(GENERIC_SECTIONS) and _all_present(frame[c])]

    def extract(self, frame: pd.DataFrame, specs: pd.DataFrame) -> pd.DataFrame | Columns:
        return generic_columns(frame)


class GenericExtractor(Extractor):
    """Fallback for families without physics: numeric params/problem fields as floats, the rest
    as categoricals. `roofline_ms` is NaN (nothing is known about the work such a kernel does)."""


def generic_columns(frame: pd.DataFrame | ColumnTable) -> Columns:
    """Every `params.*`/`problem.*` column: numeric (bools as 0/1) -> float64, else categorical.

    From a `ColumnTable` a non-numeric column stays an object array of raw values: the compiled plan
    encodes it per distinct value with the same rules (`features.plan`).
    """
    out: Columns = {}
    if isinstance(frame, ColumnTable):
        for name in frame.columns:
            if not name.startswith(GENERIC_SECTIONS):
                continue
            values = frame[name]
            if values.dtype.kind in "fiub":
                values = values.astype("float64", copy=False)
                if not np.isnan(values).all():
                    out[name] = values
            elif not all(_missing(v) for v in values):  # stops at the first value present
                out[name] = values
        return out
    for col in frame.columns:
        if not col.startswith(GENERIC_SECTIONS):
            continue
        series = frame[col]
        if _is_number_dtype(series):  # fast path: one numpy pass, no pandas isna
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            if not np.isnan(values).all():
                out[col] = values
            continue
        if series.isna().all():
            continue
        numeric = as_numeric(series)
        out[col] = numeric if numeric is not None else category_strings(series)
    return out


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float | np.floating) and value != value)


def _is_number_dtype(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)


def _all_present(series: pd.Series) -> bool:
    if _is_number_dtype(series) and series.dtype.kind in "fiub":
        return not np.isnan(series.to_numpy(dtype="float64")).any()
    return bool(series.notna().all())


def as_numeric(series: pd.Series) -> np.ndarray | None:
    """float64 array if every non-missing value is a number or bool, else None."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return None
    if series.dtype != object and pd.api.types.is_string_dtype(series.dtype):
        return None  # pandas' str dtype: text, never numbers
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts) are not numbers
        return None
    values = []
    for u in uniques:
        if isinstance(u, bool | np.bool_ | int | float | np.integer | np.floating):
            values.append(float(u))
        else:
            return None
    return np.array([*values, np.nan], dtype="float64")[codes]


def _to_columns(result: pd.DataFrame | Columns, n: int, who: str) -> Columns:
    """An extractor's result -> dict of float64 arrays / Categoricals, each of length n."""
    items = result.items() if isinstance(result, pd.DataFrame) else dict(result).items()
    out: Columns = {}
    for name, values in items:
        if isinstance(values, pd.Categorical):
            col = values
        elif isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
            col = values.astype("float64", copy=False)  # the common case: no copy
        elif isinstance(values, pd.Series | np.ndarray | list | tuple):
            series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
            numeric = as_numeric(series)
            col = numeric if numeric is not None else category_strings(series)
        else:  # a scalar broadcasts
            col = np.full(n, float(values)) if isinstance(values, int | float) else category_strings([values] * n)
        if len(col) != n:
            raise ValueError(f"extractor {who} returned {len(col)} values for {name!r}, expected {n}")
        out[str(name)] = col
    return out


# ---- registry --------------------------------------------------------------------------------
_REGISTRY: dict[str, Extractor] = {}
_GENERIC = GenericExtractor()
#: Modules that register the built-in family extractors on import.
_BUILTIN_MODULES = ("perfcast.features.matmul", "perfcast.features.convolution", "perfcast.features.rowwise")
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


#: Families whose extractor came after schemas recorded theirs: a schema without `extractors` was
#: fitted with the generic one for them (`roofline_ms` NaN), and is transformed so again.
GENERIC_BEFORE_RECORDED: frozenset[str] = frozenset(
    {"triton.softmax", "triton.layernorm", "triton.reduction", "triton.elementwise"})


def extractor_for(kernel: str, schema: FeatureSchema | None = None) -> Extractor:
    """The extractor that computes `kernel`'s features: the registered one when fitting (no schema);
    with a schema, the one the schema was fitted with, so a model saved before a family gained its
    physics keeps the features it was trained on (a NaN `roofline_ms` then, not a finite one that
    rescales its predictions). A recorded extractor this build does not have is a `FeatureSchemaError`."""
    current = get_extractor(kernel)
    if schema is None:
        return current
    recorded = schema.extractors.get(kernel)
    if recorded is None:
        legacy = not schema.extractors and kernel in GENERIC_BEFORE_RECORDED
        return _GENERIC if legacy else current
    if recorded == current.name:
        return current
    if recorded == _GENERIC.name:
        return _GENERIC
    raise FeatureSchemaError(
        f"kernel {kernel!r}: the model's features were computed by {recorded}, which this build does not have "
        f"(it has {current.name}); refit the model")


def registered_kernels() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


# ---- system specs ------------------------------------------------------------------------------
def system_names(values: pd.Series) -> pd.Series:
    """The `system` column as names: inline spec objects (`{"name": ..., ...}`, a record's way to
    describe a GPU the registry lacks or to override fields) are registered and replaced by their name."""
    if values.dtype != object:
        return values
    inline = values.map(lambda v: isinstance(v, dict))
    if not inline.any():
        return values
    from perfcast.systems import system_from_inline  # noqa: PLC0415

    out = values.copy()
    for position in np.flatnonzero(inline.to_numpy()):
        obj = values.iloc[position]
        try:
            out.iloc[position] = system_from_inline(obj, register=True).name
        except Exception as exc:  # noqa: BLE001 (an invalid inline spec is that row's unknown system)
            warnings.warn(f"row {position}: inline system {obj!r} is not a valid spec: {exc}", stacklevel=4)
            out.iloc[position] = str(obj.get("name", "<invalid inline system>"))
    return out


def system_specs(names: pd.Series) -> pd.DataFrame:
    """`sys.*` float columns for each row's `system` (NaN rows, with a warning, for unknown systems)."""
    codes, uniques = labels(names)
    return pd.DataFrame(_spec_columns(codes, uniques), index=names.index, copy=False)


def _spec_columns(codes: np.ndarray, uniques: list) -> dict[str, np.ndarray]:
    """One owned float array per `sys.*` column, gathered per row from a table of the unique systems."""
    try:
        spec_table = import_module("perfcast.systems").spec_table
    except (ImportError, AttributeError):
        warnings.warn("perfcast.systems.spec_table is not available: system spec features are NaN", stacklevel=4)
        return {}
    per_system = spec_table(pd.Series(uniques, dtype=object), errors="nan").astype("float64")
    unknown = [str(u) for u, row in zip(uniques, per_system.isna().all(axis=1), strict=True) if row]
    if unknown:
        warnings.warn(
            f"unknown systems {sorted(unknown)}: their spec features and roofline_ms are NaN "
            "(add them with perfcast.systems.register_system or a PERFCAST_SYSTEMS YAML file)",
            stacklevel=4,
        )
    # missing system (code -1) -> the trailing NaN row
    values = np.vstack([per_system.to_numpy(dtype="float64"), np.full((1, per_system.shape[1]), np.nan)])
    return {name: values[:, j][codes] for j, name in enumerate(per_system.columns)}


def canonical_system_names(names: pd.Series) -> pd.Categorical:
    """Aliases (`RTX_3090`, `H100`) -> registry names, so one GPU is one category; unknown kept as is."""
    codes, uniques = labels(names)
    return _canonical_systems(codes, uniques)


def _canonical_systems(codes: np.ndarray, uniques: list) -> pd.Categorical:
    try:
        resolve = import_module("perfcast.systems").resolve_name
    except (ImportError, AttributeError):
        resolve = str
    resolved = []
    for name in uniques:
        try:
            resolved.append(resolve(str(name)))
        except Exception:  # noqa: BLE001 (unknown systems keep their spelling; the spec lookup warns about them)
            resolved.append(str(name))
    categories = sorted(set(resolved))
    remap = np.array([categories.index(r) for r in resolved] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=categories)


# ---- IR text features ----------------------------------------------------------------------------
def ir_columns(frame: pd.DataFrame) -> list[str]:
    """The `ir.<kind>` text columns of `frame` that hold any text."""
    return [c for c in frame.columns if c.startswith("ir.") and frame[c].notna().any()]


def ir_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric features of every `ir.<kind>` text column via `perfcast.features.ir` (if present)."""
    ir_cols = ir_columns(frame)
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


def prefetch_ir_features(frame: pd.DataFrame, n_jobs: int = -1) -> None:
    """Featurise the IR texts of `frame` that are not cached yet in `n_jobs` worker processes (-1: all
    cores), so that featurising these rows then finds every text cached. Batch prediction calls it per
    chunk: the IR texts dominate its time, and one process featurises them one after another."""
    ir_cols = ir_columns(frame)
    if not ir_cols or n_jobs == 1:
        return
    from perfcast.features.ir import ir_feature_frame  # noqa: PLC0415

    for col in ir_cols:
        ir_feature_frame(frame[col].dropna().astype(str), col[len("ir."):], n_jobs=n_jobs)  # dedupes itself


# ---- featurize -----------------------------------------------------------------------------------
def _scatter(parts: list[tuple[np.ndarray | None, Columns]], n: int) -> Columns:
    """Union of per-family columns into full-length columns (NaN where a family lacks one)."""
    if len(parts) == 1 and parts[0][0] is None:
        return parts[0][1]
    names: dict[str, None] = {}
    for _, cols in parts:
        names.update(dict.fromkeys(cols))
    out: Columns = {}
    for name in names:
        pieces = [(pos, cols[name]) for pos, cols in parts if name in cols]
        if all(not isinstance(v, pd.Categorical) for _, v in pieces):
            full = np.full(n, np.nan)
            for pos, values in pieces:
                full[pos] = values
            out[name] = full
        else:
            strings = np.full(n, None, dtype=object)
            for pos, values in pieces:
                strings[pos] = np.asarray(values, dtype=object) if isinstance(values, pd.Categorical) else np.where(
                    np.isnan(values), None, values
                )
            out[name] = category_strings(pd.Series(strings, dtype=object).where(pd.notna(strings), None))
    return out


def _raw_features(frame: pd.DataFrame, schema: FeatureSchema | None = None
                  ) -> tuple[Columns, dict[str, list[str]], dict[str, str]]:
    """All raw features of a (RangeIndex) frame, the input columns used and the extractor per kernel
    family (`extractor_for`: the schema's, when transforming)."""
    if "kernel" not in frame.columns:
        raise FeatureSchemaError("input frame has no 'kernel' column (every record names its kernel family)")
    n = len(frame)
    kernel_codes, kernel_names = labels(frame["kernel"])
    spec_cols: dict[str, np.ndarray] = {}
    if "system" in frame.columns:
        sys_codes, sys_uniques = labels(system_names(frame["system"]))
        spec_cols = _spec_columns(sys_codes, list(sys_uniques))
    specs = pd.DataFrame(spec_cols, index=frame.index, copy=False)
    parts: list[tuple[np.ndarray | None, Columns]] = []
    inputs: dict[str, list[str]] = {}
    extractors: dict[str, str] = {}
    ir_cols = ir_columns(frame)
    groups = [(-1, "")] if (kernel_codes < 0).any() else []
    groups += list(enumerate(str(k) for k in kernel_names))
    for code, kernel in groups:
        positions = None if len(groups) == 1 else np.flatnonzero(kernel_codes == code)
        sub = frame if positions is None else frame.iloc[positions]
        sub_specs = specs if positions is None else specs.iloc[positions]
        extractor = extractor_for(kernel, schema)
        extractors[kernel] = extractor.name
        cols = _to_columns(extractor.extract(sub, sub_specs), len(sub), type(extractor).__name__)
        cols.setdefault(ROOFLINE, np.full(len(sub), np.nan))
        parts.append((positions, cols))
        used = set(extractor.input_columns(sub)) | {c for c in ir_cols if sub[c].notna().all()}
        if "system" in frame.columns and sub["system"].notna().all():
            used.add("system")
        inputs[kernel] = sorted(used)
    raw = _scatter(parts, n)
    for name, values in spec_cols.items():
        raw.setdefault(name, values)
    for name, values in ir_features(frame).items():
        raw.setdefault(name, values.to_numpy(dtype="float64", na_value=np.nan))
    raw["kernel"] = category_strings(pd.Categorical.from_codes(kernel_codes, categories=[str(k) for k in kernel_names]))
    if "system" in frame.columns:
        raw["system"] = _canonical_systems(sys_codes, list(sys_uniques))
    return raw, inputs, extractors


def _is_categorical(values: np.ndarray | pd.Categorical) -> bool:
    return isinstance(values, pd.Categorical)


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
    raw, inputs, extractors = _raw_features(work, schema)
    if schema is None:
        schema = _derive_schema(raw, inputs, extractors)
    out = _apply_schema(raw, schema, len(work))
    out.index = original_index
    return out, schema


def _derive_schema(raw: Columns, inputs: dict[str, list[str]], extractors: dict[str, str]) -> FeatureSchema:
    def has_values(values: np.ndarray | pd.Categorical) -> bool:
        return bool((values.codes >= 0).any()) if _is_categorical(values) else bool(np.isfinite(values).any())

    keep = [c for c, v in raw.items() if c == ROOFLINE or has_values(v)]
    names = [ROOFLINE] + sorted(c for c in keep if c != ROOFLINE)
    categories = {}
    for name in names:
        values = raw[name]
        if _is_categorical(values):
            used = np.unique(values.codes[values.codes >= 0])
            categories[name] = tuple(sorted(str(values.categories[i]) for i in used))
    return FeatureSchema(
        names=tuple(names), dtypes=tuple(OUTPUT_DTYPE for _ in names), categories=categories, inputs=inputs,
        extractors=extractors,
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


def _apply_schema(raw: Columns, schema: FeatureSchema, n: int) -> pd.DataFrame:
    """Exactly the schema's columns, in order.

    The frame is built from one array per column without consolidating them into a single block:
    copying a million rows × ~90 columns into one block costs more than computing the features.
    """
    columns: dict[str, np.ndarray] = {}
    seen: set[int] = set()
    problems: list[str] = []
    for name, dtype in zip(schema.names, schema.dtypes, strict=True):
        values = raw.get(name)
        if values is None:
            col = np.full(n, np.nan)  # the families present do not produce this feature
        elif name in schema.categories:
            col = encode_categorical(values, schema.categories[name])
        elif _is_categorical(values):
            numeric = pd.to_numeric(pd.Series(values.categories, dtype=object), errors="coerce").to_numpy(dtype="float64")
            bad = [str(c) for c, v in zip(values.categories, numeric, strict=True) if np.isnan(v)]
            if bad:
                problems.append(f"{name}: expected numbers, got {sorted(bad)[:3]}")
                continue
            col = np.append(numeric, np.nan)[values.codes]
        else:
            col = np.asarray(values, dtype="float64")
            # never hand out an input's memory or one array under two names
            if id(col) in seen or not col.flags.writeable:
                col = col.copy()
        col = col.astype(dtype, copy=False)
        seen.add(id(col))
        columns[name] = col
    if problems:
        raise FeatureSchemaError(f"input does not match feature schema {schema.version}: " + "; ".join(problems))
    return pd.DataFrame(columns, copy=False)
