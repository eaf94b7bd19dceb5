"""Small real-data slices shared by the model, ONNX, registry and predict tests (no tests here)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from perfcast.measurements.ingest import read_path
from perfcast.models.calibration import problem_keys


@cache
def autoheuristic_chunk(datasets: Path) -> pd.DataFrame:
    """`a100_mm.txt` of the AutoHeuristic A100 matmul logs: ~238k rows, 2,627 problems, one row per config."""
    for chunk in read_path(datasets / "autoheuristic_a100" / "a100_mm.zip"):
        if chunk.file.endswith("/a100_mm.txt"):
            return chunk.frame.drop(columns=["_line"], errors="ignore")
    raise FileNotFoundError("a100_mm.txt not found in the AutoHeuristic zip")


def autoheuristic_problems(
    datasets: Path, n_problems: int, seed: int = 0, rows_per_problem: int | None = None
) -> pd.DataFrame:
    """Configs (failed ones included) of `n_problems` random AutoHeuristic matmul problems.

    The logs measure a problem many times over (same shape from several models); `rows_per_problem`
    keeps a random sample of that many rows per problem to keep tests small with many problems.
    """
    frame = autoheuristic_chunk(datasets)
    keys = problem_keys(frame)
    uniq = np.sort(keys.unique())
    chosen = np.random.default_rng(seed).choice(uniq, size=min(n_problems, len(uniq)), replace=False)
    sub = frame[keys.isin(chosen).to_numpy()]
    if rows_per_problem is not None:
        sub = sub.sample(frac=1.0, random_state=seed)
        sub = sub[sub.groupby(problem_keys(sub).to_numpy()).cumcount().to_numpy() < rows_per_problem]
        sub = sub.sort_index()
    return sub.reset_index(drop=True)


@cache
def convolution(datasets: Path, gpu: str = "A100") -> pd.DataFrame:
    """Kernel Tuner 2-D convolution cache of one GPU (has failed configs)."""
    frames = [c.frame for c in read_path(datasets / "kerneltuner_convolution" / f"{gpu}.json.gz")]
    return pd.concat(frames, ignore_index=True).drop(columns=["_line"], errors="ignore")
