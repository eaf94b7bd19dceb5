"""`perfcast systems [list|show NAME] [--json]`: the registered GPU systems and their specs."""

from __future__ import annotations

import argparse
import json
import sys

from perfcast.systems.registry import DTYPES, SystemSpec, UnknownSystemError, get_system, list_systems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["list", "show"], default="list",
                        help="list every system (default) or show one")
    parser.add_argument("name", nargs="?", help="system name or alias (for `show`)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--systems-file", action="append", default=[], metavar="YAML",
                        help="also load systems from this YAML file (repeatable; like PERFCAST_SYSTEMS)")


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _peak(spec: SystemSpec, dtype: str, path: str) -> str:
    return _fmt(spec.peak_tflops.get(dtype, {}).get(path))


def _list_table(specs: list[SystemSpec]) -> str:
    header = ["name", "vendor", "arch", "SMs", "boost MHz", "mem GB/s", "fp32 TF", "bf16 TC TF", "fp16 TC TF",
              "L2 MB", "TDP W"]
    rows = [[s.name, s.vendor, s.architecture, _fmt(s.sm_count), _fmt(s.boost_clock_mhz),
             _fmt(s.memory_bandwidth_gbs), _peak(s, "fp32", "simt"), _peak(s, "bf16", "tensor"),
             _peak(s, "fp16", "tensor"), _fmt(s.l2_cache_mb), _fmt(s.tdp_w)] for s in specs]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _show(spec: SystemSpec) -> str:
    lines = [spec.name]
    skip = {"name", "peak_tflops", "source", "notes"}
    for field, value in spec.model_dump().items():
        if field not in skip:
            lines.append(f"  {field:<22}{', '.join(value) if isinstance(value, list) else _fmt(value)}")
    lines.append("  peak TFLOP/s (dense)   simt      tensor")
    for dtype in DTYPES:
        if dtype in spec.peak_tflops:
            lines.append(f"    {dtype:<20} {_peak(spec, dtype, 'simt'):<9} {_peak(spec, dtype, 'tensor')}")
    if spec.notes:
        lines.append(f"  notes: {spec.notes}")
    lines.append("  sources:")
    lines.extend(f"    - {c.document}" + (f" <{c.url}>" if c.url else "") for c in spec.source)
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from perfcast.systems.registry import load_systems_file

    try:
        for path in args.systems_file:
            load_systems_file(path)
        if args.action == "show":
            if not args.name:
                print("perfcast systems show: give a system name or alias", file=sys.stderr)
                return 2
            spec = get_system(args.name)
            print(json.dumps(spec.model_dump(mode="json"), indent=2) if args.json else _show(spec))
            return 0
        specs = list_systems()
        if args.json:
            print(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
        else:
            print(_list_table(specs))
        return 0
    except UnknownSystemError as exc:
        print(f"perfcast systems: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f"perfcast systems: {exc}", file=sys.stderr)
        return 1
