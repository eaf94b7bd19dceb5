"""Canonical text form of a record, for text-to-text cost models.

`serialize_record(record)` writes one deterministic string: the system first, then the kernel family,
the problem and the tuning parameters (keys sorted, numbers normalised), then the normalised IR
(`perfcast.features.ir.normalize_ir`), cut to a token budget measured by `count_tokens`. Measured
targets and bookkeeping fields (status, source, timestamps, `_`-prefixed columns) are never written: the
text is the model's *input*. The decoder side writes and reads targets with `serialize_target` /
`parse_target` (fixed mantissa/exponent digits, so every value has one spelling)::

    system: NVIDIA H100 80GB HBM3
    kernel: triton.matmul
    problem: K=4096 M=4096 N=4096 a_layout=row b_layout=row dtype=fp16
    params: BLOCK_K=32 BLOCK_M=128 BLOCK_N=64 GROUP_M=8 num_stages=3 num_warps=4
    ir.ttgir:
    #blocked = #ttg.blocked<{sizePerThread = [1, 8], ...}>
    ...
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from perfcast.features.ir import _digest, normalize_ir
from perfcast.measurements.schema import NESTED_SECTIONS, SAMPLES_COLUMN, TARGETS, flatten_record, is_missing

#: The token pattern behind `count_tokens`. IR-aware: `dialect.op` / dotted PTX mnemonics, `@sym`,
#: `#attr`, `!type`, `^bb`, `%ssa` and shapes such as `128x64xf16` stay one token; numbers are one
#: token each; any other non-space character is a token of its own.
TOKEN_PATTERN = re.compile(
    r"[%@#!^][\w$.-]*"  # %ssa / @symbol / #attr / !type / ^block (the sigil alone after normalisation)
    r"|(?:[0-9?]+x)+(?:[A-Za-z_]\w*)?"  # shapes 128x64xf16, 3x128x32x
    r"|[A-Za-z_][\w$]*(?:[.:][A-Za-z_$][\w$-]*)*"  # identifiers, dialect.op, ld.global.v4.b32
    r"|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"  # numbers
    r"|\S"
)
#: Top-level fields written (in this order) before the sections.
HEADER_FIELDS: tuple[str, ...] = ("system", "kernel")
#: Sections written after the header, in this order.
SECTIONS: tuple[str, ...] = ("problem", "params")
#: IR kinds written, in this order (the most informative first: it gets the budget first).
IR_ORDER: tuple[str, ...] = ("ttgir", "ttir", "mlir", "llir", "llvm", "ptx")
#: Fields never written: targets, raw samples and bookkeeping (also `_*` columns and `meta.*`, e.g. the
#: collector's `meta.kernel_hash`, which would only let a model memorise kernels).
EXCLUDED_FIELDS: frozenset[str] = frozenset(
    {*TARGETS, SAMPLES_COLUMN, "status", "source", "measured_at", "record_hash"}
)
TRUNCATION_MARK = "…"
_WS = re.compile(r"\s+")
_NEEDS_QUOTES = re.compile(r"[\s=\"]")
_IR_KIND_ALIASES = {"llir": "llvm", "ll": "llvm"}


def count_tokens(text: str) -> int:
    """Number of tokens of `text` under `TOKEN_PATTERN` (the budget unit of `serialize_record`)."""
    return sum(1 for _ in TOKEN_PATTERN.finditer(text)) if text else 0


def format_number(value: float | int) -> str:
    """Canonical spelling of a number: integers (and integer-valued floats below 1e15) without a decimal
    point (`4096`), other floats with up to 6 significant digits (`0.5`, `1.5e-05`), `nan`, `inf`, `-inf`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return format(x, ".6g")


def _format_value(value: Any) -> str:
    if isinstance(value, bool | int | float):
        return format_number(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        try:
            return _format_value(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, list | tuple):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    text = _WS.sub(" ", str(value)).strip()
    return json.dumps(text, ensure_ascii=False) if not text or _NEEDS_QUOTES.search(text) else text


def _format_key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False) if not key or _NEEDS_QUOTES.search(key) else key


def _sorted_items(items: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(((str(k), v) for k, v in items.items() if not is_missing(v)), key=lambda kv: kv[0])


_norm_cache: dict[tuple[str, str | None], str] = {}
_NORM_CACHE_MAX = 4096


def _normalized(text: str, kind: str | None) -> str:
    key = (_digest(text), kind)
    hit = _norm_cache.get(key)
    if hit is None:
        hit = normalize_ir(text, kind)
        if len(_norm_cache) >= _NORM_CACHE_MAX:
            _norm_cache.clear()
        _norm_cache[key] = hit
    return hit


def _truncate_line(line: str, budget: int) -> str:
    """The prefix of `line` holding its first `budget` tokens."""
    end = 0
    for i, m in enumerate(TOKEN_PATTERN.finditer(line)):
        if i == budget:
            break
        end = m.end()
    return line[:end]


def _ir_items(flat: Mapping[str, Any], ir_kinds: Sequence[str] | None) -> list[tuple[str, str]]:
    texts = {k[3:]: v for k, v in flat.items() if k.startswith("ir.") and isinstance(v, str) and v.strip()}
    order = list(ir_kinds) if ir_kinds is not None else [*IR_ORDER, *sorted(set(texts) - set(IR_ORDER))]
    return [(k, texts[k]) for k in order if k in texts]


def serialize_record(
    record: Mapping[str, Any],
    *,
    max_tokens: int = 512,
    include_ir: bool = True,
    ir_kinds: Sequence[str] | None = None,
) -> str:
    """Deterministic canonical text of one record (nested or flat dotted form), at most `max_tokens`
    tokens (`count_tokens`). Order: system, kernel, problem, params, other scalar fields, then the
    normalised IR of each kind in `ir_kinds` (default `IR_ORDER`, then any others sorted). Lines that do
    not fit are cut at a token boundary and a final `…` marks the cut."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    flat = flatten_record(record)
    lines: list[str] = []
    for field in HEADER_FIELDS:
        value = flat.get(field)
        if not is_missing(value):
            # header values stand alone on their line: collapse whitespace, no quoting needed
            text = _WS.sub(" ", str(value)).strip() if isinstance(value, str) else _format_value(value)
            if text:
                lines.append(f"{field}: {text}")
    for section in SECTIONS:
        prefix = f"{section}."
        items = _sorted_items({k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)})
        if items:
            lines.append(f"{section}: " + " ".join(f"{_format_key(k)}={_format_value(v)}" for k, v in items))
    nested = {f"{s}." for s in NESTED_SECTIONS}
    others = _sorted_items({
        k: v for k, v in flat.items()
        if k not in HEADER_FIELDS and k not in EXCLUDED_FIELDS and not k.startswith(("_", "meta."))
        and not any(k.startswith(p) for p in nested) and not isinstance(v, Mapping | list | tuple)
    })  # fmt: skip
    if others:
        lines.append("other: " + " ".join(f"{_format_key(k)}={_format_value(v)}" for k, v in others))
    if include_ir:
        for kind, text in _ir_items(flat, ir_kinds):
            norm_kind = _IR_KIND_ALIASES.get(kind, kind)
            norm = _normalized(text, norm_kind if norm_kind in ("ttir", "ttgir", "mlir", "llvm", "ptx") else None)
            if norm:
                lines.append(f"ir.{kind}:")
                lines.extend(norm.split("\n"))
    return _fit(lines, max_tokens)


def _fit(lines: list[str], max_tokens: int) -> str:
    """Join lines while they fit the budget; cut the first line that does not and append the mark."""
    out: list[str] = []
    used = 0
    for line in lines:
        n = count_tokens(line)
        if used + n <= max_tokens:
            out.append(line)
            used += n
            continue
        # not all of it fits: keep a prefix, leaving one token for the truncation mark
        room = max_tokens - used - 1
        if room > 0:
            prefix = _truncate_line(line, room)
            if prefix:
                out.append(prefix)
        if max_tokens - used >= 1:
            out.append(TRUNCATION_MARK)
        elif out:  # the budget is exactly full: the mark replaces the last token
            out[-1] = _truncate_line(out[-1], count_tokens(out[-1]) - 1) + TRUNCATION_MARK
        break
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Targets for the decoder side
# --------------------------------------------------------------------------------------------------
#: Significant digits written by `serialize_target` (relative rounding error <= 5e-4, below the ~0.2%
#: run-to-run noise of the measurements).
TARGET_DIGITS = 4
_MAX_SPELLED = 1.797e308  # the largest 4-digit mantissa below the float maximum
_TARGET_RE = re.compile(r"([+-]?)(\d)\.(\d+)e([+-])(\d+)|([+-]?)(nan|inf)\b")


def serialize_target(value: float, unit: str) -> str:
    """`<unit> <mantissa>e<exponent>` with `TARGET_DIGITS` significant digits, e.g.
    `serialize_target(0.153, "ms") == "ms 1.530e-01"`; every value has exactly one spelling."""
    if not unit or _WS.search(unit):
        raise ValueError(f"unit must be a non-empty word without spaces, got {unit!r}")
    x = float(value)
    if math.isnan(x):
        return f"{unit} nan"
    if math.isinf(x):
        return f"{unit} {'inf' if x > 0 else '-inf'}"
    text = f"{x:.{TARGET_DIGITS - 1}e}"
    if math.isinf(float(text)):  # rounding up past the largest float: write the largest finite spelling
        text = f"{math.copysign(_MAX_SPELLED, x):.{TARGET_DIGITS - 1}e}"
    return f"{unit} {text}"


def parse_target(text: str) -> float:
    """Inverse of `serialize_target`: the first number written in that format in `text` (the unit is
    optional). Raises ValueError naming the text when none is found."""
    m = _TARGET_RE.search(text or "")
    if not m:
        raise ValueError(f"no target number (like '1.530e-01') in {text[:80]!r}")
    if m.group(7):
        return math.nan if m.group(7) == "nan" else (-math.inf if m.group(6) == "-" else math.inf)
    return float(f"{m.group(1)}{m.group(2)}.{m.group(3)}e{m.group(4)}{m.group(5)}")
