"""IR text features: normalise and featurise MLIR (Triton TTIR/TTGIR, upstream dialects), LLVM IR and PTX.

Three public operations, all total functions (arbitrary text never raises):

* `detect_ir_kind(text)` -> one of `KINDS` or ``"unknown"``.
* `normalize_ir(text, kind=None)` -> canonical text: locations, debug info, comments and SSA / register /
  label names dropped; ops, types, shapes and attributes kept; whitespace collapsed. Deterministic and
  idempotent (`normalize_ir(normalize_ir(x)) == normalize_ir(x)`, a hypothesis property in the tests).
* `ir_features(text, kind=None)` / `ir_feature_frame(texts, kind=None)` -> numeric structural features with
  a *fixed* key list per kind (`feature_names(kind)`): unknown ops and dialects fall into ``other`` buckets,
  never into new keys, so frames built from different datasets share one schema.

Features come from a fast regex tokenizer (one pass over the text, no per-op objects). The real parsers
(xDSL for MLIR, llvmlite for LLVM IR) are pure-Python / C++ respectively and are used through `check_ir`
to validate text and as reference oracles in the tests (the tokenizer's op counts are checked against
theirs); they are imported lazily so `import perfcast.features` stays cheap. xDSL cannot read Triton's
pretty-printed `tt`/`ttg` ops (they need dialect definitions) and costs ~5-150 ms per kernel, so it is not
on the featurisation path; see README section `ir` and `benchmarks/bench_ir.py` for the measurements.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd

KINDS: tuple[str, ...] = ("ttir", "ttgir", "mlir", "llvm", "ptx")
MLIR_KINDS: tuple[str, ...] = ("ttir", "ttgir", "mlir")

# --------------------------------------------------------------------------------------------------
# Kind detection. Markers are line-anchored keywords that normalisation keeps, so the detected kind of
# a normalised text is (nearly always) the kind of its source; `normalize_ir` iterates to a fixpoint to
# make idempotence exact even when it is not.
# --------------------------------------------------------------------------------------------------
_PTX_MARK = re.compile(r"^[ \t]*\.(?:version|target|address_size|entry|visible[ \t]+\.(?:entry|func))\b", re.M)
_LLVM_MARK = re.compile(
    r"^[ \t]*(?:define[ \t][^\n]*@|declare[ \t][^\n]*@|target[ \t]+(?:datalayout|triple)[ \t]*=)", re.M
)
_TTGIR_MARK = re.compile(r"\b(?:ttg|triton_gpu|ttng|triton_nvidia_gpu|amdgpu_triton)\.[A-Za-z_]")
_TTIR_MARK = re.compile(r"\btt\.[a-z_]")
_MLIR_MARK = re.compile(
    r"^[ \t]*(?:(?:%[^=\n]*=[ \t]*)?\"?[a-z_][\w$]*\.[a-z_][\w.$]*\"?[ \t]*[(<{%@:\"]|module\b|func\.func\b)",
    re.M,
)


def detect_ir_kind(text: str) -> str:
    """Guess the IR kind of `text`: one of `KINDS` (`ttir`, `ttgir`, `mlir`, `llvm`, `ptx`) or ``"unknown"``."""
    if not isinstance(text, str) or not text.strip():
        return "unknown"
    if _PTX_MARK.search(text):
        return "ptx"
    if _LLVM_MARK.search(text):
        return "llvm"
    if _TTGIR_MARK.search(text):
        return "ttgir"
    if _TTIR_MARK.search(text):
        return "ttir"
    if _MLIR_MARK.search(text):
        return "mlir"
    return "unknown"


def _check_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    k = str(kind).lower()
    if k in ("ll", "llir", "llvmir"):
        k = "llvm"
    if k not in KINDS and k != "unknown":
        raise ValueError(f"unknown IR kind {kind!r}; expected one of {KINDS} or None to detect")
    return k


# --------------------------------------------------------------------------------------------------
# Stage A ("strip"): remove locations, debug info and comments, keep names (features need SSA names to
# resolve constant trip counts). Stage B ("canon"): drop SSA/register/label names, collapse whitespace.
# Each stage is one `re.sub` with an alternation so strings are skipped consistently.
# --------------------------------------------------------------------------------------------------
# string literal, "unrolled loop" form: runs of plain characters match in one step (IR strings can be
# 100+ KB of inline asm)
_STR = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_LOC = r'\bloc\((?:[^()"\n]|' + _STR + r"|\((?:[^()\"\n]|" + _STR + r"|\([^()\n]*\))*\))*\)"

# Whole-line removals run as their own pass: an anchored alternative inside the main alternation would be
# tried at every character and triples the cost.
_MLIR_LOCDEF = re.compile(r"^[ \t]*#loc[\w.$-]*[ \t]*=[ \t]*" + _LOC + r"[^\n]*", re.M)
_MLIR_STRIP = re.compile(
    r"(?P<s>" + _STR + r")"
    r"|(?P<loc>" + _LOC + r")"
    r"|(?P<res>\{-#.*?#-\})"
    r"|(?P<c>//[^\n]*)",
    re.S,
)


def _mlir_strip_sub(m: re.Match[str]) -> str:
    return m.group(0) if m.lastgroup == "s" else " "


_MLIR_CANON = re.compile(
    r"(?P<s>" + _STR + r")"
    r"|(?P<ssa>%[\w$.-]+(?:#\d+)?)"
    r"|(?P<blk>\^[\w$.-]+)",
)


def _mlir_canon_sub(m: re.Match[str]) -> str:
    g = m.lastgroup
    if g == "ssa":
        return "%"
    if g == "blk":
        return "^bb"
    return m.group(0)


_LLVM_DBGLINES = re.compile(
    r"^[ \t]*(?:![\w.$-]+[ \t]*=[ \t]*(?:distinct[ \t]+)?!DI|!llvm\.dbg\.|#dbg_\w+\(|source_filename[ \t]*=)[^\n]*",
    re.M,
)
_LLVM_DBG_MARKERS = ("!DI", "!llvm.dbg.", "#dbg_", "source_filename")
_LLVM_STRIP = re.compile(
    r"(?P<s>" + _STR + r")"  # c"..." constants: the `c` stays, the string is skipped the same way
    r"|(?P<dbg>,[ \t]*!dbg[ \t]+!\d+|!dbg[ \t]+!\d+)"
    r"|(?P<c>;[^\n]*)",
)


def _llvm_strip_sub(m: re.Match[str]) -> str:
    return m.group(0) if m.lastgroup == "s" else " "


_LLVM_CANON = re.compile(
    r"(?P<s>c?" + _STR + r")"
    r"|(?P<keep>%(?:struct|union|class)\.[\w$.-]+)"
    r"|(?P<ssa>%(?:[\w$.-]+|" + _STR + r"))"
)
# block labels (`5:`, `.lr.ph:`) on their own line
_LLVM_LABEL_LINE = re.compile(r"^[ \t]*([\w$.-]+|" + _STR + r"):(?=[ \t]*$)", re.M)
_LLVM_BODY = re.compile(r"^define\b[^\n]*\{[ \t]*\n(?:.*?\n)??\}", re.M | re.S)


def _llvm_canon_body(body: str) -> str:
    """One function: SSA names -> `%`, block labels -> `bb<i>` in order of definition (refs follow), so the
    CFG (and its loops) survives while value names do not."""
    labels: dict[str, str] = {}
    for m in _LLVM_LABEL_LINE.finditer(body):
        labels.setdefault(m.group(1), f"bb{len(labels)}")
    if labels:
        body = _LLVM_LABEL_LINE.sub(lambda m: labels[m.group(1)] + ":", body)

    def sub(m: re.Match[str]) -> str:
        if m.lastgroup != "ssa":
            return m.group(0)
        label = labels.get(m.group(0)[1:])
        return "%" + label if label else "%"

    return _LLVM_CANON.sub(sub, body)


def _llvm_canon_sub(m: re.Match[str]) -> str:
    return "%" if m.lastgroup == "ssa" else m.group(0)


def _llvm_canon(text: str) -> str:
    """Label numbering is per function (LLVM numbers values and blocks per function)."""
    out: list[str] = []
    pos = 0
    for m in _LLVM_BODY.finditer(text):
        out.append(_LLVM_CANON.sub(_llvm_canon_sub, text[pos : m.start()]))
        out.append(_llvm_canon_body(m.group(0)))
        pos = m.end()
    out.append(_LLVM_CANON.sub(_llvm_canon_sub, text[pos:]))
    return "".join(out)


_PTX_DIRLINES = re.compile(r"^[ \t]*\.(?:loc|file)\b[^\n]*", re.M)
_PTX_STRIP = re.compile(
    r"(?P<dbgsec>\.section[ \t]+\.debug_\w+[ \t\n]*(?:\{[^{}]*\})?)"
    r"|(?P<bc>/\*.*?\*/)"
    r"|(?P<c>//[^\n]*)",
    re.S,
)


def _ptx_strip_sub(m: re.Match[str]) -> str:
    return "" if m.lastgroup == "dbgsec" else " "


_PTX_REGNUM = re.compile(r"%([a-z]+)\d+\b")
_PTX_LABEL_NAME = re.compile(r"\$L__[\w$]*|\$?LBB\d+_\d+|\$L\d+\b")
_PTX_LABEL_DEF = re.compile(r"^[ \t]*(\$L__[\w$]*|\$?LBB\d+_\d+|\$L\d+):[ \t]*$", re.M)


def _ptx_canon(text: str) -> str:
    """Registers -> their class (`%r12` -> `%r`); labels nobody branches to (debug `$L__tmp0`,
    `$L__func_begin0`) dropped; the others renamed `$L<i>` in order of first appearance."""
    text = _PTX_REGNUM.sub(r"%\1", text)
    uses = Counter(_PTX_LABEL_NAME.findall(text))
    defs = Counter(m.group(1) for m in _PTX_LABEL_DEF.finditer(text))
    referenced = {name for name, n in uses.items() if n > defs.get(name, 0)}
    if defs.keys() - referenced:
        text = _PTX_LABEL_DEF.sub(lambda m: m.group(0) if m.group(1) in referenced else "", text)
    order: dict[str, str] = {}
    for name in _PTX_LABEL_NAME.findall(text):
        order.setdefault(name, f"$L{len(order)}")
    return _PTX_LABEL_NAME.sub(lambda m: order[m.group(0)], text) if order else text


_WS = re.compile(r"[\t\r\f\v][ \t\r\f\v]*| [ \t\r\f\v]+")
_SPACE_BEFORE_CLOSE = re.compile(r" (?=[,)])")


_NL_RUN = re.compile(r" ?\n(?: ?\n)* ?")


def _squash(text: str) -> str:
    """Collapse horizontal whitespace, strip lines, drop empty lines (regex passes, no per-line Python)."""
    return _NL_RUN.sub("\n", _WS.sub(" ", text)).strip(" \n")


def _family(kind: str) -> str:
    return "mlir" if kind in MLIR_KINDS else kind


def _strip(text: str, family: str) -> str:
    if family == "mlir":
        if "#loc" in text:
            text = _MLIR_LOCDEF.sub("", text)
        return _MLIR_STRIP.sub(_mlir_strip_sub, text)
    if family == "llvm":
        if any(m in text for m in _LLVM_DBG_MARKERS):
            text = _LLVM_DBGLINES.sub("", text)
        return _LLVM_STRIP.sub(_llvm_strip_sub, text)
    if family == "ptx":
        if ".loc" in text or ".file" in text:
            text = _PTX_DIRLINES.sub("", text)
        return _PTX_STRIP.sub(_ptx_strip_sub, text)
    return text


def _canon(text: str, family: str) -> str:
    if family == "mlir":
        text = _MLIR_CANON.sub(_mlir_canon_sub, text)
    elif family == "llvm":
        text = _llvm_canon(text)
    elif family == "ptx":
        text = _ptx_canon(text)
    text = _squash(text)
    # locations sat before commas/parens (`{...} loc(...), %arg1`): remove the space they leave behind
    return _SPACE_BEFORE_CLOSE.sub("", text) if family == "mlir" else text


def _normalize_once(text: str, kind: str) -> str:
    family = _family(kind)
    return _canon(_strip(text, family), family)


_MAX_FIXPOINT_ROUNDS = 4


def normalize_ir(text: str, kind: str | None = None) -> str:
    """Canonical form of IR text: no locations, debug info, comments, SSA/register/label names; ops, types,
    shapes and attributes kept; one statement per line with single spaces. `kind` None detects it.

    Deterministic and idempotent; arbitrary text never raises (non-strings give ``""``).
    """
    if not isinstance(text, str) or not text:
        return ""
    fixed = _check_kind(kind)
    out = text
    # Iterate to a fixpoint: stripping a comment can reveal a different kind marker or join tokens; a fixpoint
    # is idempotent by construction. Real IR converges after the first round (verified by the second).
    for _ in range(_MAX_FIXPOINT_ROUNDS):
        k = fixed if fixed is not None else detect_ir_kind(out)
        new = _normalize_once(out, k)
        if new == out:
            break
        out = new
    return out


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------
#: MLIR dialects with their own `dialect.<d>` column; every other dialect counts into `dialect.other`.
MLIR_DIALECTS: tuple[str, ...] = (
    "tt", "ttg", "ttng", "scf", "arith", "math", "cf", "func", "linalg", "affine", "memref", "tensor",
    "vector", "gpu", "llvm", "nvvm", "builtin",
)  # fmt: skip
_DIALECT_ALIASES = {"triton_gpu": "ttg", "triton_nvidia_gpu": "ttng", "triton": "tt"}
#: Ops with their own `op.<dialect>.<op>` column; the rest of a dialect's ops count into `op.<dialect>.other`.
MLIR_OPS: tuple[str, ...] = (
    "tt.load", "tt.store", "tt.dot", "tt.dot_scaled", "tt.reduce", "tt.scan", "tt.broadcast", "tt.splat",
    "tt.expand_dims", "tt.make_range", "tt.addptr", "tt.atomic_rmw", "tt.atomic_cas", "tt.trans", "tt.reshape",
    "tt.descriptor_load", "tt.descriptor_store", "tt.get_program_id",
    "ttg.convert_layout", "ttg.local_alloc", "ttg.local_load", "ttg.local_store", "ttg.local_dealloc",
    "ttg.async_copy_global_to_local", "ttg.async_commit_group", "ttg.async_wait", "ttg.memdesc_subview",
    "ttg.memdesc_index", "ttg.memdesc_trans",
    "ttng.warp_group_dot", "ttng.warp_group_dot_wait", "ttng.async_tma_copy_global_to_local",
    "ttng.barrier_expect", "ttng.wait_barrier", "ttng.init_barrier", "ttng.fence_async_shared",
    "ttng.tc_gen5_mma",
    "scf.for", "scf.while", "scf.if", "scf.yield", "scf.parallel",
    "arith.constant", "arith.addi", "arith.muli", "arith.addf", "arith.mulf", "arith.divsi", "arith.remsi",
    "arith.cmpi", "arith.cmpf", "arith.select", "arith.truncf", "arith.extf", "arith.maximumf",
    "math.exp", "math.exp2", "math.log", "math.sqrt", "math.rsqrt", "math.fma",
    "linalg.matmul", "linalg.batch_matmul", "linalg.generic", "linalg.fill", "linalg.conv_2d_nhwc_hwcf",
    "affine.for", "affine.load", "affine.store", "affine.parallel",
    "memref.load", "memref.store", "memref.alloc", "vector.contract", "vector.load", "vector.store",
    "gpu.barrier", "gpu.launch", "func.func", "func.call", "func.return", "tt.func", "tt.return",
)  # fmt: skip
_LOOP_OPS = frozenset({"scf.for", "scf.while", "scf.parallel", "affine.for", "affine.parallel", "scf.forall"})
_LOAD_OPS = frozenset({
    "tt.load", "tt.descriptor_load", "tt.experimental_descriptor_load", "memref.load", "affine.load",
    "vector.load", "vector.transfer_read", "ttg.async_copy_global_to_local", "ttng.async_tma_copy_global_to_local",
    "amdgpu.buffer_load", "llvm.load", "nvgpu.device_async_copy",
})  # fmt: skip
_STORE_OPS = frozenset({
    "tt.store", "tt.descriptor_store", "tt.experimental_descriptor_store", "memref.store", "affine.store",
    "vector.store", "vector.transfer_write", "ttng.async_tma_copy_local_to_global", "llvm.store",
    "amdgpu.buffer_store",
})  # fmt: skip
_SHARED_LOAD_OPS = frozenset({"ttg.local_load"})
_SHARED_STORE_OPS = frozenset({"ttg.local_store", "ttg.local_alloc_init"})
_DOT_OPS = frozenset({
    "tt.dot", "tt.dot_scaled", "ttng.warp_group_dot", "ttng.tc_gen5_mma", "linalg.matmul", "linalg.batch_matmul",
    "linalg.matmul_transpose_a", "linalg.matmul_transpose_b", "linalg.batch_reduce_matmul", "linalg.matvec",
    "vector.contract", "nvgpu.mma_sync", "nvgpu.warpgroup_mma", "amdgpu.mfma", "amdgpu.wmma", "nvvm.mma.sync",
    "nvvm.wgmma.mma_async",
})  # fmt: skip
_ASYNC_OPS = frozenset({
    "ttg.async_copy_global_to_local", "ttng.async_tma_copy_global_to_local", "nvgpu.device_async_copy",
    "ttng.async_tma_copy_local_to_global", "nvgpu.tma_async_load",
})  # fmt: skip
_TMA_OPS = frozenset({
    "ttng.async_tma_copy_global_to_local", "ttng.async_tma_copy_local_to_global", "tt.descriptor_load",
    "tt.descriptor_store", "tt.experimental_descriptor_load", "nvgpu.tma_async_load",
})  # fmt: skip
_BARRIER_OPS = frozenset({"gpu.barrier", "ttng.wait_barrier", "ttng.barrier_expect", "nvvm.barrier0", "ttg.barrier"})
_MATH_DIALECT = "math"
_REDUCE_OPS = frozenset({"tt.reduce", "tt.scan", "linalg.reduce", "vector.reduction", "vector.multi_reduction"})
_ATOMIC_OPS = frozenset({"tt.atomic_rmw", "tt.atomic_cas", "memref.atomic_rmw", "llvm.atomicrmw"})
_CALL_OPS = frozenset({"tt.call", "func.call", "llvm.call"})
_BRANCH_OPS = frozenset({"scf.if", "cf.br", "cf.cond_br", "llvm.br", "llvm.cond_br", "cf.switch"})
_CAST_PREFIXES = ("arith.ext", "arith.trunc", "arith.sitofp", "arith.uitofp", "arith.fptosi", "arith.fptoui",
                  "arith.bitcast", "arith.index_cast", "tt.bitcast", "tt.fp_to_fp", "tt.int_to_ptr", "tt.ptr_to_int")
_CONVERT_LAYOUT_OPS = frozenset({"ttg.convert_layout", "triton_gpu.convert_layout"})

#: Element types counted (occurrences in types) under `dtype.<name>`.
DTYPES: tuple[str, ...] = ("f8", "f16", "bf16", "tf32", "f32", "f64", "i1", "i8", "i16", "i32", "i64", "index")

#: Keys every kind has.
COMMON_KEYS: tuple[str, ...] = (
    "n_bytes", "n_lines", "n_ops", "n_funcs",
    "n_loops", "loop_depth_max", "loop_n_const_trip", "loop_trip_max", "loop_trip_log2_sum",
    "n_loads", "n_stores", "n_loads_shared", "n_stores_shared", "n_async_copy", "n_tma",
    "n_dot", "dot_m", "dot_n", "dot_k", "dot_mnk_log2",
    "n_barriers", "n_arith", "n_math", "n_cmp", "n_cast", "n_branch", "n_call", "n_atomic", "n_reduce",
    "vec_width_max",
    *(f"dtype.{d}" for d in DTYPES),
)  # fmt: skip
#: Keys of the MLIR family (ttir, ttgir, mlir).
MLIR_KEYS: tuple[str, ...] = (
    "shape.n", "shape.rank_max", "shape.numel_max_log2",
    *(f"dialect.{d}" for d in MLIR_DIALECTS), "dialect.other",
    *(f"op.{o}" for o in MLIR_OPS),
    *(f"op.{d}.other" for d in MLIR_DIALECTS),
)  # fmt: skip
#: Keys only TTGIR has (module attributes and layout encodings).
TTGIR_KEYS: tuple[str, ...] = (
    "num_warps", "num_ctas", "threads_per_warp", "target_sm", "num_stages", "shared_bytes",
    "layout.blocked", "layout.nvidia_mma", "layout.amd_mma", "layout.shared", "layout.dot_op", "layout.slice",
    "layout.linear", "mma.version_major", "mma.instr_m", "mma.instr_n", "mma.instr_k",
    "blocked.size_per_thread_max", "blocked.warps_per_cta_max", "n_convert_layout",
    "smem_alloc_bytes", "smem_buffers_max",
)  # fmt: skip
LLVM_OPCODES: tuple[str, ...] = (
    "load", "store", "getelementptr", "call", "br", "phi", "ret", "icmp", "fcmp", "select", "add", "sub", "mul",
    "shl", "lshr", "ashr", "and", "or", "xor", "sdiv", "udiv", "srem", "urem", "fadd", "fsub", "fmul", "fdiv",
    "fneg", "zext", "sext", "trunc", "fptrunc", "fpext", "bitcast", "sitofp", "uitofp", "fptosi", "fptoui",
    "addrspacecast", "ptrtoint", "inttoptr", "extractelement", "insertelement", "shufflevector",
    "extractvalue", "insertvalue", "atomicrmw", "cmpxchg", "alloca", "switch", "fence", "unreachable", "freeze",
)  # fmt: skip
#: Keys only LLVM IR has.
LLVM_KEYS: tuple[str, ...] = (
    "n_blocks", "n_inline_asm", "n_nvvm_intrinsics", "asm.mma_sync", "asm.wgmma", "asm.cp_async",
    "asm.ldmatrix", "reqntid", *(f"opcode.{o}" for o in LLVM_OPCODES), "opcode.other",
)  # fmt: skip
PTX_OPCODES: tuple[str, ...] = (
    "ld", "st", "ld.global", "st.global", "ld.shared", "st.shared", "ld.param", "ld.global.v4", "cp.async",
    "cp.async.bulk", "mma", "wgmma", "ldmatrix", "stmatrix", "bar", "fence", "mbarrier", "fma", "add", "sub",
    "mul", "mad", "div", "ex2", "lg2", "rcp", "sqrt", "rsqrt", "max", "min", "setp", "selp", "bra", "cvt",
    "mov", "shl", "shr", "and", "or", "xor", "shfl", "atom", "red", "ret", "prmt", "cvta",
)  # fmt: skip
_PTX_KNOWN_BASES = frozenset(o.split(".")[0] for o in PTX_OPCODES)
#: Keys only PTX has.
PTX_KEYS: tuple[str, ...] = (
    "ptx_version", "target_sm", "reqntid", "maxntid", "regs.pred", "regs.b16", "regs.b32", "regs.b64",
    "regs.f32", "regs.f64", "regs.total", *(f"ins.{o}" for o in PTX_OPCODES), "ins.other",
)  # fmt: skip


@cache
def feature_names(kind: str | None = None) -> tuple[str, ...]:
    """The fixed, ordered feature keys for `kind`; None (or ``"unknown"``) gives the union of all kinds plus
    one-hot `is.<kind>` columns, for frames of mixed or undetected kinds."""
    k = _check_kind(kind)
    if k == "ttgir":
        return COMMON_KEYS + MLIR_KEYS + TTGIR_KEYS
    if k in ("ttir", "mlir"):
        return COMMON_KEYS + MLIR_KEYS
    if k == "llvm":
        return COMMON_KEYS + LLVM_KEYS
    if k == "ptx":
        return COMMON_KEYS + PTX_KEYS
    union = list(COMMON_KEYS + MLIR_KEYS + TTGIR_KEYS)
    seen = set(union)
    for key in LLVM_KEYS + PTX_KEYS:
        if key not in seen:
            union.append(key)
            seen.add(key)
    return tuple(union) + tuple(f"is.{k}" for k in KINDS)


_SHAPE_DIMS = re.compile(r"(?:tensor|memref|vector|memdesc)<((?:[0-9?]+x)+)([A-Za-z!][\w]*)")
# element types follow `x` (in shapes) or a delimiter; a leading char class keeps the scan fast
_DTYPE_MLIR = re.compile(r"[x :(<,\[](f8\w*|f16|bf16|tf32|f32|f64|i1|i8|i16|i32|i64|index)\b")
_MNK = re.compile(r"\bm(\d+)n(\d+)k(\d+)\b")


def _log2p(x: float) -> float:
    return math.log2(x) if x > 0 else 0.0


def _dot_shape_mlir(line: str) -> tuple[int, int, int] | None:
    shapes = _SHAPE_DIMS.findall(line)
    if len(shapes) < 2:
        return None
    try:
        a = [int(d) for d in shapes[0][0].rstrip("x").split("x")]
        b = [int(d) for d in shapes[1][0].rstrip("x").split("x")]
    except ValueError:  # dynamic dims `?`
        return None
    if len(a) < 2 or len(b) < 2:
        return None
    return a[-2], b[-1], a[-1]


def _dtype_counts(counter: Counter[str], out: dict[str, float]) -> None:
    for d in DTYPES:
        out[f"dtype.{d}"] = float(counter.get(d, 0))


def _trip_count(lb: int, ub: int, step: int) -> int | None:
    if step <= 0:
        return None
    return max(0, -(-(ub - lb) // step))


def _loop_summary(out: dict[str, float], depth_max: int, n_loops: int, trips: list[int]) -> None:
    out["n_loops"] = float(n_loops)
    out["loop_depth_max"] = float(depth_max)
    out["loop_n_const_trip"] = float(len(trips))
    out["loop_trip_max"] = float(max(trips)) if trips else 0.0
    out["loop_trip_log2_sum"] = float(sum(_log2p(t) for t in trips))


def _set_dot(out: dict[str, float], shapes: list[tuple[int, int, int]]) -> None:
    if shapes:
        m, n, k = max(shapes, key=lambda s: (s[0] * s[1] * s[2], s))
        out["dot_m"], out["dot_n"], out["dot_k"] = float(m), float(n), float(k)
        out["dot_mnk_log2"] = _log2p(m * n * k)
    else:
        out["dot_m"] = out["dot_n"] = out["dot_k"] = out["dot_mnk_log2"] = 0.0


# ---- MLIR family ---------------------------------------------------------------------------------
_MLIR_OP_LINE = re.compile(
    r"^[ \t]*(?:(?:%[\w$.-]*(?::\d+)?(?:[ \t]*,[ \t]*%[\w$.-]*(?::\d+)?)*)[ \t]*=[ \t]*)?"
    r"(?:\"([a-z_][\w$]*)\.([\w$.]+)\"|([a-z_][\w$]*)\.([a-z_][\w$.]*)\b|(return|module)\b)",
    re.M,
)
_MLIR_CONST = re.compile(r"(%[\w$.-]+)[ \t]*=[ \t]*arith\.constant[ \t]+(-?\d+)[ \t]*:[ \t]*(?:i\d+|index)\b")
_MLIR_CONST_GENERIC = re.compile(
    r"(%[\w$.-]+)[ \t]*=[ \t]*\"arith\.constant\"\(\)[ \t]*<\{value[ \t]*=[ \t]*(-?\d+)[ \t]*:[ \t]*(?:i\d+|index)\}>"
)
_SCF_FOR = re.compile(r"scf\.for[ \t]+(?:unsigned[ \t]+)?%[\w$.-]+[ \t]*=[ \t]*(%[\w$.-]+|-?\d+)[ \t]+to[ \t]+"
                      r"(%[\w$.-]+|-?\d+)[ \t]+step[ \t]+(%[\w$.-]+|-?\d+)")  # fmt: skip
_SCF_FOR_GENERIC = re.compile(r"\"scf\.for\"\((%[\w$.-]+),[ \t]*(%[\w$.-]+),[ \t]*(%[\w$.-]+)")
_AFFINE_FOR = re.compile(r"affine\.for[ \t]+%[\w$.-]+[ \t]*=[ \t]*(-?\d+)[ \t]+to[ \t]+(-?\d+)(?:[ \t]+step[ \t]+(\d+))?")
_MODULE_ATTR_INT = re.compile(r"\"?(?:ttg|triton_gpu)\.(num-warps|num-ctas|threads-per-warp|shared)\"?[ \t]*=[ \t]*(\d+)")
_TARGET = re.compile(r"(?:ttg|triton_gpu)\.target\"?[ \t]*=[ \t]*\"(?:cuda|hip):(?:gfx)?(\d+)")
_NUM_STAGES = re.compile(r"tt\.num_stages[ \t]*=[ \t]*(\d+)")
_LAYOUT = re.compile(
    r"#(?:ttg|triton_gpu)\.(blocked|nvidia_mma|mma|amd_mfma|amd_wmma|shared|nvmma_shared|swizzled_shared|"
    r"amd_rotating_shared|dot_op|slice|linear)<"
)
_ALIAS_DEF = re.compile(r"^[ \t]*#[\w$.-]+[ \t]*=[ \t]*#(?:ttg|triton_gpu)\.(\w+)<(\{[^\n]*)", re.M)
_INT_LIST = re.compile(r"(\w+)[ \t]*=[ \t]*\[([0-9, ]*)\]")
_VERSION_MAJOR = re.compile(r"versionMajor[ \t]*=[ \t]*(\d+)")
# `ttg.local_alloc ... -> !ttg.memdesc<3x128x64xf16, ...>`: shared-memory buffers (leading dim of a rank-3
# allocation = pipelining depth, which Triton >= 3.4 no longer records as `tt.num_stages`)
_LOCAL_ALLOC = re.compile(r"(?:ttg|triton_gpu)\.local_alloc\b[^\n]*?->[ \t]*!(?:ttg|tt)\.memdesc<((?:\d+x)+)([a-z]\w*)")
_ELT_BYTES = {"f16": 2, "bf16": 2, "f32": 4, "tf32": 4, "f64": 8, "i1": 1, "i8": 1, "i16": 2, "i32": 4, "i64": 8}
_SHARED_KINDS = frozenset({"shared", "nvmma_shared", "swizzled_shared", "amd_rotating_shared"})


def _canonical_dialect(d: str) -> str:
    return _DIALECT_ALIASES.get(d, d)


def _mlir_op_counts(stripped: str) -> tuple[Counter[str], list[tuple[int, int, int]]]:
    """Op histogram (pretty and generic form; `triton_gpu.` counted as `ttg.`) and the (M, N, K) of dot ops."""
    ops: Counter[str] = Counter()
    dot_shapes: list[tuple[int, int, int]] = []
    for m in _MLIR_OP_LINE.finditer(stripped):
        if m.group(5):
            name = "builtin.module" if m.group(5) == "module" else "func.return"
        elif m.group(1):
            name = f"{_canonical_dialect(m.group(1))}.{m.group(2)}"
        else:
            name = f"{_canonical_dialect(m.group(3))}.{m.group(4)}"
        ops[name] += 1
        if name in _DOT_OPS:
            end = stripped.find("\n", m.end())
            shape = _dot_shape_mlir(stripped[m.end() : end if end >= 0 else len(stripped)])
            if shape:
                dot_shapes.append(shape)
    return ops, dot_shapes


def _mlir_features(stripped: str, kind: str) -> dict[str, float]:
    out: dict[str, float] = dict.fromkeys(feature_names(kind), 0.0)
    ops, dot_shapes = _mlir_op_counts(stripped)
    n_ops = sum(ops.values())
    out["n_ops"] = float(n_ops)
    known_ops = set(MLIR_OPS)
    dialect_tot: Counter[str] = Counter()
    dialect_known: Counter[str] = Counter()
    agg = Counter()
    for name, c in ops.items():
        d, _, _ = name.partition(".")
        dialect_tot[d] += c
        if name in known_ops:
            out[f"op.{name}"] = float(c)
            dialect_known[d] += c
        if name in _LOOP_OPS:
            agg["loops"] += c
        if name in _LOAD_OPS:
            agg["loads"] += c
        if name in _STORE_OPS:
            agg["stores"] += c
        if name in _SHARED_LOAD_OPS:
            agg["lshared"] += c
        if name in _SHARED_STORE_OPS:
            agg["sshared"] += c
        if name in _ASYNC_OPS:
            agg["async"] += c
        if name in _TMA_OPS:
            agg["tma"] += c
        if name in _DOT_OPS:
            agg["dot"] += c
        if name in _BARRIER_OPS:
            agg["bar"] += c
        if name in _REDUCE_OPS:
            agg["reduce"] += c
        if name in _ATOMIC_OPS:
            agg["atomic"] += c
        if name in _CALL_OPS:
            agg["call"] += c
        if name in _BRANCH_OPS:
            agg["branch"] += c
        if name in _CONVERT_LAYOUT_OPS:
            agg["cvt_layout"] += c
        if name.endswith(("func.func", "tt.func", "llvm.func", "gpu.func")):
            agg["funcs"] += c
        if d == _MATH_DIALECT:
            agg["math"] += c
        elif d == "arith":
            if name.startswith(_CAST_PREFIXES):
                agg["cast"] += c
            elif name.startswith(("arith.cmp",)):
                agg["cmp"] += c
            elif name != "arith.constant" and name != "arith.select":
                agg["arith"] += c
        elif name.startswith(_CAST_PREFIXES):
            agg["cast"] += c
    for d in MLIR_DIALECTS:
        out[f"dialect.{d}"] = float(dialect_tot.get(d, 0))
        out[f"op.{d}.other"] = float(dialect_tot.get(d, 0) - dialect_known.get(d, 0))
    out["dialect.other"] = float(sum(c for d, c in dialect_tot.items() if d not in MLIR_DIALECTS))
    for key, a in (("n_loops", "loops"), ("n_loads", "loads"), ("n_stores", "stores"),
                   ("n_loads_shared", "lshared"), ("n_stores_shared", "sshared"), ("n_async_copy", "async"),
                   ("n_tma", "tma"), ("n_dot", "dot"), ("n_barriers", "bar"), ("n_reduce", "reduce"),
                   ("n_atomic", "atomic"), ("n_call", "call"), ("n_branch", "branch"), ("n_funcs", "funcs"),
                   ("n_math", "math"), ("n_cast", "cast"), ("n_cmp", "cmp"), ("n_arith", "arith")):  # fmt: skip
        out[key] = float(agg.get(a, 0))
    _set_dot(out, dot_shapes)
    depth_max = _mlir_loop_depth(stripped) if agg.get("loops") else 0
    _loop_summary(out, depth_max, agg.get("loops", 0), _mlir_trip_counts(stripped))

    shapes = _SHAPE_DIMS.findall(stripped)
    rank_max, numel_max, vec_max = 0, 0, 0
    for dims, _elt in shapes:
        parts = dims.rstrip("x").split("x")
        rank_max = max(rank_max, len(parts))
        if "?" not in dims:
            numel = math.prod(int(p) for p in parts)
            numel_max = max(numel_max, numel)
    for vm in re.finditer(r"vector<((?:\d+x)+)", stripped):
        vec_max = max(vec_max, math.prod(int(p) for p in vm.group(1).rstrip("x").split("x")))
    out["shape.n"] = float(len(shapes))
    out["shape.rank_max"] = float(rank_max)
    out["shape.numel_max_log2"] = _log2p(numel_max)
    out["vec_width_max"] = float(vec_max)
    dts: Counter[str] = Counter()
    for t in _DTYPE_MLIR.findall(stripped):
        dts["f8" if t.startswith("f8") else t] += 1
    _dtype_counts(dts, out)
    if kind == "ttgir":
        _ttgir_features(stripped, out, ops)
    return out


def _mlir_loop_depth(stripped: str) -> int:
    """Max nesting of loop regions, from braces on lines that open/close regions (attr dicts are balanced)."""
    stack: list[bool] = []
    n_loop = depth_max = 0
    for line in stripped.split("\n"):
        if "{" not in line and "}" not in line:
            continue
        net = line.count("{") - line.count("}")
        if net > 0:
            head = _MLIR_OP_LINE.match(line)
            is_loop = False
            if head and not head.group(5):
                name = f"{head.group(1)}.{head.group(2)}" if head.group(1) else f"{head.group(3)}.{head.group(4)}"
                is_loop = name in _LOOP_OPS
            for i in range(net):
                flag = is_loop and i == net - 1
                stack.append(flag)
                n_loop += flag
            depth_max = max(depth_max, n_loop)
        elif net < 0:
            for _ in range(min(-net, len(stack))):
                n_loop -= stack.pop()
    return depth_max


def _mlir_trip_counts(stripped: str) -> list[int]:
    consts: dict[str, int] = {}
    for rx in (_MLIR_CONST, _MLIR_CONST_GENERIC):
        for name, val in rx.findall(stripped):
            consts[name] = int(val)

    def value(tok: str) -> int | None:
        if tok.startswith("%"):
            return consts.get(tok)
        return int(tok)

    trips: list[int] = []
    for rx in (_SCF_FOR, _SCF_FOR_GENERIC):
        for lb, ub, st in rx.findall(stripped):
            vals = (value(lb), value(ub), value(st))
            if None not in vals:
                t = _trip_count(*vals)  # type: ignore[arg-type]
                if t is not None:
                    trips.append(t)
    for lb, ub, st in _AFFINE_FOR.findall(stripped):
        t = _trip_count(int(lb), int(ub), int(st) if st else 1)
        if t is not None:
            trips.append(t)
    return trips


def _ttgir_features(stripped: str, out: dict[str, float], ops: Counter[str]) -> None:
    attrs = {k: int(v) for k, v in _MODULE_ATTR_INT.findall(stripped)}
    out["num_warps"] = float(attrs["num-warps"]) if "num-warps" in attrs else math.nan
    out["num_ctas"] = float(attrs["num-ctas"]) if "num-ctas" in attrs else math.nan
    out["threads_per_warp"] = float(attrs["threads-per-warp"]) if "threads-per-warp" in attrs else math.nan
    out["shared_bytes"] = float(attrs["shared"]) if "shared" in attrs else math.nan
    tm = _TARGET.search(stripped)
    out["target_sm"] = float(tm.group(1)) if tm else math.nan
    stages = [int(s) for s in _NUM_STAGES.findall(stripped)]
    out["num_stages"] = float(max(stages)) if stages else math.nan
    # Layout encodings: count definitions (aliases) plus inline uses that are not aliased.
    layouts: Counter[str] = Counter(_LAYOUT.findall(stripped))
    out["layout.blocked"] = float(layouts["blocked"])
    out["layout.nvidia_mma"] = float(layouts["nvidia_mma"] + layouts["mma"])
    out["layout.amd_mma"] = float(layouts["amd_mfma"] + layouts["amd_wmma"])
    out["layout.shared"] = float(sum(layouts[s] for s in _SHARED_KINDS))
    out["layout.dot_op"] = float(layouts["dot_op"])
    out["layout.slice"] = float(layouts["slice"])
    out["layout.linear"] = float(layouts["linear"])
    spt_max = wpc_max = 0
    vmaj, instr = 0, (0, 0, 0)
    for kind, body in _ALIAS_DEF.findall(stripped):
        lists = {k: [int(x) for x in v.replace(" ", "").split(",") if x] for k, v in _INT_LIST.findall(body)}
        if kind == "blocked":
            spt_max = max(spt_max, math.prod(lists.get("sizePerThread", [0])))
            wpc_max = max(wpc_max, math.prod(lists.get("warpsPerCTA", [0])))
        elif kind in ("nvidia_mma", "mma", "amd_mfma", "amd_wmma"):
            vm = _VERSION_MAJOR.search(body)
            vmaj = max(vmaj, int(vm.group(1))) if vm else vmaj
            shape = lists.get("instrShape", [])
            if shape:
                shape = (shape + [0, 0, 0])[:3]
                instr = max(instr, (shape[0], shape[1], shape[2]))
    out["mma.version_major"] = float(vmaj)
    out["mma.instr_m"], out["mma.instr_n"], out["mma.instr_k"] = (float(x) for x in instr)
    out["blocked.size_per_thread_max"] = float(spt_max)
    out["blocked.warps_per_cta_max"] = float(wpc_max)
    out["n_convert_layout"] = float(ops.get("ttg.convert_layout", 0))
    smem_bytes = buffers = 0
    for dims, elt in _LOCAL_ALLOC.findall(stripped):
        shape = [int(d) for d in dims.rstrip("x").split("x")]
        smem_bytes += math.prod(shape) * _ELT_BYTES.get(elt, 1 if elt.startswith("f8") else 4)
        buffers = max(buffers, shape[0] if len(shape) >= 3 else 1)
    out["smem_alloc_bytes"] = float(smem_bytes)
    out["smem_buffers_max"] = float(buffers)


# ---- LLVM IR -------------------------------------------------------------------------------------
# instructions inside function bodies; indentation optional so normalised text reads the same (a word followed
# by `:` is a block label, skipped below)
_LLVM_INSTR = re.compile(
    r"^[ \t]*(?:(?:%[\w$.-]*|%" + _STR + r")[ \t]*=[ \t]*)?(?:(?:tail|musttail|notail)[ \t]+)?([a-z][a-z0-9_]*)\b(?!:)",
    re.M,
)
_LLVM_DEFINE = re.compile(r"^define\b[^\n]*\{[ \t]*$", re.M)
_LLVM_LABEL = re.compile(r"^(?:[\w$.-]+|" + _STR + r"):", re.M)
_LLVM_BR_TARGETS = re.compile(r"label[ \t]+%([\w$.-]+)")
_LLVM_ASM = re.compile(r"\basm[ \t]+(?:sideeffect[ \t]+|alignstack[ \t]+|inteldialect[ \t]+)*\"((?:[^\"\\\n]|\\.)*)\"")
_LLVM_DTYPE = re.compile(r"[ (<,{\[*](half|bfloat|float|double|i1|i8|i16|i32|i64)\b")
_LLVM_VEC = re.compile(r"<[ \t]*(\d+)[ \t]+x[ \t]")
_LLVM_REQNTID = re.compile(r"(?:\"nvvm\.reqntid\"=\"|!\"(?:maxntidx|reqntidx)\",[ \t]*i32[ \t]+)(\d+)")
_LLVM_DTYPE_MAP = {"half": "f16", "bfloat": "bf16", "float": "f32", "double": "f64"}
_LLVM_ARITH = frozenset({"add", "sub", "mul", "shl", "lshr", "ashr", "and", "or", "xor", "sdiv", "udiv", "srem",
                         "urem", "fadd", "fsub", "fmul", "fdiv", "fneg", "frem"})  # fmt: skip
_LLVM_CAST = frozenset({"zext", "sext", "trunc", "fptrunc", "fpext", "bitcast", "sitofp", "uitofp", "fptosi",
                        "fptoui", "addrspacecast", "ptrtoint", "inttoptr"})  # fmt: skip
_LLVM_NOT_OPCODES = frozenset({"define", "declare", "attributes", "target", "source_filename", "module"})


def _llvm_features(stripped: str) -> dict[str, float]:
    out: dict[str, float] = dict.fromkeys(feature_names("llvm"), 0.0)
    ops: Counter[str] = Counter()
    loads_shared = stores_shared = 0
    n_blocks = n_funcs = 0
    back_edges: list[tuple[int, int]] = []
    nvvm_calls: Counter[str] = Counter()
    # Instructions live inside `define ... {` ... `}` bodies: walk bodies only.
    for fm in _LLVM_DEFINE.finditer(stripped):
        n_funcs += 1
        end = stripped.find("\n}", fm.end())
        body = stripped[fm.end() : end if end >= 0 else len(stripped)]
        label_pos: dict[str, int] = {}
        n_blocks += 1  # the entry block
        for lm in _LLVM_LABEL.finditer(body):
            label_pos[lm.group(0)[:-1].strip('"')] = lm.start()
            n_blocks += 1
        for im in _LLVM_INSTR.finditer(body):
            op = im.group(1)
            if op in _LLVM_NOT_OPCODES:
                continue
            ops[op] += 1
            line_end = body.find("\n", im.end())
            line = body[im.start() : line_end if line_end >= 0 else len(body)]
            if op == "load" and "addrspace(3)" in line:
                loads_shared += 1
            elif op == "store" and "addrspace(3)" in line:
                stores_shared += 1
            elif op == "call":
                for intr in re.findall(r"@llvm\.nvvm\.([\w.]+)", line):
                    nvvm_calls[intr] += 1
            elif op == "br":
                for target in _LLVM_BR_TARGETS.findall(line):
                    pos = label_pos.get(target)
                    if pos is not None and pos < im.start():
                        back_edges.append((pos, im.start()))
    n_instr = sum(ops.values())
    out["n_ops"] = float(n_instr)
    out["n_funcs"] = float(n_funcs)
    out["n_blocks"] = float(n_blocks)
    known = set(LLVM_OPCODES)
    for op, c in ops.items():
        if op in known:
            out[f"opcode.{op}"] = float(c)
    out["opcode.other"] = float(sum(c for op, c in ops.items() if op not in known))
    asm = _LLVM_ASM.findall(stripped)
    asm_mma = sum("mma.sync" in a or ".mma." in a and "wgmma" not in a for a in asm)
    asm_wgmma = sum("wgmma.mma_async" in a for a in asm)
    asm_cp = sum("cp.async" in a and "wait" not in a and "commit" not in a for a in asm)
    asm_bulk = sum("cp.async.bulk" in a for a in asm)
    # Triton emits global loads/stores as predicated inline PTX (`@$5 st.global.v4.b32 ...`)
    asm_ld = sum("ld.global" in a for a in asm)
    asm_st = sum("st.global" in a for a in asm)
    out["n_inline_asm"] = float(len(asm))
    out["asm.mma_sync"] = float(asm_mma)
    out["asm.wgmma"] = float(asm_wgmma)
    out["asm.cp_async"] = float(asm_cp)
    out["asm.ldmatrix"] = float(sum("ldmatrix" in a for a in asm))
    out["n_nvvm_intrinsics"] = float(sum(nvvm_calls.values()))
    nvvm_mma = sum(c for k, c in nvvm_calls.items() if k.startswith(("mma.", "wgmma.mma_async")))
    out["n_loads"] = float(ops["load"] - loads_shared + asm_ld)
    out["n_stores"] = float(ops["store"] - stores_shared + asm_st)
    out["n_loads_shared"] = float(loads_shared + sum("ld.shared" in a or "ldmatrix" in a for a in asm))
    out["n_stores_shared"] = float(stores_shared + sum("st.shared" in a or "stmatrix" in a for a in asm))
    out["n_async_copy"] = float(asm_cp + sum(c for k, c in nvvm_calls.items() if k.startswith("cp.async")))
    out["n_tma"] = float(asm_bulk + sum(c for k, c in nvvm_calls.items() if "tma" in k or "bulk" in k))
    out["n_dot"] = float(asm_mma + asm_wgmma + nvvm_mma)
    out["n_barriers"] = float(sum(c for k, c in nvvm_calls.items() if k.startswith("barrier"))
                              + sum("bar.sync" in a or "barrier.sync" in a for a in asm))  # fmt: skip
    out["n_arith"] = float(sum(c for op, c in ops.items() if op in _LLVM_ARITH))
    out["n_cmp"] = float(ops["icmp"] + ops["fcmp"])
    out["n_cast"] = float(sum(c for op, c in ops.items() if op in _LLVM_CAST))
    out["n_branch"] = float(ops["br"] + ops["switch"])
    out["n_call"] = float(ops["call"])
    out["n_atomic"] = float(ops["atomicrmw"] + ops["cmpxchg"])
    out["n_math"] = float(sum(c for k, c in nvvm_calls.items() if k.startswith(("ex2", "lg2", "sqrt", "rsqrt", "rcp",
                                                                                 "sin", "cos", "fma"))))  # fmt: skip
    out["n_reduce"] = float(sum(c for k, c in nvvm_calls.items() if k.startswith(("shfl", "redux"))))
    shapes = [tuple(int(x) for x in m) for m in _MNK.findall(" ".join(asm) + " " + " ".join(nvvm_calls))]
    _set_dot(out, [(m, n, k) for m, n, k in shapes])
    _loop_summary(out, _interval_depth(back_edges), len(back_edges), [])
    vecs = [int(v) for v in _LLVM_VEC.findall(stripped)]
    out["vec_width_max"] = float(max(vecs)) if vecs else 0.0
    dts: Counter[str] = Counter()
    for t, c in Counter(_LLVM_DTYPE.findall(stripped)).items():
        dts[_LLVM_DTYPE_MAP.get(t, t)] += c
    _dtype_counts(dts, out)
    rq = _LLVM_REQNTID.search(stripped)
    out["reqntid"] = float(rq.group(1)) if rq else math.nan
    return out


def _interval_depth(edges: list[tuple[int, int]]) -> int:
    """Max nesting of loop intervals [header, back-edge] (a textual proxy for loop depth in a CFG)."""
    if not edges:
        return 0
    events = sorted([(s, 0) for s, _ in edges] + [(e, 1) for _, e in edges])
    depth = best = 0
    for _, is_end in events:
        depth += -1 if is_end else 1
        best = max(best, depth)
    return best


# ---- PTX -----------------------------------------------------------------------------------------
_PTX_INSTR = re.compile(r"^[ \t]*(?:@!?%[\w]+[ \t]+)?([a-z][a-z0-9_]*(?:\.[\w:]+)*)", re.M)
_PTX_REG = re.compile(r"\.reg[ \t]+\.(\w+)[ \t]+%\w+<(\d+)>")
_PTX_VERSION = re.compile(r"^[ \t]*\.version[ \t]+(\d+)\.(\d+)", re.M)
_PTX_TARGET = re.compile(r"^[ \t]*\.target[ \t]+sm_(\d+)", re.M)
_PTX_NTID = re.compile(r"^[ \t]*\.(reqntid|maxntid)[ \t]+(\d+)(?:[ \t]*,[ \t]*(\d+))?(?:[ \t]*,[ \t]*(\d+))?", re.M)
_PTX_ENTRY = re.compile(r"^[ \t]*(?:\.visible[ \t]+|\.weak[ \t]+)?\.(?:entry|func)\b", re.M)
_PTX_LABEL = re.compile(r"^[ \t]*(\$?[\w$]+):", re.M)
_PTX_BRA = re.compile(r"\bbra(?:\.uni)?[ \t]+(\$?[\w$]+)")
_PTX_DTYPE = re.compile(r"\.(e4m3|e5m2|f16x2|f16|bf16x2|bf16|tf32|f32|f64|pred|[sub]8|[sub]16|[sub]32|[sub]64)\b")
_PTX_DTYPE_MAP = {"e4m3": "f8", "e5m2": "f8", "f16x2": "f16", "bf16x2": "bf16", "pred": "i1"}
_PTX_VEC = re.compile(r"\.v(\d+)\b")
_PTX_REG_CLASS = {"pred": "regs.pred", "b16": "regs.b16", "u16": "regs.b16", "s16": "regs.b16", "f16": "regs.b16",
                  "b32": "regs.b32", "u32": "regs.b32", "s32": "regs.b32", "b64": "regs.b64", "u64": "regs.b64",
                  "s64": "regs.b64", "f32": "regs.f32", "f64": "regs.f64"}  # fmt: skip
_PTX_MATH = ("ex2", "lg2", "sin", "cos", "rcp", "sqrt", "rsqrt", "tanh")
_PTX_ARITH = ("add", "sub", "mul", "mad", "fma", "div", "rem", "max", "min", "neg", "abs", "shl", "shr", "and",
              "or", "xor", "not")  # fmt: skip


def _ptx_features(stripped: str) -> dict[str, float]:
    out: dict[str, float] = dict.fromkeys(feature_names("ptx"), 0.0)
    ins: Counter[str] = Counter()
    shapes: list[tuple[int, int, int]] = []
    labels: dict[str, int] = {}
    back_edges: list[tuple[int, int]] = []
    for lm in _PTX_LABEL.finditer(stripped):
        labels[lm.group(1)] = lm.start()
    for m in _PTX_INSTR.finditer(stripped):
        full = m.group(1)
        end = m.end()
        if end < len(stripped) and stripped[end] == ":":  # a label, not an instruction
            continue
        ins[full] += 1
        if full.startswith(("mma.", "wgmma.mma_async")):
            mm = _MNK.search(full.replace(".", " "))
            if mm:
                shapes.append((int(mm.group(1)), int(mm.group(2)), int(mm.group(3))))
        if full.startswith("bra"):
            line_end = stripped.find("\n", m.start())
            bm = _PTX_BRA.search(stripped, m.start(), line_end if line_end >= 0 else len(stripped))
            if bm and bm.group(1) in labels and labels[bm.group(1)] < m.start():
                back_edges.append((labels[bm.group(1)], m.start()))
    groups: Counter[str] = Counter()
    for full, c in ins.items():
        parts = full.split(".")
        base = parts[0]
        groups[base] += c
        two = ".".join(parts[:2])
        if base in ("ld", "st"):
            groups[two] += c
            if two == "ld.global" and "v4" in parts:
                groups["ld.global.v4"] += c
        elif base == "cp" and two == "cp.async":
            groups["cp.async.bulk" if "bulk" in parts else "cp.async"] += c
        elif base == "wgmma" and "mma_async" not in parts:
            groups["wgmma"] -= c  # fence/commit/wait are bookkeeping, not MMAs
    for name in PTX_OPCODES:
        out[f"ins.{name}"] = float(groups.get(name, 0))
    total = sum(ins.values())
    out["n_ops"] = float(total)
    out["ins.other"] = float(sum(c for f, c in ins.items() if f.split(".")[0] not in _PTX_KNOWN_BASES))
    # bookkeeping cp.async.{commit,wait}_group are not copies
    out["ins.cp.async"] = float(sum(c for f, c in ins.items() if f.startswith("cp.async") and "bulk" not in f
                                    and "commit" not in f and "wait" not in f))  # fmt: skip
    out["n_loads"] = float(groups["ld.global"])
    out["n_stores"] = float(groups["st.global"])
    out["n_loads_shared"] = float(groups["ld.shared"] + groups["ldmatrix"])
    out["n_stores_shared"] = float(groups["st.shared"] + groups["stmatrix"])
    out["n_async_copy"] = out["ins.cp.async"] + out["ins.cp.async.bulk"]
    out["n_tma"] = out["ins.cp.async.bulk"]
    out["n_dot"] = float(groups["mma"] + groups["wgmma"])
    out["n_barriers"] = float(groups["bar"] + groups["barrier"] + groups["mbarrier"])
    out["n_arith"] = float(sum(groups[a] for a in _PTX_ARITH))
    out["n_math"] = float(sum(groups[a] for a in _PTX_MATH))
    out["n_cmp"] = float(groups["setp"])
    out["n_cast"] = float(groups["cvt"])
    out["n_branch"] = float(groups["bra"])
    out["n_call"] = float(groups["call"])
    out["n_atomic"] = float(groups["atom"] + groups["red"])
    out["n_reduce"] = float(groups["shfl"] + groups["redux"])
    out["n_funcs"] = float(len(_PTX_ENTRY.findall(stripped)))
    _set_dot(out, shapes)
    _loop_summary(out, _interval_depth(back_edges), len(back_edges), [])
    vecs = [int(v) for v in _PTX_VEC.findall(stripped)]
    out["vec_width_max"] = float(max(vecs)) if vecs else 0.0
    dts: Counter[str] = Counter()
    for t in _PTX_DTYPE.findall(stripped):
        t = _PTX_DTYPE_MAP.get(t, t)
        if t[0] in "sub" and t[1:].isdigit():
            t = "i" + t[1:]
        dts[t] += 1
    _dtype_counts(dts, out)
    regs: Counter[str] = Counter()
    for cls, n in _PTX_REG.findall(stripped):
        key = _PTX_REG_CLASS.get(cls)
        if key:
            regs[key] += int(n)
        regs["regs.total"] += int(n)
    for key in ("regs.pred", "regs.b16", "regs.b32", "regs.b64", "regs.f32", "regs.f64", "regs.total"):
        out[key] = float(regs.get(key, 0))
    vm = _PTX_VERSION.search(stripped)
    out["ptx_version"] = float(f"{vm.group(1)}.{vm.group(2)}") if vm else math.nan
    tm = _PTX_TARGET.search(stripped)
    out["target_sm"] = float(tm.group(1)) if tm else math.nan
    out["reqntid"] = out["maxntid"] = math.nan
    for which, x, y, z in _PTX_NTID.findall(stripped):
        out[which] = float(int(x) * int(y or 1) * int(z or 1))
    return out


def _common_text_stats(stripped: str, out: dict[str, float]) -> None:
    out["n_bytes"] = float(len(stripped.encode("utf-8", "replace")))
    out["n_lines"] = float(sum(1 for ln in stripped.split("\n") if ln.strip()))


def _nan_features(keys: Sequence[str]) -> dict[str, float]:
    return dict.fromkeys(keys, math.nan)


def _features_impl(text: str, kind: str | None) -> dict[str, float]:
    fixed = _check_kind(kind)
    k = fixed if fixed is not None else detect_ir_kind(text)
    keys = feature_names(fixed)
    if k == "unknown":
        out = _nan_features(keys)
        for kk in KINDS:
            out[f"is.{kk}"] = 0.0
        _common_text_stats(text, out)
        return out
    family = _family(k)
    stripped = _strip(text, family)
    if family == "mlir":
        feats = _mlir_features(stripped, k)
    elif family == "llvm":
        feats = _llvm_features(stripped)
    else:
        feats = _ptx_features(stripped)
    _common_text_stats(stripped, feats)
    # project onto the requested key set: fixed kind -> exactly its keys; None -> the union, with the
    # keys of other families NaN (not measured) and a one-hot of the detected kind
    out = {key: feats.get(key, math.nan) for key in keys}
    if fixed is None:
        for kk in KINDS:
            out[f"is.{kk}"] = 1.0 if kk == k else 0.0
    return out


_CACHE_MAX = 65536
# digest -> feature tuple. Keyed by a content hash so the cache never holds the (large) texts themselves.
_feature_cache: dict[tuple[str, str | None], tuple[float, ...]] = {}


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _remember(key: tuple[str, str | None], vals: tuple[float, ...]) -> None:
    if len(_feature_cache) >= _CACHE_MAX:  # bounded: drop everything rather than grow without limit
        _feature_cache.clear()
    _feature_cache[key] = vals


def _features_cached(text: str, kind: str | None) -> tuple[float, ...]:
    key = (_digest(text), kind)
    hit = _feature_cache.get(key)
    if hit is None:
        hit = _features_uncached(text, kind)
        _remember(key, hit)
    return hit


def ir_op_counts(text: str, kind: str | None = None) -> dict[str, int]:
    """Op histogram of MLIR-family text (ttir/ttgir/mlir, pretty or generic form), as the tokenizer sees it:
    `dialect.op` -> count, `module`/`return` as `builtin.module`/`func.return`. Other kinds give {}."""
    if not isinstance(text, str):
        return {}
    k = _check_kind(kind) or detect_ir_kind(text)
    if k not in MLIR_KINDS:
        return {}
    return dict(_mlir_op_counts(_strip(text, "mlir"))[0])


def ir_features(text: str | None, kind: str | None = None) -> dict[str, float]:
    """Structural features of one IR text: keys are exactly `feature_names(kind)` in order.

    `kind` None detects the kind per text and returns the union key set (other kinds' keys NaN, plus
    `is.<kind>` one-hot). None or empty text gives all-NaN. Arbitrary text never raises. Cached by a
    content hash: records that share one compiled kernel's IR are featurised once.
    """
    k = _check_kind(kind)
    keys = feature_names(k)
    if not isinstance(text, str) or not text.strip():
        return _nan_features(keys)
    vals = _features_cached(text, k)
    return dict(zip(keys, vals, strict=True))


_PARALLEL_MIN_TEXTS = 64  # below this a process pool costs more than it saves


def _features_uncached(text: str, kind: str | None) -> tuple[float, ...]:
    feats = _features_impl(text, kind)
    return tuple(feats[key] for key in feature_names(kind))


def ir_feature_frame(
    texts: Sequence[str | None] | pd.Series,
    kind: str | None = None,
    *,
    progress: bool = False,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """One row per text (None/NaN/empty -> NaN row), columns `feature_names(kind)`; the index follows
    `texts` when it is a Series. Identical texts are featurised once (content-hash cache shared across
    calls). `n_jobs` > 1 (or -1: all cores) featurises distinct uncached texts in worker processes."""
    k = _check_kind(kind)
    keys = feature_names(k)
    index = texts.index if isinstance(texts, pd.Series) else None
    seq = list(texts)
    rows = np.full((len(seq), len(keys)), np.nan, dtype=np.float64)
    uniq: dict[str, list[int]] = {}
    for i, t in enumerate(seq):
        if isinstance(t, str) and t.strip():
            uniq.setdefault(t, []).append(i)
    digests = {t: _digest(t) for t in uniq}
    todo = [t for t in uniq if (digests[t], k) not in _feature_cache]
    workers = (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(todo), desc=f"ir features ({k or 'auto'})", unit="text")
    if workers > 1 and len(todo) >= _PARALLEL_MIN_TEXTS:
        import multiprocessing as mp  # noqa: PLC0415
        from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            chunk = max(1, len(todo) // (workers * 8))
            for text, vals in zip(todo, pool.map(_features_uncached, todo, [k] * len(todo), chunksize=chunk),
                                  strict=True):  # fmt: skip
                _remember((digests[text], k), vals)
                if bar is not None:
                    bar.update()
    for text, positions in uniq.items():
        key = (digests[text], k)
        vals = _feature_cache.get(key)
        if vals is None:
            vals = _features_uncached(text, k)
            _remember(key, vals)
            if bar is not None:
                bar.update()
        rows[positions] = vals
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows, columns=list(keys), index=index)


# --------------------------------------------------------------------------------------------------
# Real parsers: validation and reference counts (lazy imports)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IRCheck:
    """Result of `check_ir`: which parser ran, whether it accepted the text, and what it counted."""

    kind: str
    parser: str  # "xdsl", "llvmlite" or "none" (no real parser for this kind, e.g. PTX or Triton pretty form)
    ok: bool
    error: str | None
    op_counts: dict[str, int]


@lru_cache(maxsize=1)
def _xdsl_context() -> object:
    from xdsl.context import Context  # noqa: PLC0415
    from xdsl.dialects import get_all_dialects  # noqa: PLC0415

    ctx = Context(allow_unregistered=True)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


def _check_xdsl(text: str, kind: str) -> IRCheck:
    try:
        from xdsl.parser import Parser  # noqa: PLC0415

        module = Parser(_xdsl_context(), text).parse_module()  # type: ignore[arg-type]
        counts = Counter(op.name for op in module.walk())
    except Exception as exc:  # xDSL raises ParseError and, on odd input, other errors: report, never raise
        return IRCheck(kind, "xdsl", False, f"{type(exc).__name__}: {str(exc).strip()[:500]}", {})
    return IRCheck(kind, "xdsl", True, None, dict(counts))


def _check_llvmlite(text: str) -> IRCheck:
    try:
        import llvmlite.binding as llvm  # noqa: PLC0415

        module = llvm.parse_assembly(text)
        module.verify()
        counts: Counter[str] = Counter()
        for fn in module.functions:
            for block in fn.blocks:
                for ins in block.instructions:
                    counts[ins.opcode] += 1
    except Exception as exc:  # RuntimeError from LLVM's parser/verifier, with LLVM's message
        return IRCheck("llvm", "llvmlite", False, f"{type(exc).__name__}: {str(exc).strip()[:500]}", {})
    return IRCheck("llvm", "llvmlite", True, None, dict(counts))


def check_ir(text: str, kind: str | None = None) -> IRCheck:
    """Validate `text` with a real parser where one exists: llvmlite for LLVM IR, xDSL (unregistered
    dialects allowed) for MLIR. PTX and text xDSL cannot read report `ok=False` with the parser's message;
    never raises."""
    k = _check_kind(kind) or detect_ir_kind(text if isinstance(text, str) else "")
    if not isinstance(text, str):
        return IRCheck(k, "none", False, "not a string", {})
    if k == "llvm":
        return _check_llvmlite(text)
    if k in MLIR_KINDS:
        return _check_xdsl(text, k)
    return IRCheck(k, "none", False, f"no real parser for kind {k!r}", {})

