"""Routed model directories: one sub-model per kernel family behind one directory (`perfcast.models.routed`).

Two small real per-family models: AutoHeuristic A100 matmul problems (`triton.matmul` + `cublas.matmul`,
runtime only, sharing one sub-directory) and GPPerf CUTLASS on the RTX 4070 (`cutlass.gemm`, runtime
and power). The routed model must answer each row exactly as its family's sub-model does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import read_path
from perfcast.models import GBCostModel, OnnxCostModel
from perfcast.models.routed import (
    ROUTES_FILE,
    RoutedCostModel,
    is_routed,
    load_cost_model,
    missing_files,
    write_routed_dir,
)
from test_models_data import autoheuristic_problems

CUTLASS_TAR = "gpperf_cutlass/cutlass_profiling_20241111_195357.tar.gz"
ROUTES = {"triton.matmul": "autoheuristic", "cublas.matmul": "autoheuristic", "cutlass.gemm": "cutlass-gemm"}


@pytest.fixture(scope="module")
def frames(datasets_dir: Path) -> dict[str, pd.DataFrame]:
    ah = autoheuristic_problems(datasets_dir, 120, seed=7, rows_per_problem=15)
    cut = pd.concat([c.frame for c in read_path(datasets_dir / CUTLASS_TAR)], ignore_index=True)
    cut = cut[(cut["status"] == "ok") & cut["power_w"].notna()]  # the rows nvidia-smi gave power for
    cut = cut.sample(1500, random_state=0).drop(columns=["_line"], errors="ignore").reset_index(drop=True)
    return {"autoheuristic": ah, "cutlass-gemm": cut}


@pytest.fixture(scope="module")
def routed_dir(frames, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("routed") / "model"
    for sub, frame in frames.items():
        GBCostModel(num_boost_round=30, keep_data=False).fit(frame).save(root / sub, metrics={"test.n_rows": 1.0})
    return write_routed_dir(root, ROUTES, metrics={"test.runtime_ms.median_ape": 1.0}, eval_split={"kind": "x"})


@pytest.fixture(scope="module")
def queries(frames) -> pd.DataFrame:
    """Both families interleaved in a shuffled order with a non-default index, targets dropped."""
    mix = pd.concat([frames["autoheuristic"].sample(300, random_state=1), frames["cutlass-gemm"].sample(200, random_state=1)],
                    ignore_index=True)
    mix = mix.drop(columns=["runtime_ms", "power_w", "energy_j", "status", "source"], errors="ignore")
    mix = mix.sample(frac=1.0, random_state=3)
    mix.index = np.arange(len(mix))[::-1] * 7 + 1000  # the index must come back as given
    return mix


def test_load_cost_model_picks_the_right_loader(routed_dir):
    model = load_cost_model(routed_dir)
    assert isinstance(model, RoutedCostModel) and is_routed(routed_dir)
    assert model.kernels == sorted(ROUTES)
    # kernels sharing a sub-directory share one loaded session
    assert model.routes["triton.matmul"] is model.routes["cublas.matmul"]
    assert model.routes["cutlass.gemm"] is not model.routes["triton.matmul"]
    assert len(model.submodels) == 2
    single = load_cost_model(routed_dir / "cutlass-gemm")
    assert isinstance(single, OnnxCostModel) and not is_routed(routed_dir / "cutlass-gemm")


def test_top_level_meta_merges_the_sub_models(routed_dir, frames):
    meta = json.loads((routed_dir / "model.json").read_text())
    assert meta["routed"] is True and meta["format_version"] == 1
    assert json.loads((routed_dir / ROUTES_FILE).read_text())["routes"] == dict(sorted(ROUTES.items()))
    assert meta["targets"]["runtime_ms"]["point"] == "runtime_ms"
    assert set(meta["targets"]["runtime_ms"]["corrections"]) == {"autoheuristic", "cutlass-gemm"}
    assert set(meta["targets"]["power_w"]["corrections"]) == {"cutlass-gemm"}  # AutoHeuristic has no power
    assert meta["data"]["n_rows"] == sum(len(f) for f in frames.values())
    assert meta["metrics"] == {"test.runtime_ms.median_ape": 1.0} and meta["eval_split"] == {"kind": "x"}
    assert meta["submodels"]["autoheuristic"]["kernels"] == ["cublas.matmul", "triton.matmul"]
    power_pairs = {(p["kernel"], p["system"]) for p in meta["measured_pairs"]["power_w"]}
    assert power_pairs == {("cutlass.gemm", "NVIDIA GeForce RTX 4070")}
    assert {p["kernel"] for p in meta["measured_pairs"]["runtime_ms"]} == set(ROUTES)


def test_predict_frame_equals_each_sub_model_in_input_order(routed_dir, queries):
    model = load_cost_model(routed_dir)
    got = model.predict_frame(queries)
    assert got.index.equals(queries.index)
    assert got.columns.tolist() == [f"pred.{c}" for c in model.output_columns()]
    assert {"pred.runtime_ms", "pred.runtime_ms.q10", "pred.power_w", "pred.power_w.q90"} <= set(got.columns)
    subs = {sub: OnnxCostModel.load(routed_dir / sub) for sub in set(ROUTES.values())}
    for sub, single in subs.items():
        mask = queries["kernel"].map(ROUTES).eq(sub).to_numpy()
        want = single.predict_frame(queries[mask])
        part = got.loc[want.index]
        np.testing.assert_allclose(part[want.columns].to_numpy(float), want.to_numpy(float), rtol=1e-6, atol=0)
        extra = [c for c in got.columns if c not in want.columns]  # targets this family lacks: NaN
        assert part[extra].isna().all().all()
    ah_rows = queries["kernel"].isin(["triton.matmul", "cublas.matmul"]).to_numpy()
    assert got.loc[ah_rows, "pred.power_w"].isna().all()
    assert np.isfinite(got.loc[~ah_rows, "pred.power_w"]).all() and np.isfinite(got["pred.runtime_ms"]).all()


def test_measured_pairs_still_mask_inside_a_family(routed_dir, queries):
    """A family asked on a GPU it was never measured on gets no made-up numbers; on its own GPU it does."""
    model = load_cost_model(routed_dir)
    rows = queries[queries["kernel"] == "cutlass.gemm"].head(20)
    own = model.predict_frame(rows)
    assert np.isfinite(own[["pred.runtime_ms", "pred.power_w"]].to_numpy()).all()
    moved = model.predict_frame(rows.assign(system="A100"))  # the A100 has AutoHeuristic data, not CUTLASS
    assert moved.isna().all().all()
    ah = queries[queries["kernel"] == "triton.matmul"].head(20)
    assert np.isfinite(model.predict_frame(ah)["pred.runtime_ms"]).all()
    assert model.predict_frame(ah.assign(system="NVIDIA GeForce RTX 4070"))["pred.runtime_ms"].isna().all()


def test_unknown_or_missing_kernel_is_a_clear_error(routed_dir, queries):
    model = load_cost_model(routed_dir)
    bad = queries.head(5).copy()
    bad.loc[bad.index[2], "kernel"] = "rocm.matmul"
    with pytest.raises(ValueError, match=r"unknown kernel\(s\) \['rocm.matmul'\].*cutlass.gemm"):
        model.predict_frame(bad)
    with pytest.raises(ValueError, match="'kernel' field"):
        model.predict_frame(queries.drop(columns=["kernel"]).head(3))
    empty = model.predict_frame(queries.head(0))
    assert len(empty) == 0 and empty.columns.tolist() == [f"pred.{c}" for c in model.output_columns()]


def test_missing_or_malformed_files_are_named(routed_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(routed_dir, broken)
    (broken / "cutlass-gemm" / "model.onnx").unlink()
    assert missing_files(broken) == ["cutlass-gemm/model.onnx"]
    with pytest.raises(FileNotFoundError, match="missing cutlass-gemm/model.onnx"):
        load_cost_model(broken)
    from perfcast.training.registry import ModelNotFoundError, resolve_model_dir

    assert resolve_model_dir(routed_dir) == routed_dir  # the registry accepts a complete routed directory
    with pytest.raises(ModelNotFoundError, match="missing cutlass-gemm/model.onnx"):
        resolve_model_dir(broken)
    escaping = tmp_path / "escaping"
    shutil.copytree(routed_dir, escaping)
    (escaping / ROUTES_FILE).write_text(json.dumps({"format_version": 1, "routes": {"triton.matmul": "../x"}}))
    with pytest.raises(ValueError, match=r"routes\['triton.matmul'\] = '../x' is not a sub-directory name"):
        load_cost_model(escaping)
    (escaping / ROUTES_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="routes.json: not valid JSON"):
        load_cost_model(escaping)
    with pytest.raises(FileNotFoundError, match="sub-model files missing: nope/model.onnx"):
        write_routed_dir(tmp_path / "empty", {"triton.matmul": "nope"})


def test_routed_prediction_imports_no_lightgbm_or_mlflow(routed_dir, queries, tmp_path):
    src = tmp_path / "q.parquet"
    queries.reset_index(drop=True).to_parquet(src)
    code = (
        "import sys, pandas as pd; from perfcast.models import load_cost_model; "
        f"m = load_cost_model({str(routed_dir)!r}); p = m.predict_frame(pd.read_parquet({str(src)!r})); "
        "bad = [n for n in ('lightgbm', 'mlflow') if n in sys.modules]; assert not bad, bad; print(len(p))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(len(queries))
