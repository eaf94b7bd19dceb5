"""The GPU system registry: datasheet-cited specs, name/alias lookup, vectorised spec tables.

Conventions (also in README `systems` and `docs/systems.md`):

- `peak_tflops[dtype][path]`: dense peak (no structured sparsity), TFLOP/s (TOPS for int8), at the
  listed boost clock as the vendor states it. `path` is `simt` (CUDA cores / vector ALUs; FMA = 2 FLOP)
  or `tensor` (tensor cores / matrix cores / WMMA). A path or dtype the chip lacks is omitted.
  Tensor fp16/bf16/fp8 figures are for fp32 accumulation (what GEMM libraries and Triton use); GeForce
  parts run that at half their fp16-accumulate rate. int8 is listed only for the tensor/matrix path.
- `sm_count` counts SMs (NVIDIA) or compute units (AMD). `warp_size` is 32 on NVIDIA, 64 on CDNA
  (wave64), 32 on RDNA (HIP and OpenCL compile wave32 there by default; RDNA can also run wave64).
- `smem_per_sm_kb` is shared memory (NVIDIA) or LDS (AMD) one SM/CU can hold; `smem_per_block_kb` the
  most one block/work-group may use (NVIDIA: the opt-in maximum). `registers_per_sm` counts 32-bit
  registers.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DTYPES: tuple[str, ...] = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8e4m3", "int8")
PATHS: tuple[str, ...] = ("simt", "tensor")
ENV_VAR = "PERFCAST_SYSTEMS"

# Spellings that frameworks and records use for the same dtype.
_DTYPE_SYNONYMS: dict[str, str] = {
    "fp64": "fp64", "float64": "fp64", "double": "fp64", "f64": "fp64",
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "single": "fp32", "f32": "fp32",
    "tf32": "tf32", "tensorfloat32": "tf32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "f16": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp8e4m3": "fp8e4m3", "fp8": "fp8e4m3", "float8e4m3": "fp8e4m3", "float8e4m3fn": "fp8e4m3",
    "e4m3": "fp8e4m3", "f8e4m3": "fp8e4m3", "f8e4m3fn": "fp8e4m3",
    "int8": "int8", "i8": "int8", "s8": "int8",
}

# Numeric `spec_table` columns: column name -> SystemSpec field (units in the names).
TABLE_FIELDS: dict[str, str] = {
    "sys.sm_count": "sm_count",
    "sys.boost_clock_mhz": "boost_clock_mhz",
    "sys.mem_gb": "memory_gb",
    "sys.mem_bw_gbs": "memory_bandwidth_gbs",
    "sys.l2_mb": "l2_cache_mb",
    "sys.smem_per_sm_kb": "smem_per_sm_kb",
    "sys.smem_per_block_kb": "smem_per_block_kb",
    "sys.regs_per_sm": "registers_per_sm",
    "sys.max_threads_per_sm": "max_threads_per_sm",
    "sys.max_blocks_per_sm": "max_blocks_per_sm",
    "sys.warp_size": "warp_size",
    "sys.tdp_w": "tdp_w",
}
PEAK_COLUMNS: tuple[str, ...] = tuple(f"sys.peak_tflops.{d}.{p}" for d in DTYPES for p in PATHS)
TABLE_COLUMNS: tuple[str, ...] = (*TABLE_FIELDS, "sys.compute_capability", *PEAK_COLUMNS)


class Citation(BaseModel):
    """One spec source: the document's name and where to read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    document: str = Field(min_length=1)
    url: str = ""


class SystemSpec(BaseModel):
    """Specs of one GPU as one device sees it (see module docstring for the conventions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    vendor: Literal["nvidia", "amd"]
    architecture: str = Field(min_length=1)
    compute_capability: str | None = None
    sm_count: int = Field(gt=0)
    boost_clock_mhz: float = Field(gt=0)
    memory_gb: float | None = Field(default=None, gt=0)
    memory_bandwidth_gbs: float = Field(gt=0)
    peak_tflops: dict[str, dict[str, float]]
    l2_cache_mb: float | None = Field(default=None, gt=0)
    smem_per_sm_kb: float | None = Field(default=None, gt=0)
    smem_per_block_kb: float | None = Field(default=None, gt=0)
    registers_per_sm: int | None = Field(default=None, gt=0)
    max_threads_per_sm: int | None = Field(default=None, gt=0)
    max_blocks_per_sm: int | None = Field(default=None, gt=0)
    warp_size: int = Field(default=32, gt=0)
    tdp_w: float | None = Field(default=None, gt=0)
    source: list[Citation] = Field(default_factory=list)
    notes: str = ""

    @field_validator("architecture", mode="before")
    @classmethod
    def _lower_arch(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("vendor", mode="before")
    @classmethod
    def _lower_vendor(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("compute_capability", mode="before")
    @classmethod
    def _cc_str(cls, value: Any) -> Any:
        # YAML reads `8.0` as a float; keep the "major.minor" string.
        if isinstance(value, float):
            return f"{value:.1f}"
        return value

    @field_validator("source", mode="before")
    @classmethod
    def _source_list(cls, value: Any) -> Any:
        # Accept one citation, a bare string, or a list mixing both.
        if value is None:
            return []
        if isinstance(value, (str, Mapping)):
            value = [value]
        return [{"document": v} if isinstance(v, str) else v for v in value]

    @field_validator("peak_tflops", mode="before")
    @classmethod
    def _normalise_peaks(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("peak_tflops must map dtype -> {simt: TFLOP/s, tensor: TFLOP/s}")
        out: dict[str, dict[str, float]] = {}
        for dtype, paths in value.items():
            canon = normalize_dtype(str(dtype))
            if canon is None:
                raise ValueError(f"peak_tflops: unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")
            if not isinstance(paths, Mapping):
                raise ValueError(f"peak_tflops.{dtype} must be a mapping like {{simt: 19.5, tensor: 156}}")
            for path, tflops in paths.items():
                if path not in PATHS:
                    raise ValueError(f"peak_tflops.{dtype}: unknown path {path!r} (use simt or tensor)")
                if tflops is None:
                    continue
                t = float(tflops)
                if not (math.isfinite(t) and t > 0):
                    raise ValueError(f"peak_tflops.{dtype}.{path} must be a positive number, got {tflops!r}")
                out.setdefault(canon, {})[path] = t
        return out

    @model_validator(mode="after")
    def _consistent(self) -> SystemSpec:
        if not self.peak_tflops:
            raise ValueError("peak_tflops must list at least one dtype")
        if (
            self.smem_per_sm_kb is not None
            and self.smem_per_block_kb is not None
            and self.smem_per_block_kb > self.smem_per_sm_kb
        ):
            raise ValueError("smem_per_block_kb cannot exceed smem_per_sm_kb")
        return self

    def peak(self, dtype: str, tensor_cores: bool = True) -> float:
        """Peak TFLOP/s for `dtype`, falling back as `peak_tflops()` documents; NaN if absent."""
        return float(_peaks_for(np.zeros(1, dtype=np.int64), [self], dtype, tensor_cores, "nan")[0])


class UnknownSystemError(LookupError):
    """A system name or alias that the registry does not know; `str(err)` says how to add it."""

    def __init__(self, name: str, suggestions: Sequence[str] = (), known: Sequence[str] = ()) -> None:
        super().__init__(name)
        self.name = name
        self.suggestions = list(suggestions)
        self.known = list(known)

    def __str__(self) -> str:
        lines = [f"unknown system {self.name!r}."]
        if self.suggestions:
            lines.append("Did you mean: " + ", ".join(repr(s) for s in self.suggestions) + "?")
        lines.append("Known systems: " + ", ".join(self.known) + ".")
        lines.append(
            "To add one: put its specs in a YAML file and set PERFCAST_SYSTEMS=path/to/systems.yaml "
            "(several paths separated by ':'), call perfcast.systems.register_system({...}) or "
            "load_systems_file(path), or give the record an inline `system` object with the spec fields "
            "(see docs/systems.md)."
        )
        return " ".join(lines)


def normalize_dtype(dtype: str) -> str | None:
    """Canonical dtype name (`fp32`, `bf16`, ...) for common spellings (`float32`, `torch.bfloat16`)."""
    key = re.sub(r"[\s_\-.]", "", str(dtype).lower().removeprefix("torch."))
    return _DTYPE_SYNONYMS.get(key)


def _key(name: str) -> str:
    """Lookup key: case-insensitive, ignoring whitespace, underscores and hyphens."""
    return re.sub(r"[\s_\-]+", "", str(name).lower())


def _short_key(name: str) -> str | None:
    """Key with a leading vendor word dropped ("NVIDIA GeForce GTX 680" -> "geforcegtx680")."""
    m = re.match(r"\s*(nvidia|amd)[\s_\-]+(.+)", str(name), flags=re.IGNORECASE)
    return _key(m.group(2)) if m else None


class SystemRegistry:
    """Name -> SystemSpec with alias keys. The module keeps one, loaded lazily."""

    def __init__(self) -> None:
        self._specs: dict[str, SystemSpec] = {}
        self._keys: dict[str, str] = {}  # exact keys of names and aliases -> canonical name
        self._short: dict[str, str | None] = {}  # vendor-less keys; None marks an ambiguous one
        self._lock = threading.RLock()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[SystemSpec]:
        return list(self._specs.values())

    def register(self, spec: SystemSpec | Mapping[str, Any], *, replace: bool = False) -> SystemSpec:
        spec = _coerce_spec(spec)
        with self._lock:
            old = self._specs.get(spec.name)
            if old is not None and old != spec and not replace:
                raise ValueError(
                    f"system {spec.name!r} is already registered with different specs; "
                    "pass replace=True to override it"
                )
            for label in (spec.name, *spec.aliases):
                owner = self._keys.get(_key(label))
                if owner is not None and owner != spec.name:
                    raise ValueError(
                        f"system {spec.name!r}: name/alias {label!r} already refers to {owner!r}"
                    )
            if old is not None:
                self._drop_keys(old)
            self._specs[spec.name] = spec
            for label in (spec.name, *spec.aliases):
                self._keys[_key(label)] = spec.name
                short = _short_key(label)
                if short is not None:
                    prev = self._short.get(short, spec.name)
                    self._short[short] = spec.name if prev == spec.name else None
            return spec

    def _drop_keys(self, spec: SystemSpec) -> None:
        self._keys = {k: v for k, v in self._keys.items() if v != spec.name}
        self._short = {k: v for k, v in self._short.items() if v != spec.name}

    def _find(self, name: str) -> str | None:
        key = _key(name)
        if key in self._keys:
            return self._keys[key]
        # "GeForce GTX 680" (older NVML) matches "NVIDIA GeForce GTX 680"; "NVIDIA A6000" matches "A6000".
        hit = self._short.get(key)
        if hit is None:
            short = _short_key(name)
            if short is not None:
                hit = self._keys.get(short) or self._short.get(short)
        return hit

    def resolve(self, name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise UnknownSystemError(str(name), known=self.names())
        hit = self._find(name)
        if hit is None:
            raise UnknownSystemError(name, self._suggest(name), self.names())
        return hit

    def get(self, name: str) -> SystemSpec:
        return self._specs[self.resolve(name)]

    def _suggest(self, name: str) -> list[str]:
        labels: dict[str, str] = {}
        for spec in self._specs.values():
            for label in (spec.name, *spec.aliases):
                labels.setdefault(_key(label), spec.name)
        close = difflib.get_close_matches(_key(name), list(labels), n=6, cutoff=0.6)
        out: list[str] = []
        for k in close:
            if labels[k] not in out:
                out.append(labels[k])
        return out[:3]


def _coerce_spec(spec: SystemSpec | Mapping[str, Any]) -> SystemSpec:
    if isinstance(spec, SystemSpec):
        return spec
    if not isinstance(spec, Mapping):
        raise TypeError(f"a system spec must be a SystemSpec or a mapping, got {type(spec).__name__}")
    try:
        return SystemSpec.model_validate(dict(spec))
    except ValidationError as exc:
        label = spec.get("name", "<unnamed>")
        raise ValueError(f"invalid system spec {label!r}: {exc}") from exc


def _read_yaml_specs(text: str, origin: str) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{origin}: not valid YAML: {exc}") from exc
    if data is None:
        return []
    if isinstance(data, Mapping) and "systems" in data:
        data = data["systems"]
    if isinstance(data, Mapping) and "name" in data:
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        raise ValueError(f"{origin}: expected a list of system mappings (optionally under a `systems:` key)")
    return [dict(d) for d in data]


def _parse_specs(text: str, origin: str) -> list[SystemSpec]:
    specs = []
    for i, raw in enumerate(_read_yaml_specs(text, origin)):
        try:
            specs.append(SystemSpec.model_validate(raw))
        except ValidationError as exc:
            raise ValueError(f"{origin}: system #{i + 1} ({raw.get('name', '<unnamed>')!r}): {exc}") from exc
    return specs


_REGISTRY: SystemRegistry | None = None
_INIT_LOCK = threading.Lock()


def builtin_specs() -> list[SystemSpec]:
    """The shipped, datasheet-cited specs (`specs.yaml`, package data)."""
    text = resources.files(__package__).joinpath("specs.yaml").read_text(encoding="utf-8")
    return _parse_specs(text, "perfcast.systems/specs.yaml")


def _registry() -> SystemRegistry:
    global _REGISTRY
    if _REGISTRY is None:
        with _INIT_LOCK:
            if _REGISTRY is None:
                reg = SystemRegistry()
                for spec in builtin_specs():
                    reg.register(spec)
                # User files override built-in entries of the same name (e.g. a different clock).
                for part in os.environ.get(ENV_VAR, "").split(os.pathsep):
                    if part.strip():
                        for spec in load_systems_file(part.strip(), register=False):
                            reg.register(spec, replace=True)
                _REGISTRY = reg
    return _REGISTRY


def reset_registry() -> None:
    """Forget registered systems; the next lookup reloads `specs.yaml` and `PERFCAST_SYSTEMS`."""
    global _REGISTRY
    with _INIT_LOCK:
        _REGISTRY = None


def get_system(name_or_alias: str) -> SystemSpec:
    """The spec for a name or alias (case, whitespace, `_` and `-` insensitive).

    Raises `UnknownSystemError` (a `LookupError`) naming close matches and how to add a system.
    """
    return _registry().get(name_or_alias)


def resolve_name(name: str) -> str:
    """Canonical system name for a name or alias; `UnknownSystemError` if unknown."""
    return _registry().resolve(name)


def list_systems() -> list[SystemSpec]:
    """Every registered system, built-in ones first, in registration order."""
    return _registry().specs()


def register_system(spec: SystemSpec | Mapping[str, Any], *, replace: bool = False) -> SystemSpec:
    """Add a system (a `SystemSpec` or a dict of its fields) to the process-wide registry.

    Re-registering identical specs is a no-op; different specs under an existing name need
    `replace=True`. Names/aliases that already mean another system raise `ValueError`.
    """
    return _registry().register(spec, replace=replace)


def load_systems_file(path: str | os.PathLike[str], *, register: bool = True,
                      replace: bool = True) -> list[SystemSpec]:
    """Read systems from a YAML file (a list of spec mappings, or one under `systems:`).

    With `register=True` (default) they are added to the registry, replacing same-named entries.
    Errors name the file and the offending entry.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"systems file not found: {p}")
    specs = _parse_specs(p.read_text(encoding="utf-8"), str(p))
    if register:
        reg = _registry()
        for spec in specs:
            reg.register(spec, replace=replace)
    return specs


def dump_systems_yaml(specs: Iterable[SystemSpec]) -> str:
    """YAML text that `load_systems_file` reads back to equal specs."""
    return yaml.safe_dump(
        {"systems": [s.model_dump(mode="json", exclude_defaults=True) | {"name": s.name} for s in specs]},
        sort_keys=False,
        allow_unicode=True,
    )


def system_from_inline(obj: Mapping[str, Any] | str, *, register: bool = False) -> SystemSpec:
    """A spec from a record's `system` value: a name, or an inline object.

    An object whose `name` is known and that carries other fields overrides those fields of the
    registered spec (e.g. `{"name": "H100", "boost_clock_mhz": 1755}`); an object with an unknown
    name must carry the full spec (validation errors name the missing fields). With
    `register=True` the result is registered (replacing a same-named entry) so `spec_table` finds it.
    """
    if isinstance(obj, str):
        return get_system(obj)
    if not isinstance(obj, Mapping):
        raise TypeError(f"inline system must be a name or a mapping, got {type(obj).__name__}")
    data = dict(obj)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("inline system object needs a non-empty `name`")
    reg = _registry()
    known = reg._find(name)
    if known is not None:
        base = reg._specs[known]
        extra = {k: v for k, v in data.items() if k != "name"}
        if not extra:
            return base
        merged = base.model_dump() | extra
        # Overridden specs keep the registered name, so features see one system per name.
        merged["name"] = base.name
        spec = _coerce_spec(merged)
    else:
        spec = _coerce_spec(data)
    if register:
        reg.register(spec, replace=True)
    return spec


def _spec_rows(specs: Sequence[SystemSpec | None]) -> np.ndarray:
    """(n_specs, len(TABLE_COLUMNS)) float matrix; a None spec gives a NaN row."""
    out = np.full((len(specs), len(TABLE_COLUMNS)), np.nan)
    for i, spec in enumerate(specs):
        if spec is None:
            continue
        row = [getattr(spec, f) for f in TABLE_FIELDS.values()]
        row.append(float(spec.compute_capability) if spec.compute_capability else None)
        row.extend(spec.peak_tflops.get(d, {}).get(p) for d in DTYPES for p in PATHS)
        out[i] = [np.nan if v is None else float(v) for v in row]
    return out


def _factorize_names(names: Sequence[str] | pd.Series | np.ndarray,
                     errors: Literal["raise", "nan"]) -> tuple[np.ndarray, list[SystemSpec | None]]:
    """Codes into a list of unique specs (resolved once per unique name)."""
    if isinstance(names, str):
        raise TypeError("pass a sequence of names, not one string")
    codes, uniques = pd.factorize(pd.Series(np.asarray(names, dtype=object)), use_na_sentinel=True)
    resolved: list[SystemSpec | None] = []
    for u in uniques:
        try:
            resolved.append(get_system(u))
        except UnknownSystemError:
            if errors == "raise":
                raise
            resolved.append(None)
    if (codes < 0).any():
        if errors == "raise":
            raise UnknownSystemError("<missing>", known=_registry().names())
        # Missing names point at an extra all-NaN row.
        resolved.append(None)
        codes = np.where(codes < 0, len(resolved) - 1, codes)
    return codes, resolved


def spec_table(names: Sequence[str] | pd.Series | np.ndarray, *, errors: Literal["raise", "nan"] = "raise",
               include_text: bool = False) -> pd.DataFrame:
    """Numeric specs, one row per input name, in input order (index kept for a Series).

    Columns: `TABLE_COLUMNS` (`sys.sm_count`, `sys.mem_bw_gbs`, ... and
    `sys.peak_tflops.<dtype>.<simt|tensor>`), NaN where a chip lacks a value. Each unique name is
    resolved once. `errors="nan"` gives NaN rows for unknown/missing names instead of raising.
    `include_text=True` adds `sys.name`, `sys.vendor`, `sys.architecture` (None for unknown names).
    """
    codes, resolved = _factorize_names(names, errors)
    values = _spec_rows(resolved)[codes] if len(codes) else np.empty((0, len(TABLE_COLUMNS)))
    index = names.index if isinstance(names, pd.Series) else None
    # `values` is a fresh array: wrapping it without a copy saves seconds on million-row frames
    frame = pd.DataFrame(values, columns=list(TABLE_COLUMNS), index=index, copy=False)
    if include_text:
        for col, attr in (("sys.name", "name"), ("sys.vendor", "vendor"), ("sys.architecture", "architecture")):
            lookup = np.array([getattr(s, attr) if s is not None else None for s in resolved], dtype=object)
            frame.insert(len(frame.columns), col, lookup[codes] if len(codes) else [])
    return frame


def peak_tflops(names: Sequence[str] | pd.Series | np.ndarray, dtypes: str | Sequence[str] | np.ndarray,
                tensor_cores: bool | Sequence[bool] | np.ndarray = True, *,
                errors: Literal["raise", "nan"] = "raise") -> np.ndarray:
    """Peak TFLOP/s per row for (system, dtype, tensor-core use); vectorised over rows.

    `dtypes` and `tensor_cores` are scalars or per-row arrays. Fallbacks, in order: a tensor request
    on a chip without a tensor path for that dtype uses its SIMT peak; `tf32` without a tf32 path
    uses fp32 (the maths then runs in fp32). Anything still absent (bf16 on Turing, fp8 on Ampere,
    an unknown dtype with `errors="nan"`) is NaN.
    """
    codes, resolved = _factorize_names(names, errors)
    return _peaks_for(codes, resolved, dtypes, tensor_cores, errors)


def _peaks_for(codes: np.ndarray, resolved: Sequence[SystemSpec | None],
               dtypes: str | Sequence[str] | np.ndarray, tensor_cores: bool | Sequence[bool] | np.ndarray,
               errors: Literal["raise", "nan"]) -> np.ndarray:
    """`peak_tflops` over rows given as codes into unique specs."""
    n = len(codes)
    dt = np.broadcast_to(np.asarray(dtypes, dtype=object), (n,))
    tc = np.broadcast_to(np.asarray(tensor_cores, dtype=bool), (n,))
    dcodes, duniques = pd.factorize(pd.Series(dt))
    canon = [normalize_dtype(d) if isinstance(d, str) else None for d in duniques]
    bad = [d for d, c in zip(duniques, canon, strict=True) if c is None]
    if bad and errors == "raise":
        raise ValueError(f"unknown dtype(s) {bad!r}; known: {', '.join(DTYPES)}")
    # table[s, d, 0] = simt, table[s, d, 1] = tensor after fallbacks.
    table = np.full((len(resolved), len(duniques) + 1, 2), np.nan)
    for si, spec in enumerate(resolved):
        if spec is None:
            continue
        for di, d in enumerate(canon):
            if d is None:
                continue
            entry = spec.peak_tflops.get(d, {})
            if d == "tf32":  # tf32 maths without a tf32 path runs as fp32
                entry = {**spec.peak_tflops.get("fp32", {}), **entry}
            simt = entry.get("simt", np.nan)
            table[si, di] = (simt, entry.get("tensor", simt))
    dcodes = np.where(dcodes < 0, len(duniques), dcodes)  # missing dtype -> NaN column
    return table[codes, dcodes, tc.astype(np.int64)] if n else np.empty(0)
