"""Guided measurement: a cost model chooses which configs to measure next (the autotuner's loop).

`guided_search` measures `initial` random candidates, then repeats: fit a fresh model on everything
measured so far (plus optional `context` rows, e.g. other GPUs), predict the unmeasured candidates,
measure a batch. It stops after `budget` measurements. Half of each batch is the predicted fastest; the
other half continues down the predicted order but skips a candidate within `diversity` parameter
changes of one already in the batch, so one wrong belief about a region cannot take every measurement
of a round. Failed measurements (status not ok, or no value) count against the budget and stay in the
training rows: the models learn from failures. `initial=budget` is plain random search, the baseline.

On Kernel Tuner GEMM, leave one GPU out, a `TransferCostModel` in this loop finds the measured-best
config with 500 measurements where 500 random ones do not (`python benchmarks/guided_search.py`,
README, section models).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.schema import section_columns
from perfcast.training.baselines import usable

__all__ = ["SearchResult", "guided_search", "parameter_codes", "pick_batch"]

#: `measure(rows) -> rows with the objective`: the same rows (same index), measured.
Measure = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass
class SearchResult:
    """What a search measured, in order: `measured` has the candidates' index and a `search.round`
    column (0 = the random start); `objective` is the column minimised."""

    measured: pd.DataFrame
    objective: str = "runtime_ms"

    def values(self) -> np.ndarray:
        """The objective per measurement, in measurement order (NaN where the measurement failed)."""
        v = pd.to_numeric(self.measured[self.objective], errors="coerce").to_numpy(dtype=np.float64)
        return np.where(usable(self.measured, self.objective), v, np.nan)

    def best_so_far(self) -> np.ndarray:
        """The best objective after 1, 2, ... measurements (NaN until one succeeds)."""
        best = np.minimum.accumulate(np.nan_to_num(self.values(), nan=np.inf))
        return np.where(np.isfinite(best), best, np.nan)

    @property
    def best(self) -> pd.Series:
        """The fastest successfully measured row."""
        v = self.values()
        if not np.isfinite(v).any():
            raise ValueError(f"no successful measurement of {self.objective!r} in {len(v)} tries")
        return self.measured.iloc[int(np.nanargmin(v))]


def _measure(measure: Measure, rows: pd.DataFrame, objective: str, round_no: int) -> pd.DataFrame:
    out = measure(rows)
    if not isinstance(out, pd.DataFrame) or len(out) != len(rows) or not out.index.equals(rows.index):
        raise ValueError(f"measure() must return the {len(rows)} rows it was given, same index "
                         f"(round {round_no}); got {type(out).__name__} of length {len(out)}")
    if objective not in out.columns:
        raise ValueError(f"measure() returned no {objective!r} column (round {round_no}); "
                         f"columns: {sorted(map(str, out.columns))[:20]}")
    return out.assign(**{"search.round": round_no})


def pick_batch(order: np.ndarray, params: np.ndarray, k: int, diversity: int) -> np.ndarray:
    """The first `k` of `order` (candidate positions, predicted fastest first), except that after the
    first half a candidate within `diversity` differing parameters of one already picked is skipped.

    `params` holds one row of parameter codes per candidate. If too few candidates are far enough apart,
    the skipped ones fill the batch in order."""
    greedy = (k + 1) // 2
    if diversity <= 0 or params.shape[1] == 0 or len(order) <= k:
        return order[:k]
    picked = list(order[:greedy])
    skipped = []
    for i in order[greedy:]:
        if len(picked) == k:
            break
        if ((params[picked] != params[i]).sum(axis=1) <= diversity).any():
            skipped.append(i)
        else:
            picked.append(i)
    picked += skipped[: k - len(picked)]
    return np.asarray(picked[:k], dtype=order.dtype)


def parameter_codes(candidates: pd.DataFrame) -> np.ndarray:
    """Integer codes of the candidates' `params.*` columns (a missing value is a value of its own)."""
    columns = section_columns(candidates, "params")
    if not columns:
        return np.zeros((len(candidates), 0), dtype=np.int64)
    return np.column_stack([pd.factorize(candidates[c], use_na_sentinel=False)[0] for c in columns])


def guided_search(model_factory: Callable[[], Any], candidates: pd.DataFrame, measure: Measure, *,
                  budget: int = 500, initial: int = 200, batch: int = 50, diversity: int = 1,
                  objective: str = "runtime_ms", context: pd.DataFrame | None = None, seed: int = 0,
                  progress: bool = False) -> SearchResult:
    """Measure `budget` of `candidates`: `initial` at random, then `batch` at a time, chosen by a model
    fitted on all measurements so far (and `context`). Returns what was measured, in order.

    Each batch is the first half of the model's predicted order, then the next candidates that differ
    from every one already in the batch in more than `diversity` of the `params.*` columns (0: the
    `batch` predicted fastest, a plain greedy batch). `model_factory()` gives an unfitted model with
    `fit(frame)` and `predict(frame)` answering `pred.<objective>`; a model that cannot fit yet
    (ValueError, e.g. too few successful rows) leaves that round to random picks, with a warning.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    for name, value, low in (("budget", budget, 1), ("initial", initial, 1), ("batch", batch, 1),
                             ("diversity", diversity, 0)):
        if not (isinstance(value, int | np.integer) and value >= low):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if len(candidates) == 0:
        raise ValueError("no candidates to measure")
    if not candidates.index.is_unique:
        raise ValueError("candidates need a unique index (it names the measured rows)")
    budget = min(int(budget), len(candidates))
    params = parameter_codes(candidates)
    rng = np.random.default_rng(seed)
    start = rng.choice(len(candidates), size=min(int(initial), budget), replace=False)
    # in draw order: the best-so-far curve of a random start is then a random-search curve
    measured = [_measure(measure, candidates.iloc[start], objective, 0)]
    done = np.zeros(len(candidates), dtype=bool)
    done[start] = True
    bar = tqdm(total=budget, initial=int(done.sum()), desc="guided search", unit="meas", disable=not progress)
    round_no = 0
    while done.sum() < budget:
        round_no += 1
        k = min(int(batch), budget - int(done.sum()))
        todo = np.flatnonzero(~done)
        seen = pd.concat(([context] if context is not None else []) + measured, ignore_index=True, sort=False)
        try:
            model = model_factory()
            model.fit(seen)
            pred = pd.to_numeric(model.predict(candidates.iloc[todo])[f"pred.{objective}"], errors="coerce")
            score = np.where(np.isfinite(pred.to_numpy(dtype=np.float64)), pred.to_numpy(dtype=np.float64), np.inf)
            # stable sort: among equal predictions the candidates' order decides, so a run is repeatable
            chosen = todo[pick_batch(np.argsort(score, kind="stable"), params[todo], k, int(diversity))]
        except ValueError as exc:
            warnings.warn(f"guided search round {round_no}: the model could not fit ({exc}); "
                          f"measuring {k} random candidates instead", stacklevel=2)
            chosen = rng.choice(todo, size=k, replace=False)
        measured.append(_measure(measure, candidates.iloc[chosen], objective, round_no))
        done[chosen] = True
        bar.update(k)
    bar.close()
    return SearchResult(pd.concat(measured, sort=False), objective)
