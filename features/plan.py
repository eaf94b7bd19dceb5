"""Compiled small-batch feature path: `compile_plan(schema) -> FeaturePlan`.

`FeaturePlan.transform(columns)` computes exactly what `featurize(frame, schema)` computes, from a
mapping of dotted column names to arrays, lists or scalars (a scalar is broadcast to every row), with
no DataFrame on the way: the family extractors run on a `ColumnTable` of numpy arrays (the same
functions `featurize` runs, so each formula has one implementation), inside one `physics.quiet()`
block, and everything that depends only on a value rather than a row is resolved once per plan and
cached: a system name -> its canonical name, vocabulary code and spec row; a raw param/problem value
-> its encoded float.

One row (a `predict` of one config) takes the row path when its family's extractor supports it
(`one_row = True`: every built-in family but `cutlass.gemm`, whose name parsing is pandas): the
extractor gets a `physics.Row` of scalars and runs the same formulas on np.float64 scalars (~30 ns an
operation instead of numpy's ~0.3-1 µs floor on a 1-element array), and the row is written as one
Python list. Rows with IR text, inline system objects or an unknown family take the column path.

Differences from `featurize`, by design: IR text features are computed through `featurize`'s own
IR path (pandas, not fast); an extractor must return its generic `params.*`/`problem.*` columns
through `generic_columns` (every built-in one does).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from perfcast.features import physics as ph
from perfcast.features.registry import (
    GENERIC_SECTIONS,
    ROOFLINE,
    ColumnTable,
    _canonical_systems,
    _spec_columns,
    _to_columns,
    extractor_for,
    ir_features,
    system_names,
)
from perfcast.features.schema import UNKNOWN_CODE, FeatureSchema, FeatureSchemaError, _canonical_category
from perfcast.measurements.schema import is_hashable, is_missing

_NUMBER = (bool, np.bool_, int, float, np.integer, np.floating)
#: Cached values per plan column / systems per plan; a full cache is cleared (names come from users).
_MAX_CACHED = 100_000


def compile_plan(schema: FeatureSchema, *, one_row: bool = True) -> FeaturePlan:
    """A `FeaturePlan` for `schema` (cheap: caches fill on use). `one_row=False` sends one-row calls
    through the column path too (the same values; benchmarks and tests compare both)."""
    return FeaturePlan(schema, one_row=one_row)


class FeaturePlan:
    """`featurize(frame, schema)` for small batches: numpy only, per-value work cached.

    `transform(columns)` -> float matrix (rows × len(schema.names)), equal (NaN-aware) to
    `featurize(frame, schema)[0].to_numpy()` for the same rows; raises `FeatureSchemaError` where
    `featurize` does (a kernel lacking an input column its features were fitted on, text in a numeric
    feature).
    """

    def __init__(self, schema: FeatureSchema, *, one_row: bool = True):
        if not isinstance(schema, FeatureSchema):
            raise TypeError(f"compile_plan expects a FeatureSchema, got {type(schema).__name__}")
        self.schema = schema
        self.one_row = one_row
        self.names = schema.names
        self.index = {name: j for j, name in enumerate(schema.names)}
        self._vocab = {name: {v: float(i) for i, v in enumerate(vocab)} for name, vocab in schema.categories.items()}
        self._values: dict[str, dict[Any, float]] = {}
        self._systems: dict[Any, tuple[np.ndarray, float]] = {}
        self._row_specs: dict[Any, tuple] = {}  # system value -> `_row_system`'s answer
        self._row_layouts: dict[str, tuple] = {}  # kernel -> result names and their schema positions
        self._sys_names: list[str] | None = None
        self._spec_js: np.ndarray | None = None  # schema positions of the spec columns the schema has
        self._spec_src: list[int] = []
        self._lock = threading.Lock()

    # ---- per-value caches --------------------------------------------------------------------
    def _system(self, value: Any) -> tuple[np.ndarray, float]:
        """(spec row over `self._sys_names`, schema code of the canonical name) of one `system` value."""
        key = value if not isinstance(value, dict) else None
        hit = self._systems.get(key) if key is not None else None
        if hit is not None:
            return hit
        series = pd.Series([value], dtype=object)
        names = system_names(series)  # inline spec objects are registered, as in featurize
        codes, uniques = ph.labels(names)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            specs = _spec_columns(codes, list(uniques))
        for w in caught:  # the unknown-system warning, once per plan and name (featurize: once per call)
            warnings.warn(str(w.message), w.category, stacklevel=4)
        if self._sys_names is None:
            self._sys_names = list(specs)
        row = np.array([specs[c][0] if c in specs else np.nan for c in self._sys_names], dtype="float64")
        canonical = _canonical_systems(codes, list(uniques))
        code = self._encode_one("system", canonical[0] if canonical.codes[0] >= 0 else None)
        out = (row, code)
        if key is not None:
            with self._lock:
                if len(self._systems) > _MAX_CACHED:
                    self._systems.clear()
                self._systems[key] = out
        return out

    def _encode_one(self, name: str, value: Any) -> float:
        """One raw value of feature `name` -> its float, by `_apply_schema`'s rules."""
        if is_missing(value):
            return np.nan
        vocab = self._vocab.get(name)
        if vocab is not None:
            text = _canonical_category(value if is_hashable(value) else repr(value))
            return np.nan if text is None else vocab.get(text, UNKNOWN_CODE)
        if isinstance(value, _NUMBER):
            return float(value)
        text = _canonical_category(value if is_hashable(value) else repr(value))
        number = pd.to_numeric(pd.Series([text], dtype=object), errors="coerce").to_numpy(dtype="float64")[0]
        if np.isnan(number):
            raise FeatureSchemaError(
                f"input does not match feature schema {self.schema.version}: {name}: expected numbers, got [{text!r}]"
            )
        return float(number)

    def _encode(self, name: str, values: np.ndarray) -> np.ndarray:
        """Raw values (object array, or numbers for a categorical feature) -> floats, per distinct value."""
        codes, uniques = ph.labels(values)
        table = np.empty(len(uniques) + 1)
        table[-1] = np.nan  # missing
        for i, u in enumerate(uniques):
            table[i] = self._encode_cached(name, u)
        return table[codes]

    def _encode_cached(self, name: str, value: Any) -> float:
        """`_encode_one` through the per-feature cache of distinct values."""
        cache = self._values.get(name)
        if cache is None:
            cache = self._values.setdefault(name, {})
        hashable = is_hashable(value)
        hit = cache.get(value) if hashable else None
        if hit is None:
            hit = self._encode_one(name, value)
            if hashable:
                if len(cache) > _MAX_CACHED:
                    cache.clear()
                cache[value] = hit
        return hit

    # ---- transform ---------------------------------------------------------------------------
    def transform(self, columns: Mapping[str, Any], *, n: int | None = None, dtype: Any = np.float32) -> np.ndarray:
        """Dotted columns (`kernel`, `system`, `params.*`, `problem.*`, `ir.*`; arrays, lists or
        scalars) -> feature matrix, rows × len(schema.names), in `dtype` (float32 for onnxruntime)."""
        rows = _rows(columns, n)
        if rows == 1 and self.one_row:
            row = self._transform_row(columns)
            if row is not None:
                return row.astype(dtype, copy=False)
        if rows > 1 and self.one_row:
            shared = self._transform_shared(columns, rows)
            if shared is not None:
                return shared.astype(dtype, copy=False)
        X = np.full((rows, len(self.names)), np.nan)
        if rows == 0:
            return X.astype(dtype, copy=False)
        data = {name: _as_array(values, rows) for name, values in columns.items() if name not in ("kernel", "system")}
        kernels = _as_array(columns.get("kernel"), rows) if "kernel" in columns else None
        if kernels is None:
            raise FeatureSchemaError("input has no 'kernel' column (every record names its kernel family)")
        k_codes, k_uniques = ph.labels(kernels.astype(object))
        groups = [(-1, "")] if (k_codes < 0).any() else []
        groups += [(code, str(k)) for code, k in enumerate(k_uniques)]
        problems = []
        for _, kernel in groups:
            needed = self.schema.inputs.get(kernel)
            missing = [c for c in needed or () if c not in columns]
            if missing:
                problems.append(f"kernel {kernel!r} lacks input columns {missing}")
        if problems:
            raise FeatureSchemaError(f"input does not match feature schema {self.schema.version}: " + "; ".join(problems))

        specs, system_codes = self._spec_table(columns, rows)
        if "system" in columns and self._spec_js is not None and len(self._spec_js):  # extractor columns of the same name win, as in featurize
            X[:, self._spec_js] = np.column_stack([specs[self._sys_names[i]] for i in self._spec_src])
        table = ColumnTable(data, rows)
        with ph.quiet():
            for code, kernel in groups:
                positions = None if len(groups) == 1 else np.flatnonzero(k_codes == code)
                sub = table if positions is None else table.take(positions)
                sub_specs = specs if positions is None else specs.take(positions)
                extractor = extractor_for(kernel, self.schema)
                result = extractor.extract(sub, sub_specs)
                cols = result if isinstance(result, dict) and all(isinstance(v, np.ndarray) for v in result.values()) \
                    else _to_columns(result, len(sub), type(extractor).__name__)  # fmt: skip
                cols.setdefault(ROOFLINE, np.full(len(sub), np.nan))
                self._put(X, cols, positions, len(sub))
        if any(c.startswith("ir.") for c in data):
            self._put_ir(X, data, rows)
        j = self.index.get("kernel")
        if j is not None:
            X[:, j] = self._encode("kernel", kernels.astype(object))
        if "system" in columns and (j := self.index.get("system")) is not None:
            X[:, j] = system_codes
        return X.astype(dtype, copy=False)

    def _scalar_extractor(self, kernel: str, columns: Mapping[str, Any]) -> Any:
        """The family's extractor if it runs on scalars (`one_row`), else None; the schema's input
        columns of `kernel` must all be present (the column path's rule)."""
        extractor = extractor_for(kernel, self.schema)
        if not getattr(extractor, "one_row", False):
            return None
        missing = [c for c in self.schema.inputs.get(kernel) or () if c not in columns]
        if missing:
            raise FeatureSchemaError(
                f"input does not match feature schema {self.schema.version}: kernel {kernel!r} lacks input columns {missing}"
            )
        return extractor

    def _transform_shared(self, columns: Mapping[str, Any], rows: int) -> np.ndarray | None:
        """Rows of one family whose kernel, system and some fields are one value for every row (a
        rank's problem): those stay scalars through the extractor, so what depends only on them
        (FLOPs, bytes, peaks, dtype labels) is computed once; None where this does not apply."""
        kernel, system = columns.get("kernel"), columns.get("system")
        if type(kernel) is not str or _is_column(system) or isinstance(system, dict):
            return None
        extractor = self._scalar_extractor(kernel, columns)
        if extractor is None:
            return None
        data: dict[str, Any] = {}
        scalars: dict[str, Any] = {}
        for name, values in columns.items():
            if name == "kernel" or name == "system":
                continue
            if name.startswith("ir."):
                return None  # IR text features: featurize's IR path
            if _is_column(values):
                data[name] = _as_array(values, rows)
            else:
                data[name] = scalars[name] = _one_value(values)
        if not scalars:
            return None
        specs, base = self._row_system(None if is_missing(system) else system)
        # column-major: `_put` writes whole columns, contiguous here (a C-order X takes strided
        # writes: 1,000 rows × ~90 columns 96 -> 41 µs, for ~27 µs more in the float32 copy for onnxruntime)
        X = np.empty((rows, len(self.names)), order="F")
        X[:] = base  # the system's spec features and code in every row
        with ph.quiet():
            result = extractor.extract(ColumnTable(data, rows), specs)
        cols = _to_columns(result, rows, type(extractor).__name__)  # scalars (one value for all rows) broadcast
        cols.setdefault(ROOFLINE, np.full(rows, np.nan))
        self._put(X, cols, None, rows)
        index, vocab = self.index, self._vocab
        for name, value in scalars.items():  # the shared params/problem values: encoded once
            if (j := index.get(name)) is not None and name.startswith(GENERIC_SECTIONS) and not is_missing(value):
                X[:, j] = value if type(value) is np.float64 and name not in vocab else self._encode_cached(name, value)
        if (j := index.get("kernel")) is not None:
            X[:, j] = self._encode_cached("kernel", kernel)
        return X

    def _transform_row(self, columns: Mapping[str, Any]) -> np.ndarray | None:
        """One row through the family's extractor on scalars (1 × len(names) float64), or None where
        the row path does not apply (then `transform` takes the column path; same values)."""
        kernel = _one_value(columns["kernel"]) if "kernel" in columns else None
        if type(kernel) is not str:
            return None
        extractor = self._scalar_extractor(kernel, columns)
        if extractor is None:
            return None
        data: dict[str, Any] = {}
        for name, values in columns.items():
            if name == "kernel" or name == "system":
                continue
            if name.startswith("ir."):
                return None  # IR text features: featurize's IR path
            data[name] = _one_value(values)
        system = _one_value(columns["system"]) if "system" in columns else None
        if isinstance(system, dict):
            return None  # an inline spec object: registered by the column path
        if is_missing(system):
            system = None
        specs, base = self._row_system(system)
        X = base.copy()  # NaN, with the system's spec features and code in place
        index, vocab = self.index, self._vocab
        # the record's params/problem values: what generic_columns + _put give a one-row column
        for name, value in data.items():
            if (j := index.get(name)) is not None and name.startswith(GENERIC_SECTIONS):
                if type(value) is np.float64 and name not in vocab:
                    X[j] = value
                elif not is_missing(value):
                    X[j] = self._encode_cached(name, value)
        with ph.quiet():
            result = extractor.extract(ph.Row(data), specs)
        # the result's names are the same every call of a family: their schema positions are cached,
        # and numeric values go into the row in one numpy assignment
        names = tuple(result)
        layout = self._row_layouts.get(kernel)
        if layout is None or layout[0] != names:
            plain = [(i, index[n]) for i, n in enumerate(names) if n in index and n not in vocab]
            coded = [(n, index[n]) for n in names if n in index and n in vocab]
            layout = self._row_layouts[kernel] = (names, np.array([i for i, _ in plain], dtype=np.intp),
                                                  np.array([j for _, j in plain], dtype=np.intp), coded)  # fmt: skip
        try:
            values = np.fromiter(result.values(), np.float64, len(names))
        except (TypeError, ValueError):  # a non-number (text, a column): value by value
            for name, value in result.items():
                if (j := index.get(name)) is not None:
                    if isinstance(value, np.ndarray):
                        value = value[0]
                    X[j] = value if name not in vocab and isinstance(value, _NUMBER) else self._encode_cached(name, value)
        else:
            X[layout[2]] = values[layout[1]]
            for name, j in layout[3]:
                X[j] = self._encode_cached(name, result[name])
        if (j := index.get("kernel")) is not None:
            X[j] = self._encode_cached("kernel", kernel)
        return X[None, :]

    def _row_system(self, system: Any) -> tuple[ph.Row, np.ndarray]:
        """(spec values as a `physics.Row`, a feature row that is NaN but for the system's spec
        features and `system` code) of one system value (None: missing or absent), cached per value."""
        hit = self._row_specs.get(system)
        if hit is not None:
            return hit
        spec_row, code = self._system(system)
        if self._spec_js is None:
            found = [(i, self.index[c]) for i, c in enumerate(self._sys_names or ()) if c in self.index]
            self._spec_src = [i for i, _ in found]
            self._spec_js = np.array([j for _, j in found], dtype=np.int64)
        base = np.full(len(self.names), np.nan)
        base[self._spec_js] = spec_row[self._spec_src]
        if (j := self.index.get("system")) is not None:
            base[j] = code
        out = (ph.Row(dict(zip(self._sys_names or (), spec_row, strict=True))), base)
        with self._lock:
            if len(self._row_specs) > _MAX_CACHED:
                self._row_specs.clear()
            self._row_specs[system] = out
        return out

    def _spec_table(self, columns: Mapping[str, Any], rows: int) -> tuple[ColumnTable, np.ndarray]:
        """`sys.*` columns per row from the cached spec rows of each distinct system, and the
        `system` feature's codes."""
        if "system" not in columns:
            return ColumnTable({}, rows), np.full(rows, np.nan)
        systems = _as_array(columns["system"], rows).astype(object)
        codes, uniques = ph.labels(systems) if not any(isinstance(v, dict) for v in systems[:1]) else _dict_labels(systems)
        looked = [self._system(u) for u in uniques]
        if self._sys_names is None:  # only missing systems: the spec columns of none
            self._system(None)
        if self._spec_js is None:
            found = [(i, self.index[c]) for i, c in enumerate(self._sys_names or ()) if c in self.index]
            self._spec_src = [i for i, _ in found]
            self._spec_js = np.array([j for _, j in found], dtype=np.int64)
        width = len(self._sys_names or ())
        spec_rows = np.vstack([*(r for r, _ in looked), np.full((1, width), np.nan)])[codes]
        system_codes = np.array([c for _, c in looked] + [np.nan])[codes]
        return ColumnTable({name: spec_rows[:, j] for j, name in enumerate(self._sys_names or ())}, rows), system_codes

    def _put(self, X: np.ndarray, cols: Mapping[str, Any], positions: np.ndarray | None, m: int) -> None:
        """Write an extractor's columns into their schema positions (column by column for all rows,
        one block assignment for a subset of rows)."""
        index, vocab = self.index, self._vocab
        js, arrays = [], []
        for name, values in cols.items():
            j = index.get(name)
            if j is None:
                continue
            if isinstance(values, ph.Labels | pd.Categorical):
                codes, cats = ph.labels(values)
                values = np.array(list(cats) + [None], dtype=object)[codes]
            values = values if values.dtype.kind in "fiub" and name not in vocab else self._encode(name, values)
            if positions is None:
                X[:, j] = values
            else:
                js.append(j)
                arrays.append(values)
        if js:
            X[np.ix_(positions, js)] = np.column_stack(arrays).astype("float64", copy=False)

    def _put_ir(self, X: np.ndarray, data: Mapping[str, np.ndarray], rows: int) -> None:
        frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items() if k.startswith("ir.")})
        for name, values in ir_features(frame).items():
            j = self.index.get(name)
            if j is not None:
                X[:, j] = values.to_numpy(dtype="float64", na_value=np.nan)


def _dict_labels(values: np.ndarray) -> tuple[np.ndarray, list]:
    """Inline system objects are not hashable: each row is its own label."""
    return np.arange(len(values), dtype=np.int64), list(values)


def _rows(columns: Mapping[str, Any], n: int | None) -> int:
    lengths = {len(v) for v in columns.values() if type(v) is list or _is_column(v)}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths {sorted(lengths)}")
    if lengths:
        rows = lengths.pop()
        if n is not None and n != rows:
            raise ValueError(f"n={n} but the columns have {rows} rows")
        return rows
    return 1 if n is None else n


def _one_value(values: Any) -> Any:
    """The value of a one-row column as `_as_array` would read it: numbers (bools too) as np.float64,
    text and other objects as they are (an object column is read value by value)."""
    if type(values) is list and len(values) == 1:
        v = values[0]
        if type(v) is int or type(v) is float:
            return np.float64(v)
        if type(v) is str:
            return v
    arr = _as_array(values, 1)
    return np.float64(arr[0]) if arr.dtype.kind in "fiub" else arr[0]


def _is_column(values: Any) -> bool:
    return isinstance(values, np.ndarray | pd.Series | list | tuple)


def _as_array(values: Any, rows: int) -> np.ndarray:
    """One input column as numpy: numbers (bools kept) as a numeric array, anything else object.

    Mirrors pandas' inference for a record column: numbers with gaps (None) become float with NaN,
    text stays text (never '128' -> 128.0), a scalar is broadcast.
    """
    if not _is_column(values):
        if isinstance(values, bool | np.bool_):
            return np.full(rows, bool(values))
        if values is None or isinstance(values, _NUMBER):
            return np.full(rows, np.nan if values is None else float(values))
        out = np.empty(rows, dtype=object)
        out[:] = [values] * rows if not isinstance(values, str) else values
        return out
    if type(values) is list and values:  # the Predictor's case: numpy classifies the elements in C
        try:
            arr = np.array(values)
        except (ValueError, TypeError):  # ragged nested values: the general path below
            arr = None
        if arr is not None and arr.ndim == 1:
            if arr.dtype.kind in "iuf":  # numbers only (bools among numbers are 0/1 either way)
                return arr.astype("float64", copy=False)
            if arr.dtype.kind == "U":  # text (or text and numbers): the values themselves, as objects
                out = np.empty(len(values), dtype=object)
                out[:] = values
                return out
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and (values.dtype.kind in "fiub" or values.dtype == object) and values.ndim == 1:
        return values  # an object column is read value by value, exactly as featurize reads a frame's
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind in "fiub" and arr.ndim == 1:
        return arr
    obj = np.empty(len(values), dtype=object)
    obj[:] = list(values)
    present = [v for v in obj if not is_missing(v)]
    if present and all(isinstance(v, _NUMBER) and not isinstance(v, bool | np.bool_) for v in present):
        return np.array([np.nan if is_missing(v) else float(v) for v in obj], dtype="float64")
    return obj


__all__ = ["FeaturePlan", "compile_plan"]
