"""The budgeted collection run: parallel Triton compiles, serial GPU measurements, JSONL as it goes.

Compiles run ahead in a process pool across the CPU cores (`jit_fn.warmup` fills Triton's on-disk
cache); the main process takes the work items in order, loads each compiled kernel from that cache,
times it with CUDA events (L2 flushed before every repeat), optionally runs an NVML energy window,
and writes one canonical record per item. It stops before the time budget (or on SIGTERM/SIGINT)
and every record written so far stays on disk.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import time
import traceback
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import WINDOW_CALL_OVER_RUNTIME, window_call_ratio
from .records import JsonlWriter, build_record, compile_artefacts, now_iso, repeats_host_bound, sample_stats
from .spec import CollectSpec, WorkItem, expand_spec, item_cost_s

# Line info only adds debug sections to LLVM IR/PTX; it does not change the machine code we time.
os.environ.setdefault("TRITON_DISABLE_LINE_INFO", "1")


#: 1: 128 MB L2 flush per repeat (the host could fall behind on kernels under ~50 us: see DATACARD);
#: 2: 256 MB flush and a primed queue.
TIMING_PROTOCOL = 2
#: Timings of one item at most (the first plus retries while its repeats look host-bound).
MAX_TIMING_ATTEMPTS = 3
#: Calls shorter than this get their power window from CUDA-graph replays of each chunk of launches: the
#: host needs ~10-30 us to launch a Triton kernel, so plain back-to-back launches of a 5 us kernel would
#: leave the GPU idle most of the window (the bundle's window check would reject it).
GRAPH_WINDOW_BELOW_MS = 0.05


@dataclass
class Budget:
    """Wall-clock budget: `allows(cost)` is False once the next item would overrun (minus a reserve)."""

    budget_s: float
    start_s: float
    reserve_s: float = 5.0

    def remaining(self, now_s: float) -> float:
        return self.budget_s - (now_s - self.start_s)

    def allows(self, cost_s: float, now_s: float) -> bool:
        return self.remaining(now_s) - self.reserve_s >= cost_s


def interleave_groups(items: Sequence[WorkItem]) -> list[WorkItem]:
    """Order items so sweeps alternate config by config (a budget cut keeps every family), each config's
    items kept together (one compile, many shapes)."""
    by_sweep: dict[str, OrderedDict[str, list[WorkItem]]] = OrderedDict()
    for it in items:
        by_sweep.setdefault(it.sweep, OrderedDict()).setdefault(it.compile_key, []).append(it)
    queues = [list(groups.values()) for groups in by_sweep.values()]
    weights = [max(1, len(q)) for q in queues]
    out: list[WorkItem] = []
    pos = [0] * len(queues)
    # Proportional round-robin: each sweep advances at a rate proportional to its number of configs.
    progress = [0.0] * len(queues)
    while any(pos[i] < len(q) for i, q in enumerate(queues)):
        i = min((j for j in range(len(queues)) if pos[j] < len(queues[j])), key=lambda j: progress[j])
        out.extend(queues[i][pos[i]])
        pos[i] += 1
        progress[i] = pos[i] / weights[i]
    return out


# ---------------------------------------------------------------------------------------------
# Compile worker (runs in a spawned process)
# ---------------------------------------------------------------------------------------------


def compile_job(kernel: str, params: dict[str, Any], problem: dict[str, Any]) -> dict[str, Any]:
    """Compile one config without launching it (fills Triton's cache); returns timing or the error."""
    t0 = time.perf_counter()
    try:
        from .kernels import triton_call  # noqa: PLC0415

        fn, args, kwargs, _ = triton_call(kernel, params, problem, None)
        fn.warmup(*args, grid=(1,), **kwargs)
        return {"ok": True, "compile_s": time.perf_counter() - t0}
    except Exception as exc:  # noqa: BLE001  (any compiler failure is data: the config is `failed`)
        return {"ok": False, "compile_s": time.perf_counter() - t0, "error": f"{type(exc).__name__}: {exc}"[:800]}


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Compiles yield the CPU to the measuring process: a starved host made some repeats wait for it.
    os.nice(10)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    out: Path
    written: int = 0
    ok: int = 0
    failed: int = 0
    with_power: int = 0
    #: power windows over the bundle's WINDOW_CALL_OVER_RUNTIME: `--bundle` will set their power aside
    power_windows_rejected: int = 0
    with_ir: int = 0
    planned: int = 0
    stopped_by: str = "done"
    elapsed_s: float = 0.0
    counts_by_kernel: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["out"] = str(self.out)
        return d


def software_versions() -> dict[str, Any]:
    import torch  # noqa: PLC0415
    import triton  # noqa: PLC0415

    props = torch.cuda.get_device_properties(0)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "triton": triton.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "gpu_name_torch": props.name,
        "sm_count": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None),
        "total_memory_bytes": props.total_memory,
        "capability": f"{props.major}.{props.minor}",
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "TRITON_DISABLE_LINE_INFO": os.environ.get("TRITON_DISABLE_LINE_INFO"),
    }


def resolve_system(nvml_name: str) -> str:
    """Match the NVML device name to the systems registry; the raw name if the registry lacks it."""
    try:
        from perfcast.systems import resolve_name  # noqa: PLC0415

        return resolve_name(nvml_name)
    except Exception:  # noqa: BLE001  (an unregistered GPU still yields usable records)
        return nvml_name


class Collector:
    """Runs a spec on the current CUDA device. `run()` returns a `RunReport`."""

    def __init__(self, spec: CollectSpec, out: str | Path, budget_s: float = 540.0, power: bool | None = None,
                 workers: int | None = None, validate_power: bool = True, progress: bool = True,
                 items: Sequence[WorkItem] | None = None) -> None:
        """`items`, when given, replaces the spec's expansion (e.g. `spec.redo_items`); the spec then
        only supplies its name, seed and defaults (flush size, power window, max call time)."""
        self.spec = spec
        self.given_items = list(items) if items is not None else None
        self.out = Path(out)
        self.budget_s = float(budget_s)
        self.power_override = power
        self.workers = workers if workers is not None else max(1, (os.cpu_count() or 2) - 2)
        self.validate_power = validate_power
        self.progress = progress
        self._stop = False

    # -- plumbing ---------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stop = True
        print(f"[collect] signal {signum}: stopping after the current measurement", file=sys.stderr, flush=True)

    def _items(self) -> list[WorkItem]:
        items = expand_spec(self.spec) if self.given_items is None else list(self.given_items)
        if self.power_override is False:
            items = [WorkItem(**{**it.__dict__, "power": False}) for it in items]
        return interleave_groups(items)

    # -- measurement ------------------------------------------------------------------------------

    def run(self) -> RunReport:  # noqa: C901  (one linear loop reads best in one place)
        import torch  # noqa: PLC0415

        from . import kernels as K  # noqa: PLC0415
        from .energy import EnergyWindow, Nvml, calls_per_chunk, measure_window  # noqa: PLC0415

        t_start = time.perf_counter()
        budget = Budget(self.budget_s, t_start)
        prev_int = signal.signal(signal.SIGINT, self._on_signal)
        prev_term = signal.signal(signal.SIGTERM, self._on_signal)
        items = self._items()
        report = RunReport(out=self.out, planned=len(items))
        torch.cuda.init()
        nvml = Nvml(0)
        system = resolve_system(nvml.name())
        run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        env = {"run_id": run_id, "spec": self.spec.name, "started_at": now_iso(), "system": system,
               "nvml": nvml.facts(), **software_versions()}
        software = f"torch {env['torch']}; triton {env['triton']}; cuda {env['torch_cuda']}; driver {env['nvml']['driver']}"
        env["timing_protocol"] = TIMING_PROTOCOL
        env_path = self.out.with_name(self.out.name.split(".")[0] + ".env.json")
        print(f"[collect] {system} | {software} | {len(items)} items planned | budget {self.budget_s:.0f} s",
              file=sys.stderr, flush=True)

        gen = torch.Generator(device="cuda")
        gen.manual_seed(self.spec.seed)
        flush_buf = torch.empty(int(self.spec.defaults.flush_l2_mb) * 2**20, dtype=torch.int8, device="cuda")
        window_s = float(self.spec.defaults.power_window_s)
        max_call_ms = float(self.spec.defaults.max_call_ms)
        graphs: list[Any] = []  # the current item's power-window graphs

        def time_reps(launch: Callable[[], Any], reps: int) -> list[float]:
            events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
            # Queue priming: ~1 ms of GPU spin lets the host enqueue ahead, and each repeat's flush
            # (256 MB, ~90 us) outlasts the host's ~50 us per repeat, so no repeat waits for a launch.
            torch.cuda._sleep(2_000_000)
            for s, e in events:
                flush_buf.zero_()  # cold L2 for every repeat; also keeps the GPU ahead of the host
                s.record()
                launch()
                e.record()
            torch.cuda.synchronize()
            return [s.elapsed_time(e) for s, e in events]

        def chunk_graph(launch: Callable[[], Any], n: int) -> Callable[[], Any]:
            """`n` launches captured once as a CUDA graph; returns its replay."""
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                launch()  # a launch on a side stream before capture, as torch.cuda.graph asks
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(n):
                    launch()
            graphs.append(graph)  # kept until the item is written, then released
            return graph.replay

        def power_window(launch: Callable[[], Any], call_ms: float, meta: dict[str, Any] | None = None) -> EnergyWindow:
            n = calls_per_chunk(call_ms)
            replay = None
            if call_ms < GRAPH_WINDOW_BELOW_MS:
                try:
                    replay = chunk_graph(launch, n)
                except Exception as exc:  # noqa: BLE001  (plain launches still measure; the record says why)
                    torch.cuda.synchronize()
                    if meta is not None:
                        meta["power_window_graph_error"] = f"{type(exc).__name__}: {exc}"[:300]
            if meta is not None:
                meta["power_window_graph"] = replay is not None

            def enqueue() -> Any:
                if replay is not None:
                    replay()
                else:
                    for _ in range(n):
                        launch()
                ev = torch.cuda.Event()
                ev.record()
                return ev

            return measure_window(nvml.energy_mj, enqueue, lambda ev: ev.query(), n, window_s=window_s)

        # Power-window validation: idle vs a known heavy load (cuBLAS bf16 8192^3).
        if self.validate_power and nvml.has_energy_counter and any(it.power for it in items):
            torch.cuda.synchronize()
            idle = measure_window(nvml.energy_mj, lambda: None, lambda _: True, 0, window_s=2.0)
            a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16, generator=gen)
            c = torch.empty_like(a)
            load_ms = sample_stats(time_reps(lambda: torch.mm(a, a, out=c), 20))["median"]
            load = power_window(lambda: torch.mm(a, a, out=c), load_ms)
            clock_load = nvml.sm_clock_mhz()
            torch.cuda.synchronize()
            env["power_validation"] = {
                "idle_w": idle.power_w, "idle_window_s": idle.duration_s, "idle_updates": idle.updates,
                "load_w": load.power_w, "load_window_s": load.duration_s, "load_updates": load.updates,
                "load_kernel": "cublas bf16 8192x8192x8192", "load_call_ms": load_ms,
                "load_tflops": 2 * 8192**3 / (load_ms / 1e3) / 1e12, "load_sm_clock_mhz": clock_load,
                "nvml_power_usage_w_after_load": nvml.power_w(), "power_limit_w": env["nvml"].get("power_limit_w"),
            }
            del a, c
            print(f"[collect] power validation: {json.dumps(env['power_validation'])}", file=sys.stderr, flush=True)
        env_path.write_text(json.dumps(env, indent=1, default=str))

        # Compile ahead: one job per distinct compiled config, submitted in measurement order.
        first_of_key: OrderedDict[str, WorkItem] = OrderedDict()
        for it in items:
            if it.kernel.startswith("triton.") and it.compile_key not in first_of_key:
                first_of_key[it.compile_key] = it
        pool = None
        futures: dict[str, Future] = {}
        if first_of_key and self.workers > 0:
            import multiprocessing as mp  # noqa: PLC0415

            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                       initializer=_worker_init)
            for key, it in first_of_key.items():
                futures[key] = pool.submit(compile_job, it.kernel, dict(it.params), dict(it.problem))
        print(f"[collect] {len(first_of_key)} Triton configs to compile on {self.workers} workers",
              file=sys.stderr, flush=True)

        inputs_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

        def get_inputs(it: WorkItem) -> dict[str, Any]:
            kind = "matmul" if it.kernel.endswith(".matmul") else it.kernel
            key = kind + json.dumps(it.problem, sort_keys=True)
            if key in inputs_cache:
                inputs_cache.move_to_end(key)
                return inputs_cache[key]
            while len(inputs_cache) >= 6:
                inputs_cache.popitem(last=False)
            inputs_cache[key] = K.make_inputs(it.kernel, it.problem, gen)
            return inputs_cache[key]

        seen_hash: set[str] = set()
        key_state: dict[str, dict[str, Any]] = {}
        counts: dict[str, int] = defaultdict(int)
        writer = JsonlWriter(self.out)
        bar = _progress(len(items), self.progress)
        try:
            for it in items:
                now = time.perf_counter()
                cost = item_cost_s(it, window_s)
                if self._stop:
                    report.stopped_by = "signal"
                    break
                if not budget.allows(cost, now):
                    report.stopped_by = "budget"
                    break
                meta: dict[str, Any] = {"run_id": run_id, "sweep": it.sweep, "software": software,
                                        "timing_protocol": TIMING_PROTOCOL}
                status, samples, power, ir = "ok", None, None, None
                try:
                    inputs = get_inputs(it)
                    if it.kernel == "cublas.matmul":
                        launch = K.cublas_call(it.problem, inputs)  # sets the problem's TF32 mode per call
                    else:
                        st = key_state.get(it.compile_key)
                        if st is None:
                            st = key_state[it.compile_key] = {}
                            fut = futures.get(it.compile_key)
                            if fut is not None:
                                res = fut.result(timeout=max(5.0, budget.remaining(time.perf_counter())))
                                st["compile_s"] = round(res["compile_s"], 3)
                                if not res["ok"]:
                                    st["worker_error"] = res["error"]
                        fn, args, kwargs, grid = K.triton_call(it.kernel, it.params, it.problem, inputs)

                        def launch(fn=fn, args=args, kwargs=kwargs, grid=grid) -> Any:
                            return fn[grid](*args, **kwargs)

                    # Warm-up launches; the first of a Triton config loads it from the compile cache.
                    w0 = torch.cuda.Event(enable_timing=True)
                    w1 = torch.cuda.Event(enable_timing=True)
                    ck = launch()
                    torch.cuda.synchronize()
                    w0.record()
                    for _ in range(max(1, it.warmup - 1)):
                        launch()
                    w1.record()
                    torch.cuda.synchronize()
                    call_ms = w0.elapsed_time(w1) / max(1, it.warmup - 1)
                    if it.kernel.startswith("triton."):
                        st = key_state[it.compile_key]
                        if "kernel_hash" not in st:
                            _ = ck.run  # loads the binary: fills n_regs / n_spills
                            md = ck.metadata
                            st["kernel_hash"] = str(getattr(md, "hash", None) or getattr(ck, "hash", ""))
                            st["registers"] = int(getattr(ck, "n_regs", -1))
                            st["spills"] = int(getattr(ck, "n_spills", -1))
                            st["shared_bytes"] = int(getattr(md, "shared", -1))
                            st["ir"] = compile_artefacts(getattr(ck, "asm", {}) or {})
                            if it.est_ms <= 2.0:
                                st["rel_error"] = float(f"{K.reference_check(it.kernel, it.problem, inputs):.3g}")
                        meta.update({k: st[k] for k in ("kernel_hash", "registers", "spills", "shared_bytes",
                                                        "compile_s", "rel_error") if k in st})
                        if st["kernel_hash"] not in seen_hash:
                            seen_hash.add(st["kernel_hash"])
                            ir = st["ir"]
                    if call_ms > max_call_ms:
                        status = "timeout"
                        meta["single_call_ms"] = round(call_ms, 4)
                    else:
                        samples = time_reps(launch, it.reps)
                        attempts = 1
                        # Repeats that waited for the host: time again, keep the attempt with the lowest median.
                        while attempts < MAX_TIMING_ATTEMPTS and repeats_host_bound(samples):
                            again = time_reps(launch, it.reps)
                            attempts += 1
                            if sample_stats(again)["median"] < sample_stats(samples)["median"]:
                                samples = again
                        meta["timing_attempts"] = attempts
                        meta["sm_clock_mhz"] = nvml.sm_clock_mhz()
                        meta["temperature_c"] = nvml.temperature_c()
                        if it.power and nvml.has_energy_counter:
                            median = sample_stats(samples)["median"]
                            win = power_window(launch, median, meta)
                            meta["sm_clock_mhz"] = nvml.sm_clock_mhz()  # under load, at the window's end
                            torch.cuda.synchronize()
                            meta["temperature_c"] = nvml.temperature_c()
                            power = win.power_w
                            meta.update({"power_window_s": round(win.duration_s, 4), "power_window_calls": win.calls,
                                         "power_window_call_ms": round(win.duration_s * 1e3 / max(win.calls, 1), 5),
                                         "power_counter_updates": win.updates,
                                         "energy_per_call_j_window": float(f"{win.energy_j / max(win.calls, 1):.6g}")})
                except Exception as exc:  # noqa: BLE001  (out of resources, compile errors: record and go on)
                    status = "failed"
                    msg = f"{type(exc).__name__}: {exc}"
                    meta["error"] = msg[:800]
                    st = key_state.get(it.compile_key, {})
                    if st.get("worker_error"):
                        meta["worker_error"] = st["worker_error"]
                    if not isinstance(exc, RuntimeError | ValueError | TypeError) or "CUDA" in msg:
                        print(f"[collect] {it.kernel} {it.params} {it.problem}: {msg[:300]}", file=sys.stderr)
                    if "illegal memory access" in msg or "unspecified launch failure" in msg:
                        traceback.print_exc()
                        report.stopped_by = "cuda-error"
                        writer.write(build_record(it.kernel, it.params, it.problem, system, status=status, meta=meta))
                        break
                torch.backends.cuda.matmul.allow_tf32 = False  # a cuBLAS launch sets its own; reference checks stay fp32
                rec = build_record(it.kernel, it.params, it.problem, system, status=status, samples_ms=samples,
                                   power_w=power, ir=ir, meta=meta)
                ratio = window_call_ratio(rec)
                if ratio is not None and ratio > WINDOW_CALL_OVER_RUNTIME:  # said on the GPU machine, not at bundle time
                    report.power_windows_rejected += 1
                    print(f"[collect] {it.kernel} {it.params} {it.problem}: power window ran {ratio:.2f}x the timed "
                          "runtime per call; --bundle will set its power aside", file=sys.stderr)
                writer.write(rec)
                graphs.clear()
                report.written += 1
                counts[it.kernel] += 1
                report.ok += status == "ok"
                report.failed += status == "failed"
                report.with_power += "power_w" in rec
                report.with_ir += "ir" in rec
                bar.update(1)
        finally:
            writer.close()
            bar.close()
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            signal.signal(signal.SIGINT, prev_int)
            signal.signal(signal.SIGTERM, prev_term)
        report.elapsed_s = round(time.perf_counter() - t_start, 1)
        report.counts_by_kernel = dict(counts)
        env["report"] = report.as_dict()
        env["finished_at"] = now_iso()
        env_path.write_text(json.dumps(env, indent=1, default=str))
        return report


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm  # noqa: PLC0415

        return tqdm(total=total, unit="meas", mininterval=10, file=sys.stderr)
    except ImportError:
        return _NoBar()
