"""IR features on IR that Triton itself emitted on an H100.

* `tests/data/ir/real/`: Triton 3.6.0 matmul kernels compiled on an H100 by
  `tests/data/ir/collect_real_ir.py` (file names carry the config, checked against the features).
* `data/h100/`: the collector's measurement bundles (JSONL with `ir.*`), sampled when present.
"""

from __future__ import annotations

import gzip
import json
import lzma
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from perfcast.features.ir import (
    check_ir,
    detect_ir_kind,
    feature_names,
    ir_feature_frame,
    ir_features,
    normalize_ir,
)
from perfcast.features.text import count_tokens, serialize_record

REAL = Path(__file__).parent / "data" / "ir" / "real"
EXT_KIND = {".ttir": "ttir", ".ttgir": "ttgir", ".ll": "llvm", ".ptx": "ptx"}
NAME = re.compile(r"triton_matmul_(?P<dtype>\w+?)_(?P<m>\d+)x(?P<n>\d+)x(?P<k>\d+)_w(?P<w>\d+)_s(?P<s>\d+)")
REAL_FILES = sorted(p for p in REAL.glob("triton_matmul_*") if p.suffix in EXT_KIND)


def test_real_samples_present() -> None:
    assert len(REAL_FILES) == 7, REAL_FILES
    assert "triton 3.6.0" in (REAL / "VERSIONS.txt").read_text()


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_detect_normalize_idempotent(path: Path) -> None:
    text = path.read_text()
    kind = EXT_KIND[path.suffix]
    assert detect_ir_kind(text) == kind
    norm = normalize_ir(text)
    assert normalize_ir(norm) == norm
    assert "loc(" not in norm and "!dbg" not in norm and ".loc" not in norm.replace(".local", "")
    assert len(norm) < len(text)
    assert detect_ir_kind(norm) == kind


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_features_match_the_compiled_config(path: Path) -> None:
    cfg = NAME.search(path.name)
    assert cfg
    kind = EXT_KIND[path.suffix]
    f = ir_features(path.read_text(), kind)
    assert list(f) == list(feature_names(kind))
    m, n, k, warps = (int(cfg[x]) for x in ("m", "n", "k", "w"))
    dt = {"float16": "f16", "bfloat16": "bf16"}[cfg["dtype"]]
    assert f["n_funcs"] == 1 and f["n_loops"] == 1 and f["loop_depth_max"] == 1
    assert f["n_dot"] >= 1 and f["n_stores"] >= 1
    if kind in ("ttir", "ttgir"):
        assert (f["dot_m"], f["dot_n"], f["dot_k"]) == (m, n, k)  # tile of tt.dot / ttng.warp_group_dot
        assert f[f"dtype.{dt}"] > 0
    if kind == "ttgir":
        assert f["num_warps"] == warps and f["target_sm"] == 90 and f["threads_per_warp"] == 32
        assert f["mma.version_major"] == 3 and f["op.ttng.warp_group_dot"] == 1  # Hopper wgmma path
        assert f["mma.instr_n"] == min(n, 256) and f["n_async_copy"] > 0
        assert f["op.ttg.other"] == 0  # every TTGIR op of this kernel is in the vocabulary
        stages = int(cfg["s"])
        assert f["smem_buffers_max"] == stages  # one shared buffer per pipeline stage
        assert f["smem_alloc_bytes"] == stages * (m * k + k * n) * 2  # A and B tiles, 2-byte elements
    if kind in ("llvm", "ptx"):
        assert f["reqntid"] == 32 * warps
        assert f["dot_m"] == 64 and f["dot_k"] == 16  # wgmma m64nNk16 instructions
        assert f["n_async_copy"] > 0
    if kind == "ptx":
        assert f["target_sm"] == 90 and f["ins.wgmma"] >= 1 and f["regs.total"] > 0


@pytest.mark.parametrize("path", [p for p in REAL_FILES if p.suffix == ".ll"], ids=lambda p: p.name)
def test_real_llvm_opcodes_match_llvmlite(path: Path) -> None:
    text = path.read_text()
    chk = check_ir(text)
    assert chk.parser == "llvmlite" and chk.ok, chk.error
    f = ir_features(text, "llvm")
    assert f["n_ops"] == sum(chk.op_counts.values())
    other = 0
    for op, count in chk.op_counts.items():
        if f"opcode.{op}" in f:
            assert f[f"opcode.{op}"] == count, op
        else:
            other += count
    assert f["opcode.other"] == other


def test_real_ttgir_is_reported_not_raised_by_xdsl() -> None:
    chk = check_ir((REAL / "triton_matmul_float16_128x128x64_w8_s3.ttgir").read_text())
    assert chk.parser == "xdsl" and not chk.ok and chk.error


def test_real_serialized_record_fits_budget() -> None:
    ttgir = (REAL / "triton_matmul_float16_128x128x64_w8_s3.ttgir").read_text()
    rec = {"system": "NVIDIA H100 80GB HBM3", "kernel": "triton.matmul",
           "params": {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 8, "num_stages": 3},
           "problem": {"M": 1024, "N": 1024, "K": 1024, "dtype": "fp16"}, "ir": {"ttgir": ttgir}}  # fmt: skip
    text = serialize_record(rec, max_tokens=512)
    assert count_tokens(text) <= 512
    assert "#mma = #ttg.nvidia_mma<{versionMajor = 3" in text


# ---- the collector's H100 data, when it is there ------------------------------------------------
H100 = Path(__file__).resolve().parents[1] / "data" / "h100"
_MAX_TEXTS = 40
_MAX_LINES = 20_000  # IR sits on one record per compiled kernel: bound the scan of a large bundle


def _open(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115


def _h100_records() -> Iterator[dict[str, Any]]:
    """Records with IR from `data/h100/**/*.jsonl[.gz|.xz]`, up to `_MAX_TEXTS` of them."""
    found = lines = 0
    for path in sorted(H100.rglob("*.jsonl*")) if H100.is_dir() else []:
        try:
            with _open(path) as fh:
                for line in fh:
                    lines += 1
                    if lines > _MAX_LINES:
                        return
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a cut-off tail line of a running collection
                    if isinstance(rec, dict) and isinstance(rec.get("ir"), dict) and rec["ir"]:
                        yield rec
                        found += 1
                        if found >= _MAX_TEXTS:
                            return
        except (OSError, EOFError, lzma.LZMAError):
            continue


def test_h100_collected_ir() -> None:
    records = list(_h100_records())
    if not records:
        pytest.skip(f"no collected records with IR under {H100} yet")
    for rec in records:
        for key, text in rec["ir"].items():
            kind = {"llir": "llvm"}.get(key, key)
            if kind not in EXT_KIND.values() or not isinstance(text, str):
                continue
            assert detect_ir_kind(text) == kind, key
            norm = normalize_ir(text, kind)
            assert normalize_ir(norm, kind) == norm
            f = ir_features(text, kind)
            assert not any(math.isinf(v) for v in f.values())
            params = rec.get("params") or {}
            if kind == "ttgir" and "num_warps" in params:
                assert f["num_warps"] == params["num_warps"]
            if kind == "ttgir" and rec.get("kernel") == "triton.matmul" and "BLOCK_M" in params:
                assert (f["dot_m"], f["dot_n"]) == (params["BLOCK_M"], params["BLOCK_N"])
    frame = ir_feature_frame([r["ir"].get("ttgir") for r in records], "ttgir")
    assert len(frame) == len(records)
