"""`kerneltuner.convolution`: Kernel Tuner's 2-D convolution benchmark (benchmark_hub caches).

The kernel computes an H×W output (4096×4096 in the shared caches) from an (H+fh-1)×(W+fw-1) input
with an fh×fw filter (15×15), fp32. A CTA of block_size_x × block_size_y threads computes a tile of
(block_size_x·tile_size_x) × (block_size_y·tile_size_y) outputs; each thread tile_size_x·tile_size_y.
With `use_shmem` the CTA stages its input tile plus the filter halo in shared memory
((BY·TY + fh-1) × (BX·TX + fw-1 + use_padding) floats; padding is one column against bank
conflicts); `read_only` loads through the read-only cache, `use_cmem` keeps the filter in constant
memory. No tensor cores (SIMT fp32 peak).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from perfcast.features import physics as ph
from perfcast.features.matmul import Table, _frame, col, const, constant_labels, peak_table, spec
from perfcast.features.registry import Extractor, register_extractor

_FLOAT_BYTES = 4.0
_DEFAULT_MAX_CTAS_PER_SM = 16.0
_DEFAULT_REGS_PER_SM = 65536.0
_STATIC_SMEM_KB = 48.0


class ConvolutionExtractor(Extractor):
    """Physics of the Kernel Tuner convolution: FLOPs 2·H·W·fh·fw, minimum bytes (input, output,
    filter once), intensity, `roofline_ms`, CTA counts, waves, padding waste of H/W against the CTA
    output tile, shared memory per CTA and whether it fits, input reuse, occupancy estimate."""

    families = ("kerneltuner.convolution",)
    #: `extract` takes one record as a `physics.Row` (scalars through the same formulas)
    one_row = True

    def extract(self, frame: Table, specs: Table) -> pd.DataFrame:
        w = col(frame, "problem.image_width", "problem.width", "problem.W", "problem.w", "problem.size_x", "problem.problem_size_x", default=4096.0)
        h = col(frame, "problem.image_height", "problem.height", "problem.H", "problem.h", "problem.size_y", "problem.problem_size_y", default=4096.0)
        fw = col(frame, "params.filter_width", "problem.filter_width", default=15.0)
        fh = col(frame, "params.filter_height", "problem.filter_height", default=15.0)
        bx = col(frame, "params.block_size_x")
        by = col(frame, "params.block_size_y", default=1.0)
        tx = col(frame, "params.tile_size_x", default=1.0)
        ty = col(frame, "params.tile_size_y", default=1.0)
        use_shmem = col(frame, "params.use_shmem", default=1.0)
        use_padding = col(frame, "params.use_padding", default=0.0)
        read_only = col(frame, "params.read_only", default=0.0)

        flops = 2.0 * h * w * fh * fw
        in_elems = (h + fh - 1.0) * (w + fw - 1.0)
        min_bytes = (in_elems + h * w + fh * fw) * _FLOAT_BYTES
        peak = ph.pick_peak(peak_table(specs), constant_labels("fp32", frame), constant_labels("simt", frame))
        bw = spec(specs, "sys.mem_bw_gbs")
        sm_count = spec(specs, "sys.sm_count")

        tile_w, tile_h = bx * tx, by * ty  # outputs per CTA along x, y
        ctas_x, ctas_y = ph.ceil_div(w, tile_w), ph.ceil_div(h, tile_h)
        ctas = ctas_x * ctas_y
        threads = bx * by
        smem_elems = (tile_h + fh - 1.0) * (tile_w + fw - 1.0 + use_padding)
        smem = use_shmem * smem_elems * _FLOAT_BYTES
        regs = tx * ty + 2.0 * tx + 24.0  # accumulators + a row of inputs + addressing
        _, by_smem, by_regs, per_sm = ph.ctas_per_sm(
            threads, smem, regs,
            spec(specs, "sys.max_threads_per_sm"), spec(specs, "sys.smem_per_sm_kb"),
            spec(specs, "sys.regs_per_sm", _DEFAULT_REGS_PER_SM),
            spec(specs, "sys.max_blocks_per_sm", _DEFAULT_MAX_CTAS_PER_SM),
        )
        waves, waves_ceil, wave_eff = ph.wave_stats(ctas, sm_count * per_sm)
        sm_waves, sm_waves_ceil, sm_wave_eff = ph.wave_stats(ctas, sm_count)
        flops_per_cta = 2.0 * tile_w * tile_h * fh * fw
        tiled_compute = ph.tiled_compute_ms(ctas, flops_per_cta, sm_count, peak)
        bounds = ph.bound_terms(flops, min_bytes, peak, bw)
        memory_ms = bounds["phys.memory_ms"]
        problem_roofline = ph.roofline_time_ms(flops, min_bytes, peak, bw)
        roofline = ph.where(ph.isnan(tiled_compute), problem_roofline, ph.fmax(tiled_compute, memory_ms))
        # each CTA reads its halo'd input tile once: traffic grows as tiles shrink
        halo_bytes = ctas * (tile_h + fh - 1.0) * (tile_w + fw - 1.0) * _FLOAT_BYTES + h * w * _FLOAT_BYTES
        # static __shared__ arrays: 48 KB per block on every NVIDIA GPU, whatever the opt-in maximum
        smem_limit = ph.fmin(spec(specs, "sys.smem_per_block_kb"), _STATIC_SMEM_KB) * 1024.0
        warp = spec(specs, "sys.warp_size", 32.0)
        physics = {
            **bounds,
            "phys.in_bytes": const(frame, _FLOAT_BYTES),
            "phys.tensor_core": const(frame, 0.0),
            "phys.ridge_intensity": ph.safe_div(peak * 1e12, bw * 1e9),
            "phys.log2_flops": np.log2(ph.where(flops > 0, flops, np.nan)),
            "phys.problem_roofline_ms": problem_roofline,
            "phys.tile_m": tile_h,
            "phys.tile_n": tile_w,
            "phys.tile_mn": tile_h * tile_w,
            "phys.tile_aspect": np.log2(ph.safe_div(tile_h, tile_w)),
            "phys.tiles_m": ctas_y,
            "phys.tiles_n": ctas_x,
            "phys.ctas": ctas,
            "phys.threads_per_cta": threads,
            "phys.warps_per_cta": np.ceil(ph.safe_div(threads, warp)),
            "phys.warp_fill": ph.safe_div(threads, np.ceil(ph.safe_div(threads, warp)) * warp),
            "phys.outputs_per_thread": tx * ty,
            "phys.pad_waste_m": ph.padding_waste(h, tile_h),
            "phys.pad_waste_n": ph.padding_waste(w, tile_w),
            "phys.pad_waste": 1.0 - ph.safe_div(h * w, ctas * tile_w * tile_h),
            "phys.flops_per_cta": flops_per_cta,
            "phys.tile_traffic_bytes": halo_bytes,
            "phys.tile_traffic_ms": ph.safe_div(halo_bytes, bw * 1e9) * 1e3,
            "phys.smem_per_cta_kb": smem / 1024.0,
            "phys.smem_fits": ph.where(ph.isnan(smem_limit), np.nan, ph.as_float(smem <= smem_limit)),
            "phys.regs_per_thread_est": regs,
            "phys.regs_per_cta_est": regs * threads,
            "phys.ctas_per_sm_smem": by_smem,
            "phys.ctas_per_sm_regs": by_regs,
            "phys.ctas_per_sm": per_sm,
            "phys.occupancy": ph.safe_div(per_sm * threads, spec(specs, "sys.max_threads_per_sm")),
            "phys.threads_fit": ph.as_float(threads <= 1024),
            "phys.waves": waves,
            "phys.waves_ceil": waves_ceil,
            "phys.wave_efficiency": wave_eff,
            "phys.sm_waves": sm_waves,
            "phys.sm_waves_ceil": sm_waves_ceil,
            "phys.sm_wave_efficiency": sm_wave_eff,
            "phys.tiled_compute_ms": tiled_compute,
            "roofline_ms": roofline,
            # not a bound: compute and halo'd tile traffic back to back (ranks configs better, see README)
            "phys.estimate_ms": roofline + ph.nan_to_num(ph.safe_div(halo_bytes, bw * 1e9) * 1e3),
        }
        extra = {
            # input elements loaded per output: fh·fw from global/L1 without shared memory, the halo ratio with it
            "conv.input_reuse": ph.where(use_shmem > 0, ph.safe_div(smem_elems, tile_w * tile_h), fh * fw),
            "conv.halo_ratio": ph.safe_div((tile_h + fh - 1.0) * (tile_w + fw - 1.0), tile_w * tile_h),
            "conv.row_bytes": tile_w * _FLOAT_BYTES,
            "conv.read_only": read_only,
            "conv.filter_taps": fh * fw,
        }
        return _frame(frame, physics, extra)


register_extractor("kerneltuner.convolution", ConvolutionExtractor())
