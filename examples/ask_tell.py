"""Ask/tell tuning guided by perfcast, with real A100 measurements standing in for the GPU.

For one matmul problem of PyTorch's AutoHeuristic A100 log, every Triton config was measured. The
tuner asks perfcast which configs to try, "measures" them by looking up the recorded runtime, tells
the results back (the cost model corrects itself near measured configs) and stops after a budget.

    python examples/ask_tell.py [--model DIR|models:/perfcast-default@champion] [--budget 16]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from perfcast.measurements.ingest import read_path
from perfcast.serving.autotune import AskTell, rank_candidates
from perfcast.serving.cli import DEFAULT_MODEL

from perfcast import Predictor

DATASETS = Path(os.environ.get("PERFCAST_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
DATA = DATASETS / "autoheuristic_a100" / "a100_mm.zip"
PARAMS = ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "num_warps", "num_stages")


def measured_problem(index: int = 0) -> tuple[str, dict, list[dict], list[float]]:
    """(system, problem, configs, runtimes_ms) of the `index`-th largest fp16 problem of the log's first chunk."""
    frame = next(iter(read_path(DATA))).frame
    frame = frame[(frame["kernel"] == "triton.matmul") & (frame["status"] == "ok") & (frame["problem.dtype"] == "fp16")]
    keys = ["problem.M", "problem.N", "problem.K", "problem.a_layout", "problem.b_layout"]
    sizes = frame.groupby(keys).size().sort_values(ascending=False, kind="stable")
    rows = frame.set_index(keys).loc[sizes.index[index]].reset_index()
    rows = rows.drop_duplicates(subset=[f"params.{p}" for p in PARAMS])
    problem = {k.split(".", 1)[1]: (v.item() if hasattr(v, "item") else v) for k, v in rows.iloc[0][keys].items()}
    problem["dtype"] = "fp16"
    configs = [{p: int(r[f"params.{p}"]) for p in PARAMS} for _, r in rows.iterrows()]
    return str(rows.iloc[0]["system"]), problem, configs, rows["runtime_ms"].astype(float).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("PERFCAST_MODEL", DEFAULT_MODEL))
    parser.add_argument("--budget", type=int, default=16, help="configs to measure")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()

    predictor = Predictor.load(args.model)
    system, problem, configs, runtimes = measured_problem()
    truth = {tuple(c.items()): t for c, t in zip(configs, runtimes, strict=True)}
    best_ms = min(runtimes)
    print(f"{system}, problem {problem}: {len(configs)} measured configs, best {best_ms:.4f} ms")

    top = rank_candidates(predictor, system, problem, configs, kernel="triton.matmul", top_k=3)
    print("model's top 3 before measuring anything:")
    for item in top:
        real = truth[tuple(item["params"].items())]
        r = item["prediction"]["runtime_ms"]
        print(f"  {item['params']}  predicted {r['value']:.4f} ms [{r['q10']:.4f}, {r['q90']:.4f}], measured {real:.4f} ms")

    tuner = AskTell(predictor, system=system, problem=problem, candidates=configs, kernel="triton.matmul")
    while len(tuner.results) < args.budget:
        batch = tuner.ask(args.batch)
        if not batch:
            break
        tuner.tell(batch, [truth[tuple(c.items())] for c in batch])
        params, value = tuner.best()
        print(f"after {len(tuner.results):3d} measurements: best {value:.4f} ms ({value / best_ms:.3f}x the true best)")
    print(f"best config found: {tuner.best()[0]}")


if __name__ == "__main__":
    main()
