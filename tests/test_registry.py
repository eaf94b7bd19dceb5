"""MLflow logging + registry on a temporary sqlite store: register, aliases, resolve without mlflow, promote."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from perfcast.training.cli_promote import challenger_wins, promote
from perfcast.training.registry import (
    ModelNotFoundError,
    current_version,
    parse_model_uri,
    resolve_model_dir,
    sqlite_path,
)
from perfcast.training.train import train_models
from test_models_data import autoheuristic_problems, convolution

NAME = "perfcast-test"


@pytest.fixture(scope="module")
def frame(datasets_dir) -> pd.DataFrame:
    """Two kernel families from two datasets: AutoHeuristic matmul problems + a convolution cache."""
    ah = autoheuristic_problems(datasets_dir, 200, seed=2, rows_per_problem=15)
    conv = convolution(datasets_dir).sample(1500, random_state=0)
    return pd.concat([ah, conv], ignore_index=True)


@pytest.fixture(scope="module")
def train_tmp(tmp_path_factory) -> Path:
    """Where the registry fixture's trainings put their temporary directories."""
    return tmp_path_factory.mktemp("tmp")


@pytest.fixture(scope="module")
def registry(tmp_path_factory, frame, train_tmp):
    root = tmp_path_factory.mktemp("mlruns")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    saved, tempfile.tempdir = tempfile.tempdir, str(train_tmp)
    try:
        # one model across families (`by="all"`); routed models: tests/test_train_routed.py
        first = train_models(frame=frame, name=NAME, by="all", hyperparameters={"num_boost_round": 30},
                             tracking_uri=uri, progress=False)[0]
        second = train_models(frame=frame, name=NAME, by="all", hyperparameters={"num_boost_round": 90},
                              tracking_uri=uri, progress=False)[0]
    finally:
        tempfile.tempdir = saved
    return uri, first, second


def test_registered_training_leaves_no_work_directory(registry, train_tmp):
    uri, first, second = registry
    assert sorted(p.name for p in train_tmp.glob("perfcast-train-*")) == []
    # the result names the logged copy of the model, which the registry resolves to
    assert first.model_dir == resolve_model_dir(f"models:/{NAME}/1", tracking_uri=uri)
    assert second.model_dir == resolve_model_dir(f"models:/{NAME}/2", tracking_uri=uri)


def test_register_sets_champion_once_and_challenger_each_time(registry):
    uri, first, second = registry
    assert (first.version, second.version) == ("1", "2")
    assert current_version(f"models:/{NAME}@champion", tracking_uri=uri) == f"{NAME}/1"
    assert current_version(f"models:/{NAME}@challenger", tracking_uri=uri) == f"{NAME}/2"
    assert current_version(f"models:/{NAME}/latest", tracking_uri=uri) == f"{NAME}/2"


def test_resolve_returns_the_logged_model_directory(registry):
    uri, first, _ = registry
    d = resolve_model_dir(f"models:/{NAME}@champion", tracking_uri=uri)
    assert {"model.onnx", "feature_schema.json", "model.json"} <= {p.name for p in d.iterdir()}
    meta = json.loads((d / "model.json").read_text())
    assert meta["metrics"]["test.runtime_ms.median_ape"] == pytest.approx(first.metrics["test.runtime_ms.median_ape"])
    assert meta["eval_split"]["kind"] == "problem"
    assert sorted(meta["data"]["kernels"]) == ["cublas.matmul", "kerneltuner.convolution", "triton.matmul"]
    assert resolve_model_dir(f"models:/{NAME}/2", tracking_uri=uri) == resolve_model_dir(
        f"models:/{NAME}@challenger", tracking_uri=uri
    )
    assert resolve_model_dir(d) == d


def test_run_logs_params_metrics_snapshot_and_plots(registry):
    uri, first, _ = registry
    artifacts = resolve_model_dir(f"models:/{NAME}/1", tracking_uri=uri).parent
    assert {"pred_vs_measured_runtime_ms.png", "coverage_runtime_ms.png", "slowdown_cdf.png"} <= {
        p.name for p in (artifacts / "plots").iterdir()
    }
    snapshot = json.loads((artifacts / "data_snapshot.json").read_text())
    assert snapshot["n_rows"] == first.n_rows and snapshot["hash"]
    import sqlite3

    with sqlite3.connect(sqlite_path(uri)) as con:
        metrics = dict(con.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (first.run_id,)).fetchall())
        params = {k for (k,) in con.execute("SELECT key FROM params WHERE run_uuid = ?", (first.run_id,))}
    assert metrics["test.runtime_ms.median_ape"] == pytest.approx(first.metrics["test.runtime_ms.median_ape"])
    assert "test.top1_slowdown_geomean" in metrics and "hyperparameters.num_boost_round" in params


def test_resolve_does_not_import_mlflow(registry):
    uri, _, _ = registry
    code = (
        "import sys; from perfcast.training.registry import resolve_model_dir, current_version; "
        f"d = resolve_model_dir('models:/{NAME}@champion', tracking_uri={uri!r}); "
        f"current_version('models:/{NAME}@champion', tracking_uri={uri!r}); "
        "assert 'mlflow' not in sys.modules, 'mlflow imported'; print(d)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_dir()


def test_a_moved_mlruns_folder_still_resolves(registry, tmp_path):
    """mlruns/ moved with its database (a renamed checkout): the absolute artifact paths MLflow recorded
    point nowhere; the registry finds the same paths below the folder that holds mlflow.db now."""
    import sqlite3

    uri, first, _ = registry
    old_root = sqlite_path(uri).parent
    new_root = tmp_path / "moved" / old_root.name
    shutil.copytree(old_root, new_root)
    with sqlite3.connect(new_root / "mlflow.db") as con:  # as if the old folder were gone
        con.execute("UPDATE model_versions SET storage_location = replace(storage_location, ?, ?), "
                    "source = replace(source, ?, ?)", (str(old_root), "/gone/checkout/" + old_root.name) * 2)
    moved_uri = f"sqlite:///{new_root / 'mlflow.db'}"
    d = resolve_model_dir(f"models:/{NAME}@champion", tracking_uri=moved_uri)
    assert d.is_relative_to(new_root) and (d / "model.onnx").is_file()
    assert d.relative_to(new_root) == first.model_dir.relative_to(old_root)
    # artifacts that are nowhere: a clear error, and nothing half-downloaded left in the model cache
    # (which would fail every later call)
    with sqlite3.connect(new_root / "mlflow.db") as con:
        con.execute("UPDATE model_versions SET storage_location = replace(storage_location, ?, ?), "
                    "source = replace(source, ?, ?)", ("/gone/checkout/" + old_root.name, "/gone/nowhere") * 2)
    cache = tmp_path / "cache"
    for _ in range(2):
        with pytest.raises(ModelNotFoundError, match="artifacts hold no complete model directory"):
            resolve_model_dir(f"models:/{NAME}@champion", tracking_uri=moved_uri, cache_dir=cache)
    assert not list(cache.rglob("*.onnx")) and not (cache / NAME / "1").exists()


def test_unknown_uris_are_clear_errors(registry, tmp_path):
    uri, _, _ = registry
    with pytest.raises(ModelNotFoundError, match="no such alias"):
        resolve_model_dir(f"models:/{NAME}@nope", tracking_uri=uri)
    with pytest.raises(ModelNotFoundError, match="no such version"):
        resolve_model_dir(f"models:/{NAME}/99", tracking_uri=uri)
    with pytest.raises(ModelNotFoundError, match="missing model.onnx"):
        resolve_model_dir(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no MLflow registry"):
        resolve_model_dir(f"models:/{NAME}@champion", tracking_uri=f"sqlite:///{tmp_path / 'none.db'}")
    with pytest.raises(ValueError, match="not a registry URI"):
        parse_model_uri("models:/a/b/c")


def test_promotion_rule():
    champ = {"test.top1_slowdown_geomean": 1.05, "test.runtime_ms.median_ape": 3.0, "test.runtime_ms.coverage_80": 0.8}
    better = {"test.top1_slowdown_geomean": 1.03, "test.runtime_ms.median_ape": 3.1, "test.runtime_ms.coverage_80": 0.79}
    assert challenger_wins(better, champ)[0]  # slowdown better, APE within 5%
    assert not challenger_wins(champ, better)[0]  # slowdown worse by 0.02
    assert not challenger_wins({**better, "test.runtime_ms.median_ape": 3.5}, champ)[0]  # APE +17%
    assert not challenger_wins({**better, "test.runtime_ms.coverage_80": 0.6}, champ)[0]  # broke the interval
    # much lower APE with a slowdown within noise (+0.002) wins; equal on both does not
    assert challenger_wins({**champ, "test.top1_slowdown_geomean": 1.052, "test.runtime_ms.median_ape": 1.5}, champ)[0]
    assert not challenger_wins(dict(champ), champ)[0]
    # same accuracy, but the interval now covers 80% where the champion's covered 98%: better
    over = {**champ, "test.runtime_ms.coverage_80": 0.98}
    assert challenger_wins({**over, "test.runtime_ms.coverage_80": 0.81, "test.runtime_ms.median_ape": 3.05}, over)[0]
    assert challenger_wins({"test.runtime_ms.median_ape": 2.0}, {"test.runtime_ms.median_ape": 2.5})[0]
    assert not challenger_wins({}, champ)[0]


def test_promote_moves_champion_only_when_the_challenger_wins(registry):
    uri, first, second = registry
    decision = promote(NAME, tracking_uri=uri, dry_run=True, progress=False)
    assert decision["champion_scored"] == "stored metrics (same frozen split)"
    assert decision["split_id"] == second.split["split_id"] == first.split["split_id"]
    wins, _ = challenger_wins(second.metrics, first.metrics)
    assert decision["outcome"] == ("would-promote (dry run)" if wins else "kept")
    assert current_version(f"models:/{NAME}@champion", tracking_uri=uri) == f"{NAME}/1"
    decision = promote(NAME, tracking_uri=uri, progress=False)
    expected = f"{NAME}/2" if wins else f"{NAME}/1"
    assert current_version(f"models:/{NAME}@champion", tracking_uri=uri) == expected
    assert decision["decision_run_id"]


def test_ensure_champion_does_not_retrain_when_one_exists(registry):
    from perfcast.training.train import ensure_champion

    uri, _, _ = registry
    before = current_version(f"models:/{NAME}/latest", tracking_uri=uri)
    # no store is given: training would fail, so returning the URI proves nothing was retrained
    assert ensure_champion(store=object(), name=NAME, tracking_uri=uri) == f"models:/{NAME}@champion"
    assert current_version(f"models:/{NAME}/latest", tracking_uri=uri) == before


def test_promote_refits_the_champion_on_the_challengers_split(datasets_dir, tmp_path):
    """Champion and challenger frozen on different splits: the champion is re-fitted on the challenger's."""
    from perfcast.measurements.store import MeasurementStore

    store = MeasurementStore(tmp_path / "store")
    store.append(autoheuristic_problems(datasets_dir, 100, seed=5, rows_per_problem=12))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kw = {"tracking_uri": uri, "progress": False, "name": "perfcast-refit", "by": "all"}
    train_models(store, hyperparameters={"num_boost_round": 15}, seed=0, **kw)
    second = train_models(store, hyperparameters={"num_boost_round": 60}, seed=1, **kw)[0]
    decision = promote("perfcast-refit", store=store, tracking_uri=uri, progress=False)
    assert decision["champion_scored"] == "re-fitted on the challenger's split"
    assert decision["split_id"] == second.split["split_id"]
    wins, _ = challenger_wins(decision["challenger_metrics"], decision["champion_metrics"])
    assert decision["outcome"] == ("promoted" if wins else "kept")
    champion = current_version("models:/perfcast-refit@champion", tracking_uri=uri)
    assert champion == ("perfcast-refit/2" if wins else "perfcast-refit/1")


def test_forced_promotion_is_logged_with_the_rules_verdict(registry):
    from perfcast.training.registry import set_alias

    uri, first, second = registry
    set_alias(NAME, "champion", "1", tracking_uri=uri)  # roll back, then force the challenger in
    decision = promote(NAME, tracking_uri=uri, force="re-export of the same training", progress=False)
    assert decision["outcome"] == "forced" and decision["forced_reason"] == "re-export of the same training"
    expected = "promoted" if challenger_wins(second.metrics, first.metrics)[0] else "kept"
    assert decision["rule_outcome"] == expected
    assert current_version(f"models:/{NAME}@champion", tracking_uri=uri) == f"{NAME}/2"


def _retrain_after(store, first_rows: pd.DataFrame, new_rows: pd.DataFrame, name: str, uri: str):
    """Champion trained on `first_rows`, then `new_rows` ingested and the same recipe retrained."""
    kw = {"tracking_uri": uri, "progress": False, "name": name, "hyperparameters": {"num_boost_round": 15}}
    store.append(first_rows)
    train_models(store, **kw)
    store.append(new_rows)
    return train_models(store, **kw)[0]


def test_promote_after_measuring_a_new_gpu_promotes_the_model_that_answers_it(datasets_dir, tmp_path):
    """ingest -> retrain -> promote: the same recipe retrained with a new GPU's measurements used to tie
    with the champion's re-fit and be kept, so the served model never learned the new GPU. Now the
    champion as served (no answer for that GPU) is compared on the test records it never saw."""
    from perfcast.measurements.store import MeasurementStore
    from perfcast.training.train import load_training_frame, split_from_dict

    store, uri = MeasurementStore(tmp_path / "store"), f"sqlite:///{tmp_path / 'mlflow.db'}"
    second = _retrain_after(store, convolution(datasets_dir, "A100"), convolution(datasets_dir, "A4000"),
                            "perfcast-newgpu", uri)
    frame = load_training_frame(store)
    _, test = split_from_dict(second.split).train_test(frame)
    on_new_gpu = (frame["system"].iloc[test] == "NVIDIA RTX A4000").to_numpy()
    new_gpu_tests, measured_ok = int(on_new_gpu.sum()), int((on_new_gpu & (frame["status"].iloc[test] == "ok")).sum())
    decision = promote("perfcast-newgpu", store=store, tracking_uri=uri, progress=False)
    new = decision["new_measurements"]
    assert new["known_by"].startswith("the champion's training rows")
    assert new["n_rows"] == new_gpu_tests > 0  # the A100 test records were in the champion's training
    assert (new["n_compared"], new["new_answers"]) == (0, measured_ok)  # failed configs have no runtime
    assert decision["champion_scored"].startswith("same hyperparameters")
    assert decision["outcome"] == "promoted" and "has no model for" in decision["reason"]
    assert current_version("models:/perfcast-newgpu@champion", tracking_uri=uri) == "perfcast-newgpu/2"
    import mlflow

    logged = mlflow.MlflowClient(uri).get_run(decision["decision_run_id"]).data.metrics
    assert logged["new.new_answers"] == measured_ok and logged["new.n_rows"] == new_gpu_tests


def test_promote_after_more_configs_scores_the_served_champion_on_the_new_ones(datasets_dir, tmp_path):
    """More configs of a GPU the champion knows: it is scored as served on the challenger's test records
    from the new measurements only (on the rest it was fitted), and the rule compares on those."""
    import numpy as np
    from perfcast.measurements.store import MeasurementStore
    from perfcast.measurements.validate import record_hash_u64
    from perfcast.models.routed import load_cost_model
    from perfcast.training.cli_promote import _compare
    from perfcast.training.evaluate import score
    from perfcast.training.train import HELDOUT_PREDICTIONS_FILE, load_training_frame, split_from_dict

    rows = convolution(datasets_dir, "A100")
    half = np.random.default_rng(3).random(len(rows)) < 0.5
    store, uri = MeasurementStore(tmp_path / "store"), f"sqlite:///{tmp_path / 'mlflow.db'}"
    second = _retrain_after(store, rows[half], rows[~half], "perfcast-more", uri)
    champion_dir = resolve_model_dir("models:/perfcast-more@champion", tracking_uri=uri)
    frame = load_training_frame(store)
    _, test = split_from_dict(second.split).train_test(frame)
    later = np.isin(frame["_hash"].to_numpy()[test], record_hash_u64(rows[~half].reset_index(drop=True)))
    decision = promote("perfcast-more", store=store, tracking_uri=uri, dry_run=True, progress=False)
    new = decision["new_measurements"]
    assert new["n_rows"] == int(later.sum()) > 0 and new["n_compared"] == new["n_rows"] and new["new_answers"] == 0
    test_rows = frame.iloc[test[later]].reset_index(drop=True)
    served = score(test_rows, load_cost_model(champion_dir).predict_frame(test_rows))
    assert new["champion_metrics"]["test.runtime_ms.median_ape"] == pytest.approx(served["runtime_ms.median_ape"])
    worse, better = _compare(new["challenger_metrics"], new["champion_metrics"], new["n_compared"])
    assert decision["outcome"] == ("would-promote (dry run)" if not worse and better else "kept")
    # the challenger is scored from its held-out fit's kept predictions; they are what a re-fit predicts
    assert new["challenger_scored"].startswith("its held-out fit's predictions")
    challenger_dir = resolve_model_dir("models:/perfcast-more@challenger", tracking_uri=uri)
    (challenger_dir / HELDOUT_PREDICTIONS_FILE).unlink()
    refit = promote("perfcast-more", store=store, tracking_uri=uri, dry_run=True, progress=False)["new_measurements"]
    assert refit["challenger_scored"].startswith("its hyperparameters re-fitted")
    assert refit["challenger_metrics"] == pytest.approx(new["challenger_metrics"], rel=1e-12)


def test_heldout_predictions_are_looked_up_by_record(tmp_path):
    """In the asked order, duplicates allowed; a record that was not a test record gives None (re-fit)."""
    import numpy as np
    from perfcast.training.train import heldout_predictions, save_heldout_predictions

    test = pd.DataFrame({"_hash": np.array([2**63 + 5, 7, 2**40], dtype=np.uint64), "kernel": ["a", "b", "c"]})
    pred = pd.DataFrame({"pred.runtime_ms": [1.5, 2.5, 3.5], "pred.runtime_ms.q10": [1.0, 2.0, 3.0],
                         "pred.error": [None, "bad", None]})
    assert save_heldout_predictions(tmp_path, test, pred) == 3
    got = heldout_predictions(tmp_path, np.array([2**40, 2**63 + 5, 2**40], dtype=np.uint64))
    assert got.columns.tolist() == ["pred.runtime_ms", "pred.runtime_ms.q10"]
    assert got["pred.runtime_ms"].tolist() == [3.5, 1.5, 3.5]
    assert heldout_predictions(tmp_path, np.array([7, 8], dtype=np.uint64)) is None
    assert heldout_predictions(tmp_path / "none", np.array([7], dtype=np.uint64)) is None
    assert save_heldout_predictions(tmp_path, test.drop(columns="_hash"), pred) == 0


def test_promote_after_measuring_a_new_kernel_family(datasets_dir, tmp_path):
    """A routed champion has no sub-model for a family measured since: as served it answers none of
    those records (it refuses the kernel), so promote counts them for the challenger, not a crash."""
    from perfcast.measurements.store import MeasurementStore

    store, uri = MeasurementStore(tmp_path / "store"), f"sqlite:///{tmp_path / 'mlflow.db'}"
    matmul = autoheuristic_problems(datasets_dir, 60, seed=2, rows_per_problem=20)
    second = _retrain_after(store, convolution(datasets_dir, "A100"), matmul, "perfcast-newfamily", uri)
    assert "triton.matmul" in json.loads((second.model_dir / "model.json").read_text())["routes"]
    decision = promote("perfcast-newfamily", store=store, tracking_uri=uri, dry_run=True, progress=False)
    new = decision["new_measurements"]
    assert new["n_compared"] == 0 and new["new_answers"] > 0  # every new test record is a triton.matmul one
    assert decision["outcome"] == "would-promote (dry run)"
