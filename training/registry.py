"""Model registry: register model directories in MLflow, move aliases, resolve URIs to local directories.

Resolving (`resolve_model_dir`, `current_version`) is on the serving path, so for the default sqlite
tracking store it reads MLflow's registry tables with `sqlite3` directly (`registered_model_aliases`,
`model_versions`) and never imports mlflow (~2.6 s). Remote tracking URIs fall back to mlflow, which
downloads the version's artifacts into `perfcast.config.model_cache_dir()`.

Accepted URIs: a model directory; `models:/<name>@<alias>`; `models:/<name>/<version>`;
`models:/<name>/latest`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from perfcast import config

CHAMPION, CHALLENGER = "champion", "challenger"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")


class ModelNotFoundError(LookupError):
    """The URI names no registered model / alias / version, or the directory is not a model directory."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed `models:/` URI."""

    name: str
    alias: str | None = None
    version: str | None = None


def parse_model_uri(uri: str) -> ModelRef:
    """`models:/name@alias` | `models:/name/version` -> ModelRef (raises ValueError otherwise)."""
    m = _URI.match(uri.strip())
    if not m:
        raise ValueError(f"not a registry URI: {uri!r} (expected models:/<name>@<alias> or models:/<name>/<version>)")
    return ModelRef(m["name"], m["alias"], m["version"])


def sqlite_path(tracking_uri: str | None = None) -> Path | None:
    """The database file of a `sqlite:///...` tracking URI, else None (remote store)."""
    uri = tracking_uri or config.tracking_uri()
    if not uri.startswith("sqlite:"):
        return None
    path = uri[len("sqlite:") :]
    # sqlite:////abs/path and sqlite:///rel/path (SQLAlchemy form)
    path = path[3:] if path.startswith("///") else path.lstrip("/")
    return Path(unquote(path))


def _check_dir(path: Path) -> Path:
    """`path` if it is a complete model directory (single, or routed with every routed sub-directory)."""
    from perfcast.models.routed import missing_files  # noqa: PLC0415 (numpy/pandas only, no onnxruntime)

    missing = missing_files(path)
    if missing:
        raise ModelNotFoundError(f"{path} is not a perfcast model directory: missing {', '.join(missing)}")
    return path


def _connect(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise ModelNotFoundError(f"no MLflow registry at {db}: train a model first (perfcast train)")
    # read-only: the server polls this while training processes write it
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def _sqlite_version(db: Path, ref: ModelRef) -> tuple[str, str]:
    """(version, storage location) of a reference, from the registry tables."""
    with _connect(db) as con:
        if ref.alias is not None:
            row = con.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?", (ref.name, ref.alias)
            ).fetchone()
            if row is None:
                raise ModelNotFoundError(f"models:/{ref.name}@{ref.alias}: no such alias in {db}")
            version = str(row[0])
        elif ref.version == "latest":
            row = con.execute(
                "SELECT MAX(CAST(version AS INTEGER)) FROM model_versions WHERE name = ?", (ref.name,)
            ).fetchone()
            if row is None or row[0] is None:
                raise ModelNotFoundError(f"models:/{ref.name}/latest: no versions registered in {db}")
            version = str(row[0])
        else:
            version = str(ref.version)
        row = con.execute(
            "SELECT storage_location, source FROM model_versions WHERE name = ? AND version = ?",
            (ref.name, int(version)),
        ).fetchone()
    if row is None:
        raise ModelNotFoundError(f"models:/{ref.name}/{version}: no such version in {db}")
    return version, row[0] or row[1]


def local_path(location: str) -> Path | None:
    """The local directory of an artifact location (`file:` URI or plain path); None when remote."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and location:
        return Path(location)
    return None


def resolve_model_dir(uri: str | Path, *, tracking_uri: str | None = None, cache_dir: Path | None = None) -> Path:
    """A local model directory for a URI or directory: `model.onnx`, `feature_schema.json`, `model.json`,
    or a routed one (`routes.json`, `model.json` and a single-model sub-directory per route)."""
    text = str(uri)
    if not text.startswith("models:/"):
        return _check_dir(Path(text).expanduser())
    ref = parse_model_uri(text)
    db = sqlite_path(tracking_uri)
    if db is not None:
        version, location = _sqlite_version(db, ref)
        local = local_path(location)
        if local is not None and not local.is_dir():
            local = _relocated(local, db)
        if local is not None and local.is_dir():
            return _check_dir(local)
        target = (cache_dir or config.model_cache_dir()) / ref.name / version
        if target.is_dir():
            return _check_dir(target)
        return _download(f"models:/{ref.name}/{version}", target, tracking_uri)
    # remote tracking server: ask mlflow for the version, cache its artifacts by version
    version = _mlflow_version(ref, tracking_uri)
    target = (cache_dir or config.model_cache_dir()) / ref.name / version
    if target.is_dir():
        return _check_dir(target)
    return _download(f"models:/{ref.name}/{version}", target, tracking_uri)


def current_version(uri: str | Path, *, tracking_uri: str | None = None) -> str:
    """A cheap token that changes when the URI points at another model (server hot reload polls it).

    `name/version` for registry URIs (an alias move changes it); for a directory, a hash of `model.json`.
    """
    text = str(uri)
    if not text.startswith("models:/"):
        from perfcast.models.routed import info_file  # noqa: PLC0415

        meta = info_file(_check_dir(Path(text).expanduser()))
        return "dir:" + hashlib.sha256(meta.read_bytes()).hexdigest()[:16]
    ref = parse_model_uri(text)
    db = sqlite_path(tracking_uri)
    version = _sqlite_version(db, ref)[0] if db is not None else _mlflow_version(ref, tracking_uri)
    return f"{ref.name}/{version}"


def _relocated(local: Path, db: Path) -> Path | None:
    """An artifact directory recorded before its tracking folder moved (a renamed or copied checkout:
    `mlruns/` travels with its mlflow.db, the absolute paths MLflow wrote inside it do not): the same
    path below the folder that holds the database now, if it is there."""
    root = db.resolve().parent
    parts = local.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == root.name:
            candidate = root.joinpath(*parts[i + 1:])
            if candidate.is_dir():
                return candidate
    return None


def _download(model_uri: str, target: Path, tracking_uri: str | None) -> Path:
    import mlflow  # noqa: PLC0415 (only for non-local artifact stores)

    mlflow.set_tracking_uri(tracking_uri or config.tracking_uri())
    tmp = target.with_name(target.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(tmp))
    # the artifacts may land in a sub-folder named after the artifact path; a routed model also has a
    # model.json per sub-directory (an adaptation: transfer.json, and model.json under base/), so the
    # shallowest one is the model's own
    from perfcast.models.routed import META_FILE, missing_files  # noqa: PLC0415
    from perfcast.models.transfer import TRANSFER_FILE  # noqa: PLC0415

    found = min((p.parent for name in (META_FILE, TRANSFER_FILE) for p in tmp.rglob(name)),
                key=lambda p: len(p.parts), default=tmp)

    missing = missing_files(found)
    if missing:  # not cached: a later call downloads again once the artifacts are reachable
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelNotFoundError(f"{model_uri}: its artifacts hold no complete model directory "
                                 f"(missing {', '.join(missing)}); were they moved or deleted?")
    found.rename(target)
    shutil.rmtree(tmp, ignore_errors=True)  # what was around the model directory, if anything
    return target  # complete: checked above


def _mlflow_version(ref: ModelRef, tracking_uri: str | None) -> str:
    from mlflow import MlflowClient  # noqa: PLC0415

    client = MlflowClient(tracking_uri=tracking_uri or config.tracking_uri())
    if ref.alias is not None:
        return str(client.get_model_version_by_alias(ref.name, ref.alias).version)
    if ref.version == "latest":
        versions = client.search_model_versions(f"name='{ref.name}'")
        if not versions:
            raise ModelNotFoundError(f"models:/{ref.name}/latest: no versions registered")
        return str(max(int(v.version) for v in versions))
    return str(ref.version)


# ------------------------------------------------------------------------ writing (mlflow)


def alias_version(name: str, alias: str, *, tracking_uri: str | None = None) -> str | None:
    """The version an alias points at, or None (no such model/alias)."""
    try:
        return current_version(f"models:/{name}@{alias}", tracking_uri=tracking_uri).split("/", 1)[1]
    except ModelNotFoundError:
        return None
    except Exception as exc:  # remote store: mlflow raises its own RestException for a missing alias
        if type(exc).__name__ in ("MlflowException", "RestException"):
            return None
        raise


def register_run_model(
    run_id: str,
    artifact_uri: str,
    name: str,
    *,
    aliases: tuple[str, ...] = (CHALLENGER,),
    champion_if_missing: bool = True,
    tracking_uri: str | None = None,
) -> str:
    """Register a run's logged model directory as a new version of `name`; set aliases. Returns the version.

    The version's source is the run's artifact folder that holds the three model files, so
    `resolve_model_dir` returns it directly (no copy) for a local artifact store.
    """
    from mlflow import MlflowClient  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    client = MlflowClient(tracking_uri=tracking_uri or config.tracking_uri())
    try:
        client.create_registered_model(name, description="perfcast cost model (ONNX directory)")
    except MlflowException as exc:
        if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
    mv = client.create_model_version(name, source=artifact_uri, run_id=run_id)
    version = str(mv.version)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
    if champion_if_missing and alias_version(name, CHAMPION, tracking_uri=tracking_uri) is None:
        client.set_registered_model_alias(name, CHAMPION, version)
    return version


def set_alias(name: str, alias: str, version: str, *, tracking_uri: str | None = None) -> None:
    """Point `models:/name@alias` at a version."""
    from mlflow import MlflowClient  # noqa: PLC0415

    MlflowClient(tracking_uri=tracking_uri or config.tracking_uri()).set_registered_model_alias(name, alias, version)
