"""Canonical records, compile artefacts and the JSONL writer (pure Python; no GPU needed)."""

from __future__ import annotations

import gzip
import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

SOURCE = "perfcast.collect"
#: IR stage names in Triton's `CompiledKernel.asm` -> record `ir.*` keys.
IR_KEYS: dict[str, str] = {"ttir": "ttir", "ttgir": "ttgir", "llir": "llvm", "ptx": "ptx"}

_MLIR_LOC_DEF = re.compile(r"^#loc\d*\s*=.*$\n?", re.MULTILINE)


def strip_mlir_locations(text: str) -> str:
    """Drop MLIR debug locations (`#locN = loc(...)` lines and ` loc(...)` suffixes, nested parens included).

    Locations name source files and lines of the machine that compiled the kernel: they make
    identical kernels differ and double the size of TTIR/TTGIR without saying anything about cost.
    """
    text = _MLIR_LOC_DEF.sub("", text)
    out: list[str] = []
    i = 0
    while True:
        j = text.find(" loc(", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        depth = 0
        k = j + 4
        in_str = False
        while k < len(text):
            ch = text[k]
            if ch == '"' and text[k - 1] != "\\":
                in_str = not in_str
            elif not in_str:
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
            k += 1
        i = k + 1
    return "".join(out)


def strip_debug_lines(text: str) -> str:
    """Drop PTX `.loc`/`.file` directives and LLVM `!dbg` attachments / debug metadata lines."""
    lines = []
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith((".loc", ".file", "!llvm.dbg", "!DI", "!DILocation")) or re.match(r"^!\d+ = !DI", s):
            continue
        lines.append(re.sub(r", !dbg !\d+", "", line))
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def compile_artefacts(asm: Mapping[str, Any]) -> dict[str, str]:
    """The record's `ir` section from a Triton `CompiledKernel.asm` dict (debug locations removed)."""
    ir: dict[str, str] = {}
    for stage, key in IR_KEYS.items():
        text = asm.get(stage)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not text:
            continue
        ir[key] = strip_mlir_locations(text) if stage in ("ttir", "ttgir") else strip_debug_lines(text)
    return ir


def sample_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """Median, mean, coefficient of variation and min of repeated runtimes (ms)."""
    xs = [float(x) for x in samples_ms if x is not None and math.isfinite(float(x))]
    if not xs:
        return {"median": float("nan"), "mean": float("nan"), "cv": float("nan"), "min": float("nan")}
    mean = statistics.fmean(xs)
    cv = statistics.pstdev(xs) / mean if len(xs) > 1 and mean > 0 else 0.0
    return {"median": statistics.median(xs), "mean": mean, "cv": cv, "min": min(xs)}


#: A record whose median repeat is over this many times its fastest repeat waited for the host
#: (seen under CPU contention from compile workers: the first repeats ran ahead of the host, the rest
#: timed launch latency). Of 4,569 records of points timed in two or more protocol-2 runs, this flags 54
#: of the 55 over 1.5x their point's fastest run and 5 of the other 4,514 (see data/h100/DATACARD.md).
HOST_BOUND_MEDIAN_OVER_MIN = 1.5


def repeats_host_bound(samples_ms: Sequence[float], ratio: float = HOST_BOUND_MEDIAN_OVER_MIN) -> bool:
    """True when the median repeat is more than `ratio` times the fastest one (see above)."""
    st = sample_stats(samples_ms)
    return bool(st["min"] > 0 and st["median"] > ratio * st["min"])


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_record(kernel: str, params: Mapping[str, Any], problem: Mapping[str, Any], system: str, *,
                 status: str = "ok", samples_ms: Sequence[float] | None = None, power_w: float | None = None,
                 ir: Mapping[str, str] | None = None, meta: Mapping[str, Any] | None = None,
                 measured_at: str | None = None) -> dict[str, Any]:
    """One canonical record (see `perfcast.measurements.schema`); `runtime_ms` is the median of the samples.

    `energy_j` is the energy of one call: window power times the median runtime.
    """
    rec: dict[str, Any] = {"kernel": kernel, "params": dict(params), "problem": dict(problem), "system": system}
    if ir:
        rec["ir"] = dict(ir)
    if samples_ms:
        samples = [round(float(x), 6) for x in samples_ms]
        rec["runtime_ms"] = round(sample_stats(samples)["median"], 6)
        rec["runtime_ms_samples"] = samples
    if power_w is not None and math.isfinite(power_w) and "runtime_ms" in rec:
        rec["power_w"] = round(float(power_w), 3)
        rec["energy_j"] = float(f"{power_w * rec['runtime_ms'] / 1e3:.6g}")
    rec["status"] = status
    rec["source"] = SOURCE
    rec["measured_at"] = measured_at or now_iso()
    if meta:
        rec["meta"] = {k: v for k, v in meta.items() if v is not None}
    return rec


@dataclass
class JsonlWriter:
    """Append-as-you-go JSONL writer: every record is flushed, so a cut-off run keeps what it measured.

    `.jsonl.gz` output is sync-flushed every `flush_every` records (a killed run loses at most those).
    """

    path: Path
    flush_every: int = 1

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[Any]
        if self.path.suffix == ".gz":
            self._fh = gzip.open(self.path, "at", compresslevel=6)  # noqa: SIM115  (closed in close())
            self.flush_every = max(self.flush_every, 50)
        else:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (closed in close())
        self.count = 0

    def write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self.count += 1
        if self.count % self.flush_every == 0:
            self._fh.flush()

    def close(self) -> None:
        self._fh.flush()
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
