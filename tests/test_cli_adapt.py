"""`perfcast adapt` end to end on real Kernel Tuner GEMM caches: store -> adapted model -> `perfcast predict`."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.store import MeasurementStore
from perfcast.models import GBCostModel
from perfcast.models.routed import load_cost_model, write_routed_dir
from perfcast.models.transfer import TransferCostModel
from perfcast.serving.cli import example_rank_body
from perfcast.serving.predictor import Predictor, PredictorInputError
from perfcast.training.cli_adapt import default_name
from perfcast.training.registry import current_version, resolve_model_dir
from test_serving_helpers import query_record

from perfcast.cli import main as cli_main

warnings.filterwarnings("ignore", category=UserWarning)

TARGET = "NVIDIA GeForce RTX 3090"
BASE = {"params": {"num_leaves": 31, "min_data_in_leaf": 5, "learning_rate": 0.1, "num_threads": 1},
        "num_boost_round": 80, "quantile_boost_round": 10}


@pytest.fixture(scope="module")
def setup(kt_gemm_sample, tmp_path_factory):
    """A base model of two Turing GPUs (saved), a store holding 300 of the 3090's configs, the rest to predict."""
    f = kt_gemm_sample(1200, 2)
    tmp = tmp_path_factory.mktemp("adapt")
    base_dir = GBCostModel(**BASE).fit(f[f["system"] != TARGET].reset_index(drop=True)).save(tmp / "base")
    target = f[f["system"] == TARGET].sample(frac=1.0, random_state=0).reset_index(drop=True)
    store = MeasurementStore(tmp / "store")
    store.append(target.iloc[:300])
    return tmp, base_dir, store, target.iloc[300:].reset_index(drop=True)


def test_adapt_saves_a_model_perfcast_predict_uses(setup, capsys):
    tmp, base_dir, store, rest = setup
    out = tmp / "adapted"
    rc = cli_main(["adapt", "--system", TARGET, "--base", str(base_dir), "--store", str(store.root),
                   "--out", str(out), "--no-register"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "held-out" in printed and "median APE" in printed and "80% interval coverage 0." in printed
    assert f"--model {out}" in printed and f"perfcast serve --model {out}" in printed
    model = load_cost_model(out)
    assert isinstance(model, TransferCostModel) and model.n_target_rows_ == 300
    assert model.sources_ == ["NVIDIA GeForce RTX 2080 Ti", "NVIDIA TITAN RTX"]
    queries = rest.drop(columns=["runtime_ms", "runtime_ms_samples", "status"])
    src, dst = tmp / "queries.parquet", tmp / "pred.parquet"
    queries.to_parquet(src, index=False)
    assert cli_main(["predict", str(src), str(dst), "--model", str(out), "--quiet"]) == 0
    pred = pd.read_parquet(dst)
    assert len(pred) == len(rest) and list(pred["params.MWG"]) == list(rest["params.MWG"])
    ape = np.abs(pred["pred.runtime_ms"].to_numpy() / rest["runtime_ms"].to_numpy() - 1)
    assert np.median(ape) < 0.10  # the adapted model, not the Turing base (the 3090 is ~2x faster)
    # with its cross-conformal 80% interval, which covers about 80% of the 3090's unseen configs
    inside = (pred["pred.runtime_ms.q10"] <= rest["runtime_ms"]) & (rest["runtime_ms"] <= pred["pred.runtime_ms.q90"])
    assert 0.7 <= inside.mean() <= 0.9, inside.mean()


def test_the_service_answers_an_adaptation(setup, capsys):
    """`Predictor` (what `perfcast serve` and the autotuner adapters run) loads a saved adaptation:
    predict and rank for the new GPU with intervals, the same numbers as the model itself."""
    tmp, base_dir, store, rest = setup
    saved = TransferCostModel(TARGET, base=str(base_dir), n_bags=2).fit(store.read()).save(tmp / "served")
    predictor = Predictor.load(saved)
    assert predictor.targets == ("runtime_ms",) and predictor.version.startswith("sha-")
    assert predictor.measured_on("runtime_ms") == [f"{rest['kernel'].iloc[0]} on {TARGET}"]
    rows = rest.head(200)
    records = [query_record(r) for _, r in rows.iterrows()]
    got = predictor.predict(records)
    ref = TransferCostModel.load(saved).predict_frame(rows.drop(columns=["runtime_ms", "runtime_ms_samples", "status"]))
    for key, column in (("value", "pred.runtime_ms"), ("q10", "pred.runtime_ms.q10"), ("q90", "pred.runtime_ms.q90")):
        np.testing.assert_allclose([p["runtime_ms"][key] for p in got], ref[column], rtol=1e-9)
    assert all(0 < p["runtime_ms"]["q10"] < p["runtime_ms"]["value"] < p["runtime_ms"]["q90"] for p in got)
    assert predictor.predict(records) == got  # the second time from the cached inputs
    # rank: the 200 candidates by predicted runtime, the best one the same as predict says
    ranked = predictor.rank(TARGET, records[0]["problem"], [r["params"] for r in records])
    assert [item["score"] for item in ranked] == sorted(p["runtime_ms"]["value"] for p in got)
    best = ranked[0]
    assert best["prediction"]["runtime_ms"] == got[best["index"]]["runtime_ms"]
    assert ranked[:5] == predictor.rank(TARGET, records[0]["problem"], [r["params"] for r in records], top_k=5)
    # the example `perfcast serve` prints ranks on the adapted GPU, and runs
    body = example_rank_body(predictor)
    measured = store.read()
    fastest = measured.nsmallest(8, "runtime_ms")
    assert body["system"] == TARGET and body["problem"]["dtype"] == measured["problem.dtype"].iloc[0] == "fp32"
    assert [c["MWG"] for c in body["candidates"]] == fastest["params.MWG"].tolist()  # its 8 fastest measured
    json.dumps(body)  # plain JSON values
    assert len(predictor.rank(body["system"], body["problem"], body["candidates"], top_k=3, kernel=body["kernel"])) == 3
    # the adaptation knows one GPU: another is a clear error, not the base's guess
    with pytest.raises(PredictorInputError, match="no such measurements of kernel .* on system 'NVIDIA TITAN RTX'"):
        predictor.rank("NVIDIA TITAN RTX", records[0]["problem"], [r["params"] for r in records])
    with pytest.raises(PredictorInputError, match="needs energy_j or power_w"):
        predictor.rank(TARGET, records[0]["problem"], [r["params"] for r in records], objective="energy")
    # and over HTTP
    from fastapi.testclient import TestClient  # noqa: PLC0415
    from perfcast.serving.app import create_app  # noqa: PLC0415

    with TestClient(create_app(saved, reload_interval_s=0)) as client:
        answer = client.post("/v1/predict", json={"records": records[:3]})
        assert answer.status_code == 200, answer.text
        assert [p["runtime_ms"] for p in answer.json()["predictions"]] == [p["runtime_ms"] for p in got[:3]]
        info = client.get("/v1/models").json()["models"][0]
        assert info["targets"] == ["runtime_ms"] and info["metrics"]["n_target_rows"] == 300
        # the reload check (every 30 s in `perfcast serve`) reads the directory's version: unchanged
        reload = client.post("/v1/admin/reload")
        assert reload.status_code == 200 and reload.json()["reloaded"] is False, reload.text
    assert current_version(saved).startswith("dir:")
    # evaluate refits a model's hyperparameters per split: an adaptation has none, and says so
    assert cli_main(["evaluate", "--suite", "sgemm_config", "--model", str(saved), "--quick"]) == 2
    assert "is an adaptation to a new GPU (perfcast adapt): no family hyperparameters" in capsys.readouterr().err
    # predicting loads onnxruntime only, as for any served model
    code = ("import sys, json, perfcast\n"
            f"p = perfcast.Predictor.load({str(saved)!r})\n"
            f"assert p.predict(json.loads({json.dumps(json.dumps(records[:2]))}))[0]['runtime_ms']['q90'] > 0\n"
            "bad = [m for m in ('mlflow', 'lightgbm', 'sklearn', 'torch') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_adapt_logs_and_registers_in_mlflow(setup, capsys, monkeypatch):
    tmp, base_dir, store, rest = setup
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    rc = cli_main(["adapt", "--system", TARGET, "--base", str(base_dir), "--store", str(store.root)])
    printed = capsys.readouterr().out
    name = default_name(TARGET)
    assert rc == 0 and name == "perfcast-adapt-nvidia-geforce-rtx-3090" and f"models:/{name}/1" in printed
    registered = resolve_model_dir(f"models:/{name}@champion", tracking_uri=uri)
    assert isinstance(load_cost_model(registered), TransferCostModel)
    import mlflow  # noqa: PLC0415

    run = mlflow.MlflowClient(tracking_uri=uri).search_runs(
        [mlflow.get_experiment_by_name("perfcast").experiment_id])[0]
    assert run.data.tags["perfcast.kind"] == "transfer" and run.data.params["system"] == TARGET
    assert 0 < run.data.metrics["test.runtime_ms.median_ape"] < 10
    queries = rest.head(50).drop(columns=["runtime_ms", "runtime_ms_samples", "status"])
    queries.to_parquet(tmp / "q.parquet", index=False)
    assert cli_main(["predict", str(tmp / "q.parquet"), str(tmp / "p.csv"), "--model", f"models:/{name}@champion",
                     "--quiet"]) == 0
    assert len(pd.read_csv(tmp / "p.csv")) == 50
    # a second adaptation (e.g. after more measurements) is the challenger; promote keeps the champion
    # unless forced: adaptations share no frozen split to compare on
    assert cli_main(["adapt", "--system", TARGET, "--base", str(base_dir), "--store", str(store.root),
                     "--holdout", "0"]) == 0
    assert f"models:/{name}/2" in capsys.readouterr().out
    assert cli_main(["promote", "--model", name]) == 0
    assert "kept — adaptations to a new GPU" in capsys.readouterr().out
    assert cli_main(["promote", "--model", name, "--force", "more measurements"]) == 0
    assert current_version(f"models:/{name}@champion", tracking_uri=uri) == f"{name}/2"


def test_adapt_takes_a_registered_alias(setup, capsys):
    """`--system RTX_3090` finds the rows ingest stored under the registry's name, and names the model by it."""
    tmp, base_dir, store, _ = setup
    out = tmp / "by-alias"
    rc = cli_main(["adapt", "--system", "RTX_3090", "--base", str(base_dir), "--store", str(store.root),
                   "--out", str(out), "--holdout", "0", "--no-register"])
    printed = capsys.readouterr().out
    assert rc == 0 and printed.startswith(f"{TARGET}: adapted from ") and "on 300 measurements" in printed
    assert json.loads((out / "transfer.json").read_text())["system"] == TARGET


def test_adapt_fails_clearly(setup, capsys):
    tmp, base_dir, store, _ = setup
    rc = cli_main(["adapt", "--system", "NVIDIA A100", "--base", str(base_dir), "--store", str(store.root),
                   "--out", str(tmp / "x")])
    assert rc == 1 and "no measurements of system 'NVIDIA A100' (NVIDIA A100-SXM4-80GB)" in capsys.readouterr().err
    rc = cli_main(["adapt", "--system", TARGET, "--base", str(tmp / "missing"), "--store", str(store.root),
                   "--out", str(tmp / "y"), "--holdout", "0", "--no-register"])
    assert rc == 1 and "perfcast adapt:" in capsys.readouterr().err
    assert not (tmp / "y").exists()
    assert cli_main(["adapt", "--system", TARGET, "--store", str(store.root), "--no-register"]) == 2
    assert "--no-register needs --out" in capsys.readouterr().err


def test_the_service_routes_an_adaptation_of_several_families(h100_h200_frame, tmp_path):
    """A routed base (a sub-model per kernel family, as `perfcast train` registers) adapted to the H200
    on two families: records of both, interleaved, answered through each family's base sub-model."""
    f = h100_h200_frame
    f = f[f["kernel"].isin(["triton.layernorm", "triton.softmax"]) & f["status"].eq("ok")]
    f = f.drop(columns=[c for c in f.columns if c.startswith("ir.")]).reset_index(drop=True)
    h100, h200 = f[f["system"] != "NVIDIA H200"], f[f["system"] == "NVIDIA H200"].sample(frac=1.0, random_state=0)
    routes = {}
    for kernel in ("triton.layernorm", "triton.softmax"):
        rows = h100[h100["kernel"] == kernel].reset_index(drop=True)
        GBCostModel(params={"num_leaves": 15, "num_threads": 1}, num_boost_round=40,
                    quantile_boost_round=10).fit(rows).save(tmp_path / "base" / kernel.split(".")[1])
        routes[kernel] = kernel.split(".")[1]
    write_routed_dir(tmp_path / "base", routes)
    saved = TransferCostModel("NVIDIA H200", base=str(tmp_path / "base"), n_bags=1).fit(h200.iloc[:300]) \
        .save(tmp_path / "adapted")
    rest = h200.iloc[300:500].reset_index(drop=True)
    assert rest["kernel"].nunique() == 2
    predictor = Predictor.load(saved)
    got = predictor.predict([query_record(r) for _, r in rest.iterrows()])
    ref = TransferCostModel.load(saved).predict_frame(rest.drop(columns=["runtime_ms", "runtime_ms_samples", "status"]))
    np.testing.assert_allclose([p["runtime_ms"]["value"] for p in got], ref["pred.runtime_ms"], rtol=1e-9)
    np.testing.assert_allclose([p["runtime_ms"]["q90"] for p in got], ref["pred.runtime_ms.q90"], rtol=1e-9)
