"""Canonical text form: determinism, order, token budget, and target round trips (hypothesis)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perfcast.features.ir import normalize_ir
from perfcast.features.text import (
    TARGET_DIGITS,
    TRUNCATION_MARK,
    count_tokens,
    format_number,
    parse_target,
    serialize_record,
    serialize_target,
)
from perfcast.measurements.schema import flatten_record

DATA = Path(__file__).parent / "data" / "ir"
TTGIR = (DATA / "matmul_sm90.ttgir").read_text()
PTX = (DATA / "matmul_sm90.ptx").read_text()

RECORD = {
    "kernel": "triton.matmul",
    "params": {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8, "num_warps": 4, "num_stages": 3},
    "problem": {"M": 4096, "N": 4096.0, "K": 4096, "dtype": "fp16", "a_layout": "row", "alpha": 0.5},
    "system": "NVIDIA H100 80GB HBM3",
    "ir": {"ptx": PTX, "ttgir": TTGIR},
    "runtime_ms": 0.153,
    "runtime_ms_samples": [0.15, 0.156],
    "power_w": 512.0,
    "energy_j": 0.078,
    "status": "ok",
    "source": "perfcast.collect",
    "measured_at": "2026-11-24T10:00:00Z",
}


def test_layout_order_and_numbers() -> None:
    text = serialize_record(RECORD, max_tokens=100_000)
    lines = text.split("\n")
    assert lines[0] == "system: NVIDIA H100 80GB HBM3"
    assert lines[1] == "kernel: triton.matmul"
    assert lines[2] == "problem: K=4096 M=4096 N=4096 a_layout=row alpha=0.5 dtype=fp16"
    assert lines[3] == "params: BLOCK_K=32 BLOCK_M=128 BLOCK_N=64 GROUP_M=8 num_stages=3 num_warps=4"
    assert lines[4] == "ir.ttgir:"  # TTGIR before PTX whatever the dict order
    assert text.index("ir.ttgir:") < text.index("ir.ptx:")
    assert normalize_ir(TTGIR) in text and normalize_ir(PTX) in text
    # the text is the model's input: no targets, samples or bookkeeping
    for leaked in ("0.153", "512", "runtime_ms", "power_w", "energy", "status", "measured_at", "perfcast.collect"):
        assert leaked not in text.split("ir.ttgir:")[0], leaked


def test_deterministic_and_independent_of_key_order_and_form() -> None:
    base = serialize_record(RECORD)
    shuffled = dict(random.Random(1).sample(list(RECORD.items()), len(RECORD)))
    shuffled["params"] = dict(reversed(list(RECORD["params"].items())))
    assert serialize_record(shuffled) == base
    assert serialize_record(flatten_record(RECORD)) == base  # flat dotted form gives the same text
    # IR that differs only in SSA names / locations gives the same text
    renamed = TTGIR.replace("%arg1", "%b_ptr").replace("#loc45", "#loc77")
    assert serialize_record({**RECORD, "ir": {"ttgir": renamed, "ptx": PTX}}) == base


def test_missing_values_and_quoting() -> None:
    rec = {"system": "H100", "problem": {"M": 64, "N": None, "K": float("nan"), "note": "a b=c", "L": np.float32("nan"),
                                         "S": pd.NA}, "params": {}}  # fmt: skip
    text = serialize_record(rec)
    assert text == 'system: H100\nproblem: M=64 note="a b=c"'
    assert serialize_record({"system": "H100", "ir": {"ttgir": TTGIR}}, include_ir=False) == "system: H100"
    # bookkeeping never leaks, nested or flat; odd keys are quoted; unknown scalar fields go on `other:`
    flat = {"system": "H100", "meta.kernel_hash": "abc123", "_file": "x.jsonl", "meta": {"k": 1},
            "problem.a b": 1, "note": "x"}  # fmt: skip
    assert serialize_record(flat) == 'system: H100\nproblem: "a b"=1\nother: note=x'


@pytest.mark.parametrize("budget", [1, 2, 3, 7, 20, 64, 100, 512, 2048])
def test_token_budget_is_respected(budget: int) -> None:
    text = serialize_record(RECORD, max_tokens=budget)
    assert count_tokens(text) <= budget
    full = serialize_record(RECORD, max_tokens=100_000)
    if count_tokens(full) > budget:
        assert text.endswith(TRUNCATION_MARK)
        assert count_tokens(text) == budget  # the budget is used, not wasted
        assert full.startswith(text[: -len(TRUNCATION_MARK)].rstrip("\n").rsplit("\n", 1)[0])
    with pytest.raises(ValueError, match="max_tokens"):
        serialize_record(RECORD, max_tokens=0)


def test_count_tokens_keeps_ir_units_whole() -> None:
    from perfcast.features.text import TOKEN_PATTERN

    toks = TOKEN_PATTERN.findall(
        "% = tt.load %, % : tensor<128x32x!tt.ptr<f16>, #blocked> ld.global.v4.b32 @matmul_kernel ^bb 1.530e-01"
    )
    for whole in ("tt.load", "128x32x", "!tt.ptr", "#blocked", "ld.global.v4.b32", "@matmul_kernel", "^bb", "1.530e-01"):
        assert whole in toks
    assert count_tokens("") == 0 and count_tokens("a b") == 2


def test_format_number() -> None:
    assert [format_number(v) for v in (4096, 4096.0, 0.5, 1.5e-5, True, -3.0, float("nan"), 1e20)] == [
        "4096", "4096", "0.5", "1.5e-05", "true", "-3", "nan", "1e+20",
    ]  # fmt: skip


def test_serialize_target_examples_and_errors() -> None:
    assert serialize_target(0.153, "ms") == "ms 1.530e-01"
    assert serialize_target(512.0, "W") == "W 5.120e+02"
    assert serialize_target(float("nan"), "J") == "J nan"
    assert parse_target("runtime_ms 1.530e-01 trailing") == pytest.approx(0.153)
    assert math.isinf(parse_target("ms -inf")) and parse_target("ms -inf") < 0
    with pytest.raises(ValueError, match="no target number"):
        parse_target("ms fast")
    with pytest.raises(ValueError, match="unit"):
        serialize_target(1.0, "m s")


@settings(max_examples=500, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=True, width=64), unit=st.sampled_from(["ms", "W", "J"]))
def test_target_round_trip(value: float, unit: str) -> None:
    text = serialize_target(value, unit)
    back = parse_target(text)
    assert serialize_target(back, unit) == text  # one spelling per value: a fixpoint after one trip
    if math.isinf(value) or value == 0:
        assert back == value
    else:
        assert abs(back - value) <= 0.5 * 10 ** (1 - TARGET_DIGITS) * abs(value) * (1 + 1e-9) or (
            abs(value) < 1e-300  # subnormals lose digits in any fixed-mantissa format
        )


_scalar = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=True, width=32), st.text(max_size=8), st.none())
_section = st.dictionaries(st.text(min_size=1, max_size=6), _scalar, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    system=st.text(max_size=20),
    problem=_section,
    params=_section,
    ir=st.one_of(st.none(), st.sampled_from([TTGIR, PTX]), st.text(max_size=200)),
    budget=st.integers(1, 400),
)
def test_serialize_any_record_within_budget(system: str, problem: dict, params: dict, ir: str | None, budget: int) -> None:
    rec = {"system": system, "problem": problem, "params": params, "ir": {"ttgir": ir}}
    text = serialize_record(rec, max_tokens=budget)
    assert count_tokens(text) <= budget
    assert serialize_record(rec, max_tokens=budget) == text
