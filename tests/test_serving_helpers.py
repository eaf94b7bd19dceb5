"""Shared fixtures of the serving tests: small real models trained on real data, saved to a tmp dir.

Imported by tests/test_serving.py, tests/test_api.py and tests/test_adapters.py. Each model is trained
once per session (the directory under pytest's basetemp is reused across modules).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

AH_ZIP = "autoheuristic_a100/a100_mm.zip"
TILED_CSV = "gpperf_cutlass/tiled_execution_times_all.csv"
A100 = "NVIDIA A100-SXM4-80GB"
TRITON_PARAMS = ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "num_warps", "num_stages")
#: Problems of the AutoHeuristic log kept for training / held out for ranking checks.
N_TRAIN_PROBLEMS = 40
N_HELDOUT_PROBLEMS = 5


def _problem_key(frame: pd.DataFrame) -> pd.Series:
    cols = [c for c in ("problem.M", "problem.N", "problem.K", "problem.dtype", "problem.a_layout", "problem.b_layout")
            if c in frame.columns]  # fmt: skip
    return frame[cols].astype(str).agg("|".join, axis=1)


def autoheuristic_triton(datasets_dir: Path) -> pd.DataFrame:
    """Real fp16 `triton.matmul` rows (status ok, integer params) from the first chunk of the A100 log."""
    from perfcast.measurements.ingest import read_path

    chunk = next(iter(read_path(datasets_dir / AH_ZIP)))
    frame = chunk.frame
    # fp16 only: keeps `allow_tf32` (fp32-only, missing elsewhere) out of the fixture model
    frame = frame[(frame["kernel"] == "triton.matmul") & (frame["status"] == "ok") & (frame["problem.dtype"] == "fp16")]
    frame = frame.drop(columns=["problem.allow_tf32"], errors="ignore").copy()
    for name in TRITON_PARAMS:
        frame[f"params.{name}"] = frame[f"params.{name}"].astype("int64")
    frame["_problem"] = _problem_key(frame)
    return frame.reset_index(drop=True)


def split_problems(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train rows of N_TRAIN_PROBLEMS problems, rows of N_HELDOUT_PROBLEMS other problems)."""
    sizes = frame.groupby("_problem").size()
    problems = sorted(sizes[sizes >= 30].index)
    rng = np.random.default_rng(0)
    chosen = rng.permutation(problems)[: N_TRAIN_PROBLEMS + N_HELDOUT_PROBLEMS]
    # at most 120 configs per training problem keeps the fixture model quick to fit
    train = frame[frame["_problem"].isin(chosen[:N_TRAIN_PROBLEMS])]
    train = train.groupby("_problem", group_keys=False).apply(lambda g: g.sample(min(len(g), 120), random_state=0))
    held = frame[frame["_problem"].isin(chosen[N_TRAIN_PROBLEMS:])]
    return train.reset_index(drop=True), held.reset_index(drop=True)


def _train(frame: pd.DataFrame, out: Path, **params: object) -> Path:
    from perfcast.models import GBCostModel

    # helper columns and all-missing ones (e.g. allow_tf32 of fp16 problems) stay out of training
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("_") or frame[c].isna().all()])
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    GBCostModel(feasibility=False, **params).fit(frame).save(tmp)
    tmp.rename(out)
    return out


@pytest.fixture(scope="session")
def ah_frames(datasets_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_problems(autoheuristic_triton(datasets_dir))


@pytest.fixture(scope="session")
def runtime_model_dir(ah_frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runtime-only model (runtime_ms with q10/q90) on 40 real A100 problems."""
    out = tmp_path_factory.getbasetemp() / "serving_runtime_model"
    return out if out.is_dir() else _train(ah_frames[0], out, num_boost_round=60)


@pytest.fixture(scope="session")
def runtime_model_dir_v2(ah_frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, different model of the same data (for hot-reload tests)."""
    out = tmp_path_factory.getbasetemp() / "serving_runtime_model_v2"
    return out if out.is_dir() else _train(ah_frames[0], out, num_boost_round=30, seed=1)


@pytest.fixture(scope="session")
def power_model_dir(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runtime_ms + power_w model of GPPerf's tiled CUDA matmul on the RTX 4070 (real power data)."""
    out = tmp_path_factory.getbasetemp() / "serving_power_model"
    if out.is_dir():
        return out
    from perfcast.measurements.ingest import read_path

    frame = pd.concat([c.frame for c in read_path(datasets_dir / TILED_CSV)], ignore_index=True)
    return _train(frame, out, num_boost_round=40, params={"min_data_in_leaf": 5})


def query_record(row: pd.Series) -> dict:
    """A canonical query record (no targets) from a flat measured row."""
    return {
        "kernel": row["kernel"],
        "system": row["system"],
        "params": {k.split(".", 1)[1]: _py(row[k]) for k in row.index if k.startswith("params.") and pd.notna(row[k])},
        "problem": {k.split(".", 1)[1]: _py(row[k]) for k in row.index if k.startswith("problem.") and pd.notna(row[k])},
    }


def _py(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value
