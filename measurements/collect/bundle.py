"""Merge collector outputs into one compressed bundle (the shipped dataset) and summarise it.

Compile artefacts are kept once per compiled kernel: a record carries `ir.*` only if it is the
first `ok` record (in merge order) of its `meta.kernel_hash`; every other record of that kernel points
to it through the same hash. Protocol-1 records of short kernels are re-labelled `invalid`, and marked
`meta.superseded_by` where a protocol-2 re-measure of the same point is in the merge; power windows that
did not run the timed kernel back to back lose their power to `meta.window_mismatch_*`. xz with a
dictionary larger than the data compresses the many similar IR texts against each other.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .records import HOST_BOUND_MEDIAN_OVER_MIN, repeats_host_bound, sample_stats


def open_text(path: str | Path, mode: str = "rt") -> IO[str]:
    """Open `.jsonl`, `.jsonl.gz` or `.jsonl.xz` as text."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")
    if path.suffix == ".xz":
        return lzma.open(path, mode, encoding="utf-8")
    return open(path, mode, encoding="utf-8")  # noqa: SIM115


def iter_jsonl(paths: Iterable[str | Path]) -> Iterator[tuple[str, int, dict[str, Any] | None, str]]:
    """(file, line number, record or None, error) for every line; a truncated tail (cut-off run) ends a file."""
    for path in paths:
        try:
            with open_text(path) as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield str(path), n, None, f"bad JSON: {exc}"
                        continue
                    if not isinstance(rec, dict):
                        yield str(path), n, None, "not a JSON object"
                        continue
                    yield str(path), n, rec, ""
        except (EOFError, lzma.LZMAError, OSError) as exc:  # a cut-off compressed stream keeps what came before
            yield str(path), -1, None, f"truncated: {exc}"


def dedupe_ir(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Keep `ir` once per `meta.kernel_hash`: on the first `ok` record of the hash where there is one
    (else its first record), whichever record of the hash carried the text. Records keep their order."""
    recs = list(records)
    text: dict[str, Any] = {}
    home: dict[str, int] = {}
    for i, rec in enumerate(recs):
        h = (rec.get("meta") or {}).get("kernel_hash")
        if not h:
            continue
        if rec.get("ir") and h not in text:
            text[h] = rec["ir"]
        if h not in home or (rec.get("status") == "ok" and recs[home[h]].get("status") != "ok"):
            home[h] = i
        rec.pop("ir", None)
    for h, ir in text.items():
        recs[home[h]]["ir"] = ir
    return iter(recs)


#: Below this median, repeats timed under timing protocol 1 (records without `meta.timing_protocol`)
#: often waited for the host: against protocol 2 on the same points their medians were off by > 10%
#: in 17-63% of cases (see data/h100/DATACARD.md). Protocol 2 runs are unaffected.
PROTOCOL1_MIN_RELIABLE_MS = 0.05


#: A power window whose calls took over this many times the timed median each did not run the timed
#: kernel back to back: the GPU idled between launches, or another kernel ran (fp32 cuBLAS problems with
#: TF32 had their window run in full fp32, 6-10x slower). Windows of sound records run 0.73-1.37x (the
#: window's launches find inputs in L2, the timed repeats never do), graph-replayed windows of 4-40 us
#: calls 0.26-0.90x (a timed call carries a launch's fixed cost).
WINDOW_CALL_OVER_RUNTIME = 1.5


def window_call_ratio(rec: Mapping[str, Any]) -> float | None:
    """The collector's power window's time per call over the record's timed median runtime (None for a
    record without one)."""
    meta = rec.get("meta") or {}
    call_ms, runtime_ms = meta.get("power_window_call_ms"), rec.get("runtime_ms")
    if rec.get("source") != "perfcast.collect" or call_ms is None or not runtime_ms:
        return None
    if "power_w" not in rec and "window_mismatch_power_w" not in meta:
        return None
    return float(call_ms) / float(runtime_ms)


def invalidate_power_windows(records: Iterable[dict[str, Any]], ratio: float = WINDOW_CALL_OVER_RUNTIME) -> int:
    """Move `power_w` and `energy_j` of collector records whose power window ran over `ratio` x their timed
    runtime per call into `meta.window_mismatch_*`, with `meta.power_invalid_reason`. The record stays `ok`:
    its runtime is sound, only its power is not of the timed kernel. Returns how many."""
    n = 0
    for rec in records:
        r = window_call_ratio(rec)
        if r is not None and r > ratio and "power_w" in rec:
            meta = rec.setdefault("meta", {})
            for key in ("power_w", "energy_j"):
                if key in rec:
                    meta[f"window_mismatch_{key}"] = rec.pop(key)
            meta["power_invalid_reason"] = (f"power window ran {r:.2f}x the timed runtime per call (> {ratio}): "
                                            "the GPU idled between launches or ran another kernel")
            n += 1
    return n


def invalidate_host_bound(records: Iterable[dict[str, Any]], min_ms: float = PROTOCOL1_MIN_RELIABLE_MS) -> int:
    """Mark protocol-1 records with `runtime_ms < min_ms` as `status: invalid`, moving their targets
    into `meta.protocol1_*` (kept as data, never trained on by accident). Returns how many."""
    n = 0
    for rec in records:
        meta = rec.setdefault("meta", {})
        if rec.get("source") != "perfcast.collect" or meta.get("timing_protocol", 1) != 1:
            continue
        meta["timing_protocol"] = 1
        rt = rec.get("runtime_ms")
        if rec.get("status") == "ok" and rt is not None and rt < min_ms:
            _invalidate(rec, "protocol1", f"timing protocol 1 with runtime under {min_ms} ms: repeats may have "
                                          "waited for the host, median biased (re-measured under protocol 2)")
            n += 1
    return n


def invalidate_host_bound_repeats(records: Iterable[dict[str, Any]],
                                  ratio: float = HOST_BOUND_MEDIAN_OVER_MIN) -> int:
    """Mark collector records whose median repeat is over `ratio` x their fastest repeat (repeats that
    waited for the host, any timing protocol) as `status: invalid`, moving their targets into
    `meta.hostbound_*`. Returns how many."""
    n = 0
    for rec in records:
        samples = rec.get("runtime_ms_samples")
        if rec.get("source") != "perfcast.collect" or rec.get("status") != "ok" or not samples:
            continue
        if repeats_host_bound(samples, ratio):
            meta = rec.setdefault("meta", {})
            meta.setdefault("timing_protocol", 1)
            st = sample_stats(samples)
            _invalidate(rec, "hostbound", f"median repeat {st['median'] / st['min']:.2f}x the fastest (> {ratio}): "
                                          "repeats waited for the host")
            n += 1
    return n


def _invalidate(rec: dict[str, Any], prefix: str, reason: str) -> None:
    """Mark a record `invalid`: its measured targets move to `meta.<prefix>_*` (kept, never trained on)."""
    meta = rec.setdefault("meta", {})
    for key in ("runtime_ms", "runtime_ms_samples", "power_w", "energy_j"):
        if key in rec:
            meta[f"{prefix}_{key}"] = rec.pop(key)
    rec["status"] = "invalid"
    meta["invalid_reason"] = reason


def _point(rec: Mapping[str, Any]) -> str:
    return json.dumps([rec.get("system"), rec.get("kernel"), rec.get("params"), rec.get("problem")], sort_keys=True)


def mark_superseded(records: Iterable[dict[str, Any]]) -> int:
    """Give every `invalid` record whose point (system, kernel, params, problem) has a trusted measurement
    under timing protocol >= 2 (an `ok` or `failed` record) the run id of that measurement in
    `meta.superseded_by`. The invalid record stays as history (its old values in `meta.protocol1_*` or
    `meta.hostbound_*`); the trusted target is the other record's. Likewise a record whose power window
    was rejected (`meta.power_invalid_reason`) gets `meta.power_superseded_by` from an `ok` protocol-2
    record of its point with power. Returns how many were marked."""
    recs = list(records)
    redo: dict[str, str] = {}
    power_redo: dict[str, str] = {}
    for rec in recs:
        meta = rec.get("meta") or {}
        if rec.get("status") in ("ok", "failed") and int(meta.get("timing_protocol", 1)) >= 2:
            redo.setdefault(_point(rec), str(meta.get("run_id")))
            if rec.get("status") == "ok" and "power_w" in rec:
                power_redo.setdefault(_point(rec), str(meta.get("run_id")))
    n = 0
    for rec in recs:
        meta = rec.get("meta") or {}
        if rec.get("status") == "invalid":
            run = redo.get(_point(rec))
            if run is not None:
                rec.setdefault("meta", {})["superseded_by"] = run
                n += 1
        elif "power_invalid_reason" in meta and _point(rec) in power_redo:
            meta["power_superseded_by"] = power_redo[_point(rec)]
            n += 1
    return n


def _stable_rank(kernel_hash: str) -> str:
    return hashlib.sha256(kernel_hash.encode()).hexdigest()


def apply_ir_quota(records: list[dict[str, Any]], quota: Mapping[str, int]) -> int:
    """Keep IR for at most `quota[family]` compiled kernels of a family (an unbiased, stable subset:
    the kernels whose hash ranks first); the others keep their hash, registers, spills and shared
    memory. Returns how many kernels lost their IR. Needed because a Triton matmul's four IR texts
    are ~0.6 MB raw, ~10 KB compressed, and the bundle must stay small enough to travel."""
    with_ir: dict[str, list[str]] = {}
    for rec in records:
        h = (rec.get("meta") or {}).get("kernel_hash")
        if h and rec.get("ir"):
            with_ir.setdefault(rec.get("kernel", "?"), []).append(h)
    drop: set[str] = set()
    for family, hashes in with_ir.items():
        limit = quota.get(family)
        if limit is not None and len(hashes) > limit:
            drop.update(sorted(hashes, key=_stable_rank)[limit:])
    for rec in records:
        if rec.get("ir") and (rec.get("meta") or {}).get("kernel_hash") in drop:
            rec.pop("ir")
    return len(drop)


def _order_key(rec: Mapping[str, Any]) -> tuple[str, str, str, str]:
    # Similar kernels side by side: the compressor then finds each IR text's near-copy close by.
    problem = rec.get("problem") or {}
    return (str(rec.get("system")), str(rec.get("kernel")),
            json.dumps([problem.get("dtype"), problem.get("a_layout"), problem.get("b_layout")]),
            json.dumps(rec.get("params") or {}, sort_keys=True))


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts that the data card reports: records, per family, statuses, IR kernels, power, noise."""
    n = 0
    by_kernel: Counter[str] = Counter()
    status: Counter[str] = Counter()
    hashes: set[str] = set()
    ir_hashes: set[str] = set()
    with_power = 0
    ok_points: set[str] = set()
    cvs: list[float] = []
    systems: Counter[str] = Counter()
    for rec in records:
        n += 1
        by_kernel[rec.get("kernel", "?")] += 1
        status[rec.get("status", "?")] += 1
        systems[rec.get("system", "?")] += 1
        h = (rec.get("meta") or {}).get("kernel_hash")
        if h:
            hashes.add(h)
            if rec.get("ir"):
                ir_hashes.add(h)
        with_power += "power_w" in rec
        if rec.get("status") == "ok":
            ok_points.add(_point(rec))
        if rec.get("runtime_ms_samples"):
            cvs.append(sample_stats(rec["runtime_ms_samples"])["cv"])
    cvs.sort()
    return {
        "records": n,
        "by_kernel": dict(by_kernel),
        "by_status": dict(status),
        "ok_points": len(ok_points),
        "systems": dict(systems),
        "compiled_kernels": len(hashes),
        "compiled_kernels_with_ir": len(ir_hashes),
        "records_with_power": with_power,
        "within_run_cv_median": cvs[len(cvs) // 2] if cvs else None,
        "within_run_cv_p90": cvs[int(len(cvs) * 0.9)] if cvs else None,
    }


def bundle(inputs: Iterable[str | Path], out: str | Path, dict_mb: int = 192,
           ir_quota: Mapping[str, int] | None = None, preset: int = 9) -> dict[str, Any]:
    """Merge JSONL parts into `out` (`.jsonl.xz`), IR once per kernel (and within `ir_quota`),
    records grouped by system/kernel/dtype/config; returns `summarize` plus sizes and rejects."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rejects: list[str] = []
    good: list[dict[str, Any]] = []
    for path, line, rec, err in iter_jsonl(inputs):
        if rec is None:
            rejects.append(f"{path}:{line}: {err}")
        else:
            good.append(rec)
    # Re-label first, so the IR of a kernel lands on a trusted (ok) record of it where there is one.
    invalidated = invalidate_host_bound(good)
    hostbound = invalidate_host_bound_repeats(good)
    power_windows = invalidate_power_windows(good)
    superseded = mark_superseded(good)
    merged = list(dedupe_ir(good))
    ir_dropped = apply_ir_quota(merged, ir_quota or {})
    merged.sort(key=_order_key)
    filters = [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": dict_mb * 2**20}]
    raw_bytes = 0
    tmp = out.with_name(out.name + ".tmp")
    with lzma.open(tmp, "wt", encoding="utf-8", format=lzma.FORMAT_XZ, filters=filters) as fh:
        for rec in merged:
            line = json.dumps(rec, separators=(",", ":"), allow_nan=False) + "\n"
            raw_bytes += len(line.encode())
            fh.write(line)
    tmp.replace(out)
    summary = summarize(merged)
    summary.update({"invalidated_protocol1": invalidated, "invalidated_host_bound_repeats": hostbound,
                    "invalidated_power_windows": power_windows,
                    "superseded": superseded, "ir_dropped_by_quota": ir_dropped,
                    "raw_bytes": raw_bytes, "compressed_bytes": out.stat().st_size, "rejects": rejects[:50],
                    "n_rejects": len(rejects)})
    return summary
