"""GPU system registry: datasheet-cited specs, name/alias lookup and vectorised spec tables.

`get_system("H100")`, `resolve_name("RTX_3090")`, `spec_table(frame["system"])`,
`peak_tflops(names, "bf16", tensor_cores=True)`. Add systems with a YAML file
(`PERFCAST_SYSTEMS=path.yaml` or `load_systems_file`), `register_system({...})`, or an inline
`system` object in a record (`system_from_inline`). See docs/systems.md.
"""

from perfcast.systems.registry import (
    DTYPES,
    ENV_VAR,
    PATHS,
    PEAK_COLUMNS,
    TABLE_COLUMNS,
    Citation,
    SystemRegistry,
    SystemSpec,
    UnknownSystemError,
    builtin_specs,
    dump_systems_yaml,
    get_system,
    list_systems,
    load_systems_file,
    normalize_dtype,
    peak_tflops,
    register_system,
    reset_registry,
    resolve_name,
    spec_table,
    system_from_inline,
)

__all__ = [
    "DTYPES",
    "ENV_VAR",
    "PATHS",
    "PEAK_COLUMNS",
    "TABLE_COLUMNS",
    "Citation",
    "SystemRegistry",
    "SystemSpec",
    "UnknownSystemError",
    "builtin_specs",
    "dump_systems_yaml",
    "get_system",
    "list_systems",
    "load_systems_file",
    "normalize_dtype",
    "peak_tflops",
    "register_system",
    "reset_registry",
    "resolve_name",
    "spec_table",
    "system_from_inline",
]
