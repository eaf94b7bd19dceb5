"""Autotuner adapters over a `Predictor` (in-process) or a `Client` (HTTP); neither needs Triton or TVM.

- `TritonPerfModel`: the callable for `@triton.autotune(..., prune_configs_by={"perf_model": f, "top_k": k})`.
  Triton calls `f(**named_args, **kwargs, **config.all_kwargs())` once per config; the first call for a
  new problem predicts every known config in one batch and later calls are cache lookups.
- `CostModel`: a TVM-MetaSchedule-style cost model: `predict(candidates)` -> scores (higher is better),
  `update(candidates, results)` with measured runtimes, `save(path)` / `CostModel.load(path, source)`.
- `rank_candidates(...)` and `AskTell`: rank a candidate list, or ask for the next configs worth
  measuring and tell the measured results back.

A *source* is anything with `.rank(system, problem, candidates, objective, top_k, kernel=...)`:
`perfcast.Predictor` or `perfcast.Client`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

#: Triton meta-parameters that are tuning params (the rest of a perf_model call are kernel arguments).
TRITON_PARAM_NAMES: tuple[str, ...] = (
    "BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "SPLIT_K", "BLOCK_SIZE", "num_warps", "num_stages", "num_ctas",
)  # fmt: skip
#: torch dtype names -> canonical record dtypes.
TORCH_DTYPES: dict[str, str] = {
    "float64": "fp64", "float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
    "float8_e4m3fn": "fp8e4m3", "float8_e5m2": "fp8e5m2", "int8": "int8",
}  # fmt: skip


class RankSource(Protocol):
    def rank(self, system: str, problem: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]],
             objective: str = ..., top_k: int | None = ..., *, kernel: str | None = ...) -> list[dict[str, Any]]: ...  # fmt: skip


def _key(mapping: Mapping[str, Any]) -> tuple[tuple[str, Hashable], ...]:
    return tuple(sorted((str(k), v if isinstance(v, Hashable) else repr(v)) for k, v in mapping.items()))


def problem_fields(source: Any, kernel: str | None) -> tuple[str, ...]:
    """The `problem` fields the source's model reads for `kernel` (from a Predictor's feature schema or
    a Client's `/v1/models`); () when the source cannot say."""
    try:
        if hasattr(source, "check_kernel"):
            kernel = source.check_kernel(kernel)
            inputs = source.inputs(kernel)
        elif hasattr(source, "models"):
            info = source.models()[0]
            if kernel is None and len(info["kernels"]) == 1:
                kernel = info["kernels"][0]
            inputs = info.get("inputs", {}).get(kernel, ())
        else:
            return ()
    except Exception:  # noqa: BLE001 (an unknown kernel is reported by the rank call itself, clearly)
        return ()
    return tuple(c.split(".", 1)[1] for c in inputs if c.startswith("problem."))


def complete_problem(problem: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """`problem` plus null for every field the model reads that the caller could not know (e.g.
    `allow_tf32` of an fp16 matmul): the model sees it as missing, as for such rows in training."""
    return {**dict.fromkeys(fields), **problem}


def rank_candidates(
    source: RankSource,
    system: str,
    problem: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]],
    *,
    kernel: str | None = None,
    objective: str = "runtime",
    top_k: int | None = None,
) -> list[dict[str, Any]]:
    """Candidates best first (`index`, `params`, `score`, `prediction`) from a Predictor or a Client.

    Problem fields the model reads but `problem` lacks are sent as null (see `complete_problem`)."""
    problem = complete_problem(problem, problem_fields(source, kernel))
    return source.rank(system, problem, list(candidates), objective=objective, top_k=top_k, kernel=kernel)


def torch_dtype_name(dtype: Any) -> str | None:
    """`torch.float16` (or its string) -> `fp16`; None when unknown."""
    return TORCH_DTYPES.get(str(dtype).rsplit(".", 1)[-1])


def _layout(stride_0: Any, stride_1: Any) -> str:
    # the ingest rule: unit stride along dim 1 -> row-major, else along dim 0 -> col-major
    if stride_1 == 1:
        return "row"
    return "col" if stride_0 == 1 else "row"


def default_matmul_problem(named_args: Mapping[str, Any]) -> dict[str, Any]:
    """Problem of a Triton matmul call: integer `M`, `N`, `K`, operand layouts from the tutorial's stride
    names (`stride_am`/`stride_ak`, `stride_bk`/`stride_bn`; row-major when absent) and the dtype of the
    first tensor argument."""
    problem: dict[str, Any] = {k: int(named_args[k]) for k in ("M", "N", "K") if isinstance(named_args.get(k), int)}
    problem["a_layout"] = _layout(named_args.get("stride_am"), named_args.get("stride_ak", 1))
    problem["b_layout"] = _layout(named_args.get("stride_bk"), named_args.get("stride_bn", 1))
    for value in named_args.values():
        dtype = getattr(value, "dtype", None)
        if dtype is not None:
            name = torch_dtype_name(dtype)
            if name:
                problem["dtype"] = name
            break
    return problem


class TritonPerfModel:
    """`prune_configs_by={"perf_model": TritonPerfModel(...), "top_k": k}` for `@triton.autotune`.

    Returns the predicted objective (runtime_ms by default; lower is better, as Triton sorts ascending).
    Pass the same `configs` list given to `triton.autotune` so that the first call of a new problem
    predicts all of them in one batch; other configs are predicted on demand. Predictions are cached
    per (problem, config).
    """

    def __init__(
        self,
        source: RankSource,
        *,
        system: str | None = None,
        kernel: str = "triton.matmul",
        configs: Iterable[Any] | None = None,
        problem_fn: Callable[[Mapping[str, Any]], dict[str, Any]] = default_matmul_problem,
        param_names: Sequence[str] | None = None,
        objective: str = "runtime",
    ):
        self.source = source
        self.kernel = kernel
        self.system = system or _local_gpu_name()
        self.problem_fn = problem_fn
        self.objective = objective
        self._configs = [_config_kwargs(c) for c in (configs or [])]
        names = set(param_names or TRITON_PARAM_NAMES)
        if self._configs and param_names is None:
            names = {k for c in self._configs for k in c}
        self.param_names = frozenset(names)
        self.cache: dict[tuple[Any, Any], float] = {}
        self.batches = 0  # rank calls made (for tests and logging)
        self._fields: tuple[str, ...] | None = None

    def params_of(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if k in self.param_names and v is not None}

    def __call__(self, **kwargs: Any) -> float:
        if self._fields is None:
            self._fields = problem_fields(self.source, self.kernel)
        problem = complete_problem(self.problem_fn(kwargs), self._fields)
        params = self.params_of(kwargs)
        pkey, ckey = _key(problem), _key(params)
        hit = self.cache.get((pkey, ckey))
        if hit is not None:
            return hit
        batch = [params]
        if self._configs and not any(k[0] == pkey for k in self.cache):
            # first call for this problem: predict every known config at once
            batch = [self.params_of(c) for c in self._configs]
            if ckey not in {_key(b) for b in batch}:
                batch.append(params)
        ranked = self.source.rank(self.system, problem, batch, objective=self.objective, kernel=self.kernel)
        self.batches += 1
        for item in ranked:
            self.cache[(pkey, _key(batch[item["index"]]))] = float(item["score"])
        return self.cache[(pkey, ckey)]


def _config_kwargs(config: Any) -> dict[str, Any]:
    """A `triton.Config` (or a plain dict) -> the kwargs Triton passes to perf_model."""
    if isinstance(config, Mapping):
        return dict(config)
    return dict(config.all_kwargs())


def _local_gpu_name() -> str:
    try:
        import torch  # noqa: PLC0415

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name())
    except ImportError:
        pass
    raise ValueError("TritonPerfModel needs `system=` (the GPU name) when no CUDA GPU is visible")


def _numeric_vector(params: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    out = np.full(len(names), np.nan)
    for j, name in enumerate(names):
        v = params.get(name)
        if isinstance(v, bool):
            out[j] = float(v)
        elif isinstance(v, int | float) and v > 0:
            out[j] = math.log2(v)  # tile sizes and warps act multiplicatively
        elif isinstance(v, int | float):
            out[j] = float(v)
    return out


class CostModel:
    """TVM-MetaSchedule-style cost model for one (kernel, system, problem).

    `predict(candidates)` returns scores where higher is better: 1 / predicted objective (e.g. runs per
    millisecond), corrected by measurements told through `update`: measured candidates score their
    measurement, others get the predicted value times exp(the mean log error of the k nearest measured
    configs in log2 parameter space), so a model that is off for one region of the space learns it.
    """

    def __init__(
        self,
        source: RankSource,
        *,
        system: str,
        problem: Mapping[str, Any],
        kernel: str | None = None,
        objective: str = "runtime",
        k_neighbors: int = 3,
    ):
        self.source = source
        self.system = system
        self.problem = complete_problem(problem, problem_fields(source, kernel))
        self.kernel = kernel
        self.objective = objective
        self.k_neighbors = k_neighbors
        self.measured: dict[tuple, tuple[dict[str, Any], float, float]] = {}  # key -> (params, measured, predicted)

    def predicted(self, candidates: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model's objective values (lower is better), uncorrected."""
        if not candidates:
            return np.empty(0)
        ranked = self.source.rank(self.system, self.problem, list(candidates), objective=self.objective, kernel=self.kernel)
        out = np.full(len(candidates), np.nan)
        for item in ranked:
            out[item["index"]] = item["score"]
        return out

    def corrected(self, candidates: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Objective values after what `update` taught (lower is better)."""
        values = self.predicted(candidates)
        if not self.measured:
            return values
        entries = list(self.measured.values())
        names = sorted({k for p, _, _ in entries for k in p} | {k for c in candidates for k in c})
        seen = np.array([_numeric_vector(p, names) for p, _, _ in entries])
        log_err = np.array([math.log(m / p) for _, m, p in entries])
        query = np.array([_numeric_vector(c, names) for c in candidates])
        # distance over dimensions both sides have; missing dims count as far (1 octave)
        diff = np.abs(query[:, None, :] - seen[None, :, :])
        dist = np.sqrt(np.nansum(np.where(np.isnan(diff), 1.0, diff) ** 2, axis=2))
        k = min(self.k_neighbors, len(entries))
        nearest = np.argsort(dist, axis=1)[:, :k]
        weights = 1.0 / (1.0 + np.take_along_axis(dist, nearest, axis=1))
        correction = (log_err[nearest] * weights).sum(axis=1) / weights.sum(axis=1)
        values = values * np.exp(correction)
        for i, cand in enumerate(candidates):
            hit = self.measured.get(_key(cand))
            if hit is not None:
                values[i] = hit[1]
        return values

    def predict(self, candidates: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Scores, higher is better: 1 / corrected objective (0 where the model cannot say)."""
        values = self.corrected(candidates)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1.0 / values
        return np.where(np.isfinite(scores) & (scores > 0), scores, 0.0)

    def update(self, candidates: Sequence[Mapping[str, Any]], results: Sequence[float | None]) -> None:
        """Tell measured objective values (runtime_ms for `runtime`); None/NaN/inf/<=0 = failed, ignored."""
        if len(candidates) != len(results):
            raise ValueError(f"{len(candidates)} candidates but {len(results)} results")
        good = [(c, float(r)) for c, r in zip(candidates, results, strict=True)
                if r is not None and math.isfinite(float(r)) and float(r) > 0]  # fmt: skip
        if not good:
            return
        predicted = self.predicted([c for c, _ in good])
        for (cand, measured), pred in zip(good, predicted, strict=True):
            if math.isfinite(pred) and pred > 0:
                self.measured[_key(cand)] = (dict(cand), measured, float(pred))

    def save(self, path: str | Path) -> None:
        """JSON: the target (kernel, system, problem, objective) and every measurement told."""
        state = {
            "format": 1,
            "kernel": self.kernel,
            "system": self.system,
            "problem": self.problem,
            "objective": self.objective,
            "k_neighbors": self.k_neighbors,
            "measured": [{"params": p, "measured": m, "predicted": q} for p, m, q in self.measured.values()],
        }
        Path(path).write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, path: str | Path, source: RankSource) -> CostModel:
        state = json.loads(Path(path).read_text())
        model = cls(
            source,
            system=state["system"],
            problem=state["problem"],
            kernel=state.get("kernel"),
            objective=state.get("objective", "runtime"),
            k_neighbors=int(state.get("k_neighbors", 3)),
        )
        for entry in state.get("measured", []):
            model.measured[_key(entry["params"])] = (entry["params"], float(entry["measured"]), float(entry["predicted"]))
        return model


class AskTell:
    """Ask for the next configs worth measuring, tell what they measured; model-guided search.

    >>> tuner = AskTell(predictor, system="A100", problem={"M": 4096, ...}, candidates=space)
    >>> batch = tuner.ask(4); tuner.tell(batch, [measure(p) for p in batch]); tuner.best()
    """

    def __init__(self, source: RankSource, *, system: str, problem: Mapping[str, Any],
                 candidates: Sequence[Mapping[str, Any]], kernel: str | None = None, objective: str = "runtime"):  # fmt: skip
        self.model = CostModel(source, system=system, problem=problem, kernel=kernel, objective=objective)
        self.candidates = [dict(c) for c in candidates]
        self.results: dict[tuple, tuple[dict[str, Any], float | None]] = {}

    def ask(self, n: int = 1) -> list[dict[str, Any]]:
        """The `n` untried candidates with the best corrected prediction."""
        pending = [c for c in self.candidates if _key(c) not in self.results]
        if not pending:
            return []
        values = self.model.corrected(pending)
        order = np.argsort(np.nan_to_num(values, nan=np.inf), kind="stable")
        return [pending[i] for i in order[:n]]

    def tell(self, candidates: Sequence[Mapping[str, Any]], results: Sequence[float | None]) -> None:
        for cand, result in zip(candidates, results, strict=True):
            self.results[_key(cand)] = (dict(cand), result)
        self.model.update(candidates, results)

    def best(self) -> tuple[dict[str, Any], float] | None:
        """The best measured (params, value) so far."""
        good = [(p, float(r)) for p, r in self.results.values() if r is not None and math.isfinite(r) and r > 0]
        return min(good, key=lambda x: x[1]) if good else None
