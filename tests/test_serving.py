"""`perfcast.Predictor`: predict and rank on real models trained on real measurements."""

# ruff: noqa: F811  (pytest fixtures imported from test_serving_helpers are "redefined" as arguments)
from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.models import OnnxCostModel
from perfcast.serving.predictor import Predictor, PredictorInputError, UnknownNameError
from scipy import stats
from test_serving_helpers import (  # noqa: F401 (fixtures)
    A100,
    ah_frames,
    power_model_dir,
    query_record,
    runtime_model_dir,
)

import perfcast


@pytest.fixture(scope="module")
def predictor(runtime_model_dir: Path) -> Predictor:
    return perfcast.Predictor.load(runtime_model_dir)


@pytest.fixture(scope="module")
def heldout(ah_frames: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return ah_frames[1]


def test_predict_matches_the_onnx_model_and_has_ordered_intervals(predictor: Predictor, heldout: pd.DataFrame,
                                                                  runtime_model_dir: Path) -> None:  # fmt: skip
    rows = heldout.head(50)
    records = [query_record(r) for _, r in rows.iterrows()]
    got = predictor.predict(records)
    assert len(got) == 50 and all(set(p) == {"runtime_ms"} for p in got)
    # the fast path (feature cache + numpy unit mapping) must agree with the model's own predict_frame
    ref = OnnxCostModel.load(runtime_model_dir).predict_frame(rows.drop(columns=["runtime_ms", "_problem"]))
    np.testing.assert_allclose([p["runtime_ms"]["value"] for p in got], ref["pred.runtime_ms"], rtol=1e-6)
    np.testing.assert_allclose([p["runtime_ms"]["q10"] for p in got], ref["pred.runtime_ms.q10"], rtol=1e-6)
    np.testing.assert_allclose([p["runtime_ms"]["q90"] for p in got], ref["pred.runtime_ms.q90"], rtol=1e-6)
    for p in got:
        r = p["runtime_ms"]
        assert 0 < r["q10"] <= r["value"] <= r["q90"]
    # a second call hits the feature cache and answers the same
    assert predictor.predict(records) == got
    # one record per call (features by the scalar row path, units mapped on np.float64 scalars) gives
    # exactly the batch's numbers; a fresh predictor, so nothing comes from the cache
    fresh = Predictor.load(runtime_model_dir)
    assert [fresh.predict([r])[0] for r in records[:20]] == got[:20]


def test_predictions_track_real_runtimes_on_unseen_problems(predictor: Predictor, heldout: pd.DataFrame) -> None:
    records = [query_record(r) for _, r in heldout.iterrows()]
    pred = np.array([p["runtime_ms"]["value"] for p in predictor.predict(records)])
    rho = stats.spearmanr(pred, heldout["runtime_ms"]).statistic
    assert rho > 0.6, rho


def test_rank_sorts_by_runtime_and_agrees_with_predict(predictor: Predictor, heldout: pd.DataFrame) -> None:
    problem_rows = heldout[heldout["_problem"] == heldout["_problem"].iloc[0]]
    first = query_record(problem_rows.iloc[0])
    candidates = [query_record(r)["params"] for _, r in problem_rows.iterrows()]
    ranked = predictor.rank(A100, first["problem"], candidates)
    assert sorted(item["index"] for item in ranked) == list(range(len(candidates)))
    scores = [item["score"] for item in ranked]
    assert scores == sorted(scores)
    best = ranked[0]
    assert best["params"] == candidates[best["index"]]
    again = predictor.predict([{**first, "params": best["params"]}])[0]["runtime_ms"]
    assert again["value"] == pytest.approx(best["score"]) == pytest.approx(best["prediction"]["runtime_ms"]["value"])
    # top_k scores the point model only, then intervals for the k best: the same answer as a full rank
    # (a fresh Predictor takes that path; the warm one answers from its cache of graph outputs)
    fresh = Predictor.load(predictor.meta.directory)
    assert fresh.rank(A100, first["problem"], candidates, top_k=5) == ranked[:5]
    assert predictor.rank(A100, first["problem"], candidates, top_k=5) == ranked[:5]
    assert fresh.rank(A100, first["problem"], candidates) == ranked  # partly cached, partly not
    # the model's top 5 is better than a random 5 of the measured configs
    measured = problem_rows["runtime_ms"].to_numpy()
    top5 = measured[[item["index"] for item in ranked[:5]]]
    assert top5.min() <= np.median(measured)


def test_rank_keys_candidates_by_their_names_whatever_their_order(predictor: Predictor, heldout: pd.DataFrame) -> None:
    """Candidates whose params come in another key order, or with one more name, are keyed and
    featurized by name: their answers equal `predict` of each as a record."""
    problem_rows = heldout[heldout["_problem"] == heldout["_problem"].iloc[1]].head(40)
    first = query_record(problem_rows.iloc[0])
    candidates = [query_record(r)["params"] for _, r in problem_rows.iterrows()]
    shuffled = [dict(reversed(c.items())) if i % 2 else c for i, c in enumerate(candidates)]
    extra = [{**c, "unused_knob": i} if i == 3 else c for i, c in enumerate(candidates)]
    for cands in (shuffled, extra):
        ranked = Predictor.load(predictor.meta.directory).rank(A100, first["problem"], cands)
        singles = Predictor.load(predictor.meta.directory).predict([{**first, "params": c} for c in cands])
        for item in ranked:
            assert item["params"] == cands[item["index"]]
            want = singles[item["index"]]
            assert set(item["prediction"]) == set(want)
            for t, got in item["prediction"].items():
                assert got == pytest.approx(want[t], rel=1e-6)


def test_unknown_system_and_kernel_list_what_is_known(predictor: Predictor) -> None:
    record = {"kernel": "triton.matmul", "system": "GeForce 256", "params": {}, "problem": {}}
    with pytest.raises(UnknownNameError) as err:
        predictor.predict([record])
    assert err.value.field == "records.0.system" and A100 in err.value.known
    with pytest.raises(UnknownNameError) as err:
        predictor.predict([{**record, "system": "A100", "kernel": "cublas.matmul"}])
    assert err.value.known == ["triton.matmul"]
    with pytest.raises(PredictorInputError, match="needs energy_j or power_w"):
        predictor.rank("A100", {"M": 64, "N": 64, "K": 64, "dtype": "fp16"}, [{"BLOCK_M": 16}], objective="energy")
    with pytest.raises(PredictorInputError, match="unknown objective"):
        predictor.rank("A100", {}, [{}], objective="speed")


def test_a_query_means_what_a_stored_measurement_means(predictor: Predictor, heldout: pd.DataFrame) -> None:
    """Spellings the store normalises (`half`, `T`, `4096.0`) answer as their canonical form does (the
    model only saw canonical values: `half` was an unknown dtype category before and answered 2% off);
    values the store would quarantine are a 400 naming the field, in `predict` and in `rank`."""
    record = query_record(heldout.iloc[0])
    params = record["params"]
    other_spelling = {"row": " Row_Major", "col": "Column"}
    spelled = {**record, "problem": {**record["problem"], "dtype": " Half ", "M": float(record["problem"]["M"]),
                                     **{k: other_spelling[record["problem"][k]] for k in ("a_layout", "b_layout")}}}
    assert record["problem"]["dtype"] == "fp16"
    canonical, aliased = predictor.predict([record, spelled])
    assert aliased == canonical
    ranked = predictor.rank(record["system"], spelled["problem"], [params])
    assert ranked[0]["prediction"] == canonical
    for field, value in (("M", -5), ("M", 0), ("K", 64.5), ("N", "big"), ("dtype", "fp99"), ("a_layout", "diagonal")):
        bad = {**record["problem"], field: value}
        with pytest.raises(PredictorInputError) as err:
            predictor.predict([record, {**record, "problem": bad}])
        assert err.value.field == f"records.1.problem.{field}" and repr(value) in str(err.value)
        with pytest.raises(PredictorInputError) as err:
            predictor.rank(record["system"], bad, [params])
        assert err.value.field == f"problem.{field}"
    for key, value in (("BLOCK_M", -64), ("num_warps", 0), ("BLOCK_K", 16.5)):  # counts: positive integers
        bad_params = {**params, key: value}
        with pytest.raises(PredictorInputError) as err:
            predictor.predict([record, {**record, "params": bad_params}])
        assert err.value.field == f"records.1.params.{key}" and repr(value) in str(err.value)
        with pytest.raises(PredictorInputError) as err:
            predictor.rank(record["system"], record["problem"], [params, bad_params])
        assert err.value.field == f"candidates.1.{key}" and repr(value) in str(err.value)
    without_m = {k: v for k, v in record["problem"].items() if k != "M"}
    with pytest.raises(PredictorInputError, match="problem.M missing"):
        predictor.predict([{**record, "problem": without_m}])


def test_energy_and_edp_objectives_from_power_times_runtime(power_model_dir: Path) -> None:
    pred = Predictor.load(power_model_dir)
    assert pred.targets == ("runtime_ms", "power_w")
    problem = {"M": 2048, "N": 2048, "K": 2048, "dtype": "fp32", "a_layout": "row", "b_layout": "row"}
    candidates = [{"TILE": t} for t in (1, 4, 8, 16, 32)]
    by_energy = pred.rank("RTX 4070", problem, candidates, objective="energy")
    by_edp = pred.rank("RTX 4070", problem, candidates, objective="edp")
    for item in by_energy:
        p = item["prediction"]
        assert item["score"] == pytest.approx(p["power_w"]["value"] * p["runtime_ms"]["value"] / 1000)
        assert p["energy_j"]["value"] == pytest.approx(item["score"])
    for item in by_edp:
        p = item["prediction"]
        assert item["score"] == pytest.approx(p["energy_j"]["value"] * p["runtime_ms"]["value"])
    assert [i["score"] for i in by_energy] == sorted(i["score"] for i in by_energy)


def test_concurrent_predictions_agree(predictor: Predictor, heldout: pd.DataFrame) -> None:
    records = [query_record(r) for _, r in heldout.head(200).iterrows()]
    expected = predictor.predict(records)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(offset, 200, 4):
                assert predictor.predict([records[i]])[0] == expected[i]
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_serving_path_imports_neither_mlflow_nor_lightgbm(runtime_model_dir: Path) -> None:
    code = (
        "import sys, perfcast\n"
        f"p = perfcast.Predictor.load({str(runtime_model_dir)!r})\n"
        "import perfcast.serving.app\n"
        "bad = [m for m in ('mlflow', 'lightgbm', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_load_rejects_what_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Predictor.load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="not a perfcast model directory"):
        Predictor.load(tmp_path)


def test_registry_alias_is_served_and_followed(runtime_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`models:/name@champion` in a real MLflow sqlite registry: loaded, and a moved alias is swapped in."""
    from perfcast.serving.app import ModelHolder
    from perfcast.training import registry

    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("PERFCAST_MODEL_CACHE", str(tmp_path / "cache"))
    from mlflow import MlflowClient

    # explicit URI: an earlier test in this process may have set mlflow's global tracking URI
    client = MlflowClient(tracking_uri=tracking_uri)
    client.create_registered_model("perfcast-test")
    v1 = client.create_model_version("perfcast-test", source=str(runtime_model_dir)).version
    client.set_registered_model_alias("perfcast-test", "champion", v1)
    uri = "models:/perfcast-test@champion"
    pred = Predictor.load(uri)
    assert pred.version == f"perfcast-test/{v1}" and pred.meta.aliases == ("champion",)
    assert pred.meta.name == "perfcast-test"
    holder = ModelHolder(pred, uri)
    assert holder.reload() == (False, pred.version, pred.version)
    other = tmp_path / "v2"
    shutil.copytree(runtime_model_dir, other)
    v2 = client.create_model_version("perfcast-test", source=str(other)).version
    registry.set_alias("perfcast-test", "champion", v2)
    swapped, old, new = holder.reload()
    assert swapped and old == f"perfcast-test/{v1}" and new == f"perfcast-test/{v2}"
    assert holder.predictor.meta.directory == registry.resolve_model_dir(uri)


def test_multi_kernel_model_needs_the_kernel_and_the_example_request_works(ah_frames: tuple, datasets_dir: Path,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    """A model of several kernel families (the quickstart trains a routed one): rank asks for `kernel`; the printed
    example runs."""
    from perfcast.measurements.ingest import read_path
    from perfcast.serving.cli import example_rank_body
    from test_serving_helpers import TILED_CSV, _train

    tiled = pd.concat([c.frame for c in read_path(datasets_dir / TILED_CSV)], ignore_index=True)
    frame = pd.concat([ah_frames[0].head(1500), tiled], ignore_index=True)
    pred = Predictor.load(_train(frame, tmp_path / "multi", num_boost_round=20, params={"min_data_in_leaf": 5}))
    assert pred.meta.kernels == ("cuda.tiled_matmul", "triton.matmul")
    with pytest.raises(PredictorInputError, match="`kernel` is required") as err:
        pred.rank("A100", {}, [{}])
    assert err.value.known == ["cuda.tiled_matmul", "triton.matmul"]
    body = example_rank_body(pred)
    assert body["kernel"] == "triton.matmul" and body["system"] == A100 and len(body["candidates"]) == 8
    ranked = pred.rank(body["system"], body["problem"], body["candidates"], top_k=body["top_k"], kernel=body["kernel"])
    assert len(ranked) == 3 and ranked[0]["score"] > 0
