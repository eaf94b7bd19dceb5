"""Routed training (the default `perfcast-default`): one sub-model per kernel family, ONE run, ONE version;
promote across routed and single models on the frozen split; `perfcast predict` through a routed model.

Real data: AutoHeuristic A100 matmul problems (`triton.matmul` + a few `cublas.matmul`), a Kernel Tuner
convolution cache, GPPerf CUTLASS and the GPPerf tiled matmul (195 rows: too few for its own sub-model).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import read_path
from perfcast.measurements.store import MeasurementStore
from perfcast.models.onnx_model import OnnxCostModel
from perfcast.models.routed import RoutedCostModel, load_cost_model
from perfcast.training.cli_promote import challenger_wins, promote
from perfcast.training.registry import current_version, resolve_model_dir, sqlite_path
from perfcast.training.train import (
    DEFAULT_BY,
    RoutedSplit,
    compare_granularity,
    ensure_champion,
    plan_routes,
    split_from_dict,
    train_models,
)
from test_models_data import autoheuristic_problems, convolution

from perfcast.cli import main as cli_main

NAME = "perfcast-routed-test"
ROUTES = {
    "cublas.matmul": "triton-matmul",  # ~100 rows on the A100: joins the A100's large family
    "cuda.tiled_matmul": "cutlass-gemm",  # 195 rows on the RTX 4070: joins CUTLASS (same GPU)
    "cutlass.gemm": "cutlass-gemm",
    "kerneltuner.convolution": "kerneltuner-convolution",
    "triton.matmul": "triton-matmul",
}


@pytest.fixture(scope="module")
def frame(datasets_dir: Path) -> pd.DataFrame:
    ah = autoheuristic_problems(datasets_dir, 150, seed=2, rows_per_problem=15)
    conv = convolution(datasets_dir).sample(1200, random_state=0)
    gp = [pd.concat([c.frame for c in read_path(datasets_dir / "gpperf_cutlass" / f)], ignore_index=True)
          for f in ("cutlass_profiling_20241111_195357.tar.gz", "tiled_execution_times_all.csv")]
    cut = gp[0].sample(1500, random_state=0)
    out = pd.concat([ah, conv, cut, gp[1]], ignore_index=True)
    return out.drop(columns=["_line", "runtime_ms_samples"], errors="ignore")


@pytest.fixture(scope="module")
def registry(tmp_path_factory, frame):
    root = tmp_path_factory.mktemp("mlruns")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    kw = {"frame": frame, "name": NAME, "tracking_uri": uri, "progress": False, "by": "routed"}
    first = train_models(hyperparameters={"num_boost_round": 20}, **kw)[0]
    second = train_models(hyperparameters={"num_boost_round": 40}, **kw)[0]
    return uri, first, second


def test_small_families_share_a_related_sub_model(frame):
    assert DEFAULT_BY == "routed"
    assert plan_routes(frame) == ROUTES
    # with a low threshold every family has its own sub-model
    assert plan_routes(frame, min_family_rows=50) == {k: k.replace(".", "-").replace("_", "-") for k in ROUTES}


def test_one_run_one_version_with_a_routed_directory(registry, frame):
    uri, first, second = registry
    assert (first.version, second.version) == ("1", "2")
    assert current_version(f"models:/{NAME}@champion", tracking_uri=uri) == f"{NAME}/1"
    with sqlite3.connect(sqlite_path(uri)) as con:
        runs = con.execute("SELECT run_uuid FROM runs WHERE name = ?", (NAME,)).fetchall()
        versions = con.execute("SELECT version FROM model_versions WHERE name = ?", (NAME,)).fetchall()
        metrics = dict(con.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (first.run_id,)))
    assert len(runs) == 2 and len(versions) == 2  # two trainings: two runs, two versions (not one per family)
    d = resolve_model_dir(f"models:/{NAME}@champion", tracking_uri=uri)
    meta = json.loads((d / "model.json").read_text())
    assert meta["routed"] is True and meta["routes"] == ROUTES
    assert meta["data"]["n_rows"] == len(frame) and sorted(meta["kernels"]) == sorted(ROUTES)
    # the same headline keys a single model logs, scored on the union of the groups' test rows
    for key in ("test.runtime_ms.median_ape", "test.runtime_ms.coverage_80", "test.top1_slowdown_geomean"):
        assert np.isfinite(meta["metrics"][key]) and metrics[key] == pytest.approx(meta["metrics"][key])
    assert metrics["triton-matmul.test.runtime_ms.median_ape"] == pytest.approx(
        meta["submodels"]["triton-matmul"]["metrics"]["test.runtime_ms.median_ape"])
    split = meta["eval_split"]
    assert split["kind"] == "routed" and split["split_id"] == first.split["split_id"]
    assert meta["metrics"]["test.n_rows"] == split["counts"]["test"]
    for sub in set(ROUTES.values()):  # each sub-directory is a complete single model with its own split
        sub_meta = json.loads((d / sub / "model.json").read_text())
        assert sub_meta["eval_split"]["split_id"] == split_from_dict(split).group_split(sub).split_id
        assert isinstance(OnnxCostModel.load(d / sub), OnnxCostModel)
    # power only where measured: CUTLASS/tiled on the RTX 4070
    assert {p["kernel"] for p in meta["measured_pairs"]["power_w"]} <= {"cutlass.gemm", "cuda.tiled_matmul"}
    assert isinstance(load_cost_model(d), RoutedCostModel)


def test_routed_split_is_per_group_and_refuses_changed_rows(frame):
    split = RoutedSplit.freeze(frame, ROUTES, 0.2, seed=0)
    train, test = split.train_test(frame)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(frame)
    for sub in split.groups:  # every group has rows on both sides (single-problem groups split by config)
        kernels = frame["kernel"].iloc[test].isin(split.groups[sub]["kernels"])
        assert kernels.any()
    again = split_from_dict({**split.to_dict(), "split_id": split.split_id})
    assert again.split_id == split.split_id
    assert (again.train_test(frame.sample(frac=1.0, random_state=1).reset_index(drop=True))[1].size == len(test))
    from perfcast.training.splits import SplitMismatchError

    with pytest.raises(SplitMismatchError):
        split.train_test(frame.drop(index=frame.index[frame["kernel"] == "cutlass.gemm"][:5]).reset_index(drop=True))


def test_promote_routed_vs_routed_uses_the_stored_metrics(registry):
    uri, first, second = registry
    decision = promote(NAME, tracking_uri=uri, dry_run=True, progress=False)
    assert decision["champion_scored"] == "stored metrics (same frozen split)"
    assert decision["split_id"] == first.split["split_id"] == second.split["split_id"]
    wins, _ = challenger_wins(second.metrics, first.metrics)
    assert decision["outcome"] == ("would-promote (dry run)" if wins else "kept")


@pytest.mark.parametrize(("order", "max_rows"), [(("all", "routed"), 0), (("routed", "all"), 1000)])
def test_promote_across_routed_and_single_refits_the_champion(frame, tmp_path, order, max_rows):
    """A single champion re-fitted on a routed challenger's per-group split, and a routed champion
    (one model per family, its routes) re-fitted on a single challenger's problem split; with
    `max_rows`, both trained on a sample of the store (as quickstart does) that promote re-draws."""
    store = MeasurementStore(tmp_path / "store")
    # the convolution cache is one problem: on a single model's problem split it has no training row,
    # so the routed champion answers it with its fallback model fitted on all training rows
    store.append(frame[frame["kernel"].isin(["triton.matmul", "cublas.matmul", "kerneltuner.convolution"])])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kw = {"tracking_uri": uri, "progress": False, "name": "perfcast-mixed", "hyperparameters": {"num_boost_round": 10},
          "max_rows_per_group": max_rows}
    train_models(store, by=order[0], **kw)
    second = train_models(store, by=order[1], **kw)[0]
    if max_rows:
        meta = json.loads((resolve_model_dir("models:/perfcast-mixed/2", tracking_uri=uri) / "model.json").read_text())
        assert meta["training_sample"] == {"max_rows_per_group": max_rows, "seed": 0}
        assert second.n_rows < len(store)
    decision = promote("perfcast-mixed", store=store, tracking_uri=uri, progress=False)
    assert decision["champion_scored"] == "re-fitted on the challenger's split"
    assert decision["split_id"] == second.split["split_id"]
    assert np.isfinite(decision["champion_metrics"]["test.runtime_ms.median_ape"])
    wins, _ = challenger_wins(decision["challenger_metrics"], decision["champion_metrics"])
    assert decision["outcome"] == ("promoted" if wins else "kept")


def test_ensure_champion_trains_a_routed_default(frame, tmp_path):
    store = MeasurementStore(tmp_path / "store")
    store.append(frame[frame["kernel"].isin(["cutlass.gemm", "cuda.tiled_matmul"])])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    got = ensure_champion(store, name="perfcast-ens", tracking_uri=uri, hyperparameters={"num_boost_round": 10},
                          progress=False)
    d = resolve_model_dir(got, tracking_uri=uri)
    assert json.loads((d / "routes.json").read_text())["routes"] == {"cuda.tiled_matmul": "cutlass-gemm",
                                                                     "cutlass.gemm": "cutlass-gemm"}


def test_predict_cli_routes_each_chunk_in_order(registry, frame, tmp_path):
    uri, _, _ = registry
    d = resolve_model_dir(f"models:/{NAME}@champion", tracking_uri=uri)
    queries = frame.sample(600, random_state=5).drop(columns=["runtime_ms", "power_w", "energy_j", "status"],
                                                     errors="ignore").reset_index(drop=True)
    src, out = tmp_path / "q.parquet", tmp_path / "out.parquet"
    queries.to_parquet(src, index=False)
    assert cli_main(["predict", str(src), str(out), "--model", str(d), "--chunk-rows", "97", "--quiet"]) == 0
    got = pd.read_parquet(out)
    want = load_cost_model(d).predict_frame(queries)
    assert got["kernel"].tolist() == queries["kernel"].tolist()
    np.testing.assert_allclose(got[want.columns].to_numpy(float), want.to_numpy(float), rtol=1e-5, atol=1e-6)
    bad = queries.head(3).assign(kernel="rocm.matmul")
    bad.to_parquet(src, index=False)
    assert cli_main(["predict", str(src), str(out), "--model", str(d), "--quiet"]) == 1


def test_compare_granularity_scores_all_routed_and_alone_on_one_split(frame):
    table = compare_granularity(frame, hyperparameters={"num_boost_round": 15}, progress=False)
    assert table["family"].tolist() == sorted(ROUTES) and table.attrs["routes"] == ROUTES
    tiled = table.set_index("family").loc["cuda.tiled_matmul"]
    assert tiled["sub_model"] == "cutlass-gemm" and np.isfinite(tiled["alone.runtime_ms.median_ape"])
    assert np.isfinite(table[["all.runtime_ms.median_ape", "routed.runtime_ms.median_ape"]].to_numpy()).all()
    # a family with a sub-model of its own has no separate "alone" score
    assert np.isnan(table.set_index("family").loc["kerneltuner.convolution", "alone.runtime_ms.median_ape"])


def test_by_all_and_by_family_still_train(frame, tmp_path):
    small = frame[frame["kernel"].isin(["kerneltuner.convolution", "cutlass.gemm"])]
    kw = {"frame": small, "hyperparameters": {"num_boost_round": 10}, "register": False, "progress": False}
    per_family = train_models(by="family", out_dir=tmp_path / "fam", **kw)
    assert [r.name for r in per_family] == ["perfcast-cutlass-gemm", "perfcast-kerneltuner-convolution"]
    assert all(isinstance(load_cost_model(r.model_dir), OnnxCostModel) for r in per_family)
    (single,) = train_models(by="all", out_dir=tmp_path / "all", **kw)
    assert isinstance(load_cost_model(single.model_dir), OnnxCostModel) and single.kernels == sorted(small["kernel"].unique())
    with pytest.raises(ValueError, match="by must be one of routed, all, family"):
        train_models(by="kernel", **kw)


def test_cli_train_defaults_to_routed(frame, tmp_path, capsys):
    store = tmp_path / "store"
    MeasurementStore(store).append(frame[frame["kernel"].isin(["cutlass.gemm", "cuda.tiled_matmul"])])
    out = tmp_path / "out"
    assert cli_main(["train", "--store", str(store), "--no-register", "--out", str(out), "--rounds", "10"]) == 0
    assert "perfcast-default" in capsys.readouterr().out
    model = load_cost_model(out / "perfcast-default")
    assert isinstance(model, RoutedCostModel) and model.kernels == ["cuda.tiled_matmul", "cutlass.gemm"]


def test_single_thread_fits_match_and_keep_the_hyperparameters(frame):
    """Small sub-models fit LightGBM on one thread: they answer like multi-thread fits, and the saved
    hyperparameters are the given ones (the per-fit thread count is not one of them)."""
    from perfcast.training.train import RoutedGBCostModel

    hp = {"num_boost_round": 40, "quantile_boost_round": 20}
    many = RoutedGBCostModel(hp, routes=ROUTES, single_thread_rows=0).fit(frame)
    one = RoutedGBCostModel(hp, routes=ROUTES).fit(frame)  # every sub-model here is below 200,000 rows
    assert many.routes_ == one.routes_ and set(many.models_) == set(one.models_)
    sample = frame.sample(400, random_state=1).reset_index(drop=True)
    a = many.predict(sample)["pred.runtime_ms"].to_numpy()
    b = one.predict(sample)["pred.runtime_ms"].to_numpy()
    ok = np.isfinite(a)
    assert ok.mean() > 0.9 and np.array_equal(ok, np.isfinite(b))
    # LightGBM's histograms sum in another order on 1 thread: equal up to tiny split differences
    assert np.median(np.abs(a[ok] / b[ok] - 1)) < 1e-3
    for model in one.models_.values():
        assert "num_threads" not in model.meta_["hyperparameters"]["params"]
        assert model.meta_["lightgbm_params"]["num_threads"] == 1  # how the fit really ran


def test_worker_processes_fit_the_same_models(frame, monkeypatch, capsys, tmp_path):
    """`n_jobs=2` fits the one-thread sub-models in spawned processes: the same boosters (every
    prediction equal), the same metadata, and the progress lines say where each was fitted. With
    `export_onnx` the workers also build each sub-model's ONNX graph: the same bytes `save` builds
    here, written as they are."""
    import perfcast.training.train as train_mod
    from perfcast.training.train import RoutedGBCostModel

    monkeypatch.setattr(train_mod, "PARALLEL_MIN_ROWS", 0)  # this frame is small: force the processes
    hp = {"num_boost_round": 30, "quantile_boost_round": 15}
    here = RoutedGBCostModel(hp, routes=ROUTES, n_jobs=1).fit(frame)
    spawned = RoutedGBCostModel(hp, routes=ROUTES, n_jobs=2).fit(frame, progress=True, export_onnx=True)
    out = capsys.readouterr().out
    assert "smaller sub-models in 2 processes" in out and "[cutlass-gemm] fitted" in out
    assert set(here.models_) == set(spawned.models_) and len(here.models_) > 1
    for sub, model in here.models_.items():
        other = spawned.models_[sub]
        assert other.meta_["targets"] == model.meta_["targets"] and other.meta_["hyperparameters"] == model.meta_["hyperparameters"]
        assert {k: b.model_to_string() for k, b in other.boosters_.items()} == {k: b.model_to_string() for k, b in model.boosters_.items()}
        assert other._graph is not None and model._graph is None  # built in the worker; here on demand
        assert other.onnx_graph() == model.onnx_graph()
    sample = frame.sample(300, random_state=2).reset_index(drop=True)
    pd.testing.assert_frame_equal(here.predict(sample), spawned.predict(sample))
    assert spawned.get_params()["n_jobs"] == 2
    saved = spawned.save(tmp_path / "spawned")
    sub = next(iter(spawned.models_))
    assert (saved / sub / "model.onnx").read_bytes() == here.models_[sub].onnx_graph()[0]
    spawned.models_[sub].update(frame[frame["kernel"].map(ROUTES).eq(sub)].head(200))
    assert spawned.models_[sub]._graph is None  # boosters changed: the graph is built again


def test_training_rows_of_a_system_named_by_an_alias():
    """`train_models(frame=..., systems=[...])` selects as the store's filter does: `H100` is the registry's
    `NVIDIA H100 80GB HBM3` whichever spelling the rows or the request use; unknown names match as given."""
    from perfcast.training.train import select_rows

    frame = pd.DataFrame({"kernel": ["a.b", "a.b", "c.d", "a.b"],
                          "system": ["NVIDIA H100 80GB HBM3", "RTX_3090", "H100", "Mystery GPU"]})
    assert list(select_rows(frame, systems=["H100"])["kernel"]) == ["a.b", "c.d"]
    picked = select_rows(frame, kernels=["a.b"], systems=["NVIDIA GeForce RTX 3090", "Mystery GPU"])
    assert list(picked["system"]) == ["RTX_3090", "Mystery GPU"]
    assert select_rows(frame).equals(frame)
