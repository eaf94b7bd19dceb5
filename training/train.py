"""Training pipeline: measurement store -> GBCostModel(s) -> ONNX model directory -> MLflow run + registry.

`train_models(store, by="all"|"family")` trains one model across all kernel families
(`perfcast-default`) or one per family (`perfcast-<family>`, dots as dashes). For each model:
1. freeze a held-out split by problem (`perfcast.training.splits.split_by_problem`; by config when the
   data holds a single problem, e.g. one Kernel Tuner GEMM cache), fit on its training part and score
   the held-out part with `perfcast.training.evaluate` (these are the logged metrics and the split
   `perfcast promote` compares on);
2. refit on all rows (the served model), save the ONNX directory with the metrics and split inside;
3. log the run to MLflow (params, data snapshot, schema, metrics, plots, model directory), register it
   and set alias `challenger` (and `champion` when the name has none).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.models.gbm import GBCostModel

DEFAULT_NAME = "perfcast-default"
#: Chosen by measurement (see README `models`): one model across families.
DEFAULT_BY = "all"


@dataclass
class TrainResult:
    """Outcome of training one registered model."""

    name: str
    model_dir: Path
    n_rows: int
    kernels: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    split: dict[str, Any] | None = None
    run_id: str | None = None
    version: str | None = None
    seconds: float = 0.0


def model_name(family: str | None) -> str:
    """Registered model name of a kernel family (`triton.matmul` -> `perfcast-triton-matmul`), or the default."""
    if family is None:
        return DEFAULT_NAME
    return "perfcast-" + re.sub(r"[^A-Za-z0-9]+", "-", family).strip("-").lower()


def load_training_frame(
    store: Any, kernels: Sequence[str] | None = None, systems: Sequence[str] | None = None
) -> pd.DataFrame:
    """All stored measurements (failed configs included) of the given kernels/systems, IR text left out."""
    frame = store.read(kernel=list(kernels) if kernels else None, system=list(systems) if systems else None)
    if len(frame) == 0:
        where = f" for kernels={list(kernels)}" if kernels else ""
        where += f" systems={list(systems)}" if systems else ""
        raise ValueError(f"the measurement store at {getattr(store, 'root', store)} has no rows{where}: run perfcast ingest")
    return frame.reset_index(drop=True)


def freeze_split(frame: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0) -> Any:
    """The frozen evaluation split stored with the model: by problem, or by config for a single problem."""
    from perfcast.training.splits import split_by_config, split_by_problem  # noqa: PLC0415

    try:
        return split_by_problem(frame, test_fraction=test_fraction, seed=seed)
    except ValueError:
        return split_by_config(frame, test_fraction=test_fraction, seed=seed)


def model_factory(hyperparameters: dict[str, Any]) -> Any:
    """A zero-argument factory of `GBCostModel` with the given constructor arguments (as in model.json)."""
    hp = dict(hyperparameters)
    if hp.get("quantiles") is not None:
        hp["quantiles"] = tuple(hp["quantiles"])

    def make() -> GBCostModel:
        return GBCostModel(**hp)

    return make


def holdout_metrics(
    frame: pd.DataFrame, hyperparameters: dict[str, Any], split: Any
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Fit on the split's train rows, score its test rows: (metrics, test frame, test predictions)."""
    from perfcast.training.evaluate import evaluate  # noqa: PLC0415

    result = evaluate(model_factory(hyperparameters), frame, split)
    model = result.pop("_model")
    _, test_idx = split.train_test(frame)
    test = frame.iloc[test_idx].reset_index(drop=True)
    pred = model.predict(test)
    metrics = {k: float(v) for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return metrics, test, pred


def train_one(
    frame: pd.DataFrame,
    name: str,
    *,
    hyperparameters: dict[str, Any] | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    out_dir: Path | None = None,
    register: bool = True,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train, save, log and register one model from a canonical frame."""
    from perfcast.training import tracking  # noqa: PLC0415
    from perfcast.training.splits import ranking_groups  # noqa: PLC0415

    t0 = time.perf_counter()
    hp = GBCostModel(**(hyperparameters or {})).get_params()
    metrics: dict[str, float] = {}
    split_dict = None
    plots: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="perfcast-train-"))
    if holdout > 0:
        split = freeze_split(frame, holdout, seed)
        split_dict = {**split.to_dict(), "split_id": split.split_id}
        if progress:
            print(f"[{name}] held-out fit: {split.kind} split, {split.counts}", flush=True)
        metrics, test, pred = holdout_metrics(frame, hp, split)
        plots = tracking.make_plots(test, pred, ranking_groups(test), work / "plots")
    if progress:
        print(f"[{name}] final fit on {len(frame):,} rows", flush=True)
    model = GBCostModel(**{**hp, "keep_data": False}).fit(frame, progress=progress)
    model.meta_["eval_split"] = split_dict
    model_dir = Path(out_dir) if out_dir is not None else work / "model"
    model.save(model_dir, metrics=metrics)
    snapshot = model.meta_["data"]
    result = TrainResult(
        name=name,
        model_dir=model_dir,
        n_rows=len(frame),
        kernels=sorted(snapshot["kernels"]),
        metrics=metrics,
        split=split_dict,
    )
    if register:
        logged = tracking.log_training_run(
            model_dir,
            run_name=name,
            registered_name=name,
            params={"hyperparameters": hp, "lightgbm": model.meta_["lightgbm_params"], "holdout": holdout,
                    "feature_schema_version": model.schema_.version, "n_features": model.meta_["n_features"],
                    "targets": list(model.meta_["targets"]), "split": split_dict or {}},
            metrics={**metrics, "final.fit_seconds": model.meta_["fit_seconds"],
                     **{f"final.cqr_correction.{t}": s["correction"] for t, s in model.meta_["targets"].items()},
                     **{f"final.onnx_parity.{k}": v for k, v in model.meta_["onnx_parity"].items()}},
            snapshot=snapshot,
            plots=plots,
            tags={"perfcast.kernels": ",".join(result.kernels)},
            tracking_uri=tracking_uri,
        )
        result.run_id, result.version = logged["run_id"], logged["version"]
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def train_models(
    store: Any = None,
    *,
    kernels: Sequence[str] | None = None,
    systems: Sequence[str] | None = None,
    by: str = DEFAULT_BY,
    frame: pd.DataFrame | None = None,
    hyperparameters: dict[str, Any] | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    name: str | None = None,
    out_dir: Path | None = None,
    register: bool = True,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> list[TrainResult]:
    """Train cost models from the measurement store (or a given canonical `frame`), log and register them.

    `by="all"`: one model across every kernel family (name `perfcast-default` unless `name`);
    `by="family"`: one model per kernel family (`perfcast-<family>`). `out_dir` keeps the saved
    model directories there (one sub-folder per model) besides logging them to MLflow.
    """
    if by not in ("all", "family"):
        raise ValueError(f"by must be 'all' or 'family', got {by!r}")
    if frame is None:
        from perfcast.measurements.store import MeasurementStore  # noqa: PLC0415

        store = store if store is not None else MeasurementStore()
        frame = load_training_frame(store, kernels, systems)
    else:
        frame = frame.reset_index(drop=True)
        if kernels:
            frame = frame[frame["kernel"].isin(list(kernels))].reset_index(drop=True)
        if systems:
            frame = frame[frame["system"].isin(list(systems))].reset_index(drop=True)
    groups: list[tuple[str, pd.DataFrame]]
    if by == "all":
        groups = [(name or DEFAULT_NAME, frame)]
    else:
        groups = [
            (model_name(str(k)), g.reset_index(drop=True)) for k, g in frame.groupby("kernel", sort=True)
        ]
    results = []
    for model_id, group in groups:
        target = Path(out_dir) / model_id if out_dir is not None else None
        results.append(
            train_one(
                group,
                model_id,
                hyperparameters=hyperparameters,
                holdout=holdout,
                seed=seed,
                out_dir=target,
                register=register,
                tracking_uri=tracking_uri,
                progress=progress,
            )
        )
    return results


def ensure_champion(store: Any = None, *, name: str = DEFAULT_NAME, tracking_uri: str | None = None,
                    **kwargs: Any) -> str:
    """`models:/<name>@champion`, training it from the store first when none is registered (quickstart)."""
    from perfcast.training.registry import CHAMPION, alias_version  # noqa: PLC0415

    if alias_version(name, CHAMPION, tracking_uri=tracking_uri) is None:
        train_models(store, name=name, by="all", tracking_uri=tracking_uri, **kwargs)
    return f"models:/{name}@{CHAMPION}"


def summarize(results: Sequence[TrainResult]) -> pd.DataFrame:
    """One row per trained model with its headline held-out metrics."""
    rows = []
    for r in results:
        row = {"name": r.name, "rows": r.n_rows, "version": r.version, "seconds": r.seconds}
        for key in ("test.runtime_ms.median_ape", "test.runtime_ms.coverage_80", "test.spearman_median",
                    "test.top1_slowdown_geomean", "test.power_w.median_ape"):
            if key in r.metrics and np.isfinite(r.metrics[key]):
                row[key.removeprefix("test.")] = r.metrics[key]
        rows.append(row)
    return pd.DataFrame(rows)


def compare_granularity(
    frame: pd.DataFrame,
    *,
    hyperparameters: dict[str, Any] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Held-out metrics per kernel family: one model across families vs one model per family.

    Both are fitted on the same frozen split's training rows (`split_by_config`: every family, even a
    single-problem one, has rows on both sides) and scored on the same test rows with
    `perfcast.training.evaluate.score`. This is the measurement behind `DEFAULT_BY`.
    """
    from perfcast.training.evaluate import score  # noqa: PLC0415
    from perfcast.training.splits import split_by_config  # noqa: PLC0415

    frame = frame.reset_index(drop=True)
    split = split_by_config(frame, test_fraction=test_fraction, seed=seed)
    train_idx, test_idx = split.train_test(frame)
    train, test = frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
    hp = hyperparameters or {}
    t0 = time.perf_counter()
    pred_all = GBCostModel(**hp).fit(train, progress=progress).predict(test)
    seconds_all = time.perf_counter() - t0
    rows = []
    for family, idx in sorted(test.groupby("kernel").indices.items()):
        fam_train = train[train["kernel"] == family]
        part = test.iloc[idx].reset_index(drop=True)
        row: dict[str, Any] = {"family": family, "n_train": len(fam_train), "n_test": len(part)}
        m_all = score(part, pred_all.iloc[idx].reset_index(drop=True))
        try:
            t1 = time.perf_counter()
            m_fam = score(part, GBCostModel(**hp).fit(fam_train).predict(part))
            row["seconds_family"] = round(time.perf_counter() - t1, 1)
        except ValueError as exc:  # too few usable rows for a family model
            m_fam = {}
            row["note"] = str(exc)
        for key in ("runtime_ms.median_ape", "runtime_ms.coverage_80", "spearman_median", "top1_slowdown_geomean"):
            row[f"all.{key}"] = m_all.get(key, np.nan)
            row[f"family.{key}"] = m_fam.get(key, np.nan)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["seconds_all"] = round(seconds_all, 1)
    out.attrs["split"] = split.to_dict()
    return out


def granularity_sample(datasets_dir: Path | None = None, seed: int = 0) -> pd.DataFrame:
    """The mixed real sample behind the README's granularity table (every family, bounded size)."""
    from perfcast.measurements.ingest import read_path  # noqa: PLC0415
    from perfcast.models.calibration import problem_keys  # noqa: PLC0415

    from perfcast import config  # noqa: PLC0415

    root = Path(datasets_dir or config.shared_datasets_dir())
    rng = np.random.default_rng(seed)
    parts = []
    for sub, n_rows in (("autoheuristic_a100", None), ("sgemm_uci", 20_000), ("kerneltuner_gemm", 20_000),
                        ("kerneltuner_convolution", None), ("gpperf_cutlass", None)):
        f = pd.concat([c.frame for c in read_path(root / sub)], ignore_index=True)
        if sub == "autoheuristic_a100":  # one log file (one row per config), 500 problems
            f = f[f["source"].astype(str).str.contains("a100_mm.txt")]
            keys = problem_keys(f)
            keep = rng.choice(np.sort(keys.unique()), 500, replace=False)
            f = f[keys.isin(keep).to_numpy()]
        if n_rows and len(f) > n_rows:
            f = f.sample(n_rows, random_state=seed)
        parts.append(f.drop(columns=["_line", "runtime_ms_samples"], errors="ignore"))
    return pd.concat(parts, ignore_index=True)


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description="Measure one model across families vs one per family.")
    ap.add_argument("--params", default="{}", help='LightGBM params as JSON, e.g. \'{"num_leaves": 255}\'')
    a = ap.parse_args()
    table = compare_granularity(granularity_sample(), hyperparameters={"params": json.loads(a.params)}, progress=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False))
