"""Pure vectorised physics for GPU kernels: numpy arrays in, numpy arrays out, no per-row Python.

Units are in the names: `_bytes`, `_ms`, `_kb`, `flops`. Inputs may hold NaN (unknown); every
function propagates NaN instead of raising, so a frame with missing fields still featurizes.

The bound used everywhere is `roofline_ms`: the larger of
  * compute: the floating-point work the kernel actually executes (problem padded up to whole
    tiles) on the busiest SM (whole CTAs per SM, i.e. wave quantization), at the SM's share of
    the peak rate of the unit it uses (tensor cores when the dtype uses them, else SIMT);
  * memory: the minimum bytes any kernel must move (each operand read once, the output written
    once) at the DRAM bandwidth.
It is a lower bound for the given tiling (no kernel with these tiles can beat it on that GPU) and
it varies with the config through padding and waves, which is what lets it rank configs a little.
With no tile information it falls back to the problem-only roofline.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd
from perfcast.measurements.schema import is_missing

_F = TypeVar("_F", bound=Callable)


_QUIET = contextvars.ContextVar("perfcast_quiet_numpy", default=False)


class quiet:  # noqa: N801 (used as a function: `with quiet():`)
    """numpy errors ignored for the whole block: the physics functions inside skip their own
    `np.errstate` (~3 µs each, most of a one-row feature call's cost when entered per function).
    A class, not a generator context manager: entering costs ~1 µs instead of ~1.8 µs."""

    __slots__ = ("_errstate", "_token")

    def __enter__(self) -> None:
        if _QUIET.get():  # nested: the outer block already ignores errors
            self._token = None
            return
        self._token = _QUIET.set(True)
        self._errstate = np.errstate(all="ignore")
        self._errstate.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            try:
                self._errstate.__exit__(*exc)
            finally:
                _QUIET.reset(self._token)


def _quiet(fn: _F) -> _F:
    """NaN/inf/overflow in a row give NaN/inf in that row, never a warning or an exception."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _QUIET.get():  # already inside `quiet()`
            return fn(*args, **kwargs)
        with quiet():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

#: Element sizes of the canonical dtypes (bytes).
DTYPE_BYTES: dict[str, float] = {
    "fp64": 8.0,
    "fp32": 4.0,
    "tf32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8e4m3": 1.0,
    "fp8e5m2": 1.0,
    "int8": 1.0,
    "int4": 0.5,
}
#: Dtypes whose matmuls run on tensor cores when the kernel uses them (fp32 only via tf32).
TENSOR_CORE_DTYPES: frozenset[str] = frozenset({"tf32", "fp16", "bf16", "fp8e4m3", "fp8e5m2", "int8", "int4", "fp64"})

_ALIASES = {
    "float64": "fp64", "double": "fp64", "f64": "fp64", "torch.float64": "fp64", "64": "fp64",
    "float32": "fp32", "float": "fp32", "f32": "fp32", "single": "fp32", "torch.float32": "fp32", "32": "fp32",
    "float16": "fp16", "half": "fp16", "f16": "fp16", "torch.float16": "fp16", "16": "fp16",
    "bfloat16": "bf16", "torch.bfloat16": "bf16",
    "float8_e4m3fn": "fp8e4m3", "torch.float8_e4m3fn": "fp8e4m3", "fp8": "fp8e4m3", "e4m3": "fp8e4m3",
    "float8_e5m2": "fp8e5m2", "torch.float8_e5m2": "fp8e5m2", "e5m2": "fp8e5m2",
    "torch.int8": "int8", "i8": "int8", "s8": "int8",
}


def canonical_dtype(name: object) -> str | None:
    """A dtype spelling (`torch.float16`, `half`, `fp16`, 32) -> canonical name, or None if unknown."""
    if name is None:
        return None
    if isinstance(name, float):
        if np.isnan(name):
            return None
        if name.is_integer():
            name = int(name)
    key = str(name).strip().lower()
    if key in DTYPE_BYTES:
        return key
    return _ALIASES.get(key)


# ---- one definition for arrays and for one row ------------------------------------------------------
# Every formula below runs on float64 arrays (a frame's rows) or on float64 *scalars* (one record: the
# compiled plan's one-row path, `Row`). numpy's per-call floor is ~0.3-1.2 µs per ufunc on a 1-element
# array but ~30 ns for arithmetic on np.float64 scalars, so the same code with scalars is ~10x faster
# for one row. The few operations that are not plain arithmetic go through the helpers below, which
# take numpy's path for arrays and an exactly equivalent scalar path otherwise (np.float64 keeps IEEE
# semantics: x / 0 is inf/NaN under `quiet()`, never ZeroDivisionError).


_NAN = np.float64(np.nan)


def _f(x: object) -> np.ndarray:
    """float64 array, or np.float64 for a scalar (one row)."""
    if type(x) is np.float64 or type(x) is np.ndarray and x.dtype == np.float64:
        return x  # type: ignore[return-value]
    if isinstance(x, int | float | np.number | np.bool_):
        return np.float64(x)  # type: ignore[return-value]
    return np.asarray(x, dtype=np.float64)


def is_row(x: object) -> bool:
    """True for one row's scalar value (not an array)."""
    return type(x) is not np.ndarray


def where(cond: object, a: object, b: object) -> np.ndarray:
    """np.where, or `a if cond else b` when nothing is an array (~1.3 µs -> ~0.1 µs)."""
    if type(cond) is np.ndarray or type(a) is np.ndarray or type(b) is np.ndarray:
        return np.where(cond, a, b)
    return a if cond else b  # type: ignore[return-value]


def isnan(x: object) -> np.ndarray:
    """np.isnan; a scalar's `x != x`."""
    return np.isnan(x) if type(x) is np.ndarray else x != x  # type: ignore[return-value]


def fmax(a: object, b: object) -> np.ndarray:
    """np.fmax (NaN-ignoring maximum); the same rule on scalars."""
    if type(a) is np.ndarray or type(b) is np.ndarray:
        return np.fmax(a, b)
    if a != a:  # noqa: PLR0124 (NaN test)
        return b  # type: ignore[return-value]
    if b != b:  # noqa: PLR0124
        return a  # type: ignore[return-value]
    return a if a >= b else b  # type: ignore[return-value, operator]


def fmin(a: object, b: object) -> np.ndarray:
    """np.fmin (NaN-ignoring minimum); the same rule on scalars."""
    if type(a) is np.ndarray or type(b) is np.ndarray:
        return np.fmin(a, b)
    if a != a:  # noqa: PLR0124
        return b  # type: ignore[return-value]
    if b != b:  # noqa: PLR0124
        return a  # type: ignore[return-value]
    return a if a <= b else b  # type: ignore[return-value, operator]


def as_float(mask: object) -> np.ndarray:
    """A bool array (or one bool) as 0.0/1.0."""
    if type(mask) is np.ndarray:
        return mask.astype("float64")
    return np.float64(1.0 if mask else 0.0)  # type: ignore[return-value]


def nan_to_num(x: object) -> np.ndarray:
    """np.nan_to_num (NaN -> 0, ±inf -> the largest finite float); the same rule on scalars."""
    if type(x) is np.ndarray:
        return np.nan_to_num(x)
    if x != x:  # noqa: PLR0124
        return np.float64(0.0)  # type: ignore[return-value]
    if x == np.inf or x == -np.inf:
        return np.nan_to_num(np.float64(x))  # type: ignore[return-value]
    return x  # type: ignore[return-value]


def full_like(x: object, value: float) -> np.ndarray:
    """`value` for every row of `x` (an array of len(x), or one np.float64 for a row)."""
    if type(x) is np.ndarray:
        return np.full(len(x), value, dtype="float64")
    return np.float64(value)  # type: ignore[return-value]


class Row(dict):
    """One record's input values, read like a table (`columns`, `row[name]`, `name in row`,
    `len(row) == 1` row): the compiled plan's one-row input. The extractors' column helpers
    (`features.matmul.col`, ...) return scalars for it, so the physics runs on np.float64 scalars
    instead of 1-element arrays. A dict underneath: lookups are C-level, no Python call each."""

    __slots__ = ("derived",)

    def __init__(self, data: dict[str, object]):
        super().__init__(data)
        self.derived: dict[str, object] = {}  # values derived from a cached row (a system's peak table)

    @property
    def columns(self):  # noqa: ANN201 (a keys view: membership is one hash lookup)
        return self.keys()

    def __len__(self) -> int:  # rows, as a table's len (the fields are `columns`)
        return 1


def ceil_div(a: object, b: object) -> np.ndarray:
    """ceil(a / b) for float arrays (NaN where b <= 0 or either is NaN)."""
    if type(a) is np.float64 and type(b) is np.float64 and _QUIET.get():  # one row, inside quiet()
        return np.ceil(a / b) if b > 0 else _NAN
    return _ceil_div(a, b)


@_quiet
def _ceil_div(a: object, b: object) -> np.ndarray:
    a, b = _f(a), _f(b)
    out = np.ceil(a / b)  # errors are ignored by @_quiet
    return where(b > 0, out, np.nan)


def safe_div(a: object, b: object) -> np.ndarray:
    """a / b with NaN (not inf, not a warning) where b is 0 or NaN."""
    if type(a) is np.float64 and type(b) is np.float64 and _QUIET.get():  # one row, inside quiet()
        return a / b if b != 0 else _NAN
    return _safe_div(a, b)


@_quiet
def _safe_div(a: object, b: object) -> np.ndarray:
    a, b = _f(a), _f(b)
    out = a / b  # errors are ignored by @_quiet
    return where(b != 0, out, np.nan)


@_quiet
def matmul_flops(m: object, n: object, k: object) -> np.ndarray:
    """2·M·N·K (one multiply and one add per inner-product term)."""
    return 2.0 * _f(m) * _f(n) * _f(k)


@_quiet
def matmul_min_bytes(m: object, n: object, k: object, in_bytes: object, out_bytes: object) -> np.ndarray:
    """Compulsory traffic: read A (M×K) and B (K×N) once, write C (M×N) once."""
    m, n, k = _f(m), _f(n), _f(k)
    return (m * k + k * n) * _f(in_bytes) + m * n * _f(out_bytes)


@_quiet
def roofline_time_ms(flops: object, bytes_moved: object, peak_tflops: object, mem_bw_gbs: object) -> np.ndarray:
    """max(flops / peak, bytes / bandwidth) in milliseconds; NaN if either rate is unknown."""
    compute_ms = safe_div(flops, _f(peak_tflops) * 1e12) * 1e3
    memory_ms = safe_div(bytes_moved, _f(mem_bw_gbs) * 1e9) * 1e3
    return fmax(compute_ms, memory_ms) * where(isnan(compute_ms) | isnan(memory_ms), np.nan, 1.0)


def bound_terms(flops: object, min_bytes: object, peak_tflops: object, mem_bw_gbs: object) -> dict[str, np.ndarray]:
    """The bound's terms every physics extractor reports: FLOPs, compulsory bytes, their ratio, the peak
    used, and the time of each at the peak and at the DRAM bandwidth (ms)."""
    return {
        "phys.flops": flops,
        "phys.min_bytes": min_bytes,
        "phys.arith_intensity": safe_div(flops, min_bytes),
        "phys.peak_tflops": peak_tflops,
        "phys.compute_ms": safe_div(flops, peak_tflops * 1e12) * 1e3,
        "phys.memory_ms": safe_div(min_bytes, mem_bw_gbs * 1e9) * 1e3,
    }


@_quiet
def padded(size: object, tile: object) -> np.ndarray:
    """size rounded up to a whole number of tiles."""
    return ceil_div(size, tile) * _f(tile)


@_quiet
def padding_waste(size: object, tile: object) -> np.ndarray:
    """Fraction of the padded extent that is padding: 1 - size / (ceil(size/tile)·tile)."""
    return 1.0 - safe_div(size, padded(size, tile))


@_quiet
def wave_stats(ctas: object, slots: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Waves of `ctas` over `slots` concurrent CTA slots: (waves, ceil(waves), efficiency).

    Efficiency = ctas / (ceil(waves)·slots): the fraction of slot-time in busy waves doing work.
    """
    waves = safe_div(ctas, slots)
    waves_ceil = np.ceil(waves)  # on np.float64 too (~0.1 µs): exactly numpy's rounding
    eff = safe_div(ctas, waves_ceil * _f(slots))
    return waves, waves_ceil, eff


@_quiet
def ctas_per_sm(
    threads_per_cta: object,
    smem_per_cta_bytes: object,
    regs_per_thread: object,
    max_threads_per_sm: object,
    smem_per_sm_kb: object,
    regs_per_sm: object,
    max_ctas_per_sm: object,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Resident CTAs per SM from each limit: (by threads, by shared memory, by registers, overall).

    A NaN limit (spec or config unknown) does not constrain the overall value; 0 means it does not fit.
    """
    threads = _f(threads_per_cta)
    by_threads = np.floor(safe_div(max_threads_per_sm, threads))
    smem = _f(smem_per_cta_bytes)
    smem_per_sm = _f(smem_per_sm_kb)
    by_smem = where(smem > 0, np.floor(safe_div(smem_per_sm * 1024.0, smem)), np.inf)
    by_smem = where(isnan(smem_per_sm) | isnan(smem), np.nan, by_smem)
    # registers are allocated per warp in units of 256: approximate by rounding regs/thread up to 8
    regs = np.ceil(_f(regs_per_thread) / 8.0) * 8.0
    by_regs = np.floor(safe_div(regs_per_sm, regs * threads))
    # the smallest known limit (fmin ignores NaN = unknown); none known, or an infinite one -> NaN
    overall = fmin(fmin(fmin(by_threads, by_smem), by_regs), _f(max_ctas_per_sm))
    overall = where((overall == np.inf) | (overall == -np.inf), np.nan, overall)
    if type(overall) is np.ndarray and overall.shape != np.shape(by_threads):
        overall = np.broadcast_to(overall, np.shape(by_threads)).copy()
    return by_threads, by_smem, by_regs, overall


@_quiet
def wave_dram_bytes(
    ctas: object, slots: object, tiles_m: object, tiles_n: object, band_m: object,
    tile_m: object, tile_n: object, k_padded: object, in_bytes: object,
) -> np.ndarray:
    """Operand bytes read from DRAM if L2 holds what one wave of CTAs shares (A and B panels).

    CTAs launch M-fastest in bands of `band_m` tile rows (Triton's GROUP_M; the whole M extent for
    a plain 2-D grid). One wave of min(slots, ctas) CTAs covers about r × c tiles, reading r A panels
    (tile_m × K) and c B panels (K × tile_n) once; every wave reads its own panels again.
    """
    ctas, slots = _f(ctas), _f(slots)
    tiles_m, tiles_n = _f(tiles_m), _f(tiles_n)
    wave = fmin(where(slots > 0, slots, 1.0), ctas)
    rows = fmin(tiles_m, fmax(_f(band_m), 1.0))
    spills_band = wave > rows * tiles_n
    rows = where(spills_band, fmin(tiles_m, np.ceil(wave / tiles_n)), rows)
    cols = where(spills_band, tiles_n, fmin(tiles_n, np.ceil(wave / rows)))
    waves = np.ceil(ctas / wave)
    per_wave = (rows * _f(tile_m) + cols * _f(tile_n)) * _f(k_padded) * _f(in_bytes)
    return waves * per_wave


@_quiet
def tiled_compute_ms(
    ctas: object, flops_per_cta: object, sm_count: object, peak_tflops: object
) -> np.ndarray:
    """Compute-bound time with whole CTAs per SM: the busiest SM runs ceil(ctas/SMs) CTAs at peak/SMs."""
    per_sm_tflops = safe_div(peak_tflops, sm_count)
    busiest = ceil_div(ctas, sm_count) * _f(flops_per_cta)
    return safe_div(busiest, per_sm_tflops * 1e12) * 1e3


class Labels:
    """Per-row string labels as integer codes into `categories` (-1 = missing): the numpy-only
    stand-in for a `pd.Categorical` inside the physics (building a Categorical costs ~50 µs, which
    is most of a one-row feature call). Supports what the extractors use: `codes`, `categories`,
    `== label` (bool array) and `len`."""

    __slots__ = ("categories", "codes")

    def __init__(self, codes: np.ndarray, categories: list[str]):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.categories = list(categories)

    def __len__(self) -> int:
        return len(self.codes)

    def __eq__(self, other: object) -> np.ndarray:  # type: ignore[override]
        if other not in self.categories:
            return np.zeros(len(self.codes), dtype=bool)
        return self.codes == self.categories.index(other)

    __hash__ = None  # type: ignore[assignment]


#: Up to this many values, `labels` hashes in a Python dict (no pandas call: ~1 µs per value).
_SMALL_LABELS = 32


def _small_labels(values: np.ndarray | list) -> tuple[np.ndarray, list] | None:
    """pd.factorize's (codes, uniques) for a few values, or None where a value is unhashable."""
    index: dict = {}
    codes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if is_missing(v):
            codes[i] = -1
            continue
        try:
            codes[i] = index.setdefault(v, len(index))
        except TypeError:
            return None
    return codes, list(index)


def labels(values: object) -> tuple[np.ndarray, list]:
    """(codes, uniques) of per-row labels: a Categorical's own codes, else one hash pass (-1 = missing)."""
    if isinstance(values, Labels):
        return values.codes, values.categories
    if isinstance(values, pd.Categorical):
        return values.codes.astype(np.int64), list(values.categories)
    if isinstance(values, np.ndarray) and values.dtype == object:
        if len(values) <= _SMALL_LABELS:
            small = _small_labels(values)
            if small is not None:
                return small
        elif isinstance(first := values[0], str) and values[-1] == first and bool((values == first).all()):
            # one label for every row (a rank's problem fields): one comparison pass, no hash table
            return np.zeros(len(values), dtype=np.int64), [first]
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object), dtype=object)
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): label them by their text
        codes, uniques = pd.factorize(series.map(lambda v: repr(v) if isinstance(v, list | dict | set) else v))
    return codes, list(uniques)


def per_label(values: object, fn: Callable, dtype: str = "float64", missing: object = np.nan) -> np.ndarray:
    """fn applied to each distinct label, broadcast back to the rows (missing -> `missing`)."""
    if is_label(values):  # one row's label
        value = missing if is_missing(values) else fn(values)
        return np.float64(value) if dtype == "float64" else np.array(value, dtype=dtype)[()]
    codes, uniques = labels(values)
    table = np.array([fn(u) for u in uniques] + [missing], dtype=dtype)
    return table[codes]


def is_label(values: object) -> bool:
    """True for one row's label (a str, None or other scalar), not per-row labels."""
    return type(values) is str or not isinstance(values, Labels | pd.Categorical | np.ndarray | pd.Series | list)


def pick_peak(table: dict[str, np.ndarray], dtype: object, unit: object) -> np.ndarray:
    """Per-row peak TFLOP/s from spec columns `sys.peak_tflops.<dtype>.<unit>`.

    `table` maps column name -> array (one value per row); `dtype`/`unit` are per-row labels
    (Categorical or array). A missing tensor peak falls back to the SIMT peak of the same dtype and
    tf32 to fp32 SIMT (the kernel then cannot beat SIMT); NaN if nothing applies.
    """
    if is_label(dtype) != is_label(unit):  # one shared label beside per-row labels: broadcast it
        n = len(labels(unit if is_label(dtype) else dtype)[0])
        if is_label(dtype):
            dtype = Labels(np.full(n, -1 if is_missing(dtype) else 0, dtype=np.int64), [] if is_missing(dtype) else [dtype])
        else:
            unit = Labels(np.full(n, -1 if is_missing(unit) else 0, dtype=np.int64), [] if is_missing(unit) else [unit])
    if is_label(dtype) and is_label(unit):  # one row (or shared by all rows): plain labels
        if is_missing(dtype) or is_missing(unit):
            return np.float64(np.nan)
        peak = np.float64(np.nan)
        for col in _peak_columns(str(dtype), str(unit)):
            if col in table and peak != peak:  # noqa: PLR0124 (first known one)
                peak = _f(table[col])
        return peak
    d_codes, d_uniques = labels(dtype)
    u_codes, u_uniques = labels(unit)
    n = len(d_codes)
    out = np.full(n, np.nan)
    width = max(len(u_uniques), 1)
    pair_codes = np.where((d_codes >= 0) & (u_codes >= 0), d_codes * width + u_codes, -1)
    for code in np.unique(pair_codes):
        if code < 0:
            continue
        d, u = str(d_uniques[code // width]), str(u_uniques[code % width])
        rows = pair_codes == code
        value = np.full(int(rows.sum()), np.nan)
        for col in _peak_columns(d, u):
            if col in table:
                spec = _f(table[col])  # per row, or one system's value for all rows
                value = np.where(np.isnan(value), spec[rows] if type(spec) is np.ndarray else spec, value)
        out[rows] = value
    return out


def _peak_columns(d: str, u: str) -> list[str]:
    """Spec columns to read a (dtype, unit) peak from, first known one wins."""
    candidates = [f"sys.peak_tflops.{d}.{u}", f"sys.peak_tflops.{d}.simt"]
    if d == "tf32":
        candidates.append("sys.peak_tflops.fp32.simt")
    return candidates
