"""Default locations. Every path can be overridden by an environment variable or a CLI flag."""

from __future__ import annotations

import os
from pathlib import Path

#: The one way every command's `--store` / `--tracking-uri` help says where the default comes from.
STORE_HELP = "measurement store directory (default: $PERFCAST_STORE or ./.perfcast/store)"
TRACKING_URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)"


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default


def project_root() -> Path:
    """The directory commands run from (the repository root in a checkout)."""
    return Path.cwd()


def store_dir() -> Path:
    """Measurement store (Parquet), default `./.perfcast/store`, env `PERFCAST_STORE`."""
    return _env_path("PERFCAST_STORE", project_root() / ".perfcast" / "store")


def mlruns_dir() -> Path:
    """MLflow store folder, default `./mlruns`, env `PERFCAST_MLRUNS`."""
    return _env_path("PERFCAST_MLRUNS", project_root() / "mlruns")


def tracking_uri() -> str:
    """MLflow tracking URI: `MLFLOW_TRACKING_URI` if set, else sqlite under `mlruns/`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(mlruns_dir() / 'mlflow.db').resolve()}"


def model_cache_dir() -> Path:
    """Local copies of registry models resolved for serving, default `./.perfcast/models`."""
    return _env_path("PERFCAST_MODEL_CACHE", project_root() / ".perfcast" / "models")


def shared_datasets_dir() -> Path:
    """The public measurement sets, default `../shared/datasets`, env `PERFCAST_DATASETS`."""
    return _env_path("PERFCAST_DATASETS", (project_root() / ".." / "shared" / "datasets").resolve())


def bundled_data_dir() -> Path:
    """Measurements shipped in the repository (the collector's H100 set), `./data`."""
    return _env_path("PERFCAST_BUNDLED_DATA", project_root() / "data")
