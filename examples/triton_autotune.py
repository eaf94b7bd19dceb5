"""Prune a Triton matmul autotuning space with perfcast: benchmark only the configs the model likes.

`TritonPerfModel` is the `perf_model` of `@triton.autotune(prune_configs_by={"perf_model": ..., "top_k": k})`.
Triton calls it once per config with the kernel's arguments and the config's meta-parameters; it
predicts every config of a new problem in one batch and answers later calls from its cache.

With Triton and a CUDA GPU this runs the real autotuner (Triton then benchmarks only the top_k configs).
Without them it replays exactly the call Triton's `Autotuner.prune_configs` makes.

    python examples/triton_autotune.py [--model DIR|models:/perfcast-default@champion] [--top-k 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

from perfcast.serving.autotune import TritonPerfModel
from perfcast.serving.cli import DEFAULT_MODEL

from perfcast import Predictor

GRID = {"BLOCK_M": [32, 64, 128], "BLOCK_N": [32, 64, 128], "BLOCK_K": [32, 64], "num_warps": [4, 8], "num_stages": [3, 4]}


def config_dicts() -> list[dict]:
    keys = list(GRID)
    return [{**dict(zip(keys, values, strict=True)), "GROUP_M": 8} for values in itertools.product(*GRID.values())]


def run_with_triton(perf_model_args: dict, top_k: int, size: int) -> None:
    import torch
    import triton
    import triton.language as tl

    configs = [triton.Config({k: c[k] for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M")},
                             num_warps=c["num_warps"], num_stages=c["num_stages"]) for c in config_dicts()]  # fmt: skip
    perf_model = TritonPerfModel(configs=configs, **perf_model_args)

    @triton.autotune(configs=configs, key=["M", "N", "K"], prune_configs_by={"perf_model": perf_model, "top_k": top_k})
    @triton.jit
    def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):  # fmt: skip
        pid = tl.program_id(0)
        num_pid_m = tl.cdiv(M, BLOCK_M)
        num_pid_n = tl.cdiv(N, BLOCK_N)
        group_id = pid // (GROUP_M * num_pid_n)
        first_pid_m = group_id * GROUP_M
        group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
        pid_m = first_pid_m + (pid % group_size_m)
        pid_n = (pid % (GROUP_M * num_pid_n)) // group_size_m
        offs_m = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
        offs_n = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
        offs_k = tl.arange(0, BLOCK_K)
        a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
        b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k in range(0, tl.cdiv(K, BLOCK_K)):
            a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
            b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
            acc = tl.dot(a, b, acc)
            a_ptrs += BLOCK_K * stride_ak
            b_ptrs += BLOCK_K * stride_bk
        c = acc.to(tl.float16)
        cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        tl.store(c_ptr + cm[:, None] * stride_cm + cn[None, :] * stride_cn, c, mask=(cm[:, None] < M) & (cn[None, :] < N))

    a = torch.randn(size, size, device="cuda", dtype=torch.float16)
    b = torch.randn(size, size, device="cuda", dtype=torch.float16)
    c = torch.empty(size, size, device="cuda", dtype=torch.float16)
    grid = lambda meta: (triton.cdiv(size, meta["BLOCK_M"]) * triton.cdiv(size, meta["BLOCK_N"]),)  # noqa: E731
    t0 = time.perf_counter()
    matmul_kernel[grid](a, b, c, size, size, size, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                        c.stride(0), c.stride(1))  # fmt: skip
    torch.cuda.synchronize()
    print(f"autotuned {len(configs)} configs -> benchmarked {len(matmul_kernel.configs_timings)} in "
          f"{time.perf_counter() - t0:.1f} s (perf_model made {perf_model.batches} batched prediction call(s))")  # fmt: skip
    for cfg, ms in sorted(matmul_kernel.configs_timings.items(), key=lambda x: x[1][0] if isinstance(x[1], list) else x[1]):
        print(f"  measured {cfg}: {ms}")
    print(f"best: {matmul_kernel.best_config}")
    torch.testing.assert_close(c, (a.float() @ b.float()).half(), atol=1e-1, rtol=1e-2)


class _TensorLike:
    """What perf_model sees of a tensor argument: its dtype."""

    def __init__(self, dtype: str):
        self.dtype = dtype


def replay_triton_pruning(perf_model_args: dict, top_k: int, size: int) -> None:
    perf_model = TritonPerfModel(configs=config_dicts(), **perf_model_args)
    nargs = {"a_ptr": _TensorLike("torch.float16"), "b_ptr": _TensorLike("torch.float16"),
             "c_ptr": _TensorLike("torch.float16"), "M": size, "N": size, "K": size, "stride_am": size,
             "stride_ak": 1, "stride_bk": size, "stride_bn": 1, "stride_cm": size, "stride_cn": 1}  # fmt: skip
    configs = config_dicts()
    t0 = time.perf_counter()
    # Triton's Autotuner.prune_configs: perf_model(**nargs, **kwargs, **config.all_kwargs()) per config
    est = [perf_model(**nargs, **{**cfg, "num_ctas": 1}) for cfg in configs]
    pruned = sorted(range(len(configs)), key=est.__getitem__)[:top_k]
    dt = time.perf_counter() - t0
    print(f"(no Triton/CUDA here: replayed Triton's pruning call) {len(configs)} configs scored in {dt * 1e3:.1f} ms "
          f"with {perf_model.batches} batched prediction call(s); Triton would benchmark:")  # fmt: skip
    for i in pruned:
        print(f"  {configs[i]}  predicted {est[i]:.4f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("PERFCAST_MODEL", DEFAULT_MODEL))
    parser.add_argument("--system", default=None, help="GPU name (default: the local CUDA GPU, else A100)")
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    try:
        import torch
        import triton  # noqa: F401

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    system = args.system or (torch.cuda.get_device_name() if has_gpu else "NVIDIA A100-SXM4-80GB")
    perf_model_args = {"source": Predictor.load(args.model), "system": system, "kernel": "triton.matmul"}
    (run_with_triton if has_gpu else replay_triton_pruning)(perf_model_args, args.top_k, args.size)


if __name__ == "__main__":
    main()
