"""Physics of the collector's memory-bound Triton kernels (`measurements/collect/kernels.py`).

- `triton.softmax`: one program per row of a rows×cols matrix, three passes over the row in
  BLOCK_SIZE chunks (max; sum of exp; write), fp32 math.
- `triton.layernorm`: one program per row, three passes (mean; variance; normalise with weight and
  bias, each cols long).
- `triton.reduction`: row sums, BLOCK_M rows × BLOCK_N columns per step, one pass, fp32 out.
- `triton.elementwise`: out = x·sigmoid(x)·g over `numel` elements, BLOCK_SIZE per program.

Each moves its operands once at least (the compulsory bytes: the `roofline_ms` bound at the DRAM
bandwidth, measurements are cold-L2); the passes a row program makes read it again
(`phys.tile_traffic_bytes`, the no-reuse traffic), which L1/L2 may or may not serve. Without this
physics the four families had `roofline_ms` NaN, so their runtime and energy were learnt as plain
logs: an energy model fitted on 88 large softmax measurements answered 34 mJ for a 13 µs kernel (power ×
runtime: 7.4 mJ).
"""

from __future__ import annotations

import numpy as np
from perfcast.features import physics as ph
from perfcast.features.matmul import (
    Table,
    _bytes_of,
    _frame,
    col,
    const,
    constant_labels,
    peak_table,
    problem_dtype,
    spec,
)
from perfcast.features.registry import Columns, Extractor, register_extractor

#: The shortest a launch of these kernels takes, in ms: the collector's cold-L2 CUDA-event times never
#: go below 3.8 us on the H100 or H200 (a 1x100 softmax, 4.3 us). Far below their memory bound's range,
#: runtime is this floor, not bytes: without it log(runtime / roofline) spans 10^4 over the smallest
#: problems, and the quantile boosters' lower end fell to 0.1 us for a 5 us kernel.
LAUNCH_FLOOR_MS = 0.002
_DEFAULT_MAX_CTAS_PER_SM = 32.0
_DEFAULT_REGS_PER_SM = 65536.0
_FP32_BYTES = 4.0

#: FLOPs per element. softmax: max; sub, exp, add; sub, exp, div. layernorm: add; sub, mul, add; sub,
#: mul, mul, add. reduction: add. elementwise: x·sigmoid(x)·g ≈ neg, exp, add, div, mul, mul.
_FLOPS_PER_ELEMENT = {"triton.softmax": 7.0, "triton.layernorm": 8.0, "triton.reduction": 1.0,
                      "triton.elementwise": 6.0}
#: Passes a program makes over its input.
_PASSES = {"triton.softmax": 3.0, "triton.layernorm": 3.0, "triton.reduction": 1.0, "triton.elementwise": 1.0}
#: fp32 values a thread keeps live per element of a step: the loads, plus softmax's running max and
#: sum vectors, layernorm's accumulator, reduction's accumulator tile.
_LIVE_PER_ELEMENT = {"triton.softmax": 3.0, "triton.layernorm": 2.0, "triton.reduction": 2.0,
                     "triton.elementwise": 2.0}


class RowwiseExtractor(Extractor):
    """Compulsory bytes (inputs once, outputs once), FLOPs, `roofline_ms`, programs (CTAs), waves,
    chunk padding, elements and registers per thread, occupancy and the passes' traffic of one of the
    four memory-bound Triton families above."""

    families = tuple(_PASSES)
    #: `extract` takes one record as a `physics.Row` (scalars through the same formulas)
    one_row = True
    #: 2: `roofline_ms` has the launch floor (version 1 had none)
    version = 2

    def __init__(self, kernel: str):
        if kernel not in _PASSES:
            raise ValueError(f"RowwiseExtractor is for {list(_PASSES)}, not {kernel!r}")
        self.kernel = kernel

    def extract(self, frame: Table, specs: Table) -> Columns:
        dtype, _ = problem_dtype(frame, "fp32")
        in_bytes = _bytes_of(dtype)
        warps = col(frame, "params.num_warps", default=4.0)
        threads = warps * 32.0
        # per family: the grid's shape, the block a program steps with, and the elements read and written
        if self.kernel == "triton.elementwise":
            rows, cols = col(frame, "problem.numel"), const(frame, 1.0)
            block_rows, block_cols = col(frame, "params.BLOCK_SIZE"), const(frame, 1.0)
            elements = rows
            in_elems, out_bytes = 2.0 * elements, elements * in_bytes          # x and g in, out
        elif self.kernel == "triton.reduction":
            rows, cols = col(frame, "problem.rows"), col(frame, "problem.cols")
            block_rows, block_cols = col(frame, "params.BLOCK_M"), col(frame, "params.BLOCK_N")
            elements = rows * cols
            in_elems, out_bytes = elements, rows * _FP32_BYTES                # fp32 row sums
        else:  # softmax, layernorm: one program per row
            rows, cols = col(frame, "problem.rows"), col(frame, "problem.cols")
            block_rows, block_cols = const(frame, 1.0), col(frame, "params.BLOCK_SIZE")
            elements = rows * cols
            extra = 2.0 * cols if self.kernel == "triton.layernorm" else 0.0  # layernorm's weight and bias
            in_elems, out_bytes = elements + extra, elements * in_bytes
        passes = _PASSES[self.kernel]
        min_bytes = in_elems * in_bytes + out_bytes
        # every pass reads the row again (layernorm's last pass with weight and bias)
        extra_reads = 2.0 * elements if self.kernel == "triton.layernorm" else 0.0
        traffic = (passes * elements + extra_reads) * in_bytes + out_bytes
        flops = _FLOPS_PER_ELEMENT[self.kernel] * elements

        # programs: one per row (softmax, layernorm), per BLOCK_M rows, per BLOCK_SIZE elements
        ctas = ph.ceil_div(rows, block_rows)
        chunks = ph.ceil_div(cols, block_cols)  # steps per pass along a row
        tile = block_rows * block_cols          # elements a program holds per step
        per_thread = ph.safe_div(tile, threads)
        regs = _LIVE_PER_ELEMENT[self.kernel] * per_thread + 24.0  # + addressing
        _, _, by_regs, per_sm = ph.ctas_per_sm(
            threads, const(frame, 0.0), regs,
            spec(specs, "sys.max_threads_per_sm"), spec(specs, "sys.smem_per_sm_kb"),
            spec(specs, "sys.regs_per_sm", _DEFAULT_REGS_PER_SM),
            spec(specs, "sys.max_blocks_per_sm", _DEFAULT_MAX_CTAS_PER_SM),
        )
        sm_count = spec(specs, "sys.sm_count")
        waves, waves_ceil, wave_eff = ph.wave_stats(ctas, sm_count * per_sm)
        bw = spec(specs, "sys.mem_bw_gbs")
        peak = ph.pick_peak(peak_table(specs), constant_labels("fp32", frame), constant_labels("simt", frame))
        roofline = ph.fmax(ph.roofline_time_ms(flops, min_bytes, peak, bw), LAUNCH_FLOOR_MS)
        traffic_ms = ph.safe_div(traffic, bw * 1e9) * 1e3
        physics = {
            **ph.bound_terms(flops, min_bytes, peak, bw),
            "phys.in_bytes": in_bytes,
            "phys.tensor_core": const(frame, 0.0),
            "phys.log2_bytes": np.log2(ph.where(min_bytes > 0, min_bytes, np.nan)),
            "phys.problem_roofline_ms": roofline,
            "phys.ctas": ctas,
            "phys.threads_per_cta": threads,
            "phys.elements_per_thread": per_thread,
            "phys.steps_per_pass": chunks,
            "phys.pad_waste": 1.0 - ph.safe_div(elements, ctas * chunks * tile),
            "phys.tile_traffic_bytes": traffic,
            "phys.tile_traffic_ms": traffic_ms,
            "phys.regs_per_thread_est": regs,
            "phys.ctas_per_sm_regs": by_regs,
            "phys.ctas_per_sm": per_sm,
            "phys.occupancy": ph.safe_div(per_sm * threads, spec(specs, "sys.max_threads_per_sm")),
            "phys.waves": waves,
            "phys.waves_ceil": waves_ceil,
            "phys.wave_efficiency": wave_eff,
            "roofline_ms": roofline,
            # not a bound: every pass's reads at the DRAM bandwidth, after the roofline
            "phys.estimate_ms": roofline + ph.nan_to_num(traffic_ms),
        }
        return _frame(frame, physics, {})


for _kernel in _PASSES:
    register_extractor(_kernel, RowwiseExtractor(_kernel))
