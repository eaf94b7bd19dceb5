"""A TVM-MetaSchedule-style cost model loop: predict scores, measure the best, update, save, load.

MetaSchedule's search asks its cost model to score candidate schedules (higher is better), measures the
top ones and feeds the results back with `update`. `perfcast.serving.autotune.CostModel` plays that role
for kernel configs; real A100 measurements (PyTorch AutoHeuristic log) stand in for the GPU here.

    python examples/metaschedule_cost_model.py [--model DIR|models:/perfcast-default@champion]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from ask_tell import measured_problem
from perfcast.serving.autotune import CostModel
from perfcast.serving.cli import DEFAULT_MODEL

from perfcast import Predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("PERFCAST_MODEL", DEFAULT_MODEL))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=4)
    args = parser.parse_args()

    system, problem, configs, runtimes = measured_problem(index=1)
    truth = np.array(runtimes)
    model = CostModel(Predictor.load(args.model), system=system, problem=problem, kernel="triton.matmul")
    measured: set[int] = set()
    for round_ in range(args.rounds):
        scores = model.predict(configs)  # higher is better (1 / predicted runtime_ms, corrected)
        order = [i for i in np.argsort(-scores, kind="stable") if i not in measured][: args.per_round]
        model.update([configs[i] for i in order], [runtimes[i] for i in order])
        measured.update(order)
        corrected = model.corrected(configs)
        err = np.median(np.abs(np.log(corrected / truth)))
        best = min(runtimes[i] for i in measured)
        print(f"round {round_}: measured {len(measured):2d}/{len(configs)}, best {best:.4f} ms "
              f"({best / truth.min():.3f}x true best), median |log error| over all configs {err:.3f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cost_model.json"
        model.save(path)
        again = CostModel.load(path, Predictor.load(args.model))
        assert np.allclose(again.predict(configs), model.predict(configs))
        print(f"saved and reloaded {path.name}: {len(again.measured)} measurements, same scores")


if __name__ == "__main__":
    main()
