"""Regenerate the real Triton IR samples in `tests/data/ir/real/` (needs a CUDA GPU with torch + triton).

    python tests/data/ir/collect_real_ir.py OUT_DIR [matmul|extra]

`matmul` (default): the Triton tutorial matmul for two configs, all stages Triton emits (`kernel.asm`:
ttir, ttgir, llir, ptx). `extra`: TTGIR and PTX of a fused softmax (reductions), an fp8 matmul and a
matmul through tensor descriptors (TMA). Also writes the versions used.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import triton
import triton.language as tl


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, sam, sak, sbk, sbn, scm, scn,  # noqa: N803
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):  # noqa: N803
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    group = GROUP_M * num_pid_n
    first = (pid // group) * GROUP_M
    gsz = min(num_pid_m - first, GROUP_M)
    pid_m = first + ((pid % group) % gsz)
    pid_n = (pid % group) // gsz
    offs_m = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_n = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a = a_ptr + offs_m[:, None] * sam + offs_k[None, :] * sak
    b = b_ptr + offs_k[:, None] * sbk + offs_n[None, :] * sbn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        x = tl.load(a, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        y = tl.load(b, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc = tl.dot(x, y, acc)
        a += BLOCK_K * sak
        b += BLOCK_K * sbk
    c = acc.to(c_ptr.dtype.element_ty)
    cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    tl.store(c_ptr + scm * cm[:, None] + scn * cn[None, :], c, mask=(cm[:, None] < M) & (cn[None, :] < N))


def compile_asm(dtype: torch.dtype, bm: int, bn: int, bk: int, warps: int, stages: int) -> dict[str, str]:
    m = n = k = 1024
    a = torch.randn(m, k, device="cuda", dtype=torch.float16).to(dtype)  # randn has no fp8
    b = torch.randn(k, n, device="cuda", dtype=torch.float16).to(dtype)
    c = torch.empty(m, n, device="cuda", dtype=dtype)
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    kern = matmul_kernel[grid](a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0),
                               c.stride(1), BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8, num_warps=warps,
                               num_stages=stages)  # fmt: skip
    torch.cuda.synchronize()
    err = (c.float() - a.float() @ b.float()).abs().max().item()
    print(f"{dtype} {bm}x{bn}x{bk} w{warps} s{stages}: max abs err {err:.3g}")
    return kern.asm


@triton.jit
def softmax_kernel(out_ptr, in_ptr, in_stride, out_stride, n_rows, n_cols, BLOCK: tl.constexpr):  # noqa: N803
    for row in tl.range(tl.program_id(0), n_rows, tl.num_programs(0)):
        offs = tl.arange(0, BLOCK)
        x = tl.load(in_ptr + row * in_stride + offs, mask=offs < n_cols, other=-float("inf"))
        x = x - tl.max(x, axis=0)
        num = tl.exp(x)
        tl.store(out_ptr + row * out_stride + offs, num / tl.sum(num, axis=0), mask=offs < n_cols)


@triton.jit
def tma_matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,  # noqa: N803
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):  # noqa: N803
    a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[K, 1], block_shape=[BLOCK_M, BLOCK_K])
    b_desc = tl.make_tensor_descriptor(b_ptr, shape=[K, N], strides=[N, 1], block_shape=[BLOCK_K, BLOCK_N])
    c_desc = tl.make_tensor_descriptor(c_ptr, shape=[M, N], strides=[N, 1], block_shape=[BLOCK_M, BLOCK_N])
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in tl.range(0, K, BLOCK_K, num_stages=3):
        a = a_desc.load([pid_m * BLOCK_M, k])
        b = b_desc.load([k, pid_n * BLOCK_N])
        acc = tl.dot(a, b, acc)
    c_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], acc.to(tl.float16))


def extra(out: Path) -> None:
    torch.manual_seed(0)
    x = torch.randn(4096, 1000, device="cuda", dtype=torch.float32)
    y = torch.empty_like(x)
    k = softmax_kernel[(132,)](y, x, x.stride(0), y.stride(0), 4096, 1000, BLOCK=1024, num_warps=8, num_stages=2)
    torch.cuda.synchronize()
    print("softmax max err", (y - torch.softmax(x, dim=1)).abs().max().item())
    for key, ext in (("ttgir", "ttgir"), ("ptx", "ptx")):
        (out / f"triton_softmax_fp32_1024_w8.{ext}").write_text(k.asm[key])
    try:
        asm = compile_asm(torch.float8_e4m3fn, 128, 128, 64, 4, 3)
        for key, ext in (("ttgir", "ttgir"), ("ptx", "ptx")):
            (out / f"triton_matmul_fp8e4m3_128x128x64_w4_s3.{ext}").write_text(asm[key])
    except Exception as exc:  # keep the other samples if this Triton/GPU cannot do fp8
        print("fp8 matmul failed:", type(exc).__name__, exc)
    try:
        triton.set_allocator(lambda size, align, stream: torch.empty(size, dtype=torch.int8, device="cuda"))
        m = n = kk = 1024
        a = torch.randn(m, kk, device="cuda", dtype=torch.float16)
        b = torch.randn(kk, n, device="cuda", dtype=torch.float16)
        c = torch.empty(m, n, device="cuda", dtype=torch.float16)
        kern = tma_matmul_kernel[(m // 128, n // 128)](a, b, c, m, n, kk, BLOCK_M=128, BLOCK_N=128, BLOCK_K=64,
                                                       num_warps=4)  # fmt: skip
        torch.cuda.synchronize()
        print("tma matmul max err", (c.float() - a.float() @ b.float()).abs().max().item())
        for key, ext in (("ttgir", "ttgir"), ("ptx", "ptx")):
            (out / f"triton_tma_matmul_fp16_128x128x64_w4_s3.{ext}").write_text(kern.asm[key])
    except Exception as exc:
        print("tma matmul failed:", type(exc).__name__, exc)


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "VERSIONS.txt").write_text(
        f"triton {triton.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}\n"
    )
    if len(sys.argv) > 2 and sys.argv[2] == "extra":
        extra(out)
        return 0
    ext = {"ttir": "ttir", "ttgir": "ttgir", "llir": "ll", "ptx": "ptx"}
    configs = [((torch.float16, 128, 128, 64, 8, 3), ("ttir", "ttgir", "llir", "ptx")),
               ((torch.bfloat16, 64, 64, 32, 4, 4), ("ttgir", "llir", "ptx"))]  # fmt: skip
    for (dtype, bm, bn, bk, w, s), keys in configs:
        asm = compile_asm(dtype, bm, bn, bk, w, s)
        name = f"triton_matmul_{str(dtype).split('.')[-1]}_{bm}x{bn}x{bk}_w{w}_s{s}"
        for key in keys:
            (out / f"{name}.{ext[key]}").write_text(asm[key])
            print(key, len(asm[key]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
