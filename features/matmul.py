"""Matmul-like families: per-family params -> tiles -> shared physics (`matmul_physics`).

Every family maps its own parameters onto one tile description (block tile BM×BN×BK, threads per
CTA, pipeline stages, shared memory per CTA, registers per thread, SIMT or tensor cores) and gets
the same physics columns: FLOPs, minimum bytes, arithmetic intensity, `roofline_ms`, CTA counts,
waves and wave efficiency, padding waste, shared memory and whether it fits, an occupancy estimate.
Family extractors add their own derived params (per-thread work, vector widths, ...).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from perfcast.features import physics as ph
from perfcast.features.registry import Columns, ColumnTable, Extractor, generic_columns, register_extractor
from perfcast.measurements.schema import is_missing as _missing

#: Default registers per SM / max resident CTAs when a spec lacks them (every NVIDIA GPU since Kepler).
_DEFAULT_REGS_PER_SM = 65536.0
_DEFAULT_MAX_CTAS_PER_SM = 16.0
_REG_LIMIT_PER_THREAD = 255.0
#: Kepler GK10x (compute capability 3.0/3.2, e.g. the GTX 680 of SGEMM UCI) addresses only 63.
_REG_LIMIT_PER_THREAD_CC30 = 63.0
#: Label of a dtype a record does not give (or spells in a way we do not know): its bytes and peak
#: are NaN, so `roofline_ms` is NaN rather than a guess.
UNKNOWN_DTYPE = "unknown"


# ---- column helpers -----------------------------------------------------------------------------
#: A frame's rows, the plan's numpy columns, or one record (`physics.Row`: every helper below then
#: returns scalars, and the physics runs on np.float64 scalars; see `physics.where`).
Table = pd.DataFrame | ColumnTable | ph.Row
_NUMBERS = (int, float, np.integer, np.floating, np.bool_)
_NAN = np.float64(np.nan)


def const(frame: Table, value: float) -> np.ndarray:
    """`value` for every row of `frame` (one np.float64 for a `Row`)."""
    if isinstance(frame, ph.Row):
        return np.float64(value)  # type: ignore[return-value]
    return np.full(len(frame), value, dtype="float64")


def col(frame: Table, *names: str, default: float = np.nan) -> np.ndarray:
    """First present column among `names` as float64 (non-numbers -> NaN), else `default`."""
    if type(frame) is ph.Row:  # one record: the same rule on its np.float64 values, no array helpers
        value = _NAN
        for name in names:
            if name in frame and value != value:  # noqa: PLR0124 (the first present value that is not NaN)
                value = frame[name]
                if type(value) is not np.float64:
                    value = _numeric(value)
        return np.float64(default) if value != value and default == default else value  # noqa: PLR0124
    out = None
    for name in names:
        if name in frame:  # a DataFrame's, ColumnTable's or Row's column
            values = _numeric(frame[name])
            out = values if out is None else ph.where(ph.isnan(out), values, out)
    if out is None:
        return const(frame, default)
    if default == default:  # not NaN
        out = ph.where(ph.isnan(out), np.float64(default), out)
    return out


def _numeric(series: pd.Series | np.ndarray) -> np.ndarray:
    """float64 values; anything that is not a number (text, lists, ...) -> NaN."""
    if type(series) is np.float64:  # one row's number (the plan's Row holds numbers as np.float64)
        return series
    if not isinstance(series, np.ndarray | pd.Series):  # one row's value
        if isinstance(series, _NUMBERS):
            return np.float64(series)  # type: ignore[return-value]
        if _missing(series):
            return np.float64(np.nan)  # type: ignore[return-value]
        one = np.empty(1, dtype=object)
        one[0] = series
        return _numeric(one)[0]  # text etc.: the column rule on a 1-element column
    if isinstance(series, np.ndarray):
        if series.dtype.kind in "fiub":
            return series.astype("float64", copy=False)
        series = pd.Series(series, dtype=object)
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    try:
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    except TypeError:  # unhashable or odd objects
        return ph.per_label(series, lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan)


def text_col(frame: Table, *names: str) -> pd.Series | np.ndarray:
    """First present column among `names` (later ones fill its gaps); all-missing if none.

    A Series from a DataFrame, an object array from a `ColumnTable` (no pandas on the plan's path).
    """
    if type(frame) is ph.Row:  # one record: its first present value that is not missing
        for name in names:
            if not _missing(value := frame.get(name)):
                return value
        return None
    present = [name for name in names if name in frame]
    if isinstance(frame, ph.Row) or (
        isinstance(frame, ColumnTable) and present and not any(type(frame[name]) is np.ndarray for name in present)
    ):  # one record, or a value shared by every row (the plan keeps it a scalar): the first present
        for name in present:
            if not _missing(value := frame[name]):
                return value
        return None
    if isinstance(frame, ColumnTable):
        if not present:  # missing on every row: one missing value where the table shares scalars
            return None if _shares_scalars(frame) else np.full(len(frame), None, dtype=object)

        def column(name: str) -> np.ndarray:
            values = frame[name]
            if type(values) is np.ndarray:
                return values.astype(object)
            out = np.empty(len(frame), dtype=object)  # a shared scalar beside per-row columns
            out[:] = [values] * len(frame)
            return out

        out = column(present[0])
        for name in present[1:]:
            gaps = np.array([_missing(v) for v in out], dtype=bool)
            if gaps.any():
                out = np.where(gaps, column(name), out)
        return out
    if not present:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    out = frame[present[0]]
    for name in present[1:]:
        out = out.astype(object).where(out.notna(), frame[name].astype(object))
    return out


def _shares_scalars(frame: ColumnTable) -> bool:
    """Whether some column of the plan's table is one scalar shared by every row (`FeaturePlan`
    keeps them scalars only for extractors that take them, `one_row = True`)."""
    return any(type(frame[c]) is not np.ndarray for c in frame.columns)


def _series(values: pd.Series | np.ndarray, index: pd.Index | None = None) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(values, index=index, dtype=object)


def spec(specs: Table, name: str, default: float = np.nan) -> np.ndarray:
    """One `sys.*` column as float64 per row (default where absent)."""
    if name in specs:
        values = specs[name]
        if type(values) is np.float64:  # one system's spec (the plan's Row)
            return np.float64(default) if values != values and default == default else values  # noqa: PLR0124
        if isinstance(values, pd.Series):
            values = values.to_numpy(dtype="float64", na_value=np.nan)
        return ph.where(ph.isnan(values), np.float64(default), values) if default == default else values
    return const(specs, default)


def canonical_dtypes(values: pd.Series | np.ndarray, default: str = "fp32") -> ph.Labels:
    """Per-row canonical dtype names (unknown spellings and missing -> `default`) as labels."""
    if ph.is_label(values):  # one record's value
        return default if _missing(values) else (ph.canonical_dtype(values) or default)  # type: ignore[return-value]
    codes, uniques = ph.labels(values)
    names = [ph.canonical_dtype(u) or default for u in uniques] + [default]
    categories = sorted(set(names))
    remap = np.array([categories.index(name) for name in names], dtype=np.int64)
    return ph.Labels(remap[codes], categories)


def constant_labels(value: str, frame: Table) -> ph.Labels:
    """One label for every row of `frame` (a dtype or unit every row of a family shares)."""
    if isinstance(frame, ph.Row):
        return value  # type: ignore[return-value]
    return ph.Labels(np.zeros(len(frame), dtype=np.int64), [value])  # a Labels column (pick_peak broadcasts)


_TRUE_TEXT = frozenset({"true", "1", "yes", "y", "on", "tf32", "float_32"})


def _truthy(value: object) -> bool:
    """One present value of a bool-ish column."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return bool(value) and not np.isnan(float(value))
    return str(value).strip().lower() in _TRUE_TEXT


def truthy(values: pd.Series | np.ndarray) -> np.ndarray:
    """Bool-ish column (True, 1, "true", "yes", "tf32") -> bool array; missing/other -> False."""
    if ph.is_label(values):  # one record's value
        return False if _missing(values) else _truthy(values)  # type: ignore[return-value]
    codes, uniques = ph.labels(values)
    mapped = np.array([_truthy(u) for u in uniques] + [False], dtype=bool)
    return mapped[codes]


def peak_table(specs: Table) -> dict[str, np.ndarray]:
    if isinstance(specs, ph.Row):  # one system's spec row (the plan caches it): its peaks once
        peaks = specs.derived.get("peaks")
        if peaks is None:
            peaks = specs.derived["peaks"] = {c: specs[c] for c in specs.columns if c.startswith("sys.peak_tflops.")}
        return peaks
    if isinstance(specs, ColumnTable):
        return {c: specs[c] for c in specs.columns if c.startswith("sys.peak_tflops.")}
    return {c: specs[c].to_numpy(dtype="float64", na_value=np.nan) for c in specs.columns if c.startswith("sys.peak_tflops.")}


# ---- shared physics ---------------------------------------------------------------------------------
def matmul_physics(
    m: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    *,
    dtype: ph.Labels | pd.Categorical | np.ndarray,
    unit: ph.Labels | pd.Categorical | np.ndarray,
    specs: Table,
    out_dtype: ph.Labels | pd.Categorical | np.ndarray | None = None,
    bm: np.ndarray | None = None,
    bn: np.ndarray | None = None,
    bk: np.ndarray | None = None,
    threads: np.ndarray | None = None,
    stages: np.ndarray | None = None,
    smem_bytes: np.ndarray | None = None,
    regs_per_thread: np.ndarray | None = None,
    batch: np.ndarray | None = None,
    band_m: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Physics columns of a (batched) GEMM C[M,N] = A[M,K]·B[K,N] on each row's system.

    Tile arguments left as None mean "not known for this family": those columns are NaN and
    `roofline_ms` is the problem-only bound. `band_m` is how many tile rows the launch order walks
    before the next tile column (Triton's GROUP_M; default the whole M extent, a plain 2-D grid).
    """
    nan = ph.full_like(m, np.nan)
    batch = ph.full_like(m, 1.0) if batch is None else ph.where(ph.isnan(batch), 1.0, batch)
    in_bytes = _bytes_of(dtype)
    out_bytes = in_bytes if out_dtype is None else _bytes_of(out_dtype)
    flops = ph.matmul_flops(m, n, k) * batch
    min_bytes = ph.matmul_min_bytes(m, n, k, in_bytes, out_bytes) * batch
    peak = ph.pick_peak(peak_table(specs), dtype, unit)
    bw = spec(specs, "sys.mem_bw_gbs")
    sm_count = spec(specs, "sys.sm_count")
    f: dict[str, np.ndarray] = {
        **ph.bound_terms(flops, min_bytes, peak, bw),
        "phys.in_bytes": in_bytes,
        "phys.tensor_core": ph.as_float(unit == "tensor"),
        "phys.ridge_intensity": ph.safe_div(peak * 1e12, bw * 1e9),
        "phys.log2_flops": np.log2(ph.where(flops > 0, flops, np.nan)),
        "phys.problem_roofline_ms": ph.roofline_time_ms(flops, min_bytes, peak, bw),
    }
    if bm is None or bn is None:
        f["roofline_ms"] = f["phys.problem_roofline_ms"]
        f["phys.estimate_ms"] = f["roofline_ms"]
        return f
    bk = nan if bk is None else bk
    threads = nan if threads is None else threads
    tiles_m, tiles_n = ph.ceil_div(m, bm), ph.ceil_div(n, bn)
    ctas = tiles_m * tiles_n * batch
    k_steps = ph.ceil_div(k, bk)
    kp = ph.where(ph.isnan(bk), k, k_steps * bk)
    padded_flops = 2.0 * (tiles_m * bm) * (tiles_n * bn) * kp * batch
    flops_per_cta = 2.0 * bm * bn * kp
    # occupancy: resident CTAs per SM from threads, shared memory and registers
    _, by_smem, by_regs, per_sm = ph.ctas_per_sm(
        threads,
        nan if smem_bytes is None else smem_bytes,
        nan if regs_per_thread is None else regs_per_thread,
        spec(specs, "sys.max_threads_per_sm"),
        spec(specs, "sys.smem_per_sm_kb"),
        spec(specs, "sys.regs_per_sm", _DEFAULT_REGS_PER_SM),
        spec(specs, "sys.max_blocks_per_sm", _DEFAULT_MAX_CTAS_PER_SM),
    )
    slots = sm_count * per_sm
    waves, waves_ceil, wave_eff = ph.wave_stats(ctas, slots)
    sm_waves, sm_waves_ceil, sm_wave_eff = ph.wave_stats(ctas, sm_count)
    tiled_compute = ph.tiled_compute_ms(ctas, flops_per_cta, sm_count, peak)
    # global-load traffic with no reuse between CTAs (each CTA streams its A and B panels)
    tile_bytes = ctas * (bm + bn) * kp * in_bytes + m * n * out_bytes * batch
    # DRAM traffic if L2 keeps what one wave shares (never below the compulsory bytes)
    dram_bytes = ph.fmax(
        ph.wave_dram_bytes(ctas, slots, tiles_m, tiles_n * batch, tiles_m if band_m is None else band_m,
                           bm, bn, kp, in_bytes) + m * n * out_bytes * batch,
        min_bytes,
    )
    roofline = ph.fmax(tiled_compute, f["phys.memory_ms"])
    roofline = ph.where(ph.isnan(tiled_compute), f["phys.problem_roofline_ms"], roofline)
    smem_limit = spec(specs, "sys.smem_per_block_kb") * 1024.0
    warp = spec(specs, "sys.warp_size", 32.0)
    max_threads = spec(specs, "sys.max_threads_per_sm")
    reg_limit = register_limit_per_thread(specs)
    # registers beyond the per-thread limit live in local memory: stored and reloaded once per K step
    spill_regs = ph.fmax((nan if regs_per_thread is None else regs_per_thread) - reg_limit, 0.0)
    spill_bytes = ctas * threads * spill_regs * 4.0 * 2.0 * ph.where(ph.isnan(k_steps), 1.0, k_steps)
    f.update(
        {
            "phys.tile_m": bm,
            "phys.tile_n": bn,
            "phys.tile_k": bk,
            "phys.tile_mn": bm * bn,
            "phys.tile_aspect": np.log2(ph.safe_div(bm, bn)),
            "phys.tiles_m": tiles_m,
            "phys.tiles_n": tiles_n,
            "phys.ctas": ctas,
            "phys.k_steps": k_steps,
            "phys.threads_per_cta": threads,
            "phys.warps_per_cta": ph.safe_div(threads, warp),
            "phys.outputs_per_thread": ph.safe_div(bm * bn, threads),
            "phys.pad_waste_m": ph.padding_waste(m, bm),
            "phys.pad_waste_n": ph.padding_waste(n, bn),
            "phys.pad_waste_k": ph.padding_waste(k, bk),
            "phys.pad_waste": 1.0 - ph.safe_div(flops, padded_flops),
            "phys.padded_flops": padded_flops,
            "phys.flops_per_cta": flops_per_cta,
            "phys.cta_intensity": ph.safe_div(bm * bn, (bm + bn) * in_bytes),
            "phys.tile_traffic_bytes": tile_bytes,
            "phys.tile_traffic_ms": ph.safe_div(tile_bytes, bw * 1e9) * 1e3,
            "phys.dram_traffic_bytes": dram_bytes,
            "phys.dram_traffic_ms": ph.safe_div(dram_bytes, bw * 1e9) * 1e3,
            "phys.l2_reuse": ph.safe_div(tile_bytes, dram_bytes),
            "phys.smem_per_cta_kb": (nan if smem_bytes is None else smem_bytes) / 1024.0,
            "phys.smem_fits": ph.where(
                ph.isnan(smem_limit) | (nan if smem_bytes is None else ph.isnan(smem_bytes)),
                np.nan,
                ph.as_float((nan if smem_bytes is None else smem_bytes) <= smem_limit),
            ),
            "phys.stages": nan if stages is None else stages,
            "phys.regs_per_thread_est": nan if regs_per_thread is None else regs_per_thread,
            "phys.reg_limit_per_thread": reg_limit,
            "phys.reg_spill_est": spill_regs,
            "phys.ctas_per_sm_smem": by_smem,
            "phys.ctas_per_sm_regs": by_regs,
            "phys.ctas_per_sm": per_sm,
            "phys.occupancy": ph.safe_div(per_sm * threads, max_threads),
            "phys.threads_fit": ph.where(ph.isnan(threads), np.nan, ph.as_float(threads <= 1024)),
            "phys.waves": waves,
            "phys.waves_ceil": waves_ceil,
            "phys.wave_efficiency": wave_eff,
            "phys.sm_waves": sm_waves,
            "phys.sm_waves_ceil": sm_waves_ceil,
            "phys.sm_wave_efficiency": sm_wave_eff,
            "phys.tiled_compute_ms": tiled_compute,
            "roofline_ms": roofline,
            # not a bound: compute, no-reuse tile traffic and register spills back to back (see README)
            "phys.spill_bytes_est": spill_bytes,
            "phys.estimate_ms": roofline + ph.nan_to_num(ph.safe_div(tile_bytes + ph.nan_to_num(spill_bytes), bw * 1e9) * 1e3),
        }
    )
    return f


def register_limit_per_thread(specs: Table) -> np.ndarray:
    """Registers one thread can address: 255 since compute capability 3.5, 63 on cc 3.0/3.2."""
    cc = spec(specs, "sys.compute_capability")
    return ph.where(cc < 3.5, _REG_LIMIT_PER_THREAD_CC30, _REG_LIMIT_PER_THREAD)


def _bytes_of(dtype: object) -> np.ndarray:
    return ph.per_label(dtype, lambda d: ph.DTYPE_BYTES.get(str(d), np.nan))


def _unit_for(dtype: object, tensor_capable: bool | np.ndarray) -> ph.Labels:
    """'tensor' where the kernel can use tensor cores and the dtype is one they take, else 'simt'."""
    takes_tc = ph.per_label(dtype, lambda d: str(d) in ph.TENSOR_CORE_DTYPES, dtype="bool", missing=False)
    if ph.is_label(dtype):  # one record
        return "tensor" if takes_tc and bool(tensor_capable) else "simt"  # type: ignore[return-value]
    tc = takes_tc & np.asarray(tensor_capable, dtype=bool)
    return ph.Labels(tc.astype(np.int64), ["simt", "tensor"])


def problem_mnk(frame: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m = col(frame, "problem.M", "problem.m")
    n = col(frame, "problem.N", "problem.n")
    k = col(frame, "problem.K", "problem.k")
    batch = col(frame, "problem.batch", "problem.B", "problem.L", default=1.0)
    return m, n, k, batch


def problem_dtype(frame: Table, default: str = "fp32") -> tuple[ph.Labels, ph.Labels]:
    """(operand dtype, compute dtype): fp32 operands with tf32 allowed compute in tf32."""
    raw = text_col(frame, "problem.dtype", "problem.in_dtype", "problem.a_dtype", "problem.mat1_dtype")
    dtype = canonical_dtypes(raw, default)
    tf32 = truthy(text_col(frame, "problem.allow_tf32", "problem.using_tf32", "problem.tf32", "params.allow_tf32"))
    switch = tf32 & (dtype == "fp32")
    if ph.is_label(dtype):  # one record, or one dtype shared by every row
        if type(switch) is not np.ndarray:
            return dtype, ("tf32" if switch else dtype)  # type: ignore[return-value]
        if not switch.any() or switch.all():
            return dtype, ("tf32" if switch.all() else dtype)  # type: ignore[return-value]
        dtype = ph.Labels(np.zeros(len(switch), dtype=np.int64), [dtype])  # tf32 on some rows only
    if not switch.any():
        return dtype, dtype
    categories = dtype.categories if "tf32" in dtype.categories else [*dtype.categories, "tf32"]
    codes = dtype.codes.copy()
    codes[switch] = categories.index("tf32")
    return dtype, ph.Labels(codes, categories)


def _frame(frame: Table, physics: dict[str, np.ndarray], extra: dict[str, np.ndarray]) -> Columns:
    """Generic param/problem columns plus physics and family-derived columns. For one record (a
    `physics.Row`) only the physics and derived columns: the compiled plan encodes the record's
    params/problem values itself (`FeaturePlan._transform_row`, the rule `generic_columns` applies)."""
    if isinstance(frame, ph.Row):
        return {**physics, **extra}
    if isinstance(frame, ColumnTable) and _shares_scalars(frame):
        # values shared by every row stay scalars: the plan encodes those generic columns itself
        frame = ColumnTable({c: frame[c] for c in frame.columns if type(frame[c]) is np.ndarray}, len(frame))
    return {**generic_columns(frame), **physics, **extra}


# ---- families ------------------------------------------------------------------------------------
class TritonMatmulExtractor(Extractor):
    """`triton.matmul`: BLOCK_M/N/K, GROUP_M, num_warps, num_stages.

    Shared memory = max(stages,1)·(BM·BK + BK·BN)·bytes (the pipelined A and B tiles); registers
    per thread ≈ fp32 accumulators BM·BN/threads + one k-slice of operand fragments + 32.
    Tensor cores for fp16/bf16/fp8/int8 and fp32 with tf32 allowed.
    """

    families = ("triton.matmul",)
    #: `extract` takes one record as a `physics.Row` (scalars through the same formulas)
    one_row = True

    def extract(self, frame: Table, specs: Table) -> Columns:
        m, n, k, batch = problem_mnk(frame)
        dtype, compute = problem_dtype(frame, UNKNOWN_DTYPE)
        bm = col(frame, "params.BLOCK_M", "params.BLOCK_SIZE_M")
        bn = col(frame, "params.BLOCK_N", "params.BLOCK_SIZE_N")
        bk = col(frame, "params.BLOCK_K", "params.BLOCK_SIZE_K")
        warps = col(frame, "params.num_warps", default=4.0)
        stages = col(frame, "params.num_stages", default=2.0)
        group_m = col(frame, "params.GROUP_M", "params.GROUP_SIZE_M", default=1.0)
        in_bytes = _bytes_of(dtype)
        threads = warps * 32.0
        smem = ph.fmax(stages, 1.0) * (bm * bk + bk * bn) * in_bytes
        regs = ph.safe_div(bm * bn, threads) + ph.safe_div((bm + bn) * bk * in_bytes / 4.0, threads) + 32.0
        unit = _unit_for(compute, True)
        physics = matmul_physics(
            m, n, k, dtype=compute, unit=unit, specs=specs, bm=bm, bn=bn, bk=bk, threads=threads,
            stages=stages, smem_bytes=smem, regs_per_thread=regs, batch=batch, band_m=group_m,
        )
        physics["phys.in_bytes"] = in_bytes
        # GROUP_M swizzle: CTAs of one group share B panels in L2; the group's A rows are reused
        tiles_m = physics["phys.tiles_m"]
        extra = {
            "triton.group_m_eff": ph.fmin(group_m, tiles_m),
            "triton.k_per_stage_bytes": (bm + bn) * bk * in_bytes,
        }
        return _frame(frame, physics, extra)


class CublasMatmulExtractor(Extractor):
    """`cublas.matmul`: no params (cuBLAS picks its own kernel), so only problem physics: FLOPs,
    minimum bytes, arithmetic intensity and the problem-only `roofline_ms`. No tile counts, waves,
    padding, shared memory or occupancy can be derived."""

    families = ("cublas.matmul",)
    #: `extract` takes one record as a `physics.Row` (scalars through the same formulas)
    one_row = True

    def extract(self, frame: Table, specs: Table) -> Columns:
        m, n, k, batch = problem_mnk(frame)
        _, compute = problem_dtype(frame, UNKNOWN_DTYPE)
        physics = matmul_physics(m, n, k, dtype=compute, unit=_unit_for(compute, True), specs=specs, batch=batch)
        return _frame(frame, physics, {})


class XgemmExtractor(Extractor):
    """CLBlast `Xgemm` (`clblast.xgemm`, Kernel Tuner) and CLTune `gemm_fast` (`cltune.sgemm`, SGEMM UCI).

    Params MWG, NWG, KWG (block tile), MDIMC×NDIMC (threads), MDIMA, NDIMB (load shapes), KWI
    (unroll), VWM, VWN (vector widths), STRM, STRN (strided access), SA, SB (cache A/B tiles in
    local memory: KWG·MWG and KWG·NWG elements), PRECISION (32/16/64 bits; default fp32).
    OpenCL kernels: SIMT peak, no tensor cores. Per-thread work MWI = MWG/MDIMC, NWI = NWG/NDIMC;
    registers ≈ MWI·NWI accumulators + (MWI+NWI) operands + 16.
    """

    families = ("clblast.xgemm", "cltune.sgemm")
    #: `extract` takes one record as a `physics.Row` (scalars through the same formulas)
    one_row = True

    def extract(self, frame: Table, specs: Table) -> Columns:
        m, n, k, batch = problem_mnk(frame)
        precision = text_col(frame, "params.PRECISION", "problem.PRECISION", "problem.precision", "problem.dtype")
        dtype = canonical_dtypes(precision, "fp32")
        mwg, nwg, kwg = col(frame, "params.MWG"), col(frame, "params.NWG"), col(frame, "params.KWG")
        mdimc, ndimc = col(frame, "params.MDIMC"), col(frame, "params.NDIMC")
        mdima, ndimb = col(frame, "params.MDIMA", default=np.nan), col(frame, "params.NDIMB", default=np.nan)
        kwi = col(frame, "params.KWI", default=1.0)
        vwm, vwn = col(frame, "params.VWM", default=1.0), col(frame, "params.VWN", default=1.0)
        sa, sb = col(frame, "params.SA", default=0.0), col(frame, "params.SB", default=0.0)
        strm, strn = col(frame, "params.STRM", default=0.0), col(frame, "params.STRN", default=0.0)
        in_bytes = _bytes_of(dtype)
        threads = mdimc * ndimc
        mwi, nwi = ph.safe_div(mwg, mdimc), ph.safe_div(nwg, ndimc)
        smem = (sa * kwg * mwg + sb * kwg * nwg) * in_bytes
        regs = mwi * nwi + mwi + nwi + 16.0
        physics = matmul_physics(
            m, n, k, dtype=dtype, unit=constant_labels("simt", frame), specs=specs,
            bm=mwg, bn=nwg, bk=kwg, threads=threads, stages=const(frame, 1.0), smem_bytes=smem,
            regs_per_thread=regs, batch=batch,
        )
        kdima, kdimb = ph.safe_div(threads, mdima), ph.safe_div(threads, ndimb)
        extra = {
            "xgemm.mwi": mwi,
            "xgemm.nwi": nwi,
            "xgemm.work_per_thread": mwi * nwi,
            "xgemm.mwi_per_vwm": ph.safe_div(mwi, vwm),
            "xgemm.nwi_per_vwn": ph.safe_div(nwi, vwn),
            "xgemm.kdima": kdima,
            "xgemm.kdimb": kdimb,
            "xgemm.mwa": ph.safe_div(mwg, mdima),
            "xgemm.nwb": ph.safe_div(nwg, ndimb),
            "xgemm.kwg_per_kwi": ph.safe_div(kwg, kwi),
            "xgemm.local_a": sa,
            "xgemm.local_b": sb,
            "xgemm.local_ab": sa + sb,
            "xgemm.strided": strm + strn,
            "xgemm.vec_bytes_m": vwm * in_bytes,
            "xgemm.vec_bytes_n": vwn * in_bytes,
            # CLBlast's constraints: a config breaking them would not compile; as a feature it flags odd shapes
            "xgemm.valid": ph.as_float(
                (np.mod(mwg, mdimc * vwm) == 0)
                & (np.mod(nwg, ndimc * vwn) == 0)
                & (ph.isnan(mdima) | (np.mod(mwg, mdima * vwm) == 0))
                & (ph.isnan(ndimb) | (np.mod(nwg, ndimb * vwn) == 0))
                & (np.mod(kwg, kwi) == 0)
            ),
        }
        return _frame(frame, physics, extra)


_CUTLASS_NAME = re.compile(
    r"cutlass_(?P<op>simt|tensorop|wmma)?_?(?P<kind>[a-z0-9]*gemm)[a-z0-9_]*?_(?P<bm>\d+)x(?P<bn>\d+)_(?P<bk>\d+)x(?P<stages>\d+)"
)
_CUTLASS_DTYPE = {"hgemm": "fp16", "sgemm": "fp32", "dgemm": "fp64", "igemm": "int8", "bf16gemm": "bf16"}


def parse_cutlass_name(names: pd.Series) -> pd.DataFrame:
    """CUTLASS kernel names like `cutlass_simt_hgemm_128x128_8x2_nn_align1` -> op class, dtype, tiles."""
    codes, uniques = ph.labels(names)
    rows = []
    for name in uniques:
        match = _CUTLASS_NAME.search(str(name))
        if match is None:
            rows.append((None, None, np.nan, np.nan, np.nan, np.nan))
            continue
        kind = match["kind"]
        dtype = next((d for key, d in _CUTLASS_DTYPE.items() if kind.endswith(key)), None)
        rows.append((match["op"] or "simt", dtype, *(float(match[g]) for g in ("bm", "bn", "bk", "stages"))))
    rows.append((None, None, np.nan, np.nan, np.nan, np.nan))
    table = pd.DataFrame(rows, columns=["op", "dtype", "bm", "bn", "bk", "stages"])
    return table.iloc[codes].set_axis(names.index)


class CutlassGemmExtractor(Extractor):
    """`cutlass.gemm` (GPPerf CUTLASS profiler sweeps): block tile BM×BN×BK and stages from the
    params (`tile_m`/`tile_n`/`tile_k`/`stages`, or parsed from the kernel name
    `cutlass_<simt|tensorop>_<h|s|d>gemm_<BM>x<BN>_<BK>x<stages>_<layout>_align<a>`). Threads per
    CTA from `params.threads`/`num_warps` when given, else CUTLASS's default warp tiling (SIMT:
    8×8 outputs per thread; tensor op: 64×64 per warp). SIMT kernels use the SIMT peak."""

    families = ("cutlass.gemm",)

    def extract(self, frame: Table, specs: Table) -> Columns:
        m, n, k, batch = problem_mnk(frame)
        # CUTLASS names are parsed with pandas string methods (per distinct name): a Series either way
        name = _series(text_col(frame, "params.kernel_name", "kernel_name", "params.kernel", "params.name", "params.operation"))
        parsed = parse_cutlass_name(name)
        bm = np.where(np.isnan(p := col(frame, "params.tile_m", "params.cta_m", "params.threadblock_m")), parsed["bm"].to_numpy(float), p)
        bn = np.where(np.isnan(p := col(frame, "params.tile_n", "params.cta_n", "params.threadblock_n")), parsed["bn"].to_numpy(float), p)
        bk = np.where(np.isnan(p := col(frame, "params.tile_k", "params.cta_k", "params.threadblock_k")), parsed["bk"].to_numpy(float), p)
        stages = np.where(np.isnan(p := col(frame, "params.stages", "params.num_stages")), parsed["stages"].to_numpy(float), p)
        op = _series(text_col(frame, "params.op_class", "params.opcode_class", "params.math"), name.index).astype(object)
        op = op.where(op.notna(), parsed["op"]).fillna("simt").astype(str).str.lower()
        tensor = op.str.contains("tensor|wmma").to_numpy()
        raw_dtype = _series(text_col(frame, "problem.dtype", "params.dtype", "problem.a_dtype"), name.index)
        raw_dtype = raw_dtype.where(raw_dtype.notna(), parsed["dtype"])
        dtype = canonical_dtypes(raw_dtype, UNKNOWN_DTYPE)
        unit = _unit_for(dtype, tensor)
        in_bytes = _bytes_of(dtype)
        warps_given = col(frame, "params.num_warps", "params.warps")
        threads = col(frame, "params.threads", "params.threads_per_cta")
        default_threads = np.where(tensor, np.fmax(ph.safe_div(bm * bn, 64.0 * 64.0), 1.0) * 32.0, np.clip(bm * bn / 64.0, 32.0, 256.0))
        threads = np.where(np.isnan(threads), np.where(np.isnan(warps_given), default_threads, warps_given * 32.0), threads)
        smem = np.fmax(stages, 1.0) * (bm + bn) * bk * in_bytes
        regs = ph.safe_div(bm * bn, threads) * np.where(np.asarray(dtype == "fp64"), 2.0, 1.0) + ph.safe_div((bm + bn) * bk * in_bytes / 4.0, threads) + 32.0
        physics = matmul_physics(
            m, n, k, dtype=dtype, unit=unit, specs=specs, bm=bm, bn=bn, bk=bk, threads=threads,
            stages=stages, smem_bytes=smem, regs_per_thread=regs, batch=batch,
        )
        align = col(frame, "params.align", "params.alignment")
        if np.isnan(align).all():
            align = pd.to_numeric(name.astype(str).str.extract(r"align(\d+)")[0], errors="coerce").to_numpy(float)
        extra = {"cutlass.align": align, "cutlass.align_bytes": align * in_bytes}
        return _frame(frame, physics, extra)


class TiledMatmulExtractor(Extractor):
    """`cuda.tiled_matmul` (GPPerf's textbook shared-memory tiled kernel): one tile size T gives
    T×T CTAs of T² threads, one output per thread, 2·T²·4 bytes of shared memory, fp32 SIMT."""

    families = ("cuda.tiled_matmul",)
    #: `extract` takes one record as a `physics.Row` (scalars through the same formulas)
    one_row = True

    def extract(self, frame: Table, specs: Table) -> Columns:
        m, n, k, batch = problem_mnk(frame)
        tile = col(frame, "params.tile_size", "params.TILE_SIZE", "params.TILE", "params.tile")
        dtype = canonical_dtypes(text_col(frame, "problem.dtype"), "fp32")
        in_bytes = _bytes_of(dtype)
        threads = tile * tile
        physics = matmul_physics(
            m, n, k, dtype=dtype, unit=constant_labels("simt", frame), specs=specs,
            bm=tile, bn=tile, bk=tile, threads=threads, stages=const(frame, 1.0),
            smem_bytes=2.0 * tile * tile * in_bytes, regs_per_thread=const(frame, 24.0), batch=batch,
        )
        return _frame(frame, physics, {})


for _kernel in TritonMatmulExtractor.families:
    register_extractor(_kernel, TritonMatmulExtractor())
register_extractor("cublas.matmul", CublasMatmulExtractor())
for _kernel in XgemmExtractor.families:
    register_extractor(_kernel, XgemmExtractor())
register_extractor("cutlass.gemm", CutlassGemmExtractor())
register_extractor("cuda.tiled_matmul", TiledMatmulExtractor())
