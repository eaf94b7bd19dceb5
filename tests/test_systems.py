"""System registry: lookups, the datasets' GPUs, YAML/inline specs, spec tables, sanity of numbers."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from perfcast.systems import (
    DTYPES,
    TABLE_COLUMNS,
    SystemSpec,
    UnknownSystemError,
    get_system,
    list_systems,
    load_systems_file,
    peak_tflops,
    register_system,
    reset_registry,
    resolve_name,
    spec_table,
    system_from_inline,
)

from perfcast import systems

# canonical name -> extra aliases (the team's agreed table)
CANONICAL: dict[str, list[str]] = {
    "NVIDIA GeForce GTX 680": ["GTX 680"],
    "NVIDIA GeForce RTX 2080 Ti": ["RTX 2080 Ti", "RTX_2080_Ti"],
    "NVIDIA GeForce RTX 3060 Laptop GPU": ["RTX 3060 Laptop", "RTX_3060_laptop"],
    "NVIDIA GeForce RTX 3090": ["RTX 3090", "RTX_3090"],
    "NVIDIA TITAN RTX": ["Titan RTX", "RTX_Titan"],
    "NVIDIA A100-PCIE-40GB": ["A100 PCIe 40GB"],
    "NVIDIA A100-SXM4-80GB": ["A100", "A100 SXM4 80GB"],
    "NVIDIA RTX A4000": ["A4000"],
    "NVIDIA RTX A6000": ["A6000"],
    "AMD Instinct MI250X": ["MI250X"],
    "AMD Radeon PRO W6600": ["W6600"],
    "AMD Radeon PRO W7800": ["W7800"],
    "NVIDIA GeForce RTX 4070": ["RTX 4070"],
    "NVIDIA H100 80GB HBM3": ["H100", "H100 SXM", "NVIDIA H100"],
    "NVIDIA H100 PCIe": ["H100 PCIe"],
    "NVIDIA H200": ["H200", "NVIDIA H200 141GB HBM3e"],
}

SMALL_YAML = """
systems:
  - name: Test GPU X1
    aliases: [X1, tgx1]
    vendor: nvidia
    architecture: ampere
    compute_capability: 8.6
    sm_count: 10
    boost_clock_mhz: 1500
    memory_bandwidth_gbs: 300
    peak_tflops:
      fp32: {simt: 3.84}
      float16: {simt: 3.84, tensor: 7.68}
    smem_per_sm_kb: 100
    smem_per_block_kb: 99
    source: "made-up test device"
"""


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch):
    """Each test starts from the shipped specs only (tests register their own systems)."""
    monkeypatch.delenv(systems.ENV_VAR, raising=False)
    reset_registry()
    yield
    reset_registry()


def test_every_canonical_system_and_alias_resolves() -> None:
    for name, aliases in CANONICAL.items():
        assert get_system(name).name == name
        for alias in aliases:
            assert resolve_name(alias) == name, alias
    assert {s.name for s in list_systems()} == set(CANONICAL)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("h100", "NVIDIA H100 80GB HBM3"),
        ("  nvidia   h100 80gb hbm3 ", "NVIDIA H100 80GB HBM3"),
        ("rtx-2080-ti", "NVIDIA GeForce RTX 2080 Ti"),
        ("Rtx_3060_Laptop", "NVIDIA GeForce RTX 3060 Laptop GPU"),
        ("GeForce GTX 680", "NVIDIA GeForce GTX 680"),  # NVML name of older drivers
        ("TITAN RTX", "NVIDIA TITAN RTX"),
        ("NVIDIA A100 PCIE 40GB", "NVIDIA A100-PCIE-40GB"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB"),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
        ("NVIDIA H200", "NVIDIA H200"),
        ("AMD Instinct MI250X/MI250", "AMD Instinct MI250X"),
    ],
)
def test_tolerant_and_nvml_names(query: str, expected: str) -> None:
    assert resolve_name(query) == expected


def test_dataset_device_names_resolve(datasets_dir: Path) -> None:
    """The `device_name` in every Kernel Tuner cache, and each file's stem, name a known system."""
    files = sorted((datasets_dir / "kerneltuner_gemm").glob("*.json.gz"))
    files += sorted((datasets_dir / "kerneltuner_convolution").glob("*.json.gz"))
    assert len(files) == 10
    for f in files:
        with gzip.open(f, "rt") as fh:
            device = json.loads(fh.read(4096).split('"cache"')[0].rstrip().rstrip(",") + "}")["device_name"]
        stem = f.name.removesuffix(".json.gz")
        by_stem = resolve_name(stem)
        if not device:  # MI250X's file leaves it empty
            assert by_stem == "AMD Instinct MI250X"
        elif stem == "A100":  # the bare alias "A100" means AutoHeuristic's A100-SXM4-80GB (team table)
            assert resolve_name(device) == device == "NVIDIA A100-PCIE-40GB"
        else:
            assert resolve_name(device) == by_stem == device, f


def test_measured_throughput_within_peaks(datasets_dir: Path) -> None:
    """Real data check of the fp32 peaks: no measured config beats them, the best reach a sane share.

    Kernel Tuner caches carry GFLOP/s per config (fp32 OpenCL/HIP kernels, no tensor cores); SGEMM UCI
    is a 2048^3 SGEMM on the GTX 680 with runtimes in ms.
    """
    best: dict[str, float] = {}
    for f in sorted(datasets_dir.glob("kerneltuner_*/*.json.gz")):
        with gzip.open(f, "rt") as fh:
            doc = json.load(fh)
        rates = [v["GFLOP/s"] for v in doc["cache"].values()
                 if isinstance(v.get("GFLOP/s"), (int, float)) and math.isfinite(v["GFLOP/s"])]
        best[resolve_name(doc["device_name"] or f.name.removesuffix(".json.gz"))] = max(rates)
    with zipfile.ZipFile(datasets_dir / "sgemm_uci" / "sgemm_product_dataset.zip") as z:
        runs = pd.read_csv(z.open("sgemm_product.csv"), usecols=lambda c: c.startswith("Run"))
    best[resolve_name("GTX 680")] = 2 * 2048**3 / (float(runs.min().min()) * 1e6)
    assert len(best) == 11
    for name, gflops in best.items():
        peak_gflops = get_system(name).peak_tflops["fp32"]["simt"] * 1e3
        assert 0.25 < gflops / peak_gflops <= 1.0, (name, gflops, peak_gflops)


def test_unknown_name_error_is_readable() -> None:
    with pytest.raises(UnknownSystemError) as info:
        get_system("H1000")
    err = info.value
    assert isinstance(err, LookupError)
    text = str(err)
    assert "'H1000'" in text
    assert "NVIDIA H100 80GB HBM3" in err.suggestions
    assert "Did you mean" in text and "Known systems" in text
    assert "PERFCAST_SYSTEMS" in text and "register_system" in text and "inline" in text
    with pytest.raises(UnknownSystemError):
        resolve_name("")


def test_shipped_specs_are_complete_and_cited() -> None:
    for spec in list_systems():
        for field in ("memory_gb", "l2_cache_mb", "smem_per_sm_kb", "smem_per_block_kb", "registers_per_sm",
                      "max_threads_per_sm", "max_blocks_per_sm", "tdp_w"):
            assert getattr(spec, field) is not None, (spec.name, field)
        assert spec.source and all(c.url.startswith("https://") and c.document for c in spec.source), spec.name
        assert spec.peak_tflops["fp32"]["simt"] > 0
        assert (spec.compute_capability is None) == (spec.vendor == "amd")
        assert spec.warp_size == (64 if spec.architecture == "cdna2" else 32)


def test_integer_facts() -> None:
    """Counts and per-SM limits from the whitepapers and the CUDA per-compute-capability table."""
    expect = {  # name: (SMs/CUs, smem/SM KB, smem/block KB, regs/SM, threads/SM, blocks/SM, cc)
        "GTX 680": (8, 48, 48, 65536, 2048, 16, "3.0"),
        "RTX 2080 Ti": (68, 64, 64, 65536, 1024, 16, "7.5"),
        "Titan RTX": (72, 64, 64, 65536, 1024, 16, "7.5"),
        "RTX 3060 Laptop": (30, 100, 99, 65536, 1536, 16, "8.6"),
        "RTX 3090": (82, 100, 99, 65536, 1536, 16, "8.6"),
        "A4000": (48, 100, 99, 65536, 1536, 16, "8.6"),
        "A6000": (84, 100, 99, 65536, 1536, 16, "8.6"),
        "A100 PCIe 40GB": (108, 164, 163, 65536, 2048, 32, "8.0"),
        "A100": (108, 164, 163, 65536, 2048, 32, "8.0"),
        "RTX 4070": (46, 100, 99, 65536, 1536, 24, "8.9"),
        "H100": (132, 228, 227, 65536, 2048, 32, "9.0"),
        "H100 PCIe": (114, 228, 227, 65536, 2048, 32, "9.0"),
        "H200": (132, 228, 227, 65536, 2048, 32, "9.0"),
        "MI250X": (110, 64, 64, 131072, 2048, 16, None),
        "W6600": (28, 64, 64, 65536, 1024, 16, None),
        "W7800": (70, 64, 64, 98304, 1024, 16, None),
    }
    for name, (sms, smem_sm, smem_blk, regs, threads, blocks, cc) in expect.items():
        s = get_system(name)
        got = (s.sm_count, s.smem_per_sm_kb, s.smem_per_block_kb, s.registers_per_sm, s.max_threads_per_sm,
               s.max_blocks_per_sm, s.compute_capability)
        assert got == (sms, smem_sm, smem_blk, regs, threads, blocks, cc), name
    # AutoHeuristic's A100 log reports 166912 B of opt-in shared memory per block.
    assert get_system("A100").smem_per_block_kb * 1024 == 166912


def test_headline_numbers() -> None:
    h100 = get_system("NVIDIA H100 80GB HBM3")
    assert h100.peak_tflops["bf16"]["tensor"] == pytest.approx(989, rel=0.01)
    assert h100.memory_bandwidth_gbs == 3350
    assert get_system("H200").memory_bandwidth_gbs == 4800
    assert get_system("A100").peak_tflops["tf32"]["tensor"] == 156
    # fp32 SIMT peak = cores x 2 FLOP x boost clock (NVIDIA: 64 or 128 FP32 lanes per SM).
    lanes = {"kepler": 192, "turing": 64, "ampere": 128, "ada": 128, "hopper": 128}
    for s in list_systems():
        if s.vendor == "nvidia":
            per_sm = 64 if s.compute_capability == "8.0" else lanes[s.architecture]
            model = s.sm_count * per_sm * 2 * s.boost_clock_mhz * 1e-6
            assert s.peak_tflops["fp32"]["simt"] == pytest.approx(model, rel=0.02), s.name


def test_ridge_points_plausible() -> None:
    """FLOP/byte where compute and bandwidth bounds meet: from ~1 (fp64 on GeForce) to several hundred."""
    for s in list_systems():
        for paths in s.peak_tflops.values():
            for tflops in paths.values():
                ridge = tflops * 1e12 / (s.memory_bandwidth_gbs * 1e9)
                assert 0.5 < ridge < 1000, (s.name, ridge)
    h = get_system("H100")
    assert 250 < h.peak_tflops["bf16"]["tensor"] * 1e3 / h.memory_bandwidth_gbs < 350


def test_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(SMALL_YAML)
    (spec,) = load_systems_file(path)
    assert resolve_name("tg_x1") == "Test GPU X1"
    assert spec.compute_capability == "8.6"  # YAML float kept as "major.minor"
    assert spec.peak_tflops["fp16"] == {"simt": 3.84, "tensor": 7.68}  # dtype synonym normalised
    assert spec.source[0].document == "made-up test device"
    again = tmp_path / "again.yaml"
    again.write_text(systems.dump_systems_yaml([spec, get_system("H100")]))
    reset_registry()
    loaded = load_systems_file(again, register=False)
    assert loaded == [spec, get_system("H100")]


def test_env_var_files_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(SMALL_YAML)
    monkeypatch.setenv(systems.ENV_VAR, str(path))
    reset_registry()
    assert get_system("X1").sm_count == 10
    assert get_system("H100").sm_count == 132


def test_bad_yaml_names_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL_YAML.replace("sm_count: 10", "sm_count: -3"))
    with pytest.raises(ValueError, match=r"(?s)bad\.yaml.*Test GPU X1.*sm_count"):
        load_systems_file(path)
    path.write_text("systems: [1, 2]")
    with pytest.raises(ValueError, match="list of system mappings"):
        load_systems_file(path)
    with pytest.raises(FileNotFoundError):
        load_systems_file(tmp_path / "missing.yaml")


def test_register_conflicts() -> None:
    base = get_system("H100").model_dump()
    register_system(get_system("H100"))  # identical: no-op
    with pytest.raises(ValueError, match="already registered"):
        register_system(base | {"tdp_w": 500})
    register_system(base | {"tdp_w": 500}, replace=True)
    assert get_system("H100").tdp_w == 500
    with pytest.raises(ValueError, match="already refers to"):
        register_system(base | {"name": "Other", "aliases": ["RTX 3090"]})
    with pytest.raises(ValueError, match="peak_tflops"):
        register_system(base | {"name": "Other", "peak_tflops": {"fp33": {"simt": 1}}})
    with pytest.raises(ValueError, match="smem_per_block_kb"):
        register_system(base | {"name": "Other", "aliases": [], "smem_per_block_kb": 300})


def test_inline_specs() -> None:
    assert system_from_inline("rtx_3090") is get_system("RTX 3090")
    assert system_from_inline({"name": "H100"}) is get_system("H100")
    tweaked = system_from_inline({"name": "h100", "boost_clock_mhz": 1755})
    assert tweaked.name == "NVIDIA H100 80GB HBM3" and tweaked.boost_clock_mhz == 1755
    assert get_system("H100").boost_clock_mhz == 1980  # not registered by default
    new = yaml_spec = {
        "name": "Inline GPU", "vendor": "AMD", "architecture": "RDNA3", "sm_count": 4, "boost_clock_mhz": 2000,
        "memory_bandwidth_gbs": 100, "peak_tflops": {"fp32": {"simt": 1.0}}, "warp_size": 32,
    }
    spec = system_from_inline(new, register=True)
    assert spec.vendor == "amd" and spec.architecture == "rdna3"
    assert spec_table(["Inline GPU"])["sys.l2_mb"].isna().all()
    with pytest.raises(ValueError, match="sm_count"):
        system_from_inline({k: v for k, v in yaml_spec.items() if k != "sm_count"} | {"name": "Nope"})
    with pytest.raises(ValueError, match="name"):
        system_from_inline({"sm_count": 3})


def test_spec_table_shape_order_nan() -> None:
    names = ["RTX_3090", "H100", "W6600", "RTX_3090", "GTX 680"]
    t = spec_table(names)
    assert list(t.columns) == list(TABLE_COLUMNS)
    assert t.shape == (5, len(TABLE_COLUMNS))
    assert t["sys.sm_count"].tolist() == [82, 132, 28, 82, 8]
    assert t["sys.mem_bw_gbs"].tolist() == [936, 3350, 224, 936, 192.26]
    assert all(t[c].dtype == np.float64 for c in t.columns)
    assert math.isnan(t.loc[0, "sys.peak_tflops.fp8e4m3.tensor"])
    assert math.isnan(t.loc[2, "sys.peak_tflops.fp16.tensor"])  # RDNA2 has no matrix cores
    assert math.isnan(t.loc[4, "sys.compute_capability"]) is False
    assert math.isnan(t.loc[2, "sys.compute_capability"])
    for d in DTYPES:
        assert f"sys.peak_tflops.{d}.simt" in t and f"sys.peak_tflops.{d}.tensor" in t
    series = pd.Series(["H100", None, "nope"], index=[10, 20, 30])
    nan_t = spec_table(series, errors="nan", include_text=True)
    assert list(nan_t.index) == [10, 20, 30]
    assert nan_t["sys.sm_count"].iloc[0] == 132 and nan_t["sys.sm_count"].iloc[1:].isna().all()
    assert nan_t["sys.name"].iloc[0] == "NVIDIA H100 80GB HBM3" and nan_t["sys.name"].iloc[1:].isna().all()
    with pytest.raises(UnknownSystemError):
        spec_table(series)
    assert spec_table([]).shape == (0, len(TABLE_COLUMNS))


def test_peak_tflops_vectorised_with_fallbacks() -> None:
    names = ["H100", "H100", "RTX 2080 Ti", "RTX 2080 Ti", "A100", "GTX 680", "W6600", "A100"]
    dtypes = ["bf16", "torch.float16", "bf16", "tf32", "tf32", "fp16", "fp16", "float8_e4m3fn"]
    tc = [True, False, True, True, False, True, True, True]
    got = peak_tflops(names, dtypes, tc)
    expect = [989.4, 133.8, np.nan, 13.45, 19.5, np.nan, 20.8, np.nan]
    np.testing.assert_allclose(got, expect, equal_nan=True)
    # scalar dtype and tensor flag broadcast; Series input works
    np.testing.assert_allclose(peak_tflops(pd.Series(["A100", "H200"]), "fp32", True), [19.5, 66.9])
    with pytest.raises(ValueError, match="unknown dtype"):
        peak_tflops(["H100"], "fp4")
    assert np.isnan(peak_tflops(["H100", "zz"], "fp4", errors="nan")).all()
    assert get_system("A100").peak("tf32") == 156


def test_cli_list_and_show() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "perfcast.cli", "systems", *args],
                              capture_output=True, text=True, check=False)

    out = run()
    assert out.returncode == 0 and all(n in out.stdout for n in CANONICAL)
    shown = run("show", "rtx_3090", "--json")
    assert shown.returncode == 0
    assert SystemSpec.model_validate(json.loads(shown.stdout)) == get_system("RTX 3090")
    assert json.loads(run("list", "--json").stdout)[0]["name"] == list_systems()[0].name
    bad = run("show", "H1000")
    assert bad.returncode == 1 and "Did you mean" in bad.stderr


def test_measured_hopper_properties_match() -> None:
    """cudaDeviceProp values read on the lent H100 SXM and H200 (see the `probe_*` citations)."""
    measured = {  # name: (SMs, L2 B, smem/SM B, smem/block opt-in B, bus bits, mem clock MHz)
        "NVIDIA H100 80GB HBM3": (132, 52428800, 233472, 232448, 5120, 2619),
        "NVIDIA H200": (132, 62914560, 233472, 232448, 6016, 3201),
    }
    for name, (sms, l2, smem_sm, smem_blk, bus_bits, mem_mhz) in measured.items():
        s = get_system(name)
        assert s.sm_count == sms
        assert s.l2_cache_mb * 2**20 == l2
        assert s.smem_per_sm_kb * 1024 == smem_sm and s.smem_per_block_kb * 1024 == smem_blk
        # double data rate: bus bytes x 2 transfers per memory clock
        assert s.memory_bandwidth_gbs == pytest.approx(bus_bits / 8 * 2 * mem_mhz * 1e-3, rel=0.01)


@pytest.mark.gpu
def test_local_gpu_matches_registry() -> None:
    """On a CUDA machine, the registry entry for the local GPU agrees with what the driver reports."""
    import torch

    props = torch.cuda.get_device_properties(0)
    spec = get_system(props.name)  # the NVML/CUDA name must resolve
    assert spec.sm_count == props.multi_processor_count
    assert spec.compute_capability == f"{props.major}.{props.minor}"
    assert spec.registers_per_sm == props.regs_per_multiprocessor
    assert spec.max_threads_per_sm == props.max_threads_per_multi_processor
    assert spec.warp_size == props.warp_size
    assert spec.smem_per_block_kb * 1024 == props.shared_memory_per_block_optin
    assert spec.smem_per_sm_kb * 1024 == props.shared_memory_per_multiprocessor
    assert spec.l2_cache_mb * 2**20 == props.L2_cache_size
    assert spec.memory_gb * 1e9 == pytest.approx(props.total_memory, rel=0.1)
