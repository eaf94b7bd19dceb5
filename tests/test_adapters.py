"""Autotuner adapters on a real model: Triton perf_model (called as Triton calls it), MetaSchedule-style
cost model, ask/tell; and the runnable examples."""

# ruff: noqa: F811  (pytest fixtures imported from test_serving_helpers are "redefined" as arguments)
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from perfcast.serving.autotune import AskTell, CostModel, TritonPerfModel, rank_candidates
from perfcast.serving.predictor import Predictor
from test_serving_helpers import A100, ah_frames, query_record, runtime_model_dir  # noqa: F401 (fixtures)


class TritonConfig:
    """The part of `triton.Config` the autotuner uses with perf_model (kwargs + all_kwargs, hashable)."""

    def __init__(self, kwargs: dict, num_warps: int = 4, num_stages: int = 3, num_ctas: int = 1, maxnreg: Any = None):
        self.kwargs, self.num_warps, self.num_stages, self.num_ctas, self.maxnreg = kwargs, num_warps, num_stages, num_ctas, maxnreg
        self.ir_override = None

    def all_kwargs(self) -> dict:
        extra = (("num_warps", self.num_warps), ("num_ctas", self.num_ctas), ("num_stages", self.num_stages),
                 ("maxnreg", self.maxnreg), ("ir_override", self.ir_override))  # fmt: skip
        return {**self.kwargs, **{k: v for k, v in extra if v is not None}}

    def __hash__(self) -> int:
        return hash(tuple(self.all_kwargs().items()))


class FakeTensor:
    def __init__(self, dtype: str):
        self.dtype = dtype


def triton_prune(perf_model: Any, configs: list[TritonConfig], nargs: dict, top_k: int) -> list[TritonConfig]:
    """Triton's `Autotuner.prune_configs` (perf_model branch), verbatim in behaviour."""
    est_timing = {config: perf_model(**nargs, **{}, **config.all_kwargs()) for config in configs}
    return sorted(est_timing.keys(), key=lambda x: est_timing[x])[:top_k]


class CountingSource:
    """A real Predictor that counts the rank calls reaching it."""

    def __init__(self, predictor: Predictor):
        self.predictor, self.calls = predictor, 0

    def rank(self, *args: Any, **kwargs: Any) -> list[dict]:
        self.calls += 1
        return self.predictor.rank(*args, **kwargs)


@pytest.fixture(scope="module")
def predictor(runtime_model_dir: Path) -> Predictor:
    return Predictor.load(runtime_model_dir)


@pytest.fixture(scope="module")
def problem_rows(ah_frames: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """The held-out problem with the most measured configs (one row per config)."""
    held = ah_frames[1]
    biggest = held.groupby("_problem").size().idxmax()
    rows = held[held["_problem"] == biggest]
    return rows.drop_duplicates(subset=[c for c in rows.columns if c.startswith("params.")]).reset_index(drop=True)


def _configs(rows: pd.DataFrame) -> list[TritonConfig]:
    return [TritonConfig({k: int(r[f"params.{k}"]) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M")},
                         num_warps=int(r["params.num_warps"]), num_stages=int(r["params.num_stages"]))
            for _, r in rows.iterrows()]  # fmt: skip


def _nargs(problem: dict) -> dict:
    m, n, k = problem["M"], problem["N"], problem["K"]
    a_row, b_row = problem["a_layout"] == "row", problem["b_layout"] == "row"
    return {"a_ptr": FakeTensor("torch.float16"), "b_ptr": FakeTensor("torch.float16"), "c_ptr": FakeTensor("torch.float16"),
            "M": m, "N": n, "K": k, "stride_am": k if a_row else 1, "stride_ak": 1 if a_row else m,
            "stride_bk": n if b_row else 1, "stride_bn": 1 if b_row else k, "stride_cm": n, "stride_cn": 1}  # fmt: skip


def test_triton_perf_model_batches_caches_and_picks_the_models_top_k(predictor: Predictor, problem_rows: pd.DataFrame) -> None:
    problem = query_record(problem_rows.iloc[0])["problem"]
    configs = _configs(problem_rows)
    source = CountingSource(predictor)
    perf_model = TritonPerfModel(source, system=A100, configs=configs)
    pruned = triton_prune(perf_model, configs, _nargs(problem), top_k=5)
    assert source.calls == 1  # every config of the new problem predicted in one batch
    params = [{k: v for k, v in c.all_kwargs().items() if k != "num_ctas"} for c in configs]
    expected = [item["index"] for item in predictor.rank(A100, problem, params, top_k=5)]
    assert [configs.index(c) for c in pruned] == expected
    # the same problem again (Triton re-prunes on warmup): answered from the cache
    assert triton_prune(perf_model, configs, _nargs(problem), top_k=5) == pruned and source.calls == 1
    # another problem: one more batch
    other = {**problem, "M": problem["M"] * 2}
    triton_prune(perf_model, configs, _nargs(other), top_k=5)
    assert source.calls == 2
    # the model's pick beats the median measured config of this (unseen) problem
    measured = problem_rows["runtime_ms"].to_numpy()
    assert measured[expected].min() <= np.median(measured)


def test_triton_perf_model_without_config_list_predicts_on_demand(predictor: Predictor, problem_rows: pd.DataFrame) -> None:
    problem = query_record(problem_rows.iloc[0])["problem"]
    configs = _configs(problem_rows)[:6]
    perf_model = TritonPerfModel(predictor, system="A100")
    est = [perf_model(**_nargs(problem), **c.all_kwargs()) for c in configs]
    assert all(e > 0 for e in est) and len(perf_model.cache) == 6
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    if not gpu:  # no local GPU to name: the system must be given
        with pytest.raises(ValueError, match="system="):
            TritonPerfModel(predictor)


def test_cost_model_scores_update_and_roundtrip(predictor: Predictor, problem_rows: pd.DataFrame, tmp_path: Path) -> None:
    problem = query_record(problem_rows.iloc[0])["problem"]
    candidates = [query_record(r)["params"] for _, r in problem_rows.iterrows()]
    truth = problem_rows["runtime_ms"].to_numpy()
    model = CostModel(predictor, system=A100, problem=problem, kernel="triton.matmul")
    scores = model.predict(candidates)
    ranked = predictor.rank(A100, problem, candidates)
    assert np.argmax(scores) == ranked[0]["index"]  # higher score = faster
    np.testing.assert_allclose(scores[ranked[0]["index"]], 1 / ranked[0]["score"])
    # the tuner's GPU runs this problem 1.5x slower than the training data (say, lower clocks): the
    # measurements told through update() must carry that offset to the configs not measured yet
    slow = truth * 1.5
    before = np.abs(np.log(model.corrected(candidates) / slow))
    order = np.argsort(-scores)
    told = order[: len(order) // 3]
    model.update([candidates[i] for i in told], [slow[i] for i in told])
    after = np.abs(np.log(model.corrected(candidates) / slow))
    np.testing.assert_allclose(model.corrected([candidates[i] for i in told]), slow[told])  # measured = known
    rest = np.setdiff1d(np.arange(len(candidates)), told)
    assert np.median(after[rest]) < 0.5 * np.median(before[rest]), (np.median(after[rest]), np.median(before[rest]))
    model.update([candidates[0]], [float("nan")])  # a failed measurement is ignored
    path = tmp_path / "cm.json"
    model.save(path)
    again = CostModel.load(path, predictor)
    np.testing.assert_allclose(again.predict(candidates), model.predict(candidates))


def test_ask_tell_finds_a_good_config_with_few_measurements(predictor: Predictor, problem_rows: pd.DataFrame) -> None:
    problem = query_record(problem_rows.iloc[0])["problem"]
    candidates = [query_record(r)["params"] for _, r in problem_rows.iterrows()]
    truth = {tuple(c.items()): t for c, t in zip(candidates, problem_rows["runtime_ms"], strict=True)}
    tuner = AskTell(predictor, system=A100, problem=problem, candidates=candidates, kernel="triton.matmul")
    budget = max(4, len(candidates) // 5)
    while len(tuner.results) < budget:
        batch = tuner.ask(2)
        assert not any(tuple(c.items()) in tuner.results for c in batch)  # never asks twice
        tuner.tell(batch, [truth[tuple(c.items())] for c in batch])
    best = tuner.best()[1]
    values = np.array(list(truth.values()))
    # measuring a fifth of the space finds a config in the best 10 % of all measured configs
    assert best <= np.quantile(values, 0.10), (best, values.min())
    assert rank_candidates(predictor, A100, problem, candidates, top_k=2) == predictor.rank(A100, problem, candidates, top_k=2)


@pytest.mark.parametrize("script", ["triton_autotune.py", "ask_tell.py", "metaschedule_cost_model.py"])
def test_examples_run(script: str, runtime_model_dir: Path, repo_root: Path, datasets_dir: Path) -> None:
    env = {**os.environ, "PERFCAST_DATASETS": str(datasets_dir)}
    out = subprocess.run([sys.executable, str(repo_root / "examples" / script), "--model", str(runtime_model_dir)],
                         capture_output=True, text=True, timeout=120, env=env, cwd=repo_root)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip()


def test_adapters_send_null_for_problem_fields_they_cannot_know(predictor: Predictor, problem_rows: pd.DataFrame) -> None:
    from perfcast.serving.autotune import complete_problem, problem_fields

    fields = problem_fields(predictor, None)
    assert {"M", "N", "K", "dtype", "a_layout", "b_layout"} <= set(fields)
    params = query_record(problem_rows.iloc[0])["params"]
    bare = {"M": 512, "N": 512, "K": 512, "dtype": "fp16"}  # a caller that knows nothing about layouts
    # omitted layouts take the contract's default (row), exactly as if sent
    explicit = predictor.rank(A100, {**bare, "a_layout": "row", "b_layout": "row"}, [params])
    assert predictor.rank(A100, bare, [params])[0]["score"] == explicit[0]["score"]
    assert complete_problem(bare, fields)["a_layout"] is None
    perf_model = TritonPerfModel(predictor, system=A100, problem_fn=lambda args: dict(bare))
    assert perf_model(**params) > 0
    assert rank_candidates(predictor, A100, bare, [params])[0]["score"] > 0
