"""NVML readings: the total-energy counter over >= 1 s windows, SM clock, temperature, device facts.

The energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ since driver load) is refreshed about
ten times per second, so a window is timed from one counter *update* to another: the loop polls
the counter while the GPU runs back-to-back launches, starts the window at the first update after
a short ramp, and closes it at the first update at least `window_s` later. Power is ΔE / Δt between
those two updates; both ends are seen with the same polling latency (well under a millisecond), so
the error is far smaller than a window timed by wall clock against a 100 ms-stale counter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EnergyWindow:
    """One measured window: counter readings at two updates, and what ran between them."""

    t0_s: float
    t1_s: float
    e0_mj: float
    e1_mj: float
    calls: int
    updates: int

    @property
    def duration_s(self) -> float:
        return self.t1_s - self.t0_s

    @property
    def energy_j(self) -> float:
        return (self.e1_mj - self.e0_mj) / 1e3

    @property
    def power_w(self) -> float:
        return window_power_w(self.e0_mj, self.e1_mj, self.t0_s, self.t1_s)


def window_power_w(e0_mj: float, e1_mj: float, t0_s: float, t1_s: float) -> float:
    """Mean power (W) between two energy-counter readings; NaN for an empty or backwards window."""
    dt = t1_s - t0_s
    de = e1_mj - e0_mj
    if not dt > 0 or de < 0:
        return float("nan")
    return de / 1e3 / dt


def energy_per_call_j(power_w: float, runtime_ms: float) -> float:
    """Energy of one kernel call: mean power over the window times the call's runtime."""
    return power_w * runtime_ms / 1e3


def update_intervals_s(times_s: Sequence[float], values: Sequence[float]) -> np.ndarray:
    """Intervals between the times at which a polled counter changed value (its refresh period)."""
    t = np.asarray(times_s, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.size < 2:
        return np.empty(0)
    changed = np.flatnonzero(np.diff(v) != 0) + 1
    return np.diff(t[changed])


def calls_per_chunk(call_ms: float, chunk_ms: float = 20.0, max_calls: int = 10_000) -> int:
    """Launches per enqueued chunk so that one chunk keeps the GPU busy for about `chunk_ms`."""
    if not call_ms > 0:
        return 1
    return int(min(max_calls, max(1, round(chunk_ms / call_ms))))


class Nvml:
    """A thin handle on NVML for one device (nvidia-ml-py, imported here only)."""

    def __init__(self, index: int = 0) -> None:
        import pynvml  # noqa: PLC0415

        self.nv = pynvml
        pynvml.nvmlInit()
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self.has_energy_counter = True
        except pynvml.NVMLError:
            self.has_energy_counter = False

    def _str(self, value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def name(self) -> str:
        return self._str(self.nv.nvmlDeviceGetName(self.handle))

    def driver_version(self) -> str:
        return self._str(self.nv.nvmlSystemGetDriverVersion())

    def energy_mj(self) -> float:
        return float(self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def power_w(self) -> float:
        return self.nv.nvmlDeviceGetPowerUsage(self.handle) / 1e3

    def sm_clock_mhz(self) -> int:
        return int(self.nv.nvmlDeviceGetClockInfo(self.handle, self.nv.NVML_CLOCK_SM))

    def mem_clock_mhz(self) -> int:
        return int(self.nv.nvmlDeviceGetClockInfo(self.handle, self.nv.NVML_CLOCK_MEM))

    def temperature_c(self) -> int:
        return int(self.nv.nvmlDeviceGetTemperature(self.handle, self.nv.NVML_TEMPERATURE_GPU))

    def power_limit_w(self) -> float:
        return self.nv.nvmlDeviceGetEnforcedPowerLimit(self.handle) / 1e3

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name(), "driver": self.driver_version(),
                               "has_energy_counter": self.has_energy_counter}
        for key, fn in (("power_limit_w", self.power_limit_w), ("max_sm_clock_mhz",
                        lambda: self.nv.nvmlDeviceGetMaxClockInfo(self.handle, self.nv.NVML_CLOCK_SM)),
                        ("max_mem_clock_mhz", lambda: self.nv.nvmlDeviceGetMaxClockInfo(self.handle, self.nv.NVML_CLOCK_MEM)),
                        ("cuda_driver_version", lambda: self.nv.nvmlSystemGetCudaDriverVersion())):
            try:
                out[key] = fn()
            except Exception as exc:  # noqa: BLE001  (a missing reading is recorded, not fatal)
                out[key] = f"unavailable: {exc}"
        return out


def measure_window(read_energy_mj: Callable[[], float], enqueue_chunk: Callable[[], Any],
                   chunk_done: Callable[[Any], bool], calls_in_chunk: int, window_s: float = 1.0,
                   ramp_updates: int = 1, max_inflight: int = 3, timeout_s: float | None = None) -> EnergyWindow:
    """Run back-to-back chunks of launches and time an energy window between two counter updates.

    `enqueue_chunk()` launches `calls_in_chunk` calls and returns a token (a CUDA event recorded
    after them); `chunk_done(token)` says whether it finished. At most `max_inflight` chunks are
    queued, so the GPU never idles and the host never runs far ahead. With `calls_in_chunk=0`
    nothing is launched (an idle window).
    """
    timeout_s = timeout_s if timeout_s is not None else 4.0 * window_s + 2.0
    inflight: list[Any] = []
    completed = 0
    if calls_in_chunk:
        for _ in range(max_inflight):
            inflight.append(enqueue_chunk())
    start = time.perf_counter()
    last = read_energy_mj()
    updates_seen = 0
    t0 = e0 = None
    c0 = 0
    updates_in_window = 0
    while True:
        if inflight and chunk_done(inflight[0]):
            inflight.pop(0)
            completed += calls_in_chunk
            inflight.append(enqueue_chunk())
        e = read_energy_mj()
        now = time.perf_counter()
        if e != last:
            last = e
            updates_seen += 1
            if t0 is None:
                if updates_seen > ramp_updates:
                    t0, e0, c0 = now, e, completed
            else:
                updates_in_window += 1
                if now - t0 >= window_s:
                    return EnergyWindow(t0, now, e0, e, completed - c0, updates_in_window)
        if now - start > timeout_s:
            raise TimeoutError(f"energy counter did not update twice {window_s} s apart within {timeout_s} s")
