"""Each ingest adapter on the real files in ../shared/datasets: row counts and field mapping."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import IngestError, detect_format, iter_files, read_path
from perfcast.measurements.ingest.autoheuristic import parse_choice
from perfcast.measurements.ingest.gpperf import parse_kernel_name
from perfcast.measurements.validate import validate_frame


def _read_all(path, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    chunks = list(read_path(path, **kwargs))
    frames = [c.frame for c in chunks if len(c.frame)]
    rejects = [c.rejects for c in chunks if len(c.rejects)]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
            pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame())


def test_detects_every_dataset_file(datasets_dir):
    found = {p.relative_to(datasets_dir).as_posix(): fmt for p, fmt in iter_files(datasets_dir)}
    assert found["sgemm_uci/sgemm_product_dataset.zip"] == "sgemm_uci"
    assert found["autoheuristic_a100/a100_mm.zip"] == "autoheuristic"
    assert found["gpperf_cutlass/cutlass_profiling_20241111_195357.tar.gz"] == "gpperf"
    assert found["gpperf_cutlass/tiled_execution_times_all.csv"] == "gpperf"
    # the power CSV is joined through its execution-times sibling, LICENSE/README are not data
    assert "gpperf_cutlass/tiled_power_usage_results_all.csv" not in found
    assert not any(k.endswith(("LICENSE", "README.md")) for k in found)
    assert sum(fmt == "kerneltuner" for fmt in found.values()) == 10
    assert detect_format(datasets_dir / "gpperf_cutlass" / "tiled_power_usage_results_all.csv") == "gpperf"


def test_sgemm_uci(datasets_dir):
    frame, rejects = _read_all(datasets_dir / "sgemm_uci" / "sgemm_product_dataset.zip")
    assert len(frame) == 241_600 and rejects.empty
    first = frame.iloc[0]
    assert first["kernel"] == "cltune.sgemm" and first["system"] == "NVIDIA GeForce GTX 680"
    assert (first["problem.M"], first["problem.N"], first["problem.K"], first["problem.dtype"]) == (2048, 2048, 2048, "fp32")
    assert list(first["runtime_ms_samples"]) == [115.26, 115.87, 118.55, 115.8]
    assert first["runtime_ms"] == pytest.approx(np.median([115.26, 115.87, 118.55, 115.8]))
    assert first["params.MWG"] == 16 and first["params.SB"] == 0 and first["_line"] == 2
    assert frame["runtime_ms"].between(13.25, 3397.08).all()  # the README's stated range


def test_kerneltuner_gemm(datasets_dir):
    frame, rejects = _read_all(datasets_dir / "kerneltuner_gemm" / "RTX_3060_laptop.json.gz")
    assert len(frame) == 10_000 and rejects.empty
    assert set(frame["kernel"]) == {"clblast.xgemm"}
    assert set(frame["system"]) == {"NVIDIA GeForce RTX 3060 Laptop GPU"}
    assert set(frame["problem.dtype"]) == {"fp32"} and "params.PRECISION" not in frame
    assert set(frame["problem.M"]) == {4096}
    assert frame["runtime_ms_samples"].map(len).eq(32).all()
    assert (frame["status"] == "ok").all()


def test_kerneltuner_convolution_keeps_failed_configs(datasets_dir):
    frame, _ = _read_all(datasets_dir / "kerneltuner_convolution" / "A6000.json.gz")
    assert len(frame) == 4_362
    counts = frame["status"].value_counts().to_dict()
    assert counts == {"ok": 3_889, "failed": 252 + 221}  # CompilationFailedConfig + RuntimeFailedConfig
    assert frame.loc[frame["status"] == "failed", "runtime_ms"].isna().all()
    assert frame["meta.error"].value_counts().to_dict() == {"CompilationFailedConfig": 252, "RuntimeFailedConfig": 221}
    assert frame["meta.compile_time_ms"].notna().all()
    assert set(frame["kernel"]) == {"kerneltuner.convolution"}
    assert set(frame["system"]) == {"NVIDIA RTX A6000"}
    assert set(frame["problem.size_x"]) == {4096} and set(frame["params.filter_width"]) == {15}
    valid, quarantine = validate_frame(frame)
    assert len(valid) == 4_362 and quarantine.empty
    assert valid["measured_at"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$").all()


def test_kerneltuner_empty_device_name_uses_file_name(datasets_dir):
    frame, _ = _read_all(datasets_dir / "kerneltuner_convolution" / "MI250X.json.gz")
    assert set(frame["system"]) == {"AMD Instinct MI250X"}


def _t4_from_cache(cache_doc: dict, keys: list[str]) -> dict:
    """Render cache entries as Kernel Tuner's `store_output_file` writes T4 results (schema T4 1.0.0)."""
    params = cache_doc["tune_params_keys"]
    results = []
    for key in keys:
        entry = cache_doc["cache"][key]
        time = entry["time"]
        invalidity = {"RuntimeFailedConfig": "runtime", "CompilationFailedConfig": "compile"}.get(time, "correct")
        results.append({
            "timestamp": entry.get("timestamp"),
            "configuration": {p: entry[p] for p in params},
            "times": {"compilation": entry["compile_time"], "benchmark": entry["benchmark_time"],
                      "framework": entry["framework_time"], "search_algorithm": entry["strategy_time"],
                      "validation": entry["verification_time"], "runtimes": entry.get("times", [])},
            "invalidity": invalidity,
            "correctness": 1,
            "measurements": [{"name": "time", "value": time, "unit": "ms"}]
                            + ([{"name": "GFLOP/s", "value": entry["GFLOP/s"], "unit": ""}] if "GFLOP/s" in entry else []),
            "objectives": ["time"],
        })
    return {"schema_version": "1.0.0", "results": results}


def test_kerneltuner_t4_results(datasets_dir, tmp_path):
    source = datasets_dir / "kerneltuner_convolution" / "A100.json.gz"
    with gzip.open(source, "rt") as fh:
        cache_doc = json.load(fh)
    failed = [k for k, v in cache_doc["cache"].items() if isinstance(v["time"], str)]
    keys = list(cache_doc["cache"])[:20] + failed[:3]
    doc = _t4_from_cache(cache_doc, keys)
    doc["results"].append({"configuration": {"block_size_x": 16}, "times": {}, "invalidity": "exploded",
                           "correctness": 1})

    # beside its cache file: kernel, system and problem come from the cache
    folder = tmp_path / "convolution_milo"
    folder.mkdir()
    shutil.copy(source, folder / "A100.json.gz")
    t4 = folder / "A100_T4.json"
    t4.write_text(json.dumps(doc))
    assert detect_format(t4) == "kerneltuner"
    (folder / "A100-metadata.json").write_text(json.dumps({"schema_version": "1.0.0", "metadata": {"hardware": {}}}))
    assert [p.name for p, _ in iter_files(folder)] == ["A100.json.gz", "A100_T4.json"]  # metadata: no data
    frame, rejects = _read_all(t4)
    assert len(frame) == 23 and len(rejects) == 1 and "exploded" in rejects.loc[0, "_reason"]
    assert rejects.loc[0, "_line"] == 24
    assert set(frame["kernel"]) == {"kerneltuner.convolution"}
    assert set(frame["system"]) == {"NVIDIA A100-PCIE-40GB"}
    assert frame["status"].value_counts().to_dict() == {"ok": 20, "failed": 3}
    assert set(frame["meta.error"].dropna()) <= {"runtime", "compile"} and frame["meta.error"].notna().sum() == 3
    ok = frame[frame["status"] == "ok"]
    expected = [cache_doc["cache"][k]["time"] for k in keys[:20]]
    assert ok["runtime_ms"].tolist() == pytest.approx(expected)
    assert ok["runtime_ms_samples"].map(len).eq(32).all()
    assert set(frame["problem.size_x"]) == {4096}

    # alone: system from the file name, kernel from the folder name; an explicit option wins
    alone = tmp_path / "gemm_runs" / "RTX_3090_T4.json.gz"
    alone.parent.mkdir()
    with gzip.open(alone, "wt") as fh:
        json.dump(_t4_from_cache(cache_doc, keys[:5]), fh)
    frame, _ = _read_all(alone)
    assert set(frame["kernel"]) == {"clblast.xgemm"} and set(frame["system"]) == {"NVIDIA GeForce RTX 3090"}
    frame, _ = _read_all(alone, kernel="kerneltuner.convolution", system="NVIDIA RTX A4000")
    assert set(frame["kernel"]) == {"kerneltuner.convolution"} and set(frame["system"]) == {"NVIDIA RTX A4000"}

    nowhere = tmp_path / "misc" / "run_T4.json"
    nowhere.parent.mkdir()
    nowhere.write_text(json.dumps(_t4_from_cache(cache_doc, keys[:2])))
    with pytest.raises(IngestError, match="names no kernel"):
        _read_all(nowhere)


def test_parse_choice():
    assert parse_choice("type=triton_BLOCK-M=64_BLOCK-K=32_BLOCK-N=128_numstages=3_numwarps=4") == {
        "BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 32, "GROUP_M": 8, "num_stages": 3, "num_warps": 4}
    assert parse_choice("extern_mm") is None
    assert parse_choice("type=triton_BLOCK-M=64_numwarps=4") is None  # incomplete


def test_autoheuristic(datasets_dir):
    frame, rejects = _read_all(datasets_dir / "autoheuristic_a100" / "a100_mm.zip")
    assert len(frame) == 238_032 + 228_340 + 164_792 and rejects.empty  # every data row of the three logs
    assert frame["kernel"].value_counts().to_dict() == {"triton.matmul": 220_722 + 230_026 + 159_105,
                                                        "cublas.matmul": 7_618 + 8_006 + 5_687}
    assert (frame["status"] == "failed").sum() == 14_790 + 402  # feedback = inf
    assert set(frame["system"]) == {"NVIDIA A100-SXM4-80GB"}
    assert set(frame["problem.dtype"]) == {"fp16", "bf16", "fp32"}
    assert frame.loc[frame["problem.dtype"] != "fp32", "problem.allow_tf32"].isna().all()
    assert frame.loc[frame["problem.dtype"] == "fp32", "problem.allow_tf32"].notna().all()
    cublas = frame[frame["kernel"] == "cublas.matmul"]
    assert cublas.filter(like="params.").isna().all().all()
    first = frame.iloc[0]  # a100_hf_train_mm.txt line 3: 2048,4096,4096 fp16 strides (4096,1) (1,4096)
    assert first["source"] == "autoheuristic:a100_hf_train_mm.txt" and first["_line"] == 3
    assert (first["problem.M"], first["problem.K"], first["problem.N"]) == (2048, 4096, 4096)
    assert (first["problem.a_layout"], first["problem.b_layout"]) == ("row", "col")
    assert (first["meta.mat2_stride_0"], first["meta.mat2_stride_1"]) == (1, 4096)
    assert first["runtime_ms"] == pytest.approx(0.311024010181427)
    second = frame.iloc[1]
    assert second["kernel"] == "triton.matmul"
    assert (second["params.BLOCK_M"], second["params.BLOCK_K"], second["params.BLOCK_N"], second["params.GROUP_M"],
            second["params.num_stages"], second["params.num_warps"]) == (16, 16, 32, 8, 3, 2)


def test_autoheuristic_bad_rows_are_rejected_with_line(tmp_path):
    meta = {"shared_memory": 166912, "device_capa": [8, 0], "name": "mm", "numerical_features": ["m"]}
    header = ("m,k,n,mat1_dtype,mat2_dtype,mat1_stride_0,mat1_stride_1,mat2_stride_0,mat2_stride_1,"
              "mat1_iscontig,mat2_iscontig,using_tf32,choice,feedback")
    rows = ["64,32,16,torch.float32,torch.float32,1,64,16,1,False,True,True,extern_mm,0.01",
            "64,32,16,torch.float16,torch.float32,32,1,16,1,True,True,not_float_32,extern_mm,0.02",
            "64,32,16,torch.float16,torch.float16,32,1,16,1,True,True,not_float_32,type=magic_9,0.03"]
    log = tmp_path / "tiny_mm.txt"
    log.write_text(json.dumps(meta) + "\n" + header + "\n" + "\n".join(rows) + "\n")
    assert detect_format(log) == "autoheuristic"
    frame, rejects = _read_all(log)
    assert len(frame) == 1 and len(rejects) == 2
    assert frame.loc[0, "problem.a_layout"] == "col" and bool(frame.loc[0, "problem.allow_tf32"]) is True
    assert rejects["_line"].tolist() == [4, 5]
    assert "differ" in rejects.loc[0, "_reason"] and "choice" in rejects.loc[1, "_reason"]


def test_parse_cutlass_kernel_name():
    assert parse_kernel_name("cutlass_simt_hgemm_128x128_8x2_tn_align1") == {
        "params.op_class": "simt", "params.tile_m": 128, "params.tile_n": 128, "params.tile_k": 8,
        "params.stages": 2, "params.align": 1, "problem.dtype": "fp16", "problem.a_layout": "row",
        "problem.b_layout": "col"}
    assert parse_kernel_name("cutlass_tensorop_s1688gemm_256x128_16x3_nt_align4")["params.op_class"] == "tensorop"
    assert parse_kernel_name("not_a_kernel") is None


def test_gpperf_cutlass(datasets_dir):
    frame, rejects = _read_all(datasets_dir / "gpperf_cutlass" / "cutlass_profiling_20241111_195357.tar.gz")
    assert rejects.empty
    assert len(frame) == 16_128 * 2  # results.csv records + failed_configs.csv lines
    ok, failed = frame[frame["status"] == "ok"], frame[frame["status"] == "failed"]
    assert len(ok) == 16_128 and len(failed) == 16_128
    assert set(ok["problem.dtype"]) == {"fp32"} and set(failed["problem.dtype"]) == {"fp16"}
    assert ok["power_w"].notna().sum() == 16_128 - 13_533  # `[N/A]` -> missing
    assert ok["energy_j"].notna().sum() == 16_128 - 13_533
    assert failed[["runtime_ms", "power_w"]].isna().all().all()
    first = ok.iloc[0]  # the record glued to the header line
    assert first["measured_at"] == "2024-11-12T00:54:04Z" and first["runtime_ms"] == pytest.approx(0.04352)
    assert first["power_w"] == pytest.approx(70.17) and first["energy_j"] == pytest.approx(0.003)
    assert (first["params.tile_m"], first["params.tile_k"], first["params.stages"]) == (128, 8, 2)
    assert (first["meta.requested_tile_m"], first["meta.sm_clock_mhz"], first["meta.temperature_c"]) == (64, 2760, 47)
    assert not any(c.startswith("params.requested") for c in frame.columns)  # what ran, not what was asked
    assert set(frame["system"]) == {"NVIDIA GeForce RTX 4070"}
    valid, quarantine = validate_frame(frame)
    assert quarantine.empty and len(valid) == len(frame)


def test_gpperf_tiled_join(datasets_dir):
    for name in ("tiled_execution_times_all.csv", "tiled_power_usage_results_all.csv"):
        frame, _ = _read_all(datasets_dir / "gpperf_cutlass" / name)
        assert len(frame) == 195  # union of (M, N, K, tile) keys; every runtime key has a power row
        assert frame["runtime_ms"].notna().sum() == 141 and frame["power_w"].notna().sum() == 195
        assert set(frame["kernel"]) == {"cuda.tiled_matmul"}
        row = frame[(frame["problem.M"] == 512) & (frame["problem.K"] == 512) & (frame["problem.N"] == 512)
                    & (frame["params.TILE"] == 8)].iloc[0]
        assert row["runtime_ms"] == pytest.approx(6.56141) and row["power_w"] == pytest.approx(32.157)


def test_unrecognised_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(IngestError, match="format not recognised"):
        list(read_path(path))
    with pytest.raises(IngestError, match="unknown format"):
        list(read_path(path, format="excel"))
