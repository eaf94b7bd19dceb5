"""MLflow tracking: one run per trained model with params, data snapshot, schema, metrics, plots, ONNX dir.

Default store: `sqlite:///mlruns/mlflow.db` with artifacts under `mlruns/artifacts` (no server);
set `MLFLOW_TRACKING_URI` for a remote server. Plots use matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perfcast import config

EXPERIMENT = "perfcast"


def _quiet_mlflow() -> None:
    # no usage telemetry from a training job; keep alembic's table-creation chatter out of the CLI
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def setup(tracking_uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    """Point mlflow at the tracking URI and make sure the experiment exists; returns its id.

    For the default sqlite store the experiment's artifacts go to `mlruns/artifacts` (absolute).
    """
    _quiet_mlflow()
    import mlflow  # noqa: PLC0415

    uri = tracking_uri or config.tracking_uri()
    if uri.startswith("sqlite:"):
        from perfcast.training.registry import sqlite_path  # noqa: PLC0415

        db = sqlite_path(uri)
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        location = None
        if uri.startswith("sqlite:"):
            location = (sqlite_path(uri).parent / "artifacts").resolve().as_uri()
        exp_id = mlflow.create_experiment(experiment, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def _finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            continue
        if math.isfinite(float(v)):
            # mlflow metric names allow / - . _ and alphanumerics
            out[k.replace("@", "_at_")] = float(v)
    return out


def _flat_params(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat_params(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(value) if not isinstance(value, str) else value


# ---------------------------------------------------------------------------------- plots


def plot_pred_vs_measured(y: np.ndarray, p: np.ndarray, path: Path, title: str = "runtime_ms") -> Path:
    """Predicted vs measured on log-log axes with the y = x line."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ok = np.isfinite(y) & np.isfinite(p) & (y > 0) & (p > 0)
    y, p = y[ok], p[ok]
    if len(y) > 50_000:  # a readable scatter, not a 1M-point blob
        idx = np.random.default_rng(0).choice(len(y), 50_000, replace=False)
        y, p = y[idx], p[idx]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y, p, s=2, alpha=0.3)
    if len(y):
        lo, hi = min(y.min(), p.min()), max(y.max(), p.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"measured {title}")
    ax.set_ylabel(f"predicted {title}")
    ax.set_title(f"{title}: held-out problems")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_interval_coverage(
    y: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray, path: Path, nominal: float = 0.8
) -> Path:
    """Empirical coverage of the calibrated interval per decile of predicted value, against the nominal."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ok = np.isfinite(y) & np.isfinite(p) & (y > 0)
    y, p, lo, hi = y[ok], p[ok], lo[ok], hi[ok]
    inside = (y >= lo) & (y <= hi)
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(y) >= 10:
        bins = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False).to_numpy()
        cov = pd.Series(inside).groupby(bins).mean()
        ax.bar(cov.index + 1, cov.to_numpy(), color="tab:blue")
    ax.axhline(nominal, color="k", ls="--", lw=1, label=f"nominal {nominal:.0%}")
    ax.axhline(inside.mean() if len(y) else np.nan, color="tab:red", lw=1, label=f"overall {inside.mean():.1%}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("decile of predicted value")
    ax.set_ylabel("interval coverage")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def per_problem_slowdown(groups: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Measured runtime of the predicted-best config over the measured best, per problem."""
    df = pd.DataFrame({"g": groups, "y": y, "p": p})
    df = df[np.isfinite(df.y) & (df.y > 0) & np.isfinite(df.p)]
    if df.empty:
        return np.array([])
    best = df.groupby("g").y.min()
    chosen = df.loc[df.groupby("g").p.idxmin()].set_index("g").y
    return (chosen / best.loc[chosen.index]).to_numpy()


def plot_slowdown_cdf(slowdowns: np.ndarray, path: Path) -> Path:
    """CDF over problems of the top-1 slowdown (1.0 = the predicted best is the measured best)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    s = np.sort(np.asarray(slowdowns, dtype=float))
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(s):
        ax.step(s, np.arange(1, len(s) + 1) / len(s), where="post")
    ax.set_xscale("log")
    ax.set_xlabel("top-1 slowdown vs measured best")
    ax.set_ylabel("fraction of problems")
    ax.set_title(f"per-problem slowdown CDF ({len(s)} problems)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_plots(frame: pd.DataFrame, pred: pd.DataFrame, groups: np.ndarray, out_dir: Path) -> list[Path]:
    """The three standard plots for held-out predictions of the runtime target (and power/energy scatter)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for target in ("runtime_ms", "power_w", "energy_j"):
        col = f"pred.{target}"
        if col not in pred.columns or target not in frame.columns:
            continue
        y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
        p = pred[col].to_numpy(dtype=float)
        paths.append(plot_pred_vs_measured(y, p, out_dir / f"pred_vs_measured_{target}.png", target))
        lo, hi = f"{col}.q10", f"{col}.q90"
        if lo in pred.columns and hi in pred.columns:
            paths.append(
                plot_interval_coverage(
                    y, p, pred[lo].to_numpy(float), pred[hi].to_numpy(float), out_dir / f"coverage_{target}.png"
                )
            )
        if target == "runtime_ms":
            paths.append(plot_slowdown_cdf(per_problem_slowdown(groups, y, p), out_dir / "slowdown_cdf.png"))
    return paths


# ------------------------------------------------------------------------------- logging


def log_training_run(
    model_dir: Path,
    *,
    run_name: str,
    registered_name: str | None,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    plots: list[Path] = (),
    tags: Mapping[str, str] | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Log one trained model: params, metrics, data snapshot, schema, plots, the ONNX directory; register it.

    Returns `{"run_id", "artifact_uri", "version"}` (`version` None when not registered). The model
    directory (single or routed, sub-directories included) is logged under the run's `model/` artifact
    folder; that folder is the registered version's source, so `resolve_model_dir` finds it whole.
    """
    setup(tracking_uri)
    import mlflow  # noqa: PLC0415
    from perfcast.training.registry import register_run_model  # noqa: PLC0415

    with mlflow.start_run(run_name=run_name) as run:
        flat: dict[str, str] = {}
        _flat_params("", dict(params), flat)
        # mlflow caps a param value at 6000 chars; log in batches of 100
        items = [(k[:250], v[:6000]) for k, v in flat.items()]
        for i in range(0, len(items), 100):
            mlflow.log_params(dict(items[i : i + 100]))
        mlflow.log_metrics(_finite_metrics(metrics))
        mlflow.set_tags({"perfcast.data_hash": str(snapshot.get("hash")), **(tags or {})})
        mlflow.log_dict(dict(snapshot), "data_snapshot.json")
        # a routed model has one feature schema per sub-model (schema/<sub>/feature_schema.json)
        for schema in sorted(Path(model_dir).glob("**/feature_schema.json")):
            sub = schema.parent.relative_to(model_dir).as_posix()
            mlflow.log_artifact(str(schema), artifact_path="schema" if sub == "." else f"schema/{sub}")
        for p in plots:
            mlflow.log_artifact(str(p), artifact_path="plots")
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        artifact_uri = mlflow.get_artifact_uri("model")
        version = None
        if registered_name:
            version = register_run_model(run.info.run_id, artifact_uri, registered_name, tracking_uri=tracking_uri)
            mlflow.set_tag("perfcast.registered", f"{registered_name}/{version}")
    return {"run_id": run.info.run_id, "artifact_uri": artifact_uri, "version": version}


def log_decision(name: str, decision: Mapping[str, Any], *, tracking_uri: str | None = None) -> str:
    """Log a promotion decision (rule, both sides' metrics, outcome) as its own run; returns the run id."""
    setup(tracking_uri, experiment=f"{EXPERIMENT}-promote")
    import mlflow  # noqa: PLC0415

    with mlflow.start_run(run_name=f"promote {name}") as run, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "decision.json"
        path.write_text(json.dumps(decision, indent=2, default=str))
        mlflow.log_artifact(str(path))
        mlflow.set_tags({"model": name, "outcome": str(decision.get("outcome")), "rule": str(decision.get("rule"))})
        new = decision.get("new_measurements") or {}  # scored on the test records the champion never saw
        mlflow.log_metrics(
            _finite_metrics({f"challenger.{k}": v for k, v in decision.get("challenger_metrics", {}).items()})
            | _finite_metrics({f"champion.{k}": v for k, v in decision.get("champion_metrics", {}).items()})
            | _finite_metrics({f"new.challenger.{k}": v for k, v in new.get("challenger_metrics", {}).items()})
            | _finite_metrics({f"new.champion.{k}": v for k, v in new.get("champion_metrics", {}).items()})
            | _finite_metrics({f"new.{k}": new[k] for k in ("n_rows", "n_compared", "new_answers") if k in new})
        )
    return run.info.run_id
