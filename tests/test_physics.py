"""Physics features: hand-computed values, properties on arbitrary inputs, and the lower bound on real data."""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perfcast.features import featurize
from perfcast.features import physics as ph
from perfcast.features.matmul import parse_cutlass_name
from perfcast.measurements.ingest import read_path
from perfcast.measurements.schema import records_to_frame
from perfcast.systems import get_system, spec_table


def _bench_module(repo_root):
    spec = importlib.util.spec_from_file_location("bench_features", repo_root / "benchmarks" / "bench_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ok(path) -> pd.DataFrame:
    frame = pd.concat([c.frame for c in read_path(path) if len(c.frame)], ignore_index=True)
    return frame[(frame["status"] == "ok") & frame["runtime_ms"].notna()].reset_index(drop=True)


# ---- pure functions, hand-computed ------------------------------------------------------------------
def test_matmul_counts_and_roofline_by_hand():
    assert ph.matmul_flops(2, 3, 4) == 48.0
    assert ph.matmul_min_bytes(2, 3, 4, 2.0, 4.0) == (8 + 12) * 2 + 6 * 4
    # 1 TFLOP of work at 100 TFLOP/s = 10 ms; 1 GB at 1000 GB/s = 1 ms: compute-bound, 10 ms
    assert ph.roofline_time_ms(1e12, 1e9, 100.0, 1000.0) == pytest.approx(10.0)
    assert ph.roofline_time_ms(1e9, 1e10, 100.0, 1000.0) == pytest.approx(10.0)
    assert math.isnan(ph.roofline_time_ms(1e9, 1e9, np.nan, 1000.0))


def test_padding_waves_and_occupancy_by_hand():
    assert ph.padding_waste(100, 64) == pytest.approx(1 - 100 / 128)
    assert ph.padding_waste(128, 64) == 0.0
    waves, ceil, eff = ph.wave_stats(100, 40)
    assert (waves, ceil) == (2.5, 3.0) and eff == pytest.approx(100 / 120)
    # 256 threads, 48 KB smem, 64 regs on an SM with 2048 threads, 100 KB, 65536 regs, 16 CTAs
    by_threads, by_smem, by_regs, overall = ph.ctas_per_sm(256, 48 * 1024, 64, 2048, 100, 65536, 16)
    assert (by_threads, by_smem, by_regs, overall) == (8.0, 2.0, 4.0, 2.0)
    # an unknown limit does not constrain; a config that does not fit gives 0
    assert ph.ctas_per_sm(256, np.nan, 64, 2048, 100, 65536, 16)[3] == 4.0
    assert ph.ctas_per_sm(256, 200 * 1024, 64, 2048, 100, 65536, 16)[3] == 0.0


def test_dtype_names():
    assert ph.canonical_dtype("torch.float16") == "fp16"
    assert ph.canonical_dtype(32) == "fp32" and ph.canonical_dtype(32.0) == "fp32"
    assert ph.canonical_dtype("bfloat16") == "bf16"
    assert ph.canonical_dtype("complex64") is None and ph.canonical_dtype(None) is None


def test_cutlass_names_parse():
    parsed = parse_cutlass_name(pd.Series(["cutlass_simt_hgemm_128x128_8x2_nn_align1",
                                           "cutlass_tensorop_s1688gemm_f16_256x128_32x3_tn_align8", "nonsense"]))
    assert parsed.iloc[0].tolist() == ["simt", "fp16", 128.0, 128.0, 8.0, 2.0]
    assert parsed.iloc[1][["op", "bm", "bn", "bk", "stages"]].tolist() == ["tensorop", 256.0, 128.0, 32.0, 3.0]
    assert pd.isna(parsed.iloc[2]["op"]) and math.isnan(parsed.iloc[2]["bm"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9)), min_size=1, max_size=8),
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6)), min_size=1, max_size=8),
)
def test_physics_never_raises_and_stays_in_range(sizes, tiles):
    n = min(len(sizes), len(tiles))
    size, tile = np.array(sizes[:n], dtype=float), np.array(tiles[:n], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks either
        waste = ph.padding_waste(size, tile)
        _, _, eff = ph.wave_stats(np.abs(size), np.abs(tile))
        ph.ctas_per_sm(tile, size, tile, size, tile, size, tile)
        ph.roofline_time_ms(size, size, tile, tile)
    ok = (size >= 1) & (tile >= 1) & (size < 1e12) & (tile < 1e12)
    assert np.all((waste[ok] >= 0) & (waste[ok] < 1))
    assert np.all((eff[ok] > 0) & (eff[ok] <= 1 + 1e-12))


# ---- extractors, hand-computed on a registered system -----------------------------------------------
def test_triton_roofline_by_hand():
    h100 = spec_table(["H100"]).iloc[0]
    frame = pd.DataFrame([{"kernel": "triton.matmul", "system": "H100", "params.BLOCK_M": 128, "params.BLOCK_N": 128,
                           "params.BLOCK_K": 64, "params.GROUP_M": 8, "params.num_warps": 8, "params.num_stages": 3,
                           "problem.M": 1000, "problem.N": 4096, "problem.K": 4096, "problem.dtype": "bf16"}])
    X, _ = featurize(frame)
    row = X.iloc[0]
    ctas = math.ceil(1000 / 128) * 32  # 8 × 32 = 256 CTAs over 132 SMs: 2 CTAs on the busiest SM
    assert row["phys.ctas"] == ctas
    assert row["phys.pad_waste_m"] == pytest.approx(1 - 1000 / 1024)
    assert row["phys.smem_per_cta_kb"] == 3 * (128 * 64 + 64 * 128) * 2 / 1024
    peak = h100["sys.peak_tflops.bf16.tensor"]
    assert row["phys.tensor_core"] == 1.0 and row["phys.peak_tflops"] == peak
    compute_ms = math.ceil(ctas / h100["sys.sm_count"]) * 2 * 128 * 128 * 4096 / (peak / h100["sys.sm_count"] * 1e12) * 1e3
    memory_ms = ((1000 * 4096 + 4096 * 4096) * 2 + 1000 * 4096 * 2) / (h100["sys.mem_bw_gbs"] * 1e9) * 1e3
    assert row["roofline_ms"] == pytest.approx(max(compute_ms, memory_ms))
    assert row["roofline_ms"] >= row["phys.problem_roofline_ms"]


def test_fp32_uses_tf32_tensor_cores_only_when_allowed():
    base = {"kernel": "triton.matmul", "system": "NVIDIA A100-SXM4-80GB", "params.BLOCK_M": 64, "params.BLOCK_N": 64,
            "params.BLOCK_K": 32, "params.GROUP_M": 8, "params.num_warps": 4, "params.num_stages": 2,
            "problem.M": 2048, "problem.N": 2048, "problem.K": 2048, "problem.dtype": "fp32"}
    frame = pd.DataFrame([{**base, "problem.allow_tf32": True}, {**base, "problem.allow_tf32": False}])
    X, _ = featurize(frame)
    a100 = get_system("A100")
    assert X["phys.peak_tflops"].tolist() == [a100.peak("tf32", True), a100.peak("fp32", False)]


def test_cublas_has_problem_physics_only():
    frame = pd.DataFrame([{"kernel": "cublas.matmul", "system": "A100", "problem.M": 512, "problem.N": 512,
                           "problem.K": 512, "problem.dtype": "fp16"}])
    X, _ = featurize(frame)
    assert X["roofline_ms"].iloc[0] == pytest.approx(X["phys.problem_roofline_ms"].iloc[0])
    assert "phys.ctas" not in X.columns


def test_register_limit_depends_on_architecture():
    """GK104 (GTX 680, cc 3.0) addresses 63 registers per thread, later GPUs 255: the same Xgemm config
    (MWI = NWI = 8: 64 accumulators + operands) spills on the first and not on the second."""
    params = {"params.MWG": 64, "params.NWG": 64, "params.KWG": 32, "params.MDIMC": 8, "params.NDIMC": 8,
              "params.MDIMA": 8, "params.NDIMB": 8, "params.KWI": 2, "params.VWM": 2, "params.VWN": 2,
              "params.SA": 1, "params.SB": 1, "problem.M": 2048, "problem.N": 2048, "problem.K": 2048,
              "problem.dtype": "fp32"}
    frame = pd.DataFrame([{"kernel": "cltune.sgemm", "system": "GTX 680", **params},
                          {"kernel": "cltune.sgemm", "system": "RTX 3090", **params}])
    X, _ = featurize(frame)
    assert X["phys.reg_limit_per_thread"].tolist() == [63.0, 255.0]
    assert X["phys.regs_per_thread_est"].tolist() == [64 + 8 + 8 + 16] * 2
    assert X["phys.reg_spill_est"].tolist() == [96 - 63, 0.0]
    assert X["phys.spill_bytes_est"].iloc[0] > 0 and X["phys.spill_bytes_est"].iloc[1] == 0


def test_vectorised_equals_naive_per_row(repo_root):
    bench = _bench_module(repo_root)
    frame = bench.synthetic_triton_frame(300, seed=3)
    X, _ = featurize(frame)
    naive = bench.run_naive(frame)
    for col in naive.columns:
        np.testing.assert_allclose(X[col].to_numpy(), naive[col].to_numpy(), rtol=1e-12, err_msg=col)


# ---- real data -------------------------------------------------------------------------------------------
def test_roofline_is_a_lower_bound_on_every_shared_dataset(datasets_dir):
    """No measured runtime beats roofline_ms (that would mean a wrong spec or formula)."""
    paths = [datasets_dir / "sgemm_uci", datasets_dir / "kerneltuner_gemm", datasets_dir / "kerneltuner_convolution",
             datasets_dir / "gpperf_cutlass"]
    for path in paths:
        frame = _ok(path)
        frame = frame.sample(n=min(len(frame), 20_000), random_state=0).reset_index(drop=True)
        X, _ = featurize(frame)
        assert X["roofline_ms"].notna().all(), path
        ratio = frame["runtime_ms"].to_numpy() / X["roofline_ms"].to_numpy()
        assert ratio.min() >= 1.0, (path, ratio.min())


ROW_FAMILIES = ("triton.softmax", "triton.layernorm", "triton.reduction", "triton.elementwise")


def test_row_kernel_roofline_is_a_lower_bound_on_the_bundled_data(h100_h200_frame):
    """The collector's softmax, layernorm, reduction and elementwise kernels had no physics (roofline NaN,
    so their runtime and energy were learnt as plain logs). Their compulsory bytes at the DRAM bandwidth
    bound every cold-L2 measurement, H100 and H200: the closest are at ~0.9 of it."""
    frame = h100_h200_frame[h100_h200_frame["kernel"].isin(ROW_FAMILIES) & (h100_h200_frame["status"] == "ok")]
    frame = frame[[c for c in frame.columns if not c.startswith("ir.")]].reset_index(drop=True)
    X, _ = featurize(frame)
    assert X["roofline_ms"].notna().all()
    ratio = frame["runtime_ms"].to_numpy() / X["roofline_ms"].to_numpy()
    for family, idx in frame.groupby("kernel").indices.items():
        assert 1.0 <= ratio[idx].min() < 1.3, (family, ratio[idx].min())  # a bound, and a tight one


def test_row_kernel_physics_by_hand():
    h100 = "NVIDIA H100 80GB HBM3"
    records = [
        {"kernel": "triton.softmax", "system": h100, "params": {"BLOCK_SIZE": 1024, "num_warps": 4},
         "problem": {"rows": 4096, "cols": 1000, "dtype": "fp16"}},
        {"kernel": "triton.layernorm", "system": h100, "params": {"BLOCK_SIZE": 512, "num_warps": 8},
         "problem": {"rows": 100, "cols": 2048, "dtype": "bf16"}},
        {"kernel": "triton.reduction", "system": h100, "params": {"BLOCK_M": 4, "BLOCK_N": 256, "num_warps": 4},
         "problem": {"rows": 1000, "cols": 512, "dtype": "fp32"}},
        {"kernel": "triton.elementwise", "system": h100, "params": {"BLOCK_SIZE": 1024, "num_warps": 4},
         "problem": {"numel": 10**6, "dtype": "fp16"}},
    ]
    X, _ = featurize(records_to_frame(records))
    softmax, layernorm, reduction, elementwise = (X.iloc[i] for i in range(4))
    bw = 3350e9  # H100 SXM, bytes/s
    assert softmax["phys.min_bytes"] == 2 * 4096 * 1000 * 2  # read x once, write y once
    assert softmax["roofline_ms"] == pytest.approx(softmax["phys.min_bytes"] / bw * 1e3)
    assert softmax["phys.tile_traffic_bytes"] == (3 + 1) * 4096 * 1000 * 2  # three passes read the row
    assert softmax["phys.ctas"] == 4096 and softmax["phys.steps_per_pass"] == 1
    assert softmax["phys.pad_waste"] == pytest.approx(1 - 1000 / 1024)
    assert softmax["phys.elements_per_thread"] == 1024 / 128
    assert layernorm["phys.min_bytes"] == (100 * 2048 + 2 * 2048) * 2 + 100 * 2048 * 2  # x, w, b in; y out
    assert layernorm["phys.steps_per_pass"] == 4 and layernorm["phys.ctas"] == 100
    assert reduction["phys.min_bytes"] == 1000 * 512 * 4 + 1000 * 4  # fp32 row sums out
    assert reduction["phys.ctas"] == 250 and reduction["phys.steps_per_pass"] == 2
    assert reduction["phys.elements_per_thread"] == 4 * 256 / 128
    assert elementwise["phys.min_bytes"] == 3 * 10**6 * 2  # x and g in, out
    assert elementwise["phys.ctas"] == 977 and elementwise["phys.pad_waste"] == pytest.approx(1 - 10**6 / (977 * 1024))
    assert (X["phys.waves"] > 0).all() and (X["phys.estimate_ms"] > X["roofline_ms"]).all()
    # far below the memory bound's range a launch takes its floor (3.8 us or more on the bundled GPUs)
    from perfcast.features.rowwise import LAUNCH_FLOOR_MS  # noqa: PLC0415

    tiny = featurize(records_to_frame([{**records[0], "problem": {"rows": 1, "cols": 128, "dtype": "fp16"}}]))[0]
    assert tiny["phys.memory_ms"].iloc[0] < 1e-6 and tiny["roofline_ms"].iloc[0] == LAUNCH_FLOOR_MS


def test_convolution_physics_on_real_cache(datasets_dir):
    frame = _ok(datasets_dir / "kerneltuner_convolution" / "A100.json.gz")
    X, _ = featurize(frame)
    def pick(bx, by, tx, ty, shmem, padding):
        hit = ((frame["params.block_size_x"] == bx) & (frame["params.block_size_y"] == by)
               & (frame["params.tile_size_x"] == tx) & (frame["params.tile_size_y"] == ty)
               & (frame["params.use_shmem"] == shmem) & (frame["params.use_padding"] == padding))
        return X.loc[frame.index[hit][0]]

    x = pick(32, 4, 2, 2, 1, 0)
    assert x["phys.flops"] == 2 * 4096 * 4096 * 15 * 15
    assert x["phys.ctas"] == (4096 / 64) * (4096 / 8)
    assert x["phys.smem_per_cta_kb"] == (8 + 14) * (64 + 14) * 4 / 1024
    assert x["phys.threads_per_cta"] == 128 and x["phys.outputs_per_thread"] == 4
    assert x["conv.input_reuse"] == pytest.approx((8 + 14) * (64 + 14) / (8 * 64))
    padded = pick(16, 1, 1, 1, 1, 1)
    assert padded["phys.smem_per_cta_kb"] == (1 + 14) * (16 + 14 + 1) * 4 / 1024
    assert pick(16, 1, 1, 1, 0, 0)["phys.smem_per_cta_kb"] == 0.0
