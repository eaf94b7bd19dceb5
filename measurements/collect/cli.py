"""`perfcast collect SPEC [--out FILE] [--budget-s N] [--power | --no-power]`, `perfcast collect --redo FILES
[--status invalid] [--power-rejected]` (re-measure recorded points) and `perfcast collect --bundle`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from .spec import CollectSpec, SpecError, expand_spec, load_spec, redo_items, unique_configs

SPECS_DIR = Path(__file__).resolve().parent / "specs"


def resolve_spec_path(spec: str) -> Path:
    """A spec file path, or the name of a bundled spec (`measurements/collect/specs/NAME.yaml`)."""
    path = Path(spec)
    if path.exists():
        return path
    for candidate in (SPECS_DIR / spec, SPECS_DIR / f"{spec}.yaml"):
        if candidate.exists():
            return candidate
    known = ", ".join(sorted(p.stem for p in SPECS_DIR.glob("*.yaml")))
    raise SpecError(f"spec {spec!r} not found (a file path, or one of the bundled specs: {known})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="*", help="sweep spec (YAML/JSON path or bundled spec name); with --bundle: JSONL inputs")
    parser.add_argument("--out", default=None, help="output JSONL (default: collect-<spec>.jsonl)")
    parser.add_argument("--budget-s", type=float, default=540.0, help="stop cleanly before this many seconds (default 540)")
    power = parser.add_mutually_exclusive_group()
    power.add_argument("--power", dest="power", action="store_true", default=None,
                       help="NVML energy windows on the sweeps that ask for them (default)")
    power.add_argument("--no-power", dest="power", action="store_false", help="runtime only")
    parser.add_argument("--seed", type=int, default=None, help="override the spec's seed (a new draw of configs/shapes)")
    parser.add_argument("--workers", type=int, default=None, help="compile processes (default: CPU cores - 2)")
    parser.add_argument("--dry-run", action="store_true", help="expand the spec and print counts; no GPU needed")
    parser.add_argument("--bundle", action="store_true",
                        help="merge the given JSONL files into --out (.jsonl.xz), IR kept once per compiled kernel")
    parser.add_argument("--redo", action="store_true",
                        help="re-measure the points of the records in the given JSONL files (see --status) "
                             "under the current timing protocol, each point once")
    parser.add_argument("--status", default=None,
                        help="with --redo: comma-separated record statuses to re-measure "
                             "(default: invalid; none with --power-rejected alone)")
    parser.add_argument("--power-rejected", action="store_true",
                        help="with --redo: also re-measure the points whose power window did not run the timed "
                             "kernel back to back (over 1.5x its runtime per call), with a power window")
    parser.add_argument("--ir-quota", action="append", default=[], metavar="FAMILY=N",
                        help="with --bundle: keep IR for at most N compiled kernels of FAMILY (repeatable)")


def missing_gpu_stack() -> str | None:
    """Why this machine cannot measure (no torch/triton/nvidia-ml-py, or no CUDA GPU), or None."""
    import importlib.util  # noqa: PLC0415

    missing = [pkg for mod, pkg in (("torch", "torch"), ("triton", "triton"), ("pynvml", "nvidia-ml-py"))
               if importlib.util.find_spec(mod) is None]
    if missing:
        return f"measuring needs {', '.join(missing)} on a machine with a CUDA GPU (`pip install -e \".[gpu]\"` there)"
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to torch (torch.cuda.is_available() is False)"
    return None


def main(args: argparse.Namespace) -> int:
    if args.bundle:
        from .bundle import bundle  # noqa: PLC0415

        if not args.spec or not args.out:
            print("perfcast collect --bundle needs input files and --out", file=sys.stderr)
            return 2
        try:
            quota = {k: int(v) for k, _, v in (q.partition("=") for q in args.ir_quota)}
        except ValueError:
            print(f"perfcast collect: --ir-quota wants FAMILY=N, got {args.ir_quota}", file=sys.stderr)
            return 2
        print(json.dumps(bundle(args.spec, args.out, ir_quota=quota), indent=1))
        return 0
    if not args.redo and len(args.spec) != 1:
        print("perfcast collect: give exactly one SPEC", file=sys.stderr)
        return 2
    if args.redo and not args.spec:
        print("perfcast collect --redo needs JSONL input files", file=sys.stderr)
        return 2
    try:
        if args.redo:
            status = args.status if args.status is not None else ("" if args.power_rejected else "invalid")
            statuses = [s.strip() for s in status.split(",") if s.strip()]
            items = redo_items(args.spec, statuses, power_rejected=args.power_rejected)
            name = "redo-" + "-".join(Path(p).name.split(".")[0] for p in args.spec[:3])
            spec = CollectSpec(name=name, sweeps=[], seed=args.seed if args.seed is not None else 0)
        else:
            spec = load_spec(resolve_spec_path(args.spec[0]))
            if args.seed is not None:
                spec = replace(spec, seed=args.seed, name=f"{spec.name}-s{args.seed}")
            items = expand_spec(spec)
    except (SpecError, OSError) as exc:
        print(f"perfcast collect: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        by_kernel: dict[str, int] = {}
        for it in items:
            by_kernel[it.kernel] = by_kernel.get(it.kernel, 0) + 1
        triton_items = [it for it in items if it.kernel.startswith("triton.")]
        print(json.dumps({"spec": spec.name, "items": len(items), "by_kernel": by_kernel,
                          "triton_configs": len(unique_configs(triton_items)),
                          "power_items": sum(it.power for it in items)}, indent=1))
        return 0
    problem = missing_gpu_stack()
    if problem:
        print(f"perfcast collect: {problem} (`--dry-run` shows the plan without a GPU)", file=sys.stderr)
        return 2
    from .runner import Collector  # noqa: PLC0415  (imports torch/triton)

    out = Path(args.out or f"collect-{spec.name}.jsonl")
    report = Collector(spec, out, budget_s=args.budget_s, power=args.power, workers=args.workers,
                       items=items if args.redo else None).run()
    print(json.dumps(report.as_dict(), indent=1))
    return 0 if report.written else 1
