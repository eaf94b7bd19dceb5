"""Shared fixtures: the real public datasets beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

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
