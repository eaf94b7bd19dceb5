"""Sweep specs: parse a YAML/JSON spec and expand it into work items (pure, no GPU needed).

A spec names sweeps; each sweep is one kernel family with a cross product of `params` (tuning
configs) and `problems` (shapes, dtypes, layouts)::

    name: h100-a
    seed: 1
    defaults: {reps: 20, warmup: 2, max_est_ms: 3.0}
    sweeps:
      - kernel: triton.matmul
        params: {BLOCK_M: [64, 128], BLOCK_N: [64, 128], BLOCK_K: [32, 64], GROUP_M: [8],
                 num_warps: [4, 8], num_stages: [3, 4]}
        problems: {M: [512, 4096], N: [512, 4096], K: [512, 4096], dtype: [fp16, fp32],
                   allow_tf32: [true, false], a_layout: [row, col], b_layout: [row]}
        configs: 200               # compiled configs drawn at random (params x compile-relevant problem keys)
        problems_per_config: 8     # shapes measured with each compiled config
        power: false               # NVML energy windows (>= 1 s each) on this sweep

Expansion is config-major: a *config* is one tuning config together with the problem keys that
change the compiled binary (dtype, layouts, tf32); each config is compiled once and measured on
`problems_per_config` shapes, so compile work is shared by many measurements.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Kernel families the collector can run.
COLLECT_KERNELS: tuple[str, ...] = (
    "triton.matmul",
    "cublas.matmul",
    "triton.softmax",
    "triton.layernorm",
    "triton.elementwise",
    "triton.reduction",
)
#: Problem keys that change the compiled kernel (the rest are run-time shapes).
COMPILE_PROBLEM_KEYS: dict[str, tuple[str, ...]] = {
    "triton.matmul": ("dtype", "allow_tf32", "a_layout", "b_layout"),
    "cublas.matmul": ("dtype", "allow_tf32", "a_layout", "b_layout"),
    "triton.softmax": ("dtype",),
    "triton.layernorm": ("dtype",),
    "triton.elementwise": ("dtype",),
    "triton.reduction": ("dtype",),
}
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "triton.matmul": ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "num_warps", "num_stages"),
    "cublas.matmul": (),
    "triton.softmax": ("BLOCK_SIZE", "num_warps"),
    "triton.layernorm": ("BLOCK_SIZE", "num_warps"),
    "triton.elementwise": ("BLOCK_SIZE", "num_warps"),
    "triton.reduction": ("BLOCK_M", "BLOCK_N", "num_warps"),
}
REQUIRED_PROBLEM: dict[str, tuple[str, ...]] = {
    "triton.matmul": ("M", "N", "K", "dtype"),
    "cublas.matmul": ("M", "N", "K", "dtype"),
    "triton.softmax": ("rows", "cols", "dtype"),
    "triton.layernorm": ("rows", "cols", "dtype"),
    "triton.elementwise": ("numel", "dtype"),
    "triton.reduction": ("rows", "cols", "dtype"),
}
COLLECT_DTYPES: tuple[str, ...] = ("fp16", "bf16", "fp32")
ELEMENT_BYTES: dict[str, int] = {"fp16": 2, "bf16": 2, "fp32": 4}
LAYOUTS: tuple[str, ...] = ("row", "col")

#: Hopper limits used to prune configs that cannot run (opt-in shared memory per block, threads).
H100_SMEM_BYTES = 232_448
MAX_THREADS_PER_BLOCK = 1024
#: Accumulator registers per thread above which a matmul tile spills massively (255 is the cap).
MAX_ACC_REGS_PER_THREAD = 256

#: Optimistic achievable rates for the runtime estimate that bounds sweep cost (not a model).
_EST_TFLOPS = {"fp16": 650.0, "bf16": 650.0, "tf32": 330.0, "fp32": 45.0}
_EST_TBPS = 3.0


class SpecError(ValueError):
    """A spec that cannot be run; the message names the sweep and field."""


@dataclass(frozen=True)
class Defaults:
    reps: int = 20
    warmup: int = 2
    flush_l2_mb: int = 256
    max_est_ms: float = 5.0
    min_est_ms: float = 0.0
    max_call_ms: float = 250.0
    power_window_s: float = 1.0


@dataclass(frozen=True)
class Sweep:
    kernel: str
    params: dict[str, list[Any]]
    problems: dict[str, list[Any]]
    name: str = ""
    configs: int | None = None
    problems_per_config: int | None = None
    power: bool = False
    reps: int = 20
    warmup: int = 2
    max_est_ms: float = 5.0
    min_est_ms: float = 0.0
    smem_prune_factor: float = 2.0


@dataclass(frozen=True)
class CollectSpec:
    name: str
    sweeps: list[Sweep]
    seed: int = 0
    defaults: Defaults = field(default_factory=Defaults)


@dataclass(frozen=True)
class WorkItem:
    """One measurement to make: a kernel family, its tuning params and one problem."""

    kernel: str
    params: dict[str, Any]
    problem: dict[str, Any]
    sweep: str
    power: bool
    reps: int
    warmup: int
    est_ms: float

    @property
    def compile_key(self) -> str:
        return compile_key(self.kernel, self.params, self.problem)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def parse_spec(raw: Mapping[str, Any], *, origin: str = "spec") -> CollectSpec:
    """Validate a spec mapping (parsed YAML/JSON) into a `CollectSpec`; errors name the field."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"{origin}: top level must be a mapping, got {type(raw).__name__}")
    sweeps_raw = raw.get("sweeps")
    if not isinstance(sweeps_raw, list) or not sweeps_raw:
        raise SpecError(f"{origin}: 'sweeps' must be a non-empty list")
    dflt_raw = raw.get("defaults") or {}
    unknown = set(dflt_raw) - set(Defaults.__dataclass_fields__)
    if unknown:
        raise SpecError(f"{origin}: unknown defaults {sorted(unknown)}")
    defaults = Defaults(**dflt_raw)
    sweeps: list[Sweep] = []
    for i, s in enumerate(sweeps_raw):
        where = f"{origin}: sweeps[{i}]"
        if not isinstance(s, Mapping):
            raise SpecError(f"{where}: must be a mapping")
        kernel = s.get("kernel")
        if kernel not in COLLECT_KERNELS:
            raise SpecError(f"{where}.kernel: {kernel!r} is not one of {', '.join(COLLECT_KERNELS)}")
        params = {k: _as_list(v) for k, v in (s.get("params") or {}).items()}
        problems = {k: _as_list(v) for k, v in (s.get("problems") or {}).items()}
        missing_p = [k for k in REQUIRED_PARAMS[kernel] if k not in params]
        if missing_p:
            raise SpecError(f"{where}.params: missing {missing_p} for {kernel}")
        missing_q = [k for k in REQUIRED_PROBLEM[kernel] if k not in problems]
        if missing_q:
            raise SpecError(f"{where}.problems: missing {missing_q} for {kernel}")
        for k, values in {**params, **problems}.items():
            if not values:
                raise SpecError(f"{where}: {k} has no values")
        bad_dtypes = [d for d in problems["dtype"] if d not in COLLECT_DTYPES]
        if bad_dtypes:
            raise SpecError(f"{where}.problems.dtype: {bad_dtypes} not in {COLLECT_DTYPES}")
        for lay in ("a_layout", "b_layout"):
            bad = [v for v in problems.get(lay, []) if v not in LAYOUTS]
            if bad:
                raise SpecError(f"{where}.problems.{lay}: {bad} not in {LAYOUTS}")
        for key in ("configs", "problems_per_config"):
            v = s.get(key)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise SpecError(f"{where}.{key}: must be a positive integer, got {v!r}")
        sweeps.append(
            Sweep(
                kernel=kernel,
                params=params,
                problems=problems,
                name=str(s.get("name") or f"{kernel}-{i}"),
                configs=s.get("configs"),
                problems_per_config=s.get("problems_per_config"),
                power=bool(s.get("power", False)),
                reps=int(s.get("reps", defaults.reps)),
                warmup=int(s.get("warmup", defaults.warmup)),
                max_est_ms=float(s.get("max_est_ms", defaults.max_est_ms)),
                min_est_ms=float(s.get("min_est_ms", defaults.min_est_ms)),
                smem_prune_factor=float(s.get("smem_prune_factor", 2.0)),
            )
        )
        if sweeps[-1].reps < 20:
            raise SpecError(f"{where}.reps: the collector keeps the median of >= 20 repeats, got {sweeps[-1].reps}")
    return CollectSpec(name=str(raw.get("name") or origin), sweeps=sweeps, seed=int(raw.get("seed", 0)), defaults=defaults)


def load_spec(path: str | Path) -> CollectSpec:
    """Read a `.yaml`/`.yml`/`.json` spec file."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".json":
        raw = json.loads(text)
    else:
        import yaml  # noqa: PLC0415  (only needed for YAML specs)

        raw = yaml.safe_load(text)
    return parse_spec(raw, origin=str(path))


# ---------------------------------------------------------------------------------------------
# Validity and cost (pure functions)
# ---------------------------------------------------------------------------------------------


def canonical_problem(kernel: str, problem: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a problem: tf32 only means something for fp32 operands; cuBLAS batch 1 == no batch."""
    out = dict(problem)
    if kernel in ("triton.matmul", "cublas.matmul"):
        out.setdefault("a_layout", "row")
        out.setdefault("b_layout", "row")
        out["allow_tf32"] = bool(out.get("allow_tf32", False)) and out["dtype"] == "fp32"
        if kernel == "cublas.matmul" and int(out.get("batch", 1)) <= 1:
            out.pop("batch", None)
    for key in ("M", "N", "K", "rows", "cols", "numel", "batch"):
        if key in out:
            out[key] = int(out[key])
    return out


def config_is_valid(kernel: str, params: Mapping[str, Any], problem: Mapping[str, Any],
                    smem_prune_factor: float = 2.0) -> tuple[bool, str]:
    """Prune configs that certainly cannot compile/run (or would only measure massive spills).

    Borderline configs (shared memory up to `smem_prune_factor` x the limit) are kept: they are
    tried and recorded as `failed` if they do not run.
    """
    nw = int(params.get("num_warps", 4))
    if nw < 1 or nw & (nw - 1) or nw * 32 > MAX_THREADS_PER_BLOCK:
        return False, f"num_warps={nw} must be a power of two with <= {MAX_THREADS_PER_BLOCK} threads"
    for k, v in params.items():
        if k.startswith("BLOCK") and (int(v) < 1 or int(v) & (int(v) - 1)):
            return False, f"{k}={v} must be a power of two"
    eb = ELEMENT_BYTES.get(problem.get("dtype", "fp32"), 4)
    if kernel == "triton.matmul":
        bm, bn, bk = int(params["BLOCK_M"]), int(params["BLOCK_N"]), int(params["BLOCK_K"])
        stages = int(params["num_stages"])
        smem = max(stages - 1, 1) * (bm * bk + bk * bn) * eb
        # Far above the limit: certainly out of resources, not worth a compile slot.
        if smem > smem_prune_factor * H100_SMEM_BYTES:
            return False, f"shared memory estimate {smem} B far above {H100_SMEM_BYTES} B"
        if bm * bn / (nw * 32) > MAX_ACC_REGS_PER_THREAD:
            return False, f"accumulator {bm}x{bn} over {nw} warps exceeds {MAX_ACC_REGS_PER_THREAD} registers/thread"
        if bm * bk < nw * 32 and bk * bn < nw * 32:
            return False, "tile smaller than one element per thread"
    elif kernel in ("triton.softmax", "triton.layernorm", "triton.elementwise"):
        bs = int(params["BLOCK_SIZE"])
        if bs * eb > 128 * 1024:
            return False, f"BLOCK_SIZE={bs} holds more than 128 KB in registers"
        if bs / (nw * 32) > 128:
            return False, f"BLOCK_SIZE={bs} over {nw} warps is > 128 elements per thread"
        if kernel != "triton.elementwise" and bs > 4 * _next_pow2(int(problem["cols"])):
            return False, f"BLOCK_SIZE={bs} is more than 4x the row length"
    elif kernel == "triton.reduction":
        bm, bn = int(params["BLOCK_M"]), int(params["BLOCK_N"])
        if bm * bn / (nw * 32) > 128:
            return False, f"tile {bm}x{bn} over {nw} warps is > 128 elements per thread"
    return True, ""


def _next_pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def problem_flops_bytes(kernel: str, problem: Mapping[str, Any]) -> tuple[float, float]:
    """FLOPs and minimum DRAM bytes of one call (each input read once, each output written once)."""
    eb = ELEMENT_BYTES[problem["dtype"]]
    if kernel.endswith(".matmul"):
        m, n, k = int(problem["M"]), int(problem["N"]), int(problem["K"])
        b = int(problem.get("batch", 1))
        return 2.0 * b * m * n * k, float(b * (m * k + k * n + m * n) * eb)
    if kernel == "triton.elementwise":
        n = int(problem["numel"])
        return 4.0 * n, 3.0 * n * eb
    rows, cols = int(problem["rows"]), int(problem["cols"])
    if kernel == "triton.reduction":
        return float(rows * cols), float(rows * cols * eb + rows * 4)
    return 5.0 * rows * cols, 2.0 * rows * cols * eb


def estimate_ms(kernel: str, problem: Mapping[str, Any]) -> float:
    """Optimistic runtime (max of compute and memory time at achievable peaks) used to bound sweeps."""
    flops, nbytes = problem_flops_bytes(kernel, problem)
    if kernel.endswith(".matmul"):
        rate_key = "tf32" if problem.get("allow_tf32") else problem["dtype"]
        compute_ms = flops / (_EST_TFLOPS[rate_key] * 1e12) * 1e3
    else:
        compute_ms = 0.0
    return max(compute_ms, nbytes / (_EST_TBPS * 1e12) * 1e3, 0.002)


#: Problem sizes passed to the Triton kernel as integer arguments (softmax/layernorm rows are only the grid).
_INT_ARGS: dict[str, tuple[str, ...]] = {
    "triton.matmul": ("M", "N", "K"),
    "triton.softmax": ("cols",),
    "triton.layernorm": ("cols",),
    "triton.elementwise": ("numel",),
    "triton.reduction": ("rows", "cols"),
}


def compile_key(kernel: str, params: Mapping[str, Any], problem: Mapping[str, Any]) -> str:
    """Identity of the compiled binary a measurement uses (Triton specialises ints on % 16 and == 1)."""
    parts = [kernel]
    parts += [f"{k}={params[k]}" for k in sorted(params)]
    parts += [f"{k}={problem.get(k)}" for k in COMPILE_PROBLEM_KEYS.get(kernel, ())]
    for k in _INT_ARGS.get(kernel, ()):
        if k in problem:
            v = int(problem[k])
            parts.append(f"{k}%16={'1' if v == 1 else ('0' if v % 16 == 0 else 'x')}")
    return "|".join(parts)


# ---------------------------------------------------------------------------------------------
# Expansion
# ---------------------------------------------------------------------------------------------


def _product_size(space: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(v) for v in space.values()) if space else 1


def _index_to_point(space: Mapping[str, Sequence[Any]], index: int) -> dict[str, Any]:
    """Mixed-radix decode of one point of a cross product (no materialisation of the product)."""
    point: dict[str, Any] = {}
    for key, values in reversed(list(space.items())):
        index, r = divmod(index, len(values))
        point[key] = values[r]
    return dict(reversed(list(point.items())))


def _sample_points(space: Mapping[str, Sequence[Any]], n: int | None, rng: np.random.Generator,
                   accept: Any = None, max_draws: int = 50_000) -> list[dict[str, Any]]:
    """Up to `n` distinct accepted points of the cross product in random order (all when `n` is None)."""
    total = _product_size(space)
    if n is None or total <= max(4 * n, 2048):
        order = rng.permutation(total)
    else:
        order = rng.choice(total, size=min(total, max_draws), replace=False)
    out: list[dict[str, Any]] = []
    for idx in order:
        point = _index_to_point(space, int(idx))
        if accept is None or accept(point):
            out.append(point)
            if n is not None and len(out) >= n:
                break
    return out


def expand_sweep(sweep: Sweep, seed: int = 0) -> list[WorkItem]:
    """Config-major expansion: draw configs (params x compile keys), then shapes for each config.

    Deterministic for a given seed; invalid configs and problems outside [min_est_ms, max_est_ms]
    are pruned before drawing, so `configs` counts runnable configs.
    """
    rng = np.random.default_rng([seed, int.from_bytes(sweep.name.encode()[:8].ljust(8, b"\0"), "little")])
    ckeys = [k for k in COMPILE_PROBLEM_KEYS[sweep.kernel] if k in sweep.problems]
    config_space = {**{f"params.{k}": v for k, v in sweep.params.items()},
                    **{f"problem.{k}": sweep.problems[k] for k in ckeys}}
    shape_space = {k: v for k, v in sweep.problems.items() if k not in ckeys}

    def split(point: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        params = {k[7:]: v for k, v in point.items() if k.startswith("params.")}
        prob = {k[8:]: v for k, v in point.items() if k.startswith("problem.")}
        return params, prob

    seen_configs: set[str] = set()

    def accept_config(point: Mapping[str, Any]) -> bool:
        params, prob = split(point)
        prob = canonical_problem(sweep.kernel, {**prob, **{k: v[0] for k, v in shape_space.items()}})
        key = "|".join(f"{k}={params[k]}" for k in sorted(params)) + "|" + "|".join(
            f"{k}={prob.get(k)}" for k in ckeys)
        if key in seen_configs:  # e.g. allow_tf32 true/false collapse for fp16
            return False
        # Shape-independent checks use the smallest shape; shape-dependent ones run per problem.
        ok, _ = config_is_valid(sweep.kernel, params, {**prob, "cols": 1 << 30}, sweep.smem_prune_factor)
        if ok:
            seen_configs.add(key)
        return ok

    configs = _sample_points(config_space, sweep.configs, rng, accept_config)
    items: list[WorkItem] = []
    for point in configs:
        params, cprob = split(point)
        seen_shapes: set[str] = set()

        def accept_shape(shape: Mapping[str, Any], params=params, cprob=cprob, seen_shapes=seen_shapes) -> bool:
            prob = canonical_problem(sweep.kernel, {**cprob, **shape})
            key = json.dumps(prob, sort_keys=True)
            if key in seen_shapes:
                return False
            est = estimate_ms(sweep.kernel, prob)
            if not (sweep.min_est_ms <= est <= sweep.max_est_ms):
                return False
            ok, _ = config_is_valid(sweep.kernel, params, prob, sweep.smem_prune_factor)
            if ok:
                seen_shapes.add(key)
            return ok

        for shape in _sample_points(shape_space, sweep.problems_per_config, rng, accept_shape):
            prob = canonical_problem(sweep.kernel, {**cprob, **shape})
            items.append(WorkItem(kernel=sweep.kernel, params=dict(params), problem=prob, sweep=sweep.name,
                                  power=sweep.power, reps=sweep.reps, warmup=sweep.warmup,
                                  est_ms=estimate_ms(sweep.kernel, prob)))
    return items


def expand_spec(spec: CollectSpec) -> list[WorkItem]:
    """All work items of a spec, sweep by sweep, each sweep grouped by compiled config."""
    items: list[WorkItem] = []
    for sweep in spec.sweeps:
        items.extend(expand_sweep(sweep, spec.seed))
    return items


def item_cost_s(item: WorkItem, power_window_s: float, overhead_s: float = 0.004) -> float:
    """Expected wall time of one measurement: repeats (with L2 flush) plus the power window."""
    per_call_s = (item.est_ms + 0.05) / 1e3
    cost = (item.reps + item.warmup) * per_call_s + overhead_s
    if item.power:
        cost += power_window_s + 0.35  # alignment to the ~10 Hz counter at both ends
    return cost


def redo_items(paths: Sequence[str | Path], statuses: Sequence[str] = ("invalid",), reps: int = 20,
               warmup: int = 2, *, power_rejected: bool = False) -> list[WorkItem]:
    """Work items that re-measure the points (kernel, params, problem) of the records in `paths`
    whose `status` is in `statuses` (and, with `power_rejected`, of the records whose power window did
    not run the timed kernel back to back: `bundle.window_call_ratio` over `WINDOW_CALL_OVER_RUNTIME`,
    or already re-labelled so), each point once, under the collector's current timing protocol.

    A point keeps its sweep name (`meta.sweep`) and gets a power window if any of its records had one
    (`power_w`, or `meta.protocol1_power_w` / `meta.window_mismatch_power_w` on a re-labelled record).
    Raises `SpecError` naming the file and line of a record that cannot be re-measured (unknown kernel,
    missing params/problem).
    """
    # bundle -> records; no cycle with this module
    from .bundle import WINDOW_CALL_OVER_RUNTIME, iter_jsonl, window_call_ratio  # noqa: PLC0415

    wanted = set(statuses)
    by_point: dict[str, WorkItem] = {}
    for path, line, rec, err in iter_jsonl(paths):
        if rec is None:
            raise SpecError(f"{path}:{line}: {err}")
        meta = rec.get("meta") or {}
        rejected = power_rejected and ("power_invalid_reason" in meta
                                       or (window_call_ratio(rec) or 0.0) > WINDOW_CALL_OVER_RUNTIME)
        if rec.get("status") not in wanted and not rejected:
            continue
        kernel, params, problem = rec.get("kernel"), rec.get("params"), rec.get("problem")
        where = f"{path}:{line}"
        if kernel not in COLLECT_KERNELS:
            raise SpecError(f"{where}: kernel {kernel!r} is not one of {', '.join(COLLECT_KERNELS)}")
        if not isinstance(params, Mapping) or not isinstance(problem, Mapping):
            raise SpecError(f"{where}: params and problem must be objects")
        missing = [f"params.{k}" for k in REQUIRED_PARAMS[kernel] if k not in params]
        missing += [f"problem.{k}" for k in REQUIRED_PROBLEM[kernel] if k not in problem]
        if missing:
            raise SpecError(f"{where}: missing {missing} for {kernel}")
        if problem["dtype"] not in COLLECT_DTYPES:
            raise SpecError(f"{where}: problem.dtype {problem['dtype']!r} not in {COLLECT_DTYPES}")
        prob = canonical_problem(kernel, problem)
        point = json.dumps([kernel, params, prob], sort_keys=True)
        power = "power_w" in rec or "protocol1_power_w" in meta or "window_mismatch_power_w" in meta
        old = by_point.get(point)
        if old is not None:
            if power and not old.power:
                by_point[point] = WorkItem(**{**old.__dict__, "power": True})
            continue
        by_point[point] = WorkItem(kernel=kernel, params=dict(params), problem=prob,
                                   sweep=str(meta.get("sweep") or kernel), power=power, reps=reps,
                                   warmup=warmup, est_ms=estimate_ms(kernel, prob))
    return list(by_point.values())


def unique_configs(items: Sequence[WorkItem]) -> list[str]:
    """Compile keys in first-seen order."""
    return list(dict.fromkeys(it.compile_key for it in items))


__all__ = [
    "COLLECT_KERNELS",
    "CollectSpec",
    "Defaults",
    "SpecError",
    "Sweep",
    "WorkItem",
    "canonical_problem",
    "compile_key",
    "config_is_valid",
    "estimate_ms",
    "expand_spec",
    "expand_sweep",
    "item_cost_s",
    "load_spec",
    "parse_spec",
    "problem_flops_bytes",
    "redo_items",
    "unique_configs",
]

