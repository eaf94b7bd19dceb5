"""The Triton kernels the collector sweeps, and their launch arguments (needs torch + triton).

Each family has one `@triton.jit` kernel and a `*_call` function that returns
`(jit_fn, args, kwargs, grid)`. The same function builds the arguments for a compile-only warm-up in
a worker process (tensors replaced by their torch dtypes, which Triton's `warmup` turns into mock
tensors) and for the real launch, so both specialise identically and the worker's compile lands in
Triton's on-disk cache under the key the measuring process looks up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import triton
import triton.language as tl

TORCH_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
                  IS_FP32: tl.constexpr, ALLOW_TF32: tl.constexpr):
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        if IS_FP32:
            if ALLOW_TF32:
                acc = tl.dot(a, b, acc, input_precision="tf32")
            else:
                acc = tl.dot(a, b, acc, input_precision="ieee")
        else:
            acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    c = acc.to(c_ptr.dtype.element_ty)
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    tl.store(c_ptrs, c, mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


@triton.jit
def softmax_kernel(x_ptr, y_ptr, n_cols, stride_x, stride_y, BLOCK_SIZE: tl.constexpr):
    # One program per row; three passes over BLOCK_SIZE chunks (max, sum of exp, write).
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_x
    y_row = y_ptr + row * stride_y
    offs = tl.arange(0, BLOCK_SIZE)
    m = tl.full((BLOCK_SIZE,), -float("inf"), tl.float32)
    for start in range(0, n_cols, BLOCK_SIZE):
        x = tl.load(x_row + start + offs, mask=start + offs < n_cols, other=-float("inf")).to(tl.float32)
        m = tl.maximum(m, x)
    row_max = tl.max(m, 0)
    s = tl.zeros((BLOCK_SIZE,), tl.float32)
    for start in range(0, n_cols, BLOCK_SIZE):
        x = tl.load(x_row + start + offs, mask=start + offs < n_cols, other=-float("inf")).to(tl.float32)
        s += tl.exp(x - row_max)
    denom = tl.sum(s, 0)
    for start in range(0, n_cols, BLOCK_SIZE):
        mask = start + offs < n_cols
        x = tl.load(x_row + start + offs, mask=mask, other=-float("inf")).to(tl.float32)
        y = tl.exp(x - row_max) / denom
        tl.store(y_row + start + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def layernorm_kernel(x_ptr, y_ptr, w_ptr, b_ptr, n_cols, stride, eps, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride
    y_row = y_ptr + row * stride
    offs = tl.arange(0, BLOCK_SIZE)
    acc = tl.zeros((BLOCK_SIZE,), tl.float32)
    for start in range(0, n_cols, BLOCK_SIZE):
        x = tl.load(x_row + start + offs, mask=start + offs < n_cols, other=0.0).to(tl.float32)
        acc += x
    mean = tl.sum(acc, 0) / n_cols
    acc = tl.zeros((BLOCK_SIZE,), tl.float32)
    for start in range(0, n_cols, BLOCK_SIZE):
        mask = start + offs < n_cols
        x = tl.load(x_row + start + offs, mask=mask, other=0.0).to(tl.float32)
        x = tl.where(mask, x - mean, 0.0)
        acc += x * x
    rstd = 1.0 / tl.sqrt(tl.sum(acc, 0) / n_cols + eps)
    for start in range(0, n_cols, BLOCK_SIZE):
        mask = start + offs < n_cols
        w = tl.load(w_ptr + start + offs, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + start + offs, mask=mask, other=0.0).to(tl.float32)
        x = tl.load(x_row + start + offs, mask=mask, other=0.0).to(tl.float32)
        y = (x - mean) * rstd * w + b
        tl.store(y_row + start + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def elementwise_kernel(x_ptr, g_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):
    # SiLU-gated product, out = x * sigmoid(x) * g: memory-bound, two reads and one write.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + offs, (x * tl.sigmoid(x) * g).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def reduction_kernel(x_ptr, out_ptr, n_rows, n_cols, stride, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # Row sums of a (rows, cols) matrix, BLOCK_M rows per program, fp32 accumulation.
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < n_rows
    row_off = rows.to(tl.int64)[:, None] * stride
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for start in range(0, n_cols, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        x = tl.load(x_ptr + row_off + cols[None, :], mask=rmask[:, None] & (cols[None, :] < n_cols), other=0.0)
        acc += x.to(tl.float32)
    tl.store(out_ptr + rows, tl.sum(acc, 1), mask=rmask)


# ---------------------------------------------------------------------------------------------
# Inputs and launch arguments
# ---------------------------------------------------------------------------------------------


def _rand(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    # Never zeros: they hide unwritten outputs and can run faster than real data.
    return torch.randn(shape, device="cuda", dtype=torch.float32, generator=gen).to(dtype)


def matmul_operands(problem: Mapping[str, Any], gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A (M,K), B (K,N) in the problem's layouts (col = transposed view of a contiguous tensor), C (M,N)."""
    m, n, k = int(problem["M"]), int(problem["N"]), int(problem["K"])
    dt = TORCH_DTYPES[problem["dtype"]]
    batch = int(problem.get("batch", 1))
    lead = (batch,) if batch > 1 else ()
    a = _rand((*lead, k, m), dt, gen).transpose(-1, -2) if problem.get("a_layout") == "col" else _rand((*lead, m, k), dt, gen)
    b = _rand((*lead, n, k), dt, gen).transpose(-1, -2) if problem.get("b_layout") == "col" else _rand((*lead, k, n), dt, gen)
    c = torch.empty((*lead, m, n), device="cuda", dtype=dt)
    return {"a": a, "b": b, "c": c}


def make_inputs(kernel: str, problem: Mapping[str, Any], gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random device inputs (and the output buffer) for one problem."""
    dt = TORCH_DTYPES[problem["dtype"]]
    if kernel.endswith(".matmul"):
        return matmul_operands(problem, gen)
    if kernel == "triton.elementwise":
        n = int(problem["numel"])
        return {"x": _rand((n,), dt, gen), "g": _rand((n,), dt, gen), "out": torch.empty(n, device="cuda", dtype=dt)}
    rows, cols = int(problem["rows"]), int(problem["cols"])
    x = _rand((rows, cols), dt, gen)
    if kernel == "triton.reduction":
        return {"x": x, "out": torch.empty(rows, device="cuda", dtype=torch.float32)}
    inputs = {"x": x, "y": torch.empty_like(x)}
    if kernel == "triton.layernorm":
        inputs["w"] = _rand((cols,), dt, gen)
        inputs["b"] = _rand((cols,), dt, gen)
    return inputs


def _strides(problem: Mapping[str, Any]) -> tuple[int, int, int, int]:
    m, n, k = int(problem["M"]), int(problem["N"]), int(problem["K"])
    sam, sak = (1, m) if problem.get("a_layout") == "col" else (k, 1)
    sbk, sbn = (1, k) if problem.get("b_layout") == "col" else (n, 1)
    return sam, sak, sbk, sbn


def triton_call(kernel: str, params: Mapping[str, Any], problem: Mapping[str, Any],
                inputs: Mapping[str, Any] | None) -> tuple[Any, tuple[Any, ...], dict[str, Any], tuple[int, ...]]:
    """(jit function, positional args, keyword args, grid) for one launch.

    With `inputs=None` the tensor arguments are torch dtypes (for `jit_fn.warmup`, compile only).
    Integer arguments are computed from the problem, never read off tensors, so the worker and the
    measuring process pass identical values (Triton specialises on `% 16` and `== 1`).
    """
    dt = TORCH_DTYPES[problem["dtype"]]

    def t(name: str, dtype: torch.dtype = dt) -> Any:
        return dtype if inputs is None else inputs[name]

    launch = {k: int(params[k]) for k in ("num_warps", "num_stages") if k in params}
    if kernel == "triton.matmul":
        m, n, k = int(problem["M"]), int(problem["N"]), int(problem["K"])
        bm, bn = int(params["BLOCK_M"]), int(params["BLOCK_N"])
        sam, sak, sbk, sbn = _strides(problem)
        args = (t("a"), t("b"), t("c"), m, n, k, sam, sak, sbk, sbn, n, 1)
        kwargs = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": int(params["BLOCK_K"]), "GROUP_M": int(params["GROUP_M"]),
                  "IS_FP32": problem["dtype"] == "fp32", "ALLOW_TF32": bool(problem.get("allow_tf32", False)), **launch}
        return matmul_kernel, args, kwargs, (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    if kernel == "triton.elementwise":
        n = int(problem["numel"])
        bs = int(params["BLOCK_SIZE"])
        return elementwise_kernel, (t("x"), t("g"), t("out"), n), {"BLOCK_SIZE": bs, **launch}, (triton.cdiv(n, bs),)
    rows, cols = int(problem["rows"]), int(problem["cols"])
    if kernel == "triton.softmax":
        args = (t("x"), t("y"), cols, cols, cols)
        return softmax_kernel, args, {"BLOCK_SIZE": int(params["BLOCK_SIZE"]), **launch}, (rows,)
    if kernel == "triton.layernorm":
        args = (t("x"), t("y"), t("w"), t("b"), cols, cols, 1e-5)
        return layernorm_kernel, args, {"BLOCK_SIZE": int(params["BLOCK_SIZE"]), **launch}, (rows,)
    if kernel == "triton.reduction":
        bm = int(params["BLOCK_M"])
        args = (t("x"), t("out", torch.float32), rows, cols, cols)
        return reduction_kernel, args, {"BLOCK_M": bm, "BLOCK_N": int(params["BLOCK_N"]), **launch}, (triton.cdiv(rows, bm),)
    raise ValueError(f"not a Triton kernel family: {kernel}")


def reference_check(kernel: str, problem: Mapping[str, Any], inputs: Mapping[str, torch.Tensor]) -> float:
    """Relative error ||out - ref|| / ||ref|| of the kernel output against torch in fp32 (run after a launch)."""
    if kernel.endswith(".matmul"):
        ref = torch.matmul(inputs["a"].float(), inputs["b"].float())
        out = inputs["c"].float()
    elif kernel == "triton.elementwise":
        x, g = inputs["x"].float(), inputs["g"].float()
        ref, out = x * torch.sigmoid(x) * g, inputs["out"].float()
    elif kernel == "triton.softmax":
        ref, out = torch.softmax(inputs["x"].float(), dim=-1), inputs["y"].float()
    elif kernel == "triton.layernorm":
        x = inputs["x"].float()
        ref = torch.nn.functional.layer_norm(x, (x.shape[-1],), inputs["w"].float(), inputs["b"].float(), 1e-5)
        out = inputs["y"].float()
    elif kernel == "triton.reduction":
        ref, out = inputs["x"].float().sum(dim=1), inputs["out"]
    else:
        raise ValueError(kernel)
    denom = torch.linalg.vector_norm(ref).item() or 1.0
    return float(torch.linalg.vector_norm(out - ref).item() / denom)


def cublas_call(problem: Mapping[str, Any], inputs: Mapping[str, torch.Tensor]) -> Any:
    """A closure running torch.matmul (cuBLAS) into the preallocated output, with the problem's TF32 mode.

    The closure sets `allow_tf32` on every call: the mode is global state, and the runner turns it off
    for its fp32 reference checks, so a flag set once before timing did not reach the power window
    (fp32 TF32 problems had their power measured on the ~9x slower full-fp32 kernel)."""
    a, b, c = inputs["a"], inputs["b"], inputs["c"]
    allow_tf32 = bool(problem.get("allow_tf32", False))
    matmul = torch.bmm if a.dim() == 3 else torch.mm
    backend = torch.backends.cuda.matmul

    def launch() -> Any:
        backend.allow_tf32 = allow_tf32
        return matmul(a, b, out=c)

    return launch
