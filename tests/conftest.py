"""Shared fixtures: the real public datasets beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("PERFCAST_DATASETS", REPO_ROOT.parent / "shared" / "datasets")).resolve()


def _cuda_available() -> bool:
    try:
        import torch  # noqa: PLC0415
    except Exception:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """`../shared/datasets`; tests that need it fail loudly if it is missing (it is part of the checkout)."""
    assert DATASETS.is_dir(), f"shared datasets not found at {DATASETS} (set PERFCAST_DATASETS)"
    return DATASETS


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def h100_h200_frame(repo_root):
    """The bundled collector data, H100 and its H200 transfer draw, as one canonical frame (read once:
    ~10 s of xz + JSON; tests filter it into new frames and never change it)."""
    import pandas as pd  # noqa: PLC0415
    from perfcast.measurements.ingest import read_path  # noqa: PLC0415

    files = [repo_root / "data" / "h100" / f for f in ("h100.jsonl.xz", "h200-transfer.jsonl.xz")]
    return pd.concat([c.frame for path in files for c in read_path(path)], ignore_index=True)


@pytest.fixture(scope="session")
def kt_gemm_sample(datasets_dir):
    """`sample(n_configs, seed)`: Kernel Tuner GEMM rows of `n_configs` random configs measured on the RTX
    2080 Ti, TITAN RTX and RTX 3090 (the same configs on each; two Turing GPUs and an Ampere one)."""
    import pandas as pd  # noqa: PLC0415
    from perfcast.measurements.ingest import read_path  # noqa: PLC0415
    from perfcast.training.splits import config_keys  # noqa: PLC0415

    frames = []
    for name in ("RTX_2080_Ti.json.gz", "RTX_Titan.json.gz", "RTX_3090.json.gz"):
        frames += [c.frame for c in read_path(datasets_dir / "kerneltuner_gemm" / name)]
    full = pd.concat(frames, ignore_index=True)
    keys = config_keys(full, with_system=False)
    distinct = np.unique(keys)

    def sample(n_configs: int, seed: int) -> pd.DataFrame:
        keep = np.random.default_rng(seed).choice(distinct, n_configs, replace=False)
        return full[np.isin(keys, keep)].reset_index(drop=True)

    return sample
