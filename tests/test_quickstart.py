"""The main job (`perfcast quickstart`) on small real inputs: ingest, skip unchanged, train, register."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.training.train import sample_problems

from perfcast.cli import main as cli

TILED = "gpperf_cutlass/tiled_execution_times_all.csv"
CONV_A100 = "kerneltuner_convolution/A100.json.gz"


def test_sample_problems_keeps_whole_problems_and_caps_each_group(datasets_dir: Path) -> None:
    from perfcast.measurements.ingest import read_path
    from perfcast.training.splits import problem_keys

    frame = pd.concat([c.frame for c in read_path(datasets_dir / "autoheuristic_a100")], ignore_index=True)
    sample = sample_problems(frame, 20_000)
    per_group = sample.groupby(["kernel", "system"]).size()
    assert (per_group <= 20_000).all() and len(sample) > 10_000
    # every kept problem keeps all of its rows
    full = pd.Series(problem_keys(frame)).value_counts()
    kept = pd.Series(problem_keys(sample)).value_counts()
    assert (kept == full.loc[kept.index]).all()
    assert sample_problems(frame, 0) is frame
    # the draw depends on the rows, not their order: promote re-draws it from another store read
    from perfcast.training.splits import row_ids

    shuffled = sample_problems(frame.sample(frac=1.0, random_state=4).reset_index(drop=True), 20_000)
    assert np.array_equal(np.sort(row_ids(shuffled)), np.sort(row_ids(sample)))


def test_quickstart_ingests_once_trains_and_registers(datasets_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PERFCAST_MLRUNS", str(tmp_path / "mlruns"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PERFCAST_MODEL_CACHE", str(tmp_path / "models"))
    store = tmp_path / "store"
    args = ["quickstart", "--store", str(store), "--data", str(datasets_dir / TILED),
            "--data", str(datasets_dir / CONV_A100)]
    assert cli([*args, "--no-train"]) == 0
    first = capsys.readouterr().out
    assert "2 file(s) ingested, 0 unchanged skipped" in first and "stored 4,557" in first

    from perfcast.measurements.store import MeasurementStore

    from perfcast.quickstart import pending_files

    sources = [datasets_dir / TILED, datasets_dir / CONV_A100]
    assert pending_files(sources, MeasurementStore(store)) == []  # the store holds what the files hold
    assert pending_files(sources, MeasurementStore(tmp_path / "other")) == sources

    assert cli([*args, "--no-serve", "--rounds", "30"]) == 0
    second = capsys.readouterr().out
    assert "0 file(s) ingested, 2 unchanged skipped" in second
    assert "[3/4] train perfcast-default on 4,557 of 4,557 measurements" in second
    # the held-out fit reports its metrics, and the MLflow step says what it does
    assert re.search(r"\[perfcast-default\] held-out: runtime median APE \d+\.\d\d%, 80% coverage 0\.\d{3}, .* on "
                     r"[\d,]+ test rows \(\d+ s\)", second)
    assert "[perfcast-default] logging the run to MLflow and registering a version" in second

    # the champion is routed: one sub-model per family (the 195 tiled rows share the convolution's)
    import json

    from perfcast.serving.predictor import Predictor
    from perfcast.training.registry import resolve_model_dir

    routes = json.loads((resolve_model_dir("models:/perfcast-default@champion") / "routes.json").read_text())
    assert routes["routes"] == {"cuda.tiled_matmul": "kerneltuner-convolution",
                                "kerneltuner.convolution": "kerneltuner-convolution"}

    predictor = Predictor.load("models:/perfcast-default@champion")
    answer = predictor.predict([{"kernel": "cuda.tiled_matmul", "system": "RTX 4070",
                                 "params": {"TILE": 16}, "problem": {"M": 1024, "N": 1024, "K": 1024, "dtype": "fp32"}}])
    runtime = answer[0]["runtime_ms"]
    assert np.isfinite(runtime["value"]) and runtime["q10"] <= runtime["value"] <= runtime["q90"]
    # layouts omitted: the contract's default (row) applies to queries as it does at ingest
    ranked = predictor.rank("RTX 4070", {"M": 2048, "N": 2048, "K": 2048, "dtype": "fp32"},
                            [{"TILE": 8}, {"TILE": 16}, {"TILE": 32}], kernel="cuda.tiled_matmul")
    assert sorted(c["index"] for c in ranked) == [0, 1, 2]
    assert [c["score"] for c in ranked] == sorted(c["score"] for c in ranked)

    assert cli([*args, "--no-serve"]) == 0
    assert "champion already registered" in capsys.readouterr().out


def test_pending_files_lists_a_file_changed_since_the_quickstart_ingested_it(datasets_dir: Path, tmp_path: Path) -> None:
    import os
    import shutil

    from perfcast.measurements.store import MeasurementStore

    from perfcast.quickstart import ingest_new, pending_files

    copy = tmp_path / "data" / "tiled.csv"
    copy.parent.mkdir()
    shutil.copyfile(datasets_dir / TILED, copy)
    store = MeasurementStore(tmp_path / "store")
    assert pending_files([copy.parent], store) == [copy]
    assert ingest_new([copy.parent], store)["stored"] == 141
    assert pending_files([copy.parent], store) == []
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched (or copied): the quickstart re-reads it
    assert pending_files([copy.parent], store) == [copy] and pending_files([copy.parent], store, size_only=True) == []
    with copy.open("a") as f:  # more measurements: a different size
        f.write(copy.read_text().splitlines()[-1] + "\n")
    assert pending_files([copy.parent], store, size_only=True) == [copy]
