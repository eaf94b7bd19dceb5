"""The GPU collector's CPU paths: specs, pruning, records, artefacts, budget, energy maths, bundling."""

from __future__ import annotations

import gzip
import json
import lzma
import math
from pathlib import Path

import numpy as np
import pytest
from perfcast.measurements.collect.bundle import bundle, dedupe_ir, iter_jsonl, summarize
from perfcast.measurements.collect.cli import SPECS_DIR, resolve_spec_path
from perfcast.measurements.collect.energy import (
    calls_per_chunk,
    energy_per_call_j,
    update_intervals_s,
    window_power_w,
)
from perfcast.measurements.collect.records import (
    JsonlWriter,
    build_record,
    compile_artefacts,
    sample_stats,
    strip_debug_lines,
    strip_mlir_locations,
)
from perfcast.measurements.collect.runner import Budget, interleave_groups
from perfcast.measurements.collect.spec import (
    SpecError,
    canonical_problem,
    compile_key,
    config_is_valid,
    estimate_ms,
    expand_spec,
    expand_sweep,
    load_spec,
    parse_spec,
)
from perfcast.measurements.schema import flatten_record, records_to_frame, unflatten_record

MATMUL_SWEEP = {
    "kernel": "triton.matmul",
    "params": {"BLOCK_M": [64, 128, 256], "BLOCK_N": [64, 128, 256], "BLOCK_K": [32, 64, 128], "GROUP_M": [1, 8],
               "num_warps": [2, 4, 8], "num_stages": [2, 3, 4, 5]},
    "problems": {"M": [256, 1000, 4096, 16384], "N": [256, 4096, 16384], "K": [512, 4096, 16384],
                 "dtype": ["fp16", "bf16", "fp32"], "allow_tf32": [True, False], "a_layout": ["row", "col"],
                 "b_layout": ["row", "col"]},
    "configs": 40,
    "problems_per_config": 5,
}


def test_bundled_specs_parse_and_expand():
    specs = sorted(SPECS_DIR.glob("*.yaml"))
    assert specs, "no bundled specs"
    for path in specs:
        spec = load_spec(path)
        items = expand_spec(spec)
        assert items, path
        assert all(it.reps >= 20 for it in items)
    assert resolve_spec_path("smoke") == SPECS_DIR / "smoke.yaml"
    with pytest.raises(SpecError, match="not found"):
        resolve_spec_path("no-such-spec")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(kernel="triton.conv"), "kernel"),
        (lambda s: s["params"].pop("BLOCK_K"), "BLOCK_K"),
        (lambda s: s["problems"].update(dtype=["fp8"]), "dtype"),
        (lambda s: s["problems"].update(a_layout=["diag"]), "a_layout"),
        (lambda s: s.update(reps=5), "reps"),
        (lambda s: s.update(configs=0), "configs"),
        (lambda s: s["params"].update(num_warps=[]), "num_warps"),
    ],
)
def test_bad_specs_name_the_field(mutate, message):
    sweep = json.loads(json.dumps(MATMUL_SWEEP))
    mutate(sweep)
    with pytest.raises(SpecError, match=message) as err:
        parse_spec({"sweeps": [sweep]}, origin="t.yaml")
    assert "sweeps[0]" in str(err.value)


def test_spec_file_errors(tmp_path: Path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"name": "x", "sweeps": []}))
    with pytest.raises(SpecError, match="sweeps"):
        load_spec(p)
    with pytest.raises(SpecError, match="unknown defaults"):
        parse_spec({"defaults": {"repz": 3}, "sweeps": [MATMUL_SWEEP]})


def test_collect_without_the_gpu_stack_says_what_is_missing(monkeypatch, capsys, tmp_path: Path):
    """It used to end in a traceback ('No module named torch') on a machine without PyTorch."""
    import importlib.util

    from perfcast.cli import main as cli_main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("torch", "triton", "pynvml") else real(name, *a))
    assert cli_main(["collect", "smoke", "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "measuring needs torch, triton, nvidia-ml-py on a machine with a CUDA GPU" in err and "--dry-run" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_expansion_is_config_major_deterministic_and_pruned():
    spec = parse_spec({"seed": 3, "sweeps": [MATMUL_SWEEP]})
    items = expand_sweep(spec.sweeps[0], spec.seed)
    again = expand_sweep(spec.sweeps[0], spec.seed)
    assert [(it.params, it.problem) for it in items] == [(it.params, it.problem) for it in again]
    other = expand_sweep(spec.sweeps[0], spec.seed + 1)
    assert [(it.params, it.problem) for it in items] != [(it.params, it.problem) for it in other]
    configs = {json.dumps([it.params, {k: it.problem[k] for k in ("dtype", "allow_tf32", "a_layout", "b_layout")}],
                          sort_keys=True) for it in items}
    assert len(configs) == 40
    assert 40 < len(items) <= 40 * 5
    for it in items:
        ok, why = config_is_valid(it.kernel, it.params, it.problem)
        assert ok, why
        assert it.est_ms <= 5.0
        assert not (it.problem["dtype"] != "fp32" and it.problem["allow_tf32"])
    # shapes of one config are contiguous: one compile serves them
    seen_done: set[str] = set()
    prev = None
    for it in items:
        cfg = json.dumps(it.params, sort_keys=True) + it.problem["dtype"] + it.problem["a_layout"] + it.problem["b_layout"]
        if cfg != prev:
            assert cfg not in seen_done or prev is None
            if prev:
                seen_done.add(prev)
            prev = cfg


def test_validity_pruning():
    base = {"M": 4096, "N": 4096, "K": 4096, "dtype": "fp16"}
    ok, _ = config_is_valid("triton.matmul", dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, GROUP_M=8, num_warps=4, num_stages=3), base)
    assert ok
    big = dict(BLOCK_M=256, BLOCK_N=256, BLOCK_K=128, GROUP_M=8, num_warps=8, num_stages=5)
    ok, why = config_is_valid("triton.matmul", big, {**base, "dtype": "fp32"})
    assert not ok and "shared memory" in why
    ok, why = config_is_valid("triton.matmul", dict(BLOCK_M=256, BLOCK_N=256, BLOCK_K=32, GROUP_M=8, num_warps=2, num_stages=2), base)
    assert not ok and "registers" in why
    ok, why = config_is_valid("triton.softmax", {"BLOCK_SIZE": 3000, "num_warps": 4}, {"rows": 8, "cols": 4096, "dtype": "fp16"})
    assert not ok and "power of two" in why
    ok, why = config_is_valid("triton.softmax", {"BLOCK_SIZE": 16384, "num_warps": 4}, {"rows": 8, "cols": 1000, "dtype": "fp16"})
    assert not ok and "row length" in why
    ok, why = config_is_valid("triton.elementwise", {"BLOCK_SIZE": 1024, "num_warps": 64}, {"numel": 10, "dtype": "fp32"})
    assert not ok and "num_warps" in why


def test_estimate_and_canonical_problem():
    fp16 = canonical_problem("triton.matmul", {"M": 8192, "N": 8192, "K": 8192, "dtype": "fp16", "allow_tf32": True})
    assert fp16["allow_tf32"] is False and fp16["a_layout"] == "row"
    fp32 = {**fp16, "dtype": "fp32"}
    tf32 = {**fp32, "allow_tf32": True}
    # ieee fp32 is the slowest path, tf32 next, fp16 fastest
    assert estimate_ms("triton.matmul", fp32) > estimate_ms("triton.matmul", tf32) > estimate_ms("triton.matmul", fp16)
    assert 1.0 < estimate_ms("triton.matmul", fp16) < 3.0  # 1.1 PFLOP at the optimistic 650 TFLOP/s
    assert "batch" not in canonical_problem("cublas.matmul", {"M": 2, "N": 2, "K": 2, "dtype": "fp16", "batch": 1})
    sm = estimate_ms("triton.softmax", {"rows": 4096, "cols": 4096, "dtype": "fp32"})
    assert sm == pytest.approx(2 * 4096 * 4096 * 4 / 3e12 * 1e3)


def test_compile_key_tracks_triton_specialisation():
    p = {"BLOCK_SIZE": 1024, "num_warps": 4}
    a = compile_key("triton.softmax", p, {"rows": 100, "cols": 4096, "dtype": "fp16"})
    b = compile_key("triton.softmax", p, {"rows": 7, "cols": 8192, "dtype": "fp16"})
    c = compile_key("triton.softmax", p, {"rows": 7, "cols": 1000, "dtype": "fp16"})
    d = compile_key("triton.softmax", p, {"rows": 7, "cols": 8192, "dtype": "bf16"})
    assert len({a, c, d}) == 3
    assert a == b  # rows are only the grid, and cols 4096/8192 are both multiples of 16: one binary
    r = {"BLOCK_M": 4, "BLOCK_N": 256, "num_warps": 4}
    assert compile_key("triton.reduction", r, {"rows": 7, "cols": 64, "dtype": "fp16"}) != compile_key(
        "triton.reduction", r, {"rows": 16, "cols": 64, "dtype": "fp16"})
    assert compile_key("triton.softmax", p, {"rows": 32, "cols": 4096, "dtype": "fp16"}) == compile_key(
        "triton.softmax", p, {"rows": 64, "cols": 8192, "dtype": "fp16"})


def test_record_shape_is_canonical_and_validates():
    from perfcast.measurements.validate import validate_frame

    samples = [0.51, 0.5, 0.52, 0.49] * 5
    rec = build_record(
        "triton.matmul", {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8, "num_warps": 8, "num_stages": 3},
        {"M": 4096, "N": 4096, "K": 4096, "dtype": "fp16", "a_layout": "row", "b_layout": "col", "allow_tf32": False},
        "NVIDIA H100 80GB HBM3", samples_ms=samples, power_w=600.0, ir={"ttgir": "module {}"},
        meta={"kernel_hash": "abc", "registers": 168, "spills": 0, "sm_clock_mhz": 1980, "temperature_c": 51},
    )
    assert rec["runtime_ms"] == pytest.approx(0.505)
    assert rec["energy_j"] == pytest.approx(600.0 * 0.505e-3)
    assert rec["status"] == "ok" and rec["source"] == "perfcast.collect"
    flat = flatten_record(rec)
    assert flat["meta.registers"] == 168 and flat["ir.ttgir"] == "module {}" and flat["params.BLOCK_M"] == 128
    assert unflatten_record(flat) == rec
    failed = build_record("triton.matmul", rec["params"], rec["problem"], rec["system"], status="failed",
                          meta={"error": "OutOfResources: shared memory"})
    assert "runtime_ms" not in failed and failed["meta"]["error"].startswith("OutOfResources")
    valid, quarantine = validate_frame(records_to_frame([rec, failed]))
    assert len(valid) == 2, quarantine.get("_reason")
    assert {"meta.registers", "meta.kernel_hash"} <= set(valid.columns)


def test_sample_stats():
    s = sample_stats([1.0, 2.0, 3.0, float("nan")])
    assert s["median"] == 2.0 and s["min"] == 1.0
    assert s["cv"] == pytest.approx(math.sqrt(2 / 3) / 2)
    assert math.isnan(sample_stats([])["median"])


TTIR = """#loc = loc("/work/main/measurements/collect/kernels.py":24:0)
module {
  tt.func public @k(%arg0: !tt.ptr<f16> {tt.divisibility = 16 : i32} loc("a_ptr"(#loc))) attributes {noinline = false} {
    %c0 = arith.constant 0 : i32 loc(#loc1)
    %s = tt.splat %arg0 : !tt.ptr<f16> -> tensor<64x!tt.ptr<f16>> loc(callsite(#loc2 at #loc3))
    tt.return loc(#loc4)
  } loc(#loc)
} loc(#loc)
#loc1 = loc("/work/main/x.py":25:10)
#loc2 = loc(unknown)
"""


def test_strip_locations_keeps_the_ops():
    out = strip_mlir_locations(TTIR)
    assert "loc(" not in out and "#loc" not in out
    assert "%c0 = arith.constant 0 : i32\n" in out
    assert "tt.splat %arg0 : !tt.ptr<f16> -> tensor<64x!tt.ptr<f16>>\n" in out
    assert "{tt.divisibility = 16 : i32}) attributes" in out
    ptx = ".version 8.7\n.file 1 \"/x.py\"\n\tld.global.b32 %r1, [%rd1];\n\t.loc 1 25 10\n"
    assert strip_debug_lines(ptx) == ".version 8.7\n\tld.global.b32 %r1, [%rd1];\n"
    llvm = "  %5 = load i32, ptr %4, align 4, !dbg !12\n!12 = !DILocation(line: 3, scope: !7)\n"
    assert strip_debug_lines(llvm) == "  %5 = load i32, ptr %4, align 4\n"
    ir = compile_artefacts({"ttir": TTIR, "ttgir": TTIR, "llir": llvm, "ptx": ptx, "cubin": b"\x7fELF"})
    assert set(ir) == {"ttir", "ttgir", "llvm", "ptx"}


def test_budget_stops_before_overrun():
    b = Budget(budget_s=100.0, start_s=1000.0, reserve_s=5.0)
    assert b.allows(10.0, now_s=1000.0)
    assert b.allows(10.0, now_s=1085.0)
    assert not b.allows(10.0, now_s=1085.1)
    assert b.remaining(1100.0) == 0.0


def test_energy_window_maths():
    # 600 J over 1.0 s = 600 W; per call of 0.5 ms that is 0.3 J
    assert window_power_w(1_000_000.0, 1_600_000.0, 10.0, 11.0) == pytest.approx(600.0)
    assert math.isnan(window_power_w(5.0, 4.0, 0.0, 1.0))  # a counter never runs backwards
    assert math.isnan(window_power_w(5.0, 6.0, 1.0, 1.0))
    assert energy_per_call_j(600.0, 0.5) == pytest.approx(0.3)
    times = [0.0, 0.03, 0.06, 0.1, 0.13, 0.2, 0.25, 0.3]
    values = [5, 5, 5, 9, 9, 14, 14, 20]
    assert update_intervals_s(times, values) == pytest.approx([0.1, 0.1])
    assert calls_per_chunk(0.01) == 2000 and calls_per_chunk(50.0) == 1 and calls_per_chunk(0.0) == 1
    assert calls_per_chunk(1e-6) == 10_000


def test_interleave_keeps_configs_together_and_mixes_sweeps():
    spec = parse_spec({"seed": 1, "sweeps": [
        {**MATMUL_SWEEP, "name": "mm", "configs": 6, "problems_per_config": 3},
        {"name": "sm", "kernel": "triton.softmax", "params": {"BLOCK_SIZE": [512, 1024, 2048], "num_warps": [4, 8]},
         "problems": {"rows": [1024, 4096], "cols": [1024, 2048, 4096], "dtype": ["fp16", "fp32"]},
         "configs": 3, "problems_per_config": 2},
    ]})
    items = expand_spec(spec)
    order = interleave_groups(items)
    assert sorted(map(id, order)) == sorted(map(id, items))
    keys = [it.compile_key for it in order]
    runs = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert len(runs) == len(set(keys))  # each compiled config is one contiguous run
    first_half = {it.sweep for it in order[: len(order) // 2]}
    assert first_half == {"mm", "sm"}


def test_writer_bundle_and_truncated_inputs(tmp_path: Path):
    recs = [build_record("triton.softmax", {"BLOCK_SIZE": 1024, "num_warps": 4}, {"rows": 4, "cols": 8, "dtype": "fp16"},
                         "NVIDIA H100 80GB HBM3", samples_ms=[0.01 * (i + 1)] * 20,
                         ir={"ttgir": f"module {{ {i % 2} }}"}, meta={"kernel_hash": f"h{i % 2}"}) for i in range(6)]
    with JsonlWriter(tmp_path / "a.jsonl") as w:
        for r in recs[:3]:
            w.write(r)
    gz = tmp_path / "b.jsonl.gz"
    with JsonlWriter(gz) as w:
        for r in recs[3:]:
            w.write(r)
    # a run cut off mid-write: a half line at the end of a plain file
    with open(tmp_path / "a.jsonl", "a") as fh:
        fh.write('{"kernel": "triton.softm')
    rows = list(iter_jsonl([tmp_path / "a.jsonl", gz]))
    assert sum(r is not None for _, _, r, _ in rows) == 6
    assert [e for _, _, r, e in rows if r is None][0].startswith("bad JSON")
    deduped = list(dedupe_ir(json.loads(json.dumps(r)) for r in recs))
    assert sum("ir" in r for r in deduped) == 2
    out = tmp_path / "bundle.jsonl.xz"
    summary = bundle([tmp_path / "a.jsonl", gz], out, dict_mb=8)
    assert summary["records"] == 6 and summary["n_rejects"] == 1
    assert summary["compiled_kernels"] == 2 and summary["compiled_kernels_with_ir"] == 2
    with lzma.open(out, "rt") as fh:
        back = [json.loads(line) for line in fh]
    assert len(back) == 6 and sum("ir" in r for r in back) == 2
    assert summarize(back)["by_kernel"] == {"triton.softmax": 6}
    # truncated gzip stream: the records before the cut survive
    data = gz.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    got = list(iter_jsonl([cut]))
    assert got[-1][2] is None and "truncated" in got[-1][3]
    assert gzip.decompress(data).count(b"\n") == 3


def test_cli_dry_run(capsys):
    from perfcast.cli import main

    assert main(["collect", "smoke", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["items"] > 50 and len(out["by_kernel"]) == 6 and out["power_items"] > 0
    assert main(["collect", "no-such-spec", "--dry-run"]) == 2


@pytest.mark.gpu
def test_collect_smoke_on_gpu(tmp_path: Path):
    from perfcast.measurements.collect.bundle import WINDOW_CALL_OVER_RUNTIME
    from perfcast.measurements.collect.runner import GRAPH_WINDOW_BELOW_MS, Collector

    spec = load_spec(SPECS_DIR / "smoke.yaml")
    report = Collector(spec, tmp_path / "out.jsonl", budget_s=120, workers=4, progress=False).run()
    assert report.written > 0 and report.ok > 0 and report.power_windows_rejected == 0
    recs = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    ok = [r for r in recs if r["status"] == "ok"]
    assert all(len(r["runtime_ms_samples"]) >= 20 and r["runtime_ms"] > 0 for r in ok)
    # every power window ran the timed kernel back to back: fp32 cuBLAS with TF32 among them (the smoke
    # spec's power sweep has it), whose window once ran the full-fp32 kernel at 6-10x the runtime
    windows = [r for r in ok if "power_w" in r]
    assert any(r["kernel"] == "cublas.matmul" and r["problem"].get("allow_tf32") for r in windows)
    ratios = {r["meta"]["power_window_call_ms"] / r["runtime_ms"] for r in windows}
    assert windows and max(ratios) <= WINDOW_CALL_OVER_RUNTIME, sorted(ratios)
    # a call under GRAPH_WINDOW_BELOW_MS (the small softmax) gets its window from CUDA-graph replays
    short = [r for r in windows if r["runtime_ms"] < GRAPH_WINDOW_BELOW_MS]
    assert short and all(r["meta"]["power_window_graph"] for r in short)
    assert not any(r["meta"]["power_window_graph"] for r in windows if r["runtime_ms"] >= 2 * GRAPH_WINDOW_BELOW_MS)


def _rec(kernel_hash: str, runtime_ms: float, system: str = "NVIDIA H100 80GB HBM3", m: int = 4096, ir: bool = True):
    return build_record("triton.matmul", {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8, "num_warps": 8,
                                          "num_stages": 3},
                        {"M": m, "N": 4096, "K": 4096, "dtype": "fp16", "a_layout": "row", "b_layout": "row",
                         "allow_tf32": False}, system, samples_ms=[runtime_ms] * 19 + [runtime_ms * 1.1],
                        ir={"ttgir": "module {}"} if ir else None, meta={"kernel_hash": kernel_hash})


def test_ir_quota_keeps_a_stable_subset():
    from perfcast.measurements.collect.bundle import apply_ir_quota

    recs = [_rec(f"h{i}", 1.0) for i in range(10)] + [_rec("h0", 1.0, ir=False)]
    dropped = apply_ir_quota(recs, {"triton.matmul": 4})
    assert dropped == 6 and sum("ir" in r for r in recs) == 4
    again = [_rec(f"h{i}", 1.0) for i in range(10)]
    apply_ir_quota(again, {"triton.matmul": 4})
    assert [("ir" in r) for r in again] == [("ir" in r) for r in recs[:10]]
    assert all("kernel_hash" in r["meta"] for r in recs)
    assert apply_ir_quota(recs, {"triton.softmax": 0}) == 0


def test_datacard_noise_and_transfer(tmp_path: Path):
    from perfcast.measurements.collect.datacard import load_frame, run_to_run, transfer, within_run_cv

    h100 = [_rec("a", 1.0, m=1024), _rec("a", 1.02, m=1024), _rec("b", 2.0, m=2048), _rec("c", 3.0, m=3072)]
    h200 = [_rec("a", 0.9, "NVIDIA H200", m=1024), _rec("b", 1.8, "NVIDIA H200", m=2048),
            _rec("c", 2.7, "NVIDIA H200", m=3072)]
    for name, recs in (("a.jsonl", h100), ("b.jsonl", h200)):
        with JsonlWriter(tmp_path / name) as w:
            for r in recs:
                w.write(r)
    fa, fb = load_frame([tmp_path / "a.jsonl"]), load_frame([tmp_path / "b.jsonl"])
    cv = within_run_cv(fa)
    assert cv.iloc[0] == pytest.approx(np.std([1.0] * 19 + [1.1]) / np.mean([1.0] * 19 + [1.1]))
    rr = run_to_run(fa)
    assert rr["points"] == 1 and rr["cv_median"] == pytest.approx(np.std([1.0, 1.02], ddof=1) / 1.01)
    tr = transfer(fa, fb)
    assert tr["points"] == 3 and tr["triton.matmul"]["ratio_median"] == pytest.approx(0.9, rel=0.02)
    assert tr["triton.matmul"]["spearman"] == pytest.approx(1.0)


def test_bundled_h100_dataset_meets_its_card(repo_root: Path):
    """The shipped H100 set: >= 20k trusted (`ok`) measurements of >= 20k distinct points over >= 4
    families, >= 2k kernels with IR, >= 1k with power (>= 150 of them under 0.03 ms, through graph
    windows; every kept window ran its kernel back to back), <= 25 MB. Invalid records (protocol-1 short
    kernels, host-bound repeats) carry no targets, and the protocol-1 ones were re-measured."""
    path = repo_root / "data" / "h100" / "h100.jsonl.xz"
    assert path.stat().st_size <= 25 * 10**6
    kernels: dict[str, int] = {}
    ok = power = p1_invalid = p1_not_remeasured = power_rejected = power_not_remeasured = short_power = 0
    ok_points: set[str] = set()
    ir_hashes: set[str] = set()
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("ir"):
                assert {"ttir", "ttgir", "llvm", "ptx"} <= set(rec["ir"])
                ir_hashes.add(rec["meta"]["kernel_hash"])
            if "power_w" in rec:
                power += 1
                assert 50 < rec["power_w"] < 800 and rec["energy_j"] > 0
                # the window ran the timed kernel back to back (fp32 TF32 cuBLAS windows once did not)
                assert rec["meta"]["power_window_call_ms"] <= 1.5 * rec["runtime_ms"]
                short_power += rec["runtime_ms"] < 0.03 and rec["meta"].get("power_window_graph", False)
            if "power_invalid_reason" in rec["meta"]:
                power_rejected += 1
                power_not_remeasured += "power_superseded_by" not in rec["meta"]
            if rec["status"] == "ok":
                ok += 1
                kernels[rec["kernel"]] = kernels.get(rec["kernel"], 0) + 1
                ok_points.add(json.dumps([rec["kernel"], rec["params"], rec["problem"]], sort_keys=True))
                assert len(rec["runtime_ms_samples"]) >= 20 and rec["runtime_ms"] > 0
                assert np.median(rec["runtime_ms_samples"]) <= 1.5 * min(rec["runtime_ms_samples"])
            if rec["status"] == "invalid":
                meta = rec["meta"]
                assert "runtime_ms" not in rec and "runtime_ms_samples" not in rec and meta["invalid_reason"]
                if "protocol1_runtime_ms" in meta:
                    assert meta["timing_protocol"] == 1 and meta["protocol1_runtime_ms"] < 0.05
                    p1_invalid += 1
                    p1_not_remeasured += "superseded_by" not in meta
                else:
                    assert "hostbound_runtime_ms" in meta
            assert rec["system"] == "NVIDIA H100 80GB HBM3"
    assert ok >= 20_000 and len(ok_points) >= 20_000
    # every protocol-1 short kernel was re-measured; a few re-measures were host-bound again (invalid too)
    assert p1_invalid > 10_000 and p1_not_remeasured <= 0.001 * p1_invalid
    assert len([k for k, n in kernels.items() if n >= 1000]) >= 4
    assert len(ir_hashes) >= 2_000
    assert power >= 1_000
    assert power_not_remeasured == 0 and power_rejected < 0.1 * power
    assert short_power >= 150  # energy of short row kernels, measured through CUDA-graph windows


def test_host_bound_repeats_are_invalidated():
    from perfcast.measurements.collect.bundle import invalidate_host_bound_repeats
    from perfcast.measurements.collect.records import repeats_host_bound

    good, slow_tail = _rec("g", 0.01), _rec("h", 0.01)
    slow_tail["runtime_ms_samples"] = [0.01] * 5 + [0.4] * 15  # the host fell behind after 5 repeats
    slow_tail["runtime_ms"] = 0.4
    foreign = {**_rec("x", 0.01), "source": "kerneltuner:x.json.gz", "runtime_ms_samples": [0.01] * 5 + [0.4] * 15}
    assert repeats_host_bound(slow_tail["runtime_ms_samples"]) and not repeats_host_bound(good["runtime_ms_samples"])
    assert not repeats_host_bound([0.01, 0.014, 0.014])  # 1.4x: noise, not the host
    assert invalidate_host_bound_repeats([good, slow_tail, foreign]) == 1
    assert slow_tail["status"] == "invalid" and "runtime_ms" not in slow_tail
    assert slow_tail["meta"]["hostbound_runtime_ms"] == 0.4 and "40.00x" in slow_tail["meta"]["invalid_reason"]
    assert good["status"] == "ok" and foreign["status"] == "ok"


def test_protocol1_short_kernels_are_invalidated_not_lost():
    from perfcast.measurements.collect.bundle import invalidate_host_bound

    short, long = _rec("s", 0.012), _rec("l", 0.4)
    v2 = _rec("s2", 0.012)
    v2["meta"]["timing_protocol"] = 2
    other = {**_rec("x", 0.001), "source": "kerneltuner:x.json.gz"}
    assert invalidate_host_bound([short, long, v2, other]) == 1
    assert short["status"] == "invalid" and "runtime_ms" not in short and "runtime_ms_samples" not in short
    assert short["meta"]["protocol1_runtime_ms"] == pytest.approx(0.012) and "invalid_reason" in short["meta"]
    assert long["status"] == "ok" and long["meta"]["timing_protocol"] == 1
    assert v2["status"] == "ok" and other["status"] == "ok" and "timing_protocol" not in other["meta"]


def _write(path: Path, recs: list[dict]) -> Path:
    with JsonlWriter(path) as w:
        for r in recs:
            w.write(r)
    return path


def test_redo_items_remeasure_each_invalid_point_once(tmp_path: Path, capsys):
    from perfcast.measurements.collect.bundle import invalidate_host_bound
    from perfcast.measurements.collect.spec import redo_items

    from perfcast.cli import main

    short, twice, longer = _rec("s", 0.012, m=1024), _rec("s", 0.013, m=1024), _rec("l", 0.4, m=2048)
    pw = _rec("p", 0.03, m=3072)
    pw["power_w"], pw["energy_j"] = 600.0, 1.8e-5
    for r in (short, twice, longer, pw):
        r["meta"].update({"sweep": "matmul", "run_id": "old"})
    assert invalidate_host_bound([short, twice, longer, pw]) == 3
    failed = {**_rec("f", 1.0, m=4096), "status": "failed"}
    path = _write(tmp_path / "old.jsonl", [short, twice, longer, pw, failed])
    items = redo_items([path])
    assert sorted(it.problem["M"] for it in items) == [1024, 3072]  # the duplicate point once, ok/failed not
    by_m = {it.problem["M"]: it for it in items}
    assert by_m[3072].power and not by_m[1024].power  # a power record is re-measured with its window
    assert all(it.sweep == "matmul" and it.reps == 20 and it.est_ms > 0 for it in items)
    assert items[0].compile_key == compile_key(short["kernel"], short["params"], short["problem"])
    assert sorted(it.problem["M"] for it in redo_items([path], ("invalid", "failed"))) == [1024, 3072, 4096]
    # the CLI: dry run counts; a record that cannot be re-measured is a clear error naming its line
    assert main(["collect", "--redo", str(path), "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["items"] == 2 and out["by_kernel"] == {"triton.matmul": 2} and out["power_items"] == 1
    bad = {**short, "problem": {"M": 1, "N": 1, "K": 1}}
    bad_path = _write(tmp_path / "bad.jsonl", [short, bad])
    with pytest.raises(SpecError, match=r"bad.jsonl:2: missing \['problem.dtype'\]"):
        redo_items([bad_path])
    assert main(["collect", "--redo", str(bad_path), "--dry-run"]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def _power_rec(kernel_hash: str, runtime_ms: float, call_ms: float, m: int, run_id: str, protocol: int) -> dict:
    rec = _rec(kernel_hash, runtime_ms, m=m, ir=False)
    rec["power_w"], rec["energy_j"] = 690.0, 690.0 * runtime_ms / 1e3
    rec["meta"].update({"power_window_call_ms": call_ms, "power_window_s": 1.0, "sweep": "power",
                        "run_id": run_id, "timing_protocol": protocol})
    return rec


def test_power_window_that_ran_another_kernel_is_moved_aside_and_remeasured(tmp_path: Path, capsys):
    """A window at 9x the timed runtime per call (the fp32 TF32 cuBLAS case) loses its power/energy to
    `meta.window_mismatch_*`; its runtime stays trusted; `--redo --power-rejected` re-measures exactly
    those points with a window; the re-measure marks the old record `power_superseded_by`."""
    from perfcast.measurements.collect.bundle import (
        WINDOW_CALL_OVER_RUNTIME,
        invalidate_power_windows,
        window_call_ratio,
    )
    from perfcast.measurements.collect.spec import redo_items

    from perfcast.cli import main

    bad = _power_rec("b", 0.7, 6.3, 1024, "old", 1)       # 9x: the GPU ran something else
    warm = _power_rec("w", 0.7, 0.56, 2048, "old", 1)     # 0.8x: warm L2 in the window, sound
    edge = _power_rec("e", 1.0, WINDOW_CALL_OVER_RUNTIME, 3072, "old", 1)  # at the limit: kept
    other = {**_power_rec("o", 0.7, 6.3, 4096, "old", 1), "source": "gpperf:x.csv"}  # not the collector's
    recs = [bad, warm, edge, other]
    # the collector's own check on a record as `build_record` writes it (the runner reports it at once)
    assert window_call_ratio(bad) == pytest.approx(9.0) and window_call_ratio(other) is None
    assert invalidate_power_windows([dict(r, meta=dict(r["meta"])) for r in recs]) == 1
    path = _write(tmp_path / "old.jsonl", recs)
    items = redo_items([path], (), power_rejected=True)
    assert [(it.problem["M"], it.power) for it in items] == [(1024, True)]
    assert redo_items([path]) == []  # nothing invalid: the default selection is unchanged
    assert main(["collect", "--redo", str(path), "--power-rejected", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["power_items"] == 1

    new = _power_rec("b", 0.69, 0.66, 1024, "redo", 2)
    out = tmp_path / "bundle.jsonl.xz"
    summary = bundle([path, _write(tmp_path / "redo.jsonl", [new])], out, dict_mb=8)
    assert summary["invalidated_power_windows"] == 1 and summary["by_status"] == {"ok": 5}
    with lzma.open(out, "rt") as fh:
        back = {(r["problem"]["M"], r["meta"]["run_id"]): r for r in map(json.loads, fh)}
    old = back[(1024, "old")]
    assert "power_w" not in old and "energy_j" not in old and old["runtime_ms"] == pytest.approx(0.7)
    assert old["meta"]["window_mismatch_power_w"] == 690.0 and "9.00x" in old["meta"]["power_invalid_reason"]
    assert old["meta"]["power_superseded_by"] == "redo"
    assert back[(1024, "redo")]["power_w"] == 690.0
    assert all("power_w" in back[(m, "old")] for m in (2048, 3072, 4096))
    # the shipped file as input again: the rejected window is already aside, nothing moves twice
    again = bundle([out], tmp_path / "again.jsonl.xz", dict_mb=8)
    assert again["invalidated_power_windows"] == 0 and again["records_with_power"] == summary["records_with_power"]
    assert [it.problem["M"] for it in redo_items([out], (), power_rejected=True)] == [1024]


def test_store_with_both_copies_trains_without_the_rejected_power(tmp_path: Path):
    """A store that ingested a bundle from before the window check and then the re-labelled bundle holds
    both copies of the record (their content differs): training reads its runtime, never the rejected
    power; the re-measure's power is read."""
    from perfcast.measurements.ingest import ingest_path
    from perfcast.measurements.store import MeasurementStore
    from perfcast.training.train import load_training_frame

    before = _write(tmp_path / "before.jsonl", [_power_rec("b", 0.7, 6.3, 1024, "old", 1),
                                                _power_rec("g", 0.7, 0.7, 2048, "old", 1)])
    after = tmp_path / "after.jsonl.xz"
    bundle([before, _write(tmp_path / "redo.jsonl", [_power_rec("b", 0.69, 0.66, 1024, "redo", 2)])], after, dict_mb=8)
    store = MeasurementStore(tmp_path / "store")
    ingest_path(before, store, progress=False)
    ingest_path(after, store, progress=False)
    frame = load_training_frame(store)
    stored = frame[frame["problem.M"] == 1024]
    assert len(stored) == 3 and stored["runtime_ms"].notna().all()  # old with power, old without, redo
    powered = frame[frame["power_w"].notna()]
    assert set(zip(powered["problem.M"], powered["meta.run_id"], strict=True)) == {(1024, "redo"), (2048, "old")}
    assert frame["energy_j"].notna().sum() == len(powered)


def test_bundle_remeasure_wins_over_the_invalid_copy(tmp_path: Path):
    """A protocol-1 short record and its protocol-2 re-measure: the bundle keeps the old one as `invalid`
    history (`superseded_by`), the IR moves to the trusted record, and the store trains on the new one."""
    from perfcast.measurements.ingest import ingest_path
    from perfcast.measurements.store import MeasurementStore

    old = _rec("k1", 0.012, m=1024)
    old["meta"].update({"run_id": "p1run", "timing_protocol": 1})
    other = _rec("k2", 0.02, m=2048)  # never re-measured: stays invalid, unmarked
    other["meta"]["run_id"] = "p1run"
    new = _rec("k1", 0.009, m=1024, ir=False)
    new["meta"].update({"run_id": "p2run", "timing_protocol": 2})
    a = _write(tmp_path / "p1.jsonl", [old, other])
    b = _write(tmp_path / "p2.jsonl", [new])
    out = tmp_path / "h100.jsonl.xz"
    summary = bundle([a, b], out, dict_mb=8)
    assert summary["invalidated_protocol1"] == 2 and summary["superseded"] == 1
    assert summary["by_status"] == {"invalid": 2, "ok": 1} and summary["ok_points"] == 1
    with lzma.open(out, "rt") as fh:
        back = {(r["problem"]["M"], r["status"]): r for r in map(json.loads, fh)}
    assert back[(1024, "invalid")]["meta"]["superseded_by"] == "p2run"
    assert "superseded_by" not in back[(2048, "invalid")]["meta"]
    assert back[(1024, "ok")]["ir"] == {"ttgir": "module {}"} and "ir" not in back[(1024, "invalid")]
    from perfcast.measurements.collect.datacard import load_frame, protocol_comparison

    cmp = protocol_comparison(load_frame([out]))
    assert cmp["points"] == 1 and cmp["(0.01, 0.02]"]["ratio_median"] == pytest.approx(0.012 / 0.009)
    assert cmp["(0.01, 0.02]"]["off_by_10pct_share"] == 1.0
    # bundling again (the shipped file as input) changes nothing
    again = bundle([out], tmp_path / "again.jsonl.xz", dict_mb=8)
    assert again["by_status"] == summary["by_status"] and again["superseded"] == 1
    store = MeasurementStore(tmp_path / "store")
    report = ingest_path(out, store, progress=False)
    assert report.stored == 3
    rows = store.read(kernel="triton.matmul")
    ok = rows[rows["status"] == "ok"]
    assert len(ok) == 1 and ok["runtime_ms"].iloc[0] == pytest.approx(0.009)
    assert ok["meta.run_id"].iloc[0] == "p2run"
    invalid = rows[rows["status"] == "invalid"]
    assert len(invalid) == 2 and invalid["runtime_ms"].isna().all()
