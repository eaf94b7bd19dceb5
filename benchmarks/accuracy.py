"""The ONE command that reproduces the accuracy numbers table (README, `models` section).

    python benchmarks/accuracy.py                 # every suite, full size; rewrites the README table
    python benchmarks/accuracy.py --quick         # smoke run: subsampled, short training, README untouched
    python benchmarks/accuracy.py --suite kt_gemm_config   # re-run one suite, keep the others' last rows

Each suite fits the perfcast model (`GBCostModel` with the family settings of
`perfcast.training.evaluate.FAMILY_SETTINGS`) and the baselines (plain LightGBM on raw params, GPPerf's
multi-output RandomForest, roofline × efficiency, and for transfer the other-GPU lookup) on the same
frozen split of the real datasets in `../shared/datasets`, and scores the held-out part. The Markdown
written between `<!-- numbers -->` and `<!-- /numbers -->` in README.md holds the issue's targets with
what was measured (worst case over a suite's cases) and every case's main metrics per model.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from perfcast.training.evaluate import SUITES, markdown_table, run_suite, targets_table

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- numbers -->", "<!-- /numbers -->"
SECTION_END = "<!-- /section:models -->"

#: Per-suite columns of the detail tables (test part unless named).
DETAIL = {
    "kt_gemm_config": ["runtime_ms.median_ape", "spearman_median", "top1_slowdown_geomean",
                       "top10_slowdown_geomean", "runtime_ms.coverage_80"],
    "kt_gemm_transfer": ["runtime_ms.median_ape", "spearman_median", "top1_slowdown_geomean",
                         "top10_slowdown_geomean", "runtime_ms.coverage_80"],
    "autoheuristic_problem": ["runtime_ms.median_ape", "spearman_median", "kendall_median", "pairwise_accuracy",
                              "top1_slowdown_geomean", "top1_slowdown_median", "top1_slowdown_p90",
                              "top5_recall", "top10_slowdown_geomean", "runtime_ms.coverage_80"],
    "gpperf_problem": ["runtime_ms.r2", "runtime_ms.r2_log", "runtime_ms.median_ape", "power_w.median_ape",
                       "power_w.coverage_80"],
    "sgemm_config": ["runtime_ms.median_ape", "runtime_ms.mape", "spearman_median", "top1_slowdown_geomean"],
    "extrapolation": ["runtime_ms.median_ape", "in_range.runtime_ms.median_ape", "far.runtime_ms.median_ape",
                      "runtime_ms.r2_log",
                      "spearman_median", "top1_slowdown_geomean"],
}


def render(results: pd.DataFrame, seconds: float, command: str) -> str:
    """The Markdown block for the README: targets table, then one detail table per suite."""
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"{seconds / 60:.1f} min, by `{command}`. Worst case over a suite's cases (each GPU); "
        "splits are frozen (`split_id` in `--output`).",
        "",
        markdown_table(targets_table(results), digits=5),
        "",
        "How: `perfcast` is `GBCostModel` (log runtime / roofline) with the family settings of "
        "`perfcast.training.evaluate.FAMILY_SETTINGS`, chosen on validation splits inside the training rows "
        "(`python -m perfcast.training.tuning --suite NAME`). AutoHeuristic repeats of one config (its three "
        "logs overlap) are merged to their median before splitting. A GPPerf problem is its shape (rows that "
        "differ only in alpha/beta stay together). Transfer: `perfcast` is `TransferCostModel` (a memorising "
        "`GBCostModel` of the other GPUs; its predictions as if on each of them, mapped to the new GPU by a ridge "
        "weighted to the fastest of the 500 measured target configs, then a small residual booster); "
        "`perfcast_upweight` is the earlier model (other GPUs + the 500 target configs counted 20×). Extrapolation "
        "trains `GBCostModel(scale_free=True, large_problem_weight=8)` (the absolute-size features never split; "
        "the larger half of the training sizes counts 8×; `perfcast_unweighted` is without the weights, "
        "`perfcast_all_features` is without the weights and with the size features on). `roofline` is the physics bound × one "
        "efficiency constant fitted on the training rows; `other_gpus` predicts a config's geometric-mean "
        "runtime on the other GPUs. Coverage is of the conformalised 80% interval. One suite: "
        "`perfcast evaluate --suite NAME [--quick] [--mlflow] [--output FILE]`.",
        "",
    ]
    for suite, cols in DETAIL.items():
        sub = results[results["suite"] == suite]
        if sub.empty:
            continue
        show = ["case", "model"] + [c if c.startswith(("in_range.", "far.")) else f"test.{c}" for c in cols]
        show = [c for c in show if c in sub.columns]
        lines += [f"**{suite}** — {SUITES[suite].description}", "",
                  markdown_table(sub[show].rename(columns=lambda c: c.removeprefix("test."))), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_readme(block: str, readme: Path = ROOT / "README.md") -> None:
    """Replace the block between the numbers markers (added at the end of the models section if absent)."""
    text = readme.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = f"{head}{BEGIN}\n{block}{END}{tail}"
    elif SECTION_END in text:
        text = text.replace(SECTION_END, f"### Accuracy numbers\n\n{BEGIN}\n{block}{END}\n{SECTION_END}", 1)
    else:
        raise SystemExit(f"{readme}: no `{SECTION_END}` marker to put the numbers table before")
    readme.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", help="run only these suites (repeatable); default all")
    parser.add_argument("--quick", action="store_true", help="subsampled smoke run (never touches README)")
    parser.add_argument("--no-readme", action="store_true", help="print the table, leave README.md alone")
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy.csv",
                        help="every metric of every (suite, case, model) row")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    names = args.suite or list(SUITES)
    frames = []
    if args.suite and args.output and args.output.exists() and not args.quick:
        # Re-running some suites: keep the other suites' rows of the last full run, so the table stays whole.
        previous = pd.read_csv(args.output)
        frames.append(previous[~previous["suite"].isin(names)])
    for name in names:
        t = time.perf_counter()
        rows = run_suite(name, args.datasets, quick=args.quick)
        rows["suite_seconds"] = round(time.perf_counter() - t, 1)
        frames.append(rows)
        print(f"[{name}] {rows['suite_seconds'].iloc[0]:.0f} s", flush=True)
        if args.output:  # after every suite, so a long run that is cut short keeps what it measured
            args.output.parent.mkdir(parents=True, exist_ok=True)
            pd.concat(frames, ignore_index=True).to_csv(args.output, index=False)
    results = pd.concat(frames, ignore_index=True)
    seconds = float(results.groupby("suite")["suite_seconds"].first().sum())
    command = "python benchmarks/accuracy.py" + (" --quick" if args.quick else "")
    block = render(results, seconds, command)
    print(block)
    if not args.quick and not args.no_readme:
        write_readme(block)
        print("README.md numbers table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
