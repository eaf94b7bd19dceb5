"""IR normalisation and features on real-format Triton/MLIR/LLVM/PTX samples, cross-checked against the
real parsers (xDSL, llvmlite), plus hypothesis properties (idempotence, never raising, fixed keys)."""

from __future__ import annotations

import io
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from perfcast.features.ir import (
    KINDS,
    check_ir,
    detect_ir_kind,
    feature_names,
    ir_feature_frame,
    ir_features,
    ir_op_counts,
    normalize_ir,
)

DATA = Path(__file__).parent / "data" / "ir"
SAMPLES = {
    "matmul.ttir": "ttir",
    "matmul_sm90.ttgir": "ttgir",
    "matmul_sm80.ttgir": "ttgir",
    "softmax_sm90.ttgir": "ttgir",
    "matmul_sm80.ll": "llvm",
    "matmul_sm90.ptx": "ptx",
    "matmul.linalg.mlir": "mlir",
    "matmul.affine.mlir": "mlir",
    "reduce.scf.mlir": "mlir",
    "matmul.generic.mlir": "mlir",
}
UPSTREAM_MLIR = ["matmul.linalg.mlir", "matmul.affine.mlir", "reduce.scf.mlir", "matmul.generic.mlir"]


def _read(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize("name,kind", sorted(SAMPLES.items()))
def test_detect_kind(name: str, kind: str) -> None:
    assert detect_ir_kind(_read(name)) == kind


@pytest.mark.parametrize("name,kind", sorted(SAMPLES.items()))
def test_normalize_drops_locations_names_comments_and_is_idempotent(name: str, kind: str) -> None:
    text = _read(name)
    norm = normalize_ir(text)
    assert norm == normalize_ir(text, kind)  # detection picks the same normaliser
    assert normalize_ir(norm) == norm
    assert norm == normalize_ir(text)  # deterministic
    assert "loc(" not in norm and "#loc" not in norm
    assert "//" not in norm
    assert "  " not in norm and "\t" not in norm
    assert all(line == line.strip() and line for line in norm.split("\n"))
    assert detect_ir_kind(norm) == kind


def test_normalize_mlir_keeps_ops_types_attributes() -> None:
    norm = normalize_ir(_read("matmul_sm90.ttgir"))
    assert "%arg" not in norm and "%c128_i32" not in norm and "%108" not in norm
    assert "ttng.warp_group_dot" in norm
    assert "#mma = #ttg.nvidia_mma<{versionMajor = 3, versionMinor = 0, warpsPerCTA = [4, 1], instrShape = [16, 64, 16]}>" in norm
    assert '"ttg.num-warps" = 4 : i32' in norm
    assert "% = tt.addptr %, % : tensor<128x32x!tt.ptr<f16>, #blocked>, tensor<128x32xi32, #blocked>" in norm
    assert "%:7 = scf.for % = % to % step % iter_args(" in norm  # result count kept, names dropped
    # two kernels that differ only in SSA names and locations normalise identically
    renamed = _read("matmul_sm90.ttgir").replace("%arg1", "%ptr_b").replace("%12", "%x12").replace("#loc45", "#loc99")
    assert normalize_ir(renamed) == norm


def test_normalize_llvm_and_ptx() -> None:
    ll = normalize_ir(_read("matmul_sm80.ll"))
    assert "!dbg" not in ll and "DILocation" not in ll and "; preds" not in ll and "source_filename" not in ll
    assert "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in ll  # inline asm strings kept verbatim
    assert "% = load <4 x i32>, ptr addrspace(3) %, align 16" in ll
    # block labels are renumbered per function, so the CFG (the loop back-edge) survives
    assert "br i1 %, label %bb0, label %bb2\nbb0:\n" in ll and "\nbb1:\n% = phi i32 [ 0, %bb0 ], [ %, %bb1 ]" in ll
    ptx = normalize_ir(_read("matmul_sm90.ptx"))
    assert ".loc" not in ptx and ".debug_" not in ptx and ".file" not in ptx and "/*" not in ptx
    assert "ld.global.v4.b32 { %r, %r, %r, %r }, [ %rd + 0 ];" in ptx
    assert "@%p bra $L0;" in ptx and "\n$L1:\n" in ptx and "@%p bra $L1;" in ptx  # loop kept
    assert "$L__tmp" not in ptx and "$L__func" not in ptx  # labels nobody branches to are dropped
    assert ".reg .b32 %r<187>;" in ptx and "%tid.x" in ptx


def test_ttgir_features_sm90() -> None:
    f = ir_features(_read("matmul_sm90.ttgir"), "ttgir")
    assert list(f) == list(feature_names("ttgir"))
    assert f["num_warps"] == 4 and f["num_ctas"] == 1 and f["threads_per_warp"] == 32
    assert f["target_sm"] == 90 and f["num_stages"] == 3
    assert f["mma.version_major"] == 3
    assert (f["mma.instr_m"], f["mma.instr_n"], f["mma.instr_k"]) == (16, 64, 16)
    assert f["layout.blocked"] == 3 and f["layout.nvidia_mma"] == 1 and f["layout.shared"] == 2
    assert f["blocked.size_per_thread_max"] == 8
    assert f["op.ttng.warp_group_dot"] == 1 and f["n_dot"] == 1
    assert (f["dot_m"], f["dot_n"], f["dot_k"]) == (128, 64, 32)
    assert f["op.ttg.async_copy_global_to_local"] == 4 and f["n_async_copy"] == 4
    assert f["n_loops"] == 1 and f["loop_depth_max"] == 1
    assert f["n_convert_layout"] == 1 and f["dialect.ttng"] == 3
    assert math.isnan(f["shared_bytes"])  # not in this dump: NaN (unknown), not 0
    assert f["smem_buffers_max"] == 3 and f["smem_alloc_bytes"] == 3 * (128 * 32 + 32 * 64) * 2


def test_ttgir_features_legacy_triton_gpu_prefix() -> None:
    f = ir_features(_read("matmul_sm80.ttgir"), "ttgir")
    assert f["num_warps"] == 8 and f["target_sm"] == 80 and f["mma.version_major"] == 2
    assert f["op.tt.dot"] == 1 and (f["dot_m"], f["dot_n"], f["dot_k"]) == (128, 128, 64)
    assert f["op.ttg.local_load"] == 2 and f["n_loads_shared"] == 2 and f["layout.dot_op"] == 4
    assert f["dtype.bf16"] > 0 and f["dtype.f16"] == 0
    assert f["loop_n_const_trip"] == 1 and f["loop_trip_max"] == 64  # scf.for %c0 to %c64 step %c1


def test_ttgir_softmax_reductions() -> None:
    """Generic-form `tt.reduce` regions inside a pretty-form loop; named SSA values as Triton >= 3.4 prints them."""
    f = ir_features(_read("softmax_sm90.ttgir"), "ttgir")
    assert f["op.tt.reduce"] == 2 and f["n_reduce"] == 2 and f["op.math.exp"] == 1 and f["n_math"] == 1
    assert f["n_loops"] == 1 and f["loop_depth_max"] == 1  # the reduce regions are not loops
    assert f["n_dot"] == 0 and f["dot_m"] == 0 and f["num_stages"] == 2 and f["num_warps"] == 8
    assert f["op.tt.other"] == 3  # tt.get_num_programs + 2 x tt.reduce.return, outside the vocabulary
    assert f["shape.rank_max"] == 1 and f["shape.numel_max_log2"] == 10
    norm = normalize_ir(_read("softmax_sm90.ttgir"))
    assert '% = "tt.reduce"(%) <{axis = 0 : i32}> ({\n^bb(%: f32, %: f32):\n% = arith.maxnumf %, % : f32' in norm


def test_ttir_features() -> None:
    f = ir_features(_read("matmul.ttir"), "ttir")
    assert list(f) == list(feature_names("ttir"))
    assert f["op.tt.load"] == 2 and f["op.tt.store"] == 1 and f["op.tt.dot"] == 1 and f["n_loads"] == 2
    assert (f["dot_m"], f["dot_n"], f["dot_k"]) == (128, 64, 32)
    assert "op.arith.minsi" not in f and f["op.arith.other"] >= 1  # ops outside the vocabulary -> other
    assert f["dialect.tt"] == sum(v for k, v in f.items() if k.startswith("op.tt.") and k != "op.tt.other") + f[
        "op.tt.other"
    ]
    assert f["n_loops"] == 1 and f["loop_n_const_trip"] == 0  # K loop bound is a kernel argument


def test_upstream_mlir_loops_and_trip_counts() -> None:
    aff = ir_features(_read("matmul.affine.mlir"), "mlir")
    assert aff["loop_depth_max"] == 3 and aff["n_loops"] == 3
    assert aff["loop_n_const_trip"] == 3 and aff["loop_trip_max"] == 64
    assert aff["loop_trip_log2_sum"] == pytest.approx(math.log2(64 * 16 * 8))
    gen = ir_features(_read("matmul.generic.mlir"), "mlir")
    assert gen["loop_depth_max"] == 3 and gen["loop_trip_log2_sum"] == pytest.approx(math.log2(64 * 16 * 32))
    scf = ir_features(_read("reduce.scf.mlir"), "mlir")
    assert scf["loop_depth_max"] == 2 and scf["loop_trip_max"] == 256 and scf["op.math.exp"] == 1
    lin = ir_features(_read("matmul.linalg.mlir"), "mlir")
    assert lin["op.linalg.matmul"] == 1 and (lin["dot_m"], lin["dot_n"], lin["dot_k"]) == (256, 128, 512)


def test_llvm_features() -> None:
    f = ir_features(_read("matmul_sm80.ll"), "llvm")
    assert list(f) == list(feature_names("llvm"))
    assert f["n_funcs"] == 1 and f["n_blocks"] == 4
    assert f["asm.mma_sync"] == 1 and f["asm.cp_async"] == 1 and f["asm.ldmatrix"] == 1 and f["n_dot"] == 1
    assert (f["dot_m"], f["dot_n"], f["dot_k"]) == (16, 8, 16)
    assert f["n_loads_shared"] == 2 and f["n_loads"] == 1 and f["n_barriers"] == 2  # addrspace(3) load + ldmatrix
    assert f["n_loops"] == 1 and f["reqntid"] == 128 and f["vec_width_max"] == 4


def test_ptx_features() -> None:
    f = ir_features(_read("matmul_sm90.ptx"), "ptx")
    assert list(f) == list(feature_names("ptx"))
    assert f["target_sm"] == 90 and f["ptx_version"] == pytest.approx(8.4) and f["reqntid"] == 128
    assert f["ins.wgmma"] == 1 and f["ins.mma"] == 1 and f["n_dot"] == 2
    assert (f["dot_m"], f["dot_n"], f["dot_k"]) == (64, 64, 16)
    assert f["ins.cp.async"] == 1 and f["ins.cp.async.bulk"] == 1 and f["n_tma"] == 1
    assert f["ins.ld.global"] == 1 and f["ins.ld.global.v4"] == 1 and f["ins.ld.shared"] == 1
    assert f["regs.b32"] == 187 and f["regs.f32"] == 97 and f["regs.total"] == 336
    assert f["n_loops"] == 1 and f["ins.bra"] == 2


@pytest.mark.parametrize("name", UPSTREAM_MLIR)
def test_tokenizer_op_counts_match_xdsl(name: str) -> None:
    """xDSL is the reference: on its generic print the tokenizer must count exactly the ops xDSL walks; on
    the source text the only differences are ops xDSL materialises implicitly (terminators, named-op bodies)."""
    from xdsl.printer import Printer

    text = _read(name)
    chk = check_ir(text)
    assert chk.parser == "xdsl" and chk.ok, chk.error
    from perfcast.features.ir import _xdsl_context
    from xdsl.parser import Parser

    module = Parser(_xdsl_context(), text).parse_module()
    buf = io.StringIO()
    Printer(stream=buf, print_generic_format=True).print_op(module)
    assert ir_op_counts(buf.getvalue()) == chk.op_counts
    ours = Counter(ir_op_counts(text))
    theirs = Counter(chk.op_counts)
    assert not (ours - theirs), "tokenizer counted ops xDSL did not see"
    implicit = theirs - ours
    named_body_ops = {"arith.mulf", "arith.addf"}  # the body xDSL builds for linalg.matmul
    assert all(op.endswith(".yield") or op in named_body_ops for op in implicit), implicit


def test_llvm_opcode_counts_match_llvmlite() -> None:
    text = _read("matmul_sm80.ll")
    chk = check_ir(text)
    assert chk.parser == "llvmlite" and chk.ok, chk.error
    f = ir_features(text, "llvm")
    for op, n in chk.op_counts.items():
        assert f.get(f"opcode.{op}", f["opcode.other"]) == n, op
    assert f["n_ops"] == sum(chk.op_counts.values())


def test_check_ir_reports_instead_of_raising() -> None:
    bad = check_ir("define void @f( {", "llvm")
    assert bad.parser == "llvmlite" and not bad.ok and bad.error
    tri = check_ir(_read("matmul_sm90.ttgir"))  # Triton pretty form needs Triton's dialects: reported, not raised
    assert tri.parser == "xdsl" and not tri.ok and "ParseError" in (tri.error or "")
    assert check_ir(_read("matmul_sm90.ptx")).parser == "none"


def test_feature_frame_rows_nan_and_cache() -> None:
    texts = [_read("matmul_sm90.ttgir"), None, "", _read("matmul_sm90.ttgir"), _read("matmul.ttir")]
    frame = ir_feature_frame(pd.Series(texts, index=list("abcde")), "ttgir")
    assert list(frame.columns) == list(feature_names("ttgir"))
    assert list(frame.index) == list("abcde")
    assert frame.loc[["b", "c"]].isna().all().all()
    pd.testing.assert_series_equal(frame.loc["a"], frame.loc["d"], check_names=False)
    assert frame.loc["e", "op.tt.dot"] == 1
    assert np.isnan(frame.loc["e", "num_warps"])  # TTIR has no module attributes


def test_auto_kind_frame_has_union_columns() -> None:
    texts = [_read(n) for n in sorted(SAMPLES)]
    frame = ir_feature_frame(texts)
    assert list(frame.columns) == list(feature_names(None))
    kinds = [SAMPLES[n] for n in sorted(SAMPLES)]
    for i, k in enumerate(kinds):
        assert frame.iloc[i][f"is.{k}"] == 1.0
        assert frame.iloc[i][[f"is.{kk}" for kk in KINDS]].sum() == 1.0
    ptx_row = frame.iloc[sorted(SAMPLES).index("matmul_sm90.ptx")]
    assert np.isnan(ptx_row["dialect.tt"]) and ptx_row["regs.b32"] == 187


def test_unknown_kind_is_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="unknown IR kind"):
        ir_features("x", "sass")


# ---- properties ----------------------------------------------------------------------------------
_FRAGMENTS = sorted({ln for n in SAMPLES for ln in _read(n).split("\n")})
_JUNK = ["// c", "; c", "/* x */", 'loc("a":1:2)', "loc(#loc3)", "%0", "%r12", "$L__BB0_1:", "^bb3", '"', "{", "}",
         "#loc3 = loc(unknown)", "!dbg !4", "\t", "  ", ".loc 1 2 3", "tt.dot", ".version 8.0", "define void @f() {",
         "{-# x #-}", "\\", "loc(", "%a#1", "%x:2 =", "\r", "ttg.", "\u00e9", "\x00"]  # fmt: skip
_ir_like = st.lists(st.sampled_from(_FRAGMENTS + _JUNK), max_size=25).map(lambda parts: "\n".join(parts))
_ir_glued = st.lists(st.sampled_from(_FRAGMENTS + _JUNK), max_size=12).map(lambda parts: " ".join(parts))
_any_text = st.one_of(st.text(max_size=300), _ir_like, _ir_glued)
_kinds = st.sampled_from([None, *KINDS])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_any_text, kind=_kinds)
def test_normalize_is_idempotent_and_total(text: str, kind: str | None) -> None:
    once = normalize_ir(text, kind)
    assert isinstance(once, str)
    assert normalize_ir(once, kind) == once


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_any_text, kind=_kinds)
def test_features_never_raise_and_keys_are_fixed(text: str, kind: str | None) -> None:
    assert isinstance(detect_ir_kind(text), str)
    f = ir_features(text, kind)
    assert list(f) == list(feature_names(kind))
    assert all(isinstance(v, float) for v in f.values())
    assert all(not math.isinf(v) for v in f.values())


@settings(max_examples=100, deadline=None)
@given(text=_ir_like)
def test_normalize_ignores_ssa_names(text: str) -> None:
    """Renaming SSA values consistently never changes the normal form (MLIR family)."""
    renamed = text.replace("%arg", "%input").replace("%cst", "%k")
    assert normalize_ir(renamed, "ttgir") == normalize_ir(text, "ttgir")


def test_parallel_frame_equals_serial() -> None:
    from perfcast.features import ir as irmod

    texts = [_read("matmul.ttir") + f"\n// copy {i}\n" for i in range(70)] + [None]
    irmod._feature_cache.clear()
    serial = ir_feature_frame(texts, "ttir")
    irmod._feature_cache.clear()
    parallel = ir_feature_frame(texts, "ttir", n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert parallel.iloc[:70]["op.tt.dot"].eq(1).all() and parallel.iloc[70].isna().all()


def test_prefetch_fills_the_cache_the_featurizer_reads(monkeypatch) -> None:
    """`perfcast predict` featurises each chunk's IR texts in worker processes first; the model's
    featurize then computes nothing and gets what one process computes."""
    from perfcast.features import ir as irmod
    from perfcast.features import prefetch_ir_features
    from perfcast.features.registry import ir_features

    texts = [_read("matmul.ttir") + f"\n// copy {i}\n" for i in range(70)]
    frame = pd.DataFrame({"ir.ttir": [*texts, *texts[:5], None], "ir.ptx": None})
    irmod._feature_cache.clear()
    serial = ir_features(frame)
    irmod._feature_cache.clear()
    prefetch_ir_features(frame, n_jobs=2)
    assert len(irmod._feature_cache) == 70

    def computed(*_args):
        raise AssertionError("featurised again")

    monkeypatch.setattr(irmod, "_features_uncached", computed)
    pd.testing.assert_frame_equal(ir_features(frame), serial)


STRUCTURAL = ("n_ops", "n_funcs", "n_loops", "loop_depth_max", "n_loads", "n_stores", "n_dot", "dot_m", "dot_n",
              "dot_k", "n_barriers", "n_branch", "n_call", "n_async_copy")  # fmt: skip


@pytest.mark.parametrize("name,kind", sorted(SAMPLES.items()))
def test_structural_features_survive_normalisation(name: str, kind: str) -> None:
    """Features read the same structure from the normal form (names and constants aside)."""
    raw = ir_features(_read(name), kind)
    norm = ir_features(normalize_ir(_read(name), kind), kind)
    assert {k: raw[k] for k in STRUCTURAL} == {k: norm[k] for k in STRUCTURAL}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_any_text, kind=st.sampled_from(["mlir", "llvm", "ttgir", "ptx", None]))
def test_check_ir_never_raises(text: str, kind: str | None) -> None:
    result = check_ir(text, kind)
    assert isinstance(result.ok, bool) and (result.ok or result.error)
