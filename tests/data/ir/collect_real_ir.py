"""Regenerate the real Triton IR samples in `tests/data/ir/real/` (needs a CUDA GPU with torch + triton).

    python tests/data/ir/collect_real_ir.py OUT_DIR

Compiles the Triton tutorial matmul for two configs and writes what Triton itself emits
(`kernel.asm`: ttir, ttgir, llir, ptx) plus the versions used.
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
    a = torch.randn(m, k, device="cuda", dtype=dtype)
    b = torch.randn(k, n, device="cuda", dtype=dtype)
    c = torch.empty(m, n, device="cuda", dtype=dtype)
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    kern = matmul_kernel[grid](a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0),
                               c.stride(1), BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8, num_warps=warps,
                               num_stages=stages)  # fmt: skip
    torch.cuda.synchronize()
    err = (c.float() - a.float() @ b.float()).abs().max().item()
    print(f"{dtype} {bm}x{bn}x{bk} w{warps} s{stages}: max abs err {err:.3g}")
    return kern.asm


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    ext = {"ttir": "ttir", "ttgir": "ttgir", "llir": "ll", "ptx": "ptx"}
    configs = [((torch.float16, 128, 128, 64, 8, 3), ("ttir", "ttgir", "llir", "ptx")),
               ((torch.bfloat16, 64, 64, 32, 4, 4), ("ttgir", "llir", "ptx"))]  # fmt: skip
    for (dtype, bm, bn, bk, w, s), keys in configs:
        asm = compile_asm(dtype, bm, bn, bk, w, s)
        name = f"triton_matmul_{str(dtype).split('.')[-1]}_{bm}x{bn}x{bk}_w{w}_s{s}"
        for key in keys:
            (out / f"{name}.{ext[key]}").write_text(asm[key])
            print(key, len(asm[key]))
    (out / "VERSIONS.txt").write_text(
        f"triton {triton.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
