"""Target coverage: a model answers a target only for (kernel, system) pairs it has measurements of.

One small real model: AutoHeuristic `triton.matmul` on the A100 (runtime only) + GPPerf CUTLASS
SGEMM on the RTX 4070 (runtime, power and energy). Power/energy must come back for the RTX 4070 rows
and never for the A100 rows, through every prediction path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import read_path

from tests.test_serving_helpers import A100, autoheuristic_triton, query_record, split_problems

CUTLASS_TAR = "gpperf_cutlass/cutlass_profiling_20241111_195357.tar.gz"
TILED_CSV = "gpperf_cutlass/tiled_execution_times_all.csv"  # runtime + power, no energy
RTX4070 = "NVIDIA GeForce RTX 4070"
POWER_TARGETS = ("power_w", "energy_j")


def _cutlass_power_rows(datasets_dir: Path) -> pd.DataFrame:
    """ok CUTLASS rows with measured power (2,595 of 16,128: nvidia-smi says `[N/A]` for the rest)."""
    frame = pd.concat([c.frame for c in read_path(datasets_dir / CUTLASS_TAR)], ignore_index=True)
    frame = frame[(frame["status"] == "ok") & frame["power_w"].notna()]
    return frame.sample(min(len(frame), 1200), random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def frames(datasets_dir: Path) -> dict[str, pd.DataFrame]:
    ah_train, ah_held = split_problems(autoheuristic_triton(datasets_dir))
    ah_train = ah_train.drop(columns=["_problem"], errors="ignore")
    cut = _cutlass_power_rows(datasets_dir)
    assert ah_train[["power_w", "energy_j"]].isna().all().all() if "power_w" in ah_train else True
    tiled = pd.concat([c.frame for c in read_path(datasets_dir / TILED_CSV)], ignore_index=True)
    assert "energy_j" not in tiled or tiled["energy_j"].isna().all()
    both = pd.concat([ah_train, cut, tiled], ignore_index=True, sort=False)
    both = both.drop(columns=[c for c in both.columns if c.startswith("_") or both[c].isna().all()])
    a100 = ah_held.drop(columns=["_problem"], errors="ignore").head(40)
    return {"train": both, "a100": a100, "rtx": cut.head(40), "tiled": tiled[tiled["runtime_ms"].notna()]}


@pytest.fixture(scope="module")
def fitted(frames: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory):
    from perfcast.models import GBCostModel

    model = GBCostModel(feasibility=False, num_boost_round=40, params={"min_data_in_leaf": 5}).fit(frames["train"])
    out = tmp_path_factory.mktemp("coverage") / "model"
    model.save(out)
    return model, out


def _query(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in ("runtime_ms", "power_w", "energy_j") if c in frame.columns])


def test_fit_records_measured_pairs(fitted):
    model, out = fitted
    assert set(model.meta_["targets"]) == {"runtime_ms", "power_w", "energy_j"}
    saved = json.loads((out / "model.json").read_text())["measured_pairs"]
    pairs = {t: {(p["kernel"], p["system"]) for p in items} for t, items in saved.items()}
    assert pairs["runtime_ms"] == {("triton.matmul", A100), ("cutlass.gemm", RTX4070), ("cuda.tiled_matmul", RTX4070)}
    assert pairs["power_w"] == {("cutlass.gemm", RTX4070), ("cuda.tiled_matmul", RTX4070)}
    assert pairs["energy_j"] == {("cutlass.gemm", RTX4070)}
    assert all(p["n_rows"] >= 20 for items in saved.values() for p in items)


def _check_frame(pred_a100: pd.DataFrame, pred_rtx: pd.DataFrame) -> None:
    for t in POWER_TARGETS:
        cols = [c for c in pred_a100.columns if c == f"pred.{t}" or c.startswith(f"pred.{t}.")]
        assert len(cols) == 3
        assert pred_a100[cols].isna().all().all(), t  # no made-up power for a GPU never power-measured
        assert np.isfinite(pred_rtx[cols].to_numpy()).all() and (pred_rtx[f"pred.{t}"] > 0).all(), t
    assert np.isfinite(pred_a100["pred.runtime_ms"]).all() and np.isfinite(pred_rtx["pred.runtime_ms"]).all()


def test_gbm_and_onnx_mask_uncovered(fitted, frames):
    from perfcast.models import GBCostModel, OnnxCostModel

    model, out = fitted
    a100, rtx = _query(frames["a100"]), _query(frames["rtx"])
    _check_frame(model.predict(a100), model.predict(rtx))
    onnx = OnnxCostModel.load(out)
    _check_frame(onnx.predict_frame(a100), onnx.predict_frame(rtx))
    mixed = pd.concat([a100, rtx], ignore_index=True, sort=False)
    pred = onnx.predict_frame(mixed)
    assert pred["pred.power_w"].notna().to_numpy().tolist() == [False] * len(a100) + [True] * len(rtx)
    # a query by alias is the same system
    assert onnx.predict_frame(rtx.assign(system="RTX 4070"))["pred.power_w"].notna().all()
    # loaded through GBCostModel too
    _check_frame(GBCostModel.load(out).predict(a100), GBCostModel.load(out).predict(rtx))


def test_model_without_record_is_covered_everywhere(fitted, frames, tmp_path):
    from perfcast.models import OnnxCostModel
    from perfcast.serving.predictor import Predictor

    _, out = fitted
    old = tmp_path / "old_model"
    shutil.copytree(out, old)
    meta = json.loads((old / "model.json").read_text())
    del meta["measured_pairs"]
    (old / "model.json").write_text(json.dumps(meta))
    pred = OnnxCostModel.load(old).predict_frame(_query(frames["a100"]))
    assert pred["pred.power_w"].notna().all()  # the old behaviour: answered everywhere
    answer = Predictor.load(old).predict([query_record(frames["a100"].iloc[0])])
    assert set(answer[0]) == {"runtime_ms", "power_w", "energy_j"}
    assert Predictor.load(old).measured_on("power_w") == ["*"]


def test_predictor_predict_leaves_out_uncovered(fitted, frames):
    from perfcast.serving.predictor import Predictor

    _, out = fitted
    pred = Predictor.load(out)
    records = [query_record(r) for _, r in frames["a100"].head(5).iterrows()]
    records += [query_record(r) for _, r in frames["rtx"].head(5).iterrows()]
    for _ in range(2):  # second round: every row from the raw-output cache
        answers = pred.predict(records)
        assert [set(a) for a in answers] == [{"runtime_ms"}] * 5 + [{"runtime_ms", "power_w", "energy_j"}] * 5
        assert all(a["power_w"]["q10"] <= a["power_w"]["value"] <= a["power_w"]["q90"] for a in answers[5:])
    only_power = pred.predict(records, targets=["power_w"])
    assert [set(a) for a in only_power] == [set()] * 5 + [{"power_w"}] * 5
    ref = Predictor.load(out).predict(records[5:])
    assert [a["power_w"]["value"] for a in answers[5:]] == pytest.approx([a["power_w"]["value"] for a in ref])


def _rank_args(frame: pd.DataFrame) -> tuple[str, dict, list[dict]]:
    recs = [query_record(r) for _, r in frame.iterrows()]
    problem = recs[0]["problem"]
    cands = [r["params"] for r in recs if r["problem"] == problem]
    return recs[0]["kernel"], problem, cands


def test_predictor_rank(fitted, frames):
    from perfcast.serving.predictor import Predictor, PredictorInputError

    _, out = fitted
    pred = Predictor.load(out)
    kernel, problem, cands = _rank_args(frames["a100"])
    assert len(cands) >= 3
    for top_k in (None, 2):
        ranked = pred.rank(A100, problem, cands, objective="runtime", kernel=kernel, top_k=top_k)
        assert all(set(item["prediction"]) == {"runtime_ms"} for item in ranked)
    for objective in ("energy", "edp"):
        with pytest.raises(PredictorInputError) as err:
            pred.rank("A100", problem, cands, objective=objective, kernel=kernel)
        msg = str(err.value)
        assert "power_w" in msg and "energy_j" in msg and kernel in msg and A100 in msg and RTX4070 in msg
        assert err.value.field == "objective" and f"cutlass.gemm on {RTX4070}" in err.value.known
    kernel, problem, cands = _rank_args(frames["rtx"])
    for top_k in (None, 1):
        ranked = pred.rank(RTX4070, problem, cands, objective="energy", kernel=kernel, top_k=top_k)
        assert all(set(item["prediction"]) == {"runtime_ms", "power_w", "energy_j"} for item in ranked)
        assert ranked[0]["score"] == ranked[0]["prediction"]["energy_j"]["value"]


def test_energy_from_power_where_energy_was_not_measured(fitted, frames):
    from perfcast.serving.predictor import Predictor

    _, out = fitted
    pred = Predictor.load(out)
    tiled = frames["tiled"]
    answers = pred.predict([query_record(r) for _, r in tiled.head(3).iterrows()])
    assert all(set(a) == {"runtime_ms", "power_w"} for a in answers)  # energy_j never measured there
    kernel, problem, cands = _rank_args(tiled)
    ranked = pred.rank(RTX4070, problem, cands, objective="energy", kernel=kernel)
    for item in ranked:  # energy = power_w x runtime_ms / 1000, not the energy_j booster's guess
        p = item["prediction"]
        assert p["energy_j"]["value"] == pytest.approx(p["power_w"]["value"] * p["runtime_ms"]["value"] / 1000)
        assert item["score"] == p["energy_j"]["value"]


def test_http_predict_and_rank(fitted, frames):
    from fastapi.testclient import TestClient
    from perfcast.serving.app import create_app

    _, out = fitted
    records = [query_record(frames["a100"].iloc[0]), query_record(frames["rtx"].iloc[0])]
    with TestClient(create_app(out, reload_interval_s=0)) as client:
        measured_on = client.get("/v1/models").json()["models"][0]["measured_on"]
        assert measured_on["power_w"] == [f"cuda.tiled_matmul on {RTX4070}", f"cutlass.gemm on {RTX4070}"]
        assert f"triton.matmul on {A100}" in measured_on["runtime_ms"]
        r = client.post("/v1/predict", json={"records": records})
        assert r.status_code == 200, r.text
        a100, rtx = r.json()["predictions"]
        assert a100["runtime_ms"]["value"] > 0 and a100["power_w"] is None and a100["energy_j"] is None
        assert rtx["power_w"]["value"] > 0 and rtx["energy_j"]["value"] > 0
        # the nulls say why, once per (kernel, GPU), naming the GPUs that were measured
        (unanswered,) = r.json()["unanswered"]  # targets measured on the same GPUs share one line
        assert unanswered.startswith(f"power_w, energy_j: this model has no power_w or energy_j measurements of "
                                     f"triton.matmul on {A100}")
        r = client.post("/v1/predict", json={"records": [records[1]]})
        assert "unanswered" not in r.json()
        tiled = query_record(frames["tiled"].iloc[0])
        r = client.post("/v1/predict", json={"records": [tiled, records[1], tiled]})
        assert r.json()["unanswered"] == [
            f"energy_j: this model has no energy_j measurements of cuda.tiled_matmul on {RTX4070}; it has them on no GPU"]
        kernel, problem, cands = _rank_args(frames["a100"])
        body = {"kernel": kernel, "system": A100, "problem": problem, "candidates": cands, "objective": "edp"}
        r = client.post("/v1/rank", json=body)
        assert r.status_code == 400, r.text
        assert "energy_j" in r.json()["detail"] and A100 in r.json()["detail"] and kernel in r.json()["detail"]
        r = client.post("/v1/rank", json={**body, "objective": "runtime"})
        assert r.status_code == 200 and all(c["prediction"]["power_w"] is None for c in r.json()["candidates"])
        assert r.json()["unanswered"] == [f"power_w, energy_j: this model has no power_w or energy_j measurements of "
                                          f"{kernel} on {A100}; it has them on no GPU"]


def test_update_of_loaded_model_keeps_old_pairs(fitted, frames):
    from perfcast.models import GBCostModel

    _, out = fitted
    model = GBCostModel.load(out)
    model.update(frames["train"][frames["train"]["kernel"] == "cutlass.gemm"].head(300), rounds=3)
    pairs = {t: {(p["kernel"], p["system"]): p["n_rows"] for p in items} for t, items in model.meta_["measured_pairs"].items()}
    old = {t: {(p["kernel"], p["system"]): p["n_rows"] for p in items}
           for t, items in GBCostModel.load(out).meta_["measured_pairs"].items()}  # fmt: skip
    assert pairs["runtime_ms"][("triton.matmul", A100)] == old["runtime_ms"][("triton.matmul", A100)]
    assert pairs["power_w"][("cutlass.gemm", RTX4070)] == old["power_w"][("cutlass.gemm", RTX4070)] + 300
    assert model.predict(_query(frames["a100"]))["pred.power_w"].isna().all()
