"""`Predictor` and the HTTP service on a routed model directory (one sub-model per kernel family).

The routed directory and the mixed-family queries are test_routed.py's fixtures (two small real
per-family models: AutoHeuristic A100 `triton.matmul` + `cublas.matmul` sharing one sub-model, GPPerf
CUTLASS on the RTX 4070 with power). Each record and each rank must be answered exactly as its
family's sub-model answers it, in the records' order.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_routed are "redefined" as arguments)
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from perfcast.models import OnnxCostModel
from perfcast.serving.app import ModelHolder, create_app
from perfcast.serving.predictor import Predictor, PredictorInputError, UnknownNameError
from test_routed import ROUTES, frames, queries, routed_dir  # noqa: F401 (fixtures)
from test_serving_helpers import query_record

RTX4070 = "NVIDIA GeForce RTX 4070"


def _records(pred: Predictor, rows: pd.DataFrame) -> list[dict]:
    """Query records of `rows`, with null for each field the kernel's features read that a row lacks."""
    out = []
    for _, row in rows.iterrows():
        record = query_record(row)
        for name in pred.inputs(record["kernel"]):
            section, dot, field = name.partition(".")
            if dot and section in ("params", "problem"):
                record[section].setdefault(field, None)
        out.append(record)
    return out


def _one_problem(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the problem (system + problem fields) with the most configs."""
    cols = ["system", *(c for c in rows.columns if c.startswith("problem."))]
    key = pd.Series(["|".join(map(str, values)) for values in rows[cols].itertuples(index=False)], index=rows.index)
    return rows[key == key.value_counts().index[0]]


@pytest.fixture(scope="module")
def pred(routed_dir: Path) -> Predictor:
    return Predictor.load(routed_dir)


def test_routed_predictor_has_one_engine_per_sub_model(pred: Predictor, routed_dir: Path) -> None:
    assert pred.routed and pred.meta.kernels == tuple(sorted(ROUTES))
    assert pred.engine("triton.matmul") is pred.engine("cublas.matmul")
    assert pred.engine("cutlass.gemm") is not pred.engine("triton.matmul")
    assert dict(pred.meta.routes) == ROUTES
    versions = {sub: OnnxCostModel.load(routed_dir / sub).schema.version for sub in set(ROUTES.values())}
    assert dict(pred.meta.feature_schema_versions) == {k: versions[sub] for k, sub in ROUTES.items()}
    assert pred.meta.feature_schema_version is None  # one version per family, not one for the model
    # each family's inputs are its own sub-model's (CUTLASS reads its kernel name, Triton its tiles)
    assert "params.BLOCK_M" in pred.inputs("triton.matmul") and "params.BLOCK_M" not in pred.inputs("cutlass.gemm")
    assert pred.measured_on("power_w") == [f"cutlass.gemm on {RTX4070}"]
    assert pred.covers("power_w", "cutlass.gemm", RTX4070) and not pred.covers("power_w", "triton.matmul", RTX4070)


def test_mixed_kernel_predict_equals_each_sub_model_in_record_order(pred: Predictor, routed_dir: Path,
                                                                    queries: pd.DataFrame) -> None:  # fmt: skip
    rows = queries.head(120)  # both families interleaved (shuffled by the fixture)
    assert rows["kernel"].nunique() == 3
    records = _records(pred, rows)
    got = pred.predict(records)
    assert len(got) == len(records)
    for sub in set(ROUTES.values()):
        single = OnnxCostModel.load(routed_dir / sub)
        mask = rows["kernel"].map(ROUTES).eq(sub).to_numpy()
        want = single.predict_frame(rows[mask])
        positions = np.flatnonzero(mask)
        for target in single.targets:
            for suffix, key in (("", "value"), (".q10", "q10"), (".q90", "q90")):
                have = np.array([got[i][target][key] for i in positions])
                np.testing.assert_allclose(have, want[f"pred.{target}{suffix}"].to_numpy(float), rtol=1e-6)
    # the AutoHeuristic family has no power measurements: its records carry no power_w at all
    kernels = rows["kernel"].tolist()
    assert all(("power_w" in g) == (k == "cutlass.gemm") for g, k in zip(got, kernels, strict=True))
    # one record at a time (the one-row feature path) answers the same as the batch
    for i in (0, 1, 2, 50):
        one = Predictor.load(routed_dir).predict([records[i]])[0]
        assert one.keys() == got[i].keys()
        for t in one:
            assert one[t]["value"] == pytest.approx(got[i][t]["value"], rel=1e-9)
    # cached answers (a second call) are the same
    assert pred.predict(records) == got
    # targets= picks outputs per family: power only where a family has it
    only = pred.predict(records[:20], targets=["power_w"])
    assert all(set(o) == ({"power_w"} if k == "cutlass.gemm" else set()) for o, k in zip(only, kernels[:20], strict=True))


def test_rank_uses_the_kernels_sub_model(pred: Predictor, routed_dir: Path, frames: dict) -> None:
    same = _one_problem(frames["cutlass-gemm"]).head(40)
    assert len(same) >= 5
    records = _records(pred, same)
    ranked = pred.rank(RTX4070, records[0]["problem"], [r["params"] for r in records], kernel="cutlass.gemm")
    want = OnnxCostModel.load(routed_dir / "cutlass-gemm").predict_frame(same)["pred.runtime_ms"].to_numpy()
    assert [r["index"] for r in ranked] == list(np.lexsort((np.arange(len(want)), want)))
    np.testing.assert_allclose([r["score"] for r in ranked], np.sort(want), rtol=1e-6)
    assert {"runtime_ms", "power_w", "energy_j"} <= set(ranked[0]["prediction"])
    energy = pred.rank(RTX4070, records[0]["problem"], [r["params"] for r in records], kernel="cutlass.gemm",
                       objective="energy", top_k=3)  # fmt: skip
    assert len(energy) == 3 and energy[0]["score"] <= energy[-1]["score"]

    ah = frames["autoheuristic"]
    group = _one_problem(ah[ah["kernel"] == "triton.matmul"])
    recs = _records(pred, group)
    ranked = pred.rank(recs[0]["system"], recs[0]["problem"], [r["params"] for r in recs], kernel="triton.matmul", top_k=3)
    want = OnnxCostModel.load(routed_dir / "autoheuristic").predict_frame(group)["pred.runtime_ms"].to_numpy()
    np.testing.assert_allclose([r["score"] for r in ranked], np.sort(want)[:3], rtol=1e-6)
    assert set(ranked[0]["prediction"]) == {"runtime_ms"}
    # the Triton sub-model has no power: an energy rank is refused, naming what is missing
    with pytest.raises(PredictorInputError, match="energy_j or power_w"):
        pred.rank(recs[0]["system"], recs[0]["problem"], [r["params"] for r in recs], kernel="triton.matmul", objective="energy")
    with pytest.raises(UnknownNameError, match="rocm.matmul"):
        pred.rank(RTX4070, {}, [{}], kernel="rocm.matmul")
    with pytest.raises(PredictorInputError, match="kernel"):
        pred.rank(RTX4070, {}, [{}])  # several families: the kernel must be named


def test_http_on_a_routed_model(routed_dir: Path, queries: pd.DataFrame) -> None:
    pred = Predictor.load(routed_dir)
    client = TestClient(create_app(routed_dir, reload_interval_s=0))
    info = client.get("/v1/models").json()["models"][0]
    assert info["kernels"] == sorted(ROUTES) and info["routes"] == ROUTES
    assert set(info["feature_schema_versions"]) == set(ROUTES) and info["feature_schema_version"] is None
    assert info["measured_on"]["power_w"] == [f"cutlass.gemm on {RTX4070}"]
    assert set(info["inputs"]) == set(ROUTES) and info["targets"] == ["runtime_ms", "power_w", "energy_j"]
    records = _records(pred, queries.head(30))
    body = client.post("/v1/predict", json={"records": records})
    assert body.status_code == 200, body.text
    answers = body.json()["predictions"]
    want = pred.predict(records)
    assert [a["runtime_ms"]["value"] for a in answers] == pytest.approx([w["runtime_ms"]["value"] for w in want], rel=1e-9)
    assert [a.get("power_w") is not None for a in answers] == ["power_w" in w for w in want]
    bad = client.post("/v1/predict", json={"records": [{**records[0], "kernel": "rocm.matmul"}]})
    assert bad.status_code == 400 and "cutlass.gemm" in bad.json()["known"]


def test_reload_swaps_a_routed_model_atomically(routed_dir: Path, queries: pd.DataFrame) -> None:
    holder = ModelHolder(Predictor.load(routed_dir), str(routed_dir))
    before = holder.predictor
    records = _records(before, queries.head(10))
    answer = before.predict(records)
    swapped, old, new = holder.reload(force=True)
    assert swapped and holder.predictor is not before and old == new  # same directory, same version
    assert holder.predictor.predict(records) == answer
    assert before.predict(records) == answer  # a request still holding the old predictor finishes on it
