"""Training pipeline: measurement store -> GBCostModel(s) -> ONNX model directory -> MLflow run + registry.

`train_models(store, by="routed"|"all"|"family")` trains the default: ONE registered model
(`perfcast-default`) whose directory routes each kernel family to its own sub-model (`routed`, see
`perfcast.models.routed`); or one model across all kernel families (`all`); or one registered model
per family (`family`: `perfcast-<family>`, dots as dashes). For each registered model:
1. freeze a held-out split by problem (`perfcast.training.splits.split_by_problem`; by config when the
   data holds a single problem, e.g. one Kernel Tuner GEMM cache; a routed model freezes one such
   split per sub-model: `RoutedSplit`), fit on its training part and score the held-out part with
   `perfcast.training.evaluate` (these are the logged metrics and the split `perfcast promote` compares on);
2. refit on all rows (the served model), save the ONNX directory with the metrics and split inside, and
   which stored records it saw (`training_rows.npz`: promote scores it only on records it never saw);
3. log the run to MLflow (params, data snapshot, schema, metrics, plots, model directory), register it
   and set alias `challenger` (and `champion` when the name has none).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.validate import HASH_COLUMN
from perfcast.models.gbm import GBCostModel

from perfcast.config import STORE_HELP

DEFAULT_NAME = "perfcast-default"
#: Chosen by measurement (README `models`): one sub-model per kernel family behind one routed directory
#: (median APE 14-64% lower on 10 of 11 families than one model across families, same frozen split).
DEFAULT_BY = "routed"
GRANULARITIES = ("routed", "all", "family")
#: A family with fewer rows shares the sub-model of the largest family measured on its main GPU
#: (measured: `cuda.tiled_matmul`, 195 rows, median APE 46% with `cutlass.gemm` vs 56% alone).
MIN_FAMILY_ROWS = 1000
#: The stored records (`_hash`) a model was fitted on, so `perfcast promote` can tell new measurements.
TRAINING_ROWS_FILE = "training_rows.npz"
#: The held-out fit's predictions of its test records, so `perfcast promote` need not re-fit it.
HELDOUT_PREDICTIONS_FILE = "heldout_predictions.npz"


@dataclass
class TrainResult:
    """Outcome of training one registered model."""

    name: str
    model_dir: Path
    n_rows: int
    kernels: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    split: dict[str, Any] | None = None
    run_id: str | None = None
    version: str | None = None
    seconds: float = 0.0


def model_name(family: str | None) -> str:
    """Registered model name of a kernel family (`triton.matmul` -> `perfcast-triton-matmul`), or the default."""
    if family is None:
        return DEFAULT_NAME
    return "perfcast-" + re.sub(r"[^A-Za-z0-9]+", "-", family).strip("-").lower()


def subdir_name(family: str) -> str:
    """Sub-directory of a family's sub-model in a routed directory (`triton.matmul` -> `triton-matmul`)."""
    return model_name(family).removeprefix("perfcast-")


def plan_routes(frame: pd.DataFrame, min_family_rows: int = MIN_FAMILY_ROWS) -> dict[str, str]:
    """kernel -> sub-directory: every family with >= `min_family_rows` rows gets its own sub-model; a
    smaller one joins the largest such family measured on its most common system (else the largest)."""
    kernels = frame["kernel"].astype(str)
    counts = kernels.value_counts()
    if counts.empty:
        raise ValueError("no rows to route: the frame has no kernel")
    big = [k for k in counts.index if counts[k] >= min_family_rows] or [str(counts.index[0])]
    routes = {k: subdir_name(k) for k in big}
    systems = frame["system"].astype(str) if "system" in frame.columns else pd.Series("", index=frame.index)
    for kernel in counts.index:
        if kernel in routes:
            continue
        main_system = systems[kernels == kernel].mode().iloc[0]
        near = kernels[(systems == main_system) & kernels.isin(big)].value_counts()
        host = str(near.index[0]) if len(near) else big[0]
        routes[kernel] = routes[host]
    return dict(sorted(routes.items()))


def route_groups(routes: Mapping[str, str]) -> dict[str, list[str]]:
    """sub-directory -> its kernels (sorted), in sub-directory order."""
    groups: dict[str, list[str]] = {}
    for kernel, sub in sorted(routes.items()):
        groups.setdefault(sub, []).append(kernel)
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class RoutedSplit:
    """The frozen split of a routed model: one `Split` per sub-model over its kernels' rows
    (by problem, or by config for a single-problem group), applied and checked group by group."""

    groups: dict[str, dict[str, Any]]  # sub-directory -> {"kernels": [...], "split": Split.to_dict()}
    seed: int = 0
    kind: str = "routed"

    @classmethod
    def freeze(cls, frame: pd.DataFrame, routes: Mapping[str, str], test_fraction: float = 0.2,
               seed: int = 0) -> RoutedSplit:
        kernels = frame["kernel"].astype(str)
        groups = {}
        for sub, ks in route_groups(routes).items():
            part = frame[kernels.isin(ks).to_numpy()].reset_index(drop=True)
            if len(part):
                groups[sub] = {"kernels": ks, "split": freeze_split(part, test_fraction, seed).to_dict()}
        return cls(groups=groups, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": self.seed, "groups": self.groups, "counts": self.counts}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoutedSplit:
        return cls(groups={k: dict(v) for k, v in d["groups"].items()}, seed=int(d.get("seed", 0)))

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for g in self.groups.values():
            for part, n in g["split"].get("counts", {}).items():
                out[part] = out.get(part, 0) + int(n)
        return out

    @property
    def split_id(self) -> str:
        text = json.dumps({"kind": self.kind, "seed": self.seed, "groups": self.groups}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def group_split(self, sub: str) -> Any:
        from perfcast.training.splits import Split  # noqa: PLC0415

        return Split.from_dict(self.groups[sub]["split"])

    def parts(self, frame: pd.DataFrame, check: bool = True) -> dict[str, np.ndarray]:
        """Positional rows of `train` / `test` in `frame`: each group's split applied to its kernels' rows
        (raises `SplitMismatchError` when a group's rows differ from the frozen ones)."""
        kernels = frame["kernel"].astype(str)
        out: dict[str, list[np.ndarray]] = {"train": [], "test": []}
        for sub, g in self.groups.items():
            pos = np.flatnonzero(kernels.isin(g["kernels"]).to_numpy())
            parts = self.group_split(sub).parts(frame.iloc[pos].reset_index(drop=True), check=check)
            for name in out:
                out[name].append(pos[parts[name]])
        return {name: np.sort(np.concatenate(v)) if v else np.array([], dtype=np.intp) for name, v in out.items()}

    def train_test(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        p = self.parts(frame)
        return p["train"], p["test"]


def split_from_dict(d: Mapping[str, Any]) -> Any:
    """A stored `eval_split` (its `split_id` key ignored) -> `Split` or `RoutedSplit`."""
    from perfcast.training.splits import Split  # noqa: PLC0415

    d = {k: v for k, v in d.items() if k != "split_id"}
    return RoutedSplit.from_dict(d) if d.get("kind") == "routed" else Split.from_dict(d)


class RoutedGBCostModel:
    """One `GBCostModel` per route group, fitted and predicted like one model (scikit-learn style).

    Args:
        hyperparameters: `GBCostModel` constructor arguments, the same for every sub-model.
        routes: kernel -> sub-directory; kernels of the training frame it does not name are routed
            by `plan_routes` (None: all of them).
        min_family_rows: `plan_routes`' threshold for a family of its own.
        single_thread_rows: sub-models with fewer rows fit LightGBM on one thread: small per-family
            boosters gain nothing from more (measured: 1M rows 194.6 s with 2 threads each; see
            `python benchmarks/bench_retrain.py --routed`).
        n_jobs: worker processes for those one-thread sub-models when together they hold at least
            `PARALLEL_MIN_ROWS` rows (below that, starting a process costs more than it saves); 1 fits
            everything here. Processes, not threads: two LightGBM fits in threads of one process
            crashed (a segfault in CI). The fitted models are the same either way. Larger sub-models
            fit here afterwards, one after another, on every core.

    A group that cannot be fitted on its rows alone (e.g. a family with no usable row on the training
    side of another model's frozen split, when `perfcast promote` re-scores a routed champion there)
    is answered by one model fitted on all the training rows.
    """

    def __init__(self, hyperparameters: Mapping[str, Any] | None = None, routes: Mapping[str, str] | None = None,
                 min_family_rows: int = MIN_FAMILY_ROWS, single_thread_rows: int = 200_000, n_jobs: int = 2):
        self.hyperparameters = dict(hyperparameters or {})
        self.routes = dict(routes) if routes is not None else None
        self.min_family_rows = min_family_rows
        self.single_thread_rows = single_thread_rows
        self.n_jobs = n_jobs
        self.routes_: dict[str, str] = {}
        self.models_: dict[str, GBCostModel] = {}
        self.fallback_: list[str] = []

    def get_params(self) -> dict[str, Any]:
        return {"hyperparameters": self.hyperparameters, "routes": self.routes, "min_family_rows": self.min_family_rows,
                "single_thread_rows": self.single_thread_rows, "n_jobs": self.n_jobs}

    def fit(self, frame: pd.DataFrame, *, progress: bool = False, export_onnx: bool = False) -> RoutedGBCostModel:
        """Fit each group's `GBCostModel` on its kernels' rows. `export_onnx`: a model about to be saved;
        the sub-models fitted in worker processes build their ONNX graphs there too, side by side."""
        frame = frame.reset_index(drop=True)
        present = set(frame["kernel"].astype(str))
        # the given routes win; kernels they do not name are planned from this frame
        planned = {k: v for k, v in plan_routes(frame, self.min_family_rows).items() if k not in (self.routes or {})}
        self.routes_ = dict(sorted({**planned, **(self.routes or {})}.items()))
        kernels = frame["kernel"].astype(str)
        hp = model_factory(self.hyperparameters)
        names = route_groups(self.routes_)
        groups = {sub: frame[kernels.isin(ks).to_numpy()].reset_index(drop=True)
                  for sub, ks in names.items() if present & set(ks)}
        self.models_ = {}
        self.fallback_ = [sub for sub in names if sub not in groups]  # no training rows

        one_thread = [sub for sub in groups if len(groups[sub]) < self.single_thread_rows]
        fitted: dict[str, GBCostModel | None] = {}
        if self.n_jobs > 1 and len(one_thread) > 1 and sum(len(groups[sub]) for sub in one_thread) >= PARALLEL_MIN_ROWS:
            fitted = _fit_in_processes({sub: groups[sub] for sub in one_thread}, self.hyperparameters, self.n_jobs,
                                       {sub: names[sub] for sub in one_thread} if progress else None, export_onnx)
        for sub in groups:
            if sub not in fitted:
                if progress:
                    print(f"  [{sub}] fit on {len(groups[sub]):,} rows ({', '.join(names[sub])})", flush=True)
                fitted[sub] = _fit_group(self.hyperparameters, groups[sub], sub in one_thread, progress)
        for sub in names:
            model = fitted.get(sub)
            if model is not None:
                self.models_[sub] = model
            elif sub not in self.fallback_:
                self.fallback_.append(sub)
        if self.fallback_:
            shared = hp().fit(frame, progress=progress)
            self.models_.update({sub: shared for sub in self.fallback_})
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Canonical flat records -> `pred.*` columns, each row by its family's sub-model (input order)."""
        from perfcast.models.routed import output_columns_of, predict_routed  # noqa: PLC0415

        if not self.models_:
            raise RuntimeError("RoutedGBCostModel is not fitted: call fit(frame)")
        metas = list({id(m): m.meta_ for m in self.models_.values()}.values())
        cols = [f"pred.{c}" for c in output_columns_of(metas)]
        routes = {k: self.models_[sub] for k, sub in self.routes_.items()}
        return predict_routed(frame, routes, lambda model, part: model.predict(part), cols)

    def save(self, model_dir: str | Path, *, metrics: Mapping[str, Any] | None = None,
             eval_split: Mapping[str, Any] | None = None,
             group_metrics: Mapping[str, Mapping[str, Any]] | None = None,
             group_splits: Mapping[str, Mapping[str, Any]] | None = None,
             training_sample: Mapping[str, Any] | None = None) -> Path:
        """Save each sub-model to `model_dir/<sub>` (with its own held-out metrics and split), then the
        routed `routes.json` + top-level `model.json` (`perfcast.models.routed.write_routed_dir`)."""
        from perfcast.models.routed import write_routed_dir  # noqa: PLC0415

        model_dir = Path(model_dir)
        for sub, model in self.models_.items():
            model.meta_["eval_split"] = (group_splits or {}).get(sub)
            model.save(model_dir / sub, metrics=dict((group_metrics or {}).get(sub, {})))
        first = next(iter(self.models_.values()))
        extra = {"hyperparameters": {**first.get_params(), "keep_data": False},
                 "routing": {"min_family_rows": self.min_family_rows, "fallback": self.fallback_},
                 "fit_seconds": round(sum(m.meta_["fit_seconds"] for m in {id(m): m for m in self.models_.values()}.values()), 3)}
        if training_sample:
            extra["training_sample"] = dict(training_sample)
        return write_routed_dir(model_dir, self.routes_, metrics=metrics, eval_split=eval_split, extra=extra)


def select_rows(frame: pd.DataFrame, kernels: Sequence[str] | None = None,
                systems: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of `frame` of these kernels and systems (registry aliases: `H100` is `NVIDIA H100 80GB
    HBM3`, on either side), as the store's filter selects them."""
    from perfcast.measurements.validate import canonical_system, canonical_systems  # noqa: PLC0415

    keep = np.ones(len(frame), dtype=bool)
    if kernels:
        keep &= frame["kernel"].isin(list(kernels)).to_numpy()
    if systems:
        wanted = {canonical_system(name) for name in systems}
        keep &= canonical_systems(frame["system"].astype(str)).isin(wanted).to_numpy(dtype=bool)
    return frame[keep].reset_index(drop=True)


def load_training_frame(
    store: Any, kernels: Sequence[str] | None = None, systems: Sequence[str] | None = None
) -> pd.DataFrame:
    """All stored measurements (failed configs included) of the given kernels/systems, IR text left out;
    `_hash` (uint64) is each record's identity in the store, for `save_training_rows`."""
    from perfcast.measurements.validate import hex_to_hash  # noqa: PLC0415

    frame = store.read(kernel=list(kernels) if kernels else None, system=list(systems) if systems else None,
                       with_hash=True)
    if len(frame) == 0:
        where = f" for kernels={list(kernels)}" if kernels else ""
        where += f" systems={list(systems)}" if systems else ""
        raise ValueError(f"the measurement store at {getattr(store, 'root', store)} has no rows{where}: run perfcast ingest")
    if HASH_COLUMN in frame:
        frame[HASH_COLUMN] = hex_to_hash(frame[HASH_COLUMN].to_numpy())
    drop_stale_power(frame)
    return frame.reset_index(drop=True)


def drop_stale_power(frame: pd.DataFrame) -> int:
    """Null `power_w` and `energy_j` of stored records whose power a later bundle set aside.

    A bundle that rejects a record's power window (`meta.power_invalid_reason`, see
    `perfcast.measurements.collect.bundle`) changes that record's content, so a store that had ingested
    the earlier bundle holds both copies: the same measurement (system, kernel, params, problem, run)
    with and without its power. The copy with power must not be trained on. Returns how many rows."""
    if "meta.power_invalid_reason" not in frame or "meta.run_id" not in frame or "power_w" not in frame:
        return 0
    rejected = frame["meta.power_invalid_reason"].notna().to_numpy()
    if not rejected.any():
        return 0
    with_power = frame["power_w"].notna().to_numpy() & frame["meta.run_id"].notna().to_numpy()
    cols = ["system", "kernel", "meta.run_id",
            *sorted(c for c in frame.columns if isinstance(c, str) and c.startswith(("params.", "problem.")))]

    def keys(mask: np.ndarray) -> np.ndarray:
        return pd.util.hash_pandas_object(frame.loc[mask, cols], index=False).to_numpy()

    stale = with_power.copy()
    stale[with_power] = np.isin(keys(with_power), keys(rejected))
    frame.loc[stale, [c for c in ("power_w", "energy_j") if c in frame]] = np.nan
    return int(stale.sum())


def save_training_rows(model_dir: Path, frame: pd.DataFrame) -> int:
    """Record which stored records (`_hash`) a model was fitted on in `model_dir/training_rows.npz`.

    Kept as the sorted top 32 bits, delta-coded (about 2 bytes a record compressed): a new record
    mistaken for a seen one is rare (n / 2**32) and only leaves it out of promote's comparison.
    A frame without `_hash` (not read from a store) records nothing. Returns the records written."""
    if HASH_COLUMN not in frame:
        return 0
    top = np.unique((frame[HASH_COLUMN].to_numpy(dtype=np.uint64) >> np.uint64(32)).astype(np.uint32))
    np.savez_compressed(Path(model_dir) / TRAINING_ROWS_FILE, delta=np.diff(top, prepend=np.uint32(0)))
    return int(len(top))


def seen_in_training(model_dir: Path, hashes: np.ndarray) -> np.ndarray | None:
    """Which of the stored records `hashes` (uint64 `_hash`) the model in `model_dir` was fitted on;
    None when it has no record of its training rows (trained from a frame, or before it was kept)."""
    path = Path(model_dir) / TRAINING_ROWS_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        top = np.cumsum(data["delta"], dtype=np.uint32)
    return np.isin((np.asarray(hashes, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32), top)


def save_heldout_predictions(model_dir: Path, test: pd.DataFrame, pred: pd.DataFrame) -> int:
    """Keep the held-out fit's predictions of its test records in `model_dir/heldout_predictions.npz`,
    keyed by `_hash` (float64, as predicted). Promote scores the challenger on the records its champion
    never saw from these, instead of fitting the same model again. A frame without `_hash` (not read from
    a store) keeps nothing. Returns the records written."""
    if HASH_COLUMN not in test or not len(test):
        return 0
    columns = [c for c in pred.columns if pd.api.types.is_numeric_dtype(pred[c])]
    np.savez_compressed(Path(model_dir) / HELDOUT_PREDICTIONS_FILE, hash=test[HASH_COLUMN].to_numpy(dtype=np.uint64),
                        columns=np.array(columns, dtype=str),
                        **{f"column{i}": pred[c].to_numpy(dtype=np.float64) for i, c in enumerate(columns)})
    return len(test)


def heldout_predictions(model_dir: Path, hashes: np.ndarray) -> pd.DataFrame | None:
    """The held-out fit's predictions of the stored records `hashes` (uint64 `_hash`), in their order;
    None when the model kept none (`save_heldout_predictions`) or some record was not among its test rows."""
    path = Path(model_dir) / HELDOUT_PREDICTIONS_FILE
    if not path.is_file():
        return None
    hashes = np.asarray(hashes, dtype=np.uint64)
    with np.load(path, allow_pickle=False) as data:
        stored = data["hash"]
        order = np.argsort(stored, kind="stable")
        at = np.minimum(np.searchsorted(stored[order], hashes), max(len(stored) - 1, 0))
        if not len(stored) or not (stored[order][at] == hashes).all():
            return None
        rows = order[at]
        return pd.DataFrame({c: data[f"column{i}"][rows] for i, c in enumerate(data["columns"].tolist())})


def sample_problems(frame: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """At most `max_rows` rows per (kernel, system), keeping whole problems (every config of a chosen
    problem); a single-problem group (e.g. SGEMM UCI) is sampled by row instead. `max_rows <= 0`: all.

    Each group's draw depends only on its own rows and `seed` (problems in key order, rows of a
    single-problem group in content-hash order, one generator per group), not on the row order or on
    the other groups: `perfcast promote` re-draws the sample a model was trained on (`model.json`
    `training_sample`) from a filtered store read, and the model's frozen split applies to it."""
    from perfcast.training.splits import problem_keys, row_ids  # noqa: PLC0415

    if max_rows <= 0:
        return frame
    keys = problem_keys(frame)
    keep = []
    for (kernel, system), idx in frame.groupby(["kernel", "system"], sort=True, dropna=False).indices.items():
        if len(idx) <= max_rows:
            keep.append(idx)
            continue
        tag = int.from_bytes(hashlib.sha256(f"{kernel}|{system}".encode()).digest()[:8], "little")
        rng = np.random.default_rng([seed, tag])
        codes, uniques = pd.factorize(keys[idx], sort=True)
        if len(uniques) < 2:
            ordered = idx[np.argsort(row_ids(frame.iloc[idx]), kind="stable")]
            keep.append(rng.choice(ordered, size=max_rows, replace=False))
            continue
        order = rng.permutation(len(uniques))
        sizes = np.bincount(codes, minlength=len(uniques))[order]
        chosen = order[: max(1, int(np.searchsorted(np.cumsum(sizes), max_rows)))]
        keep.append(idx[np.isin(codes, chosen)])
    return frame.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def freeze_split(frame: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0) -> Any:
    """The frozen evaluation split stored with the model: by problem, or by config for a single problem."""
    from perfcast.training.splits import split_by_config, split_by_problem  # noqa: PLC0415

    try:
        return split_by_problem(frame, test_fraction=test_fraction, seed=seed)
    except ValueError:
        return split_by_config(frame, test_fraction=test_fraction, seed=seed)


#: `RoutedGBCostModel(n_jobs=)`: the fewest rows of one-thread sub-models worth worker processes (a
#: process takes ~2 s to start and import; 20,000 rows fit in about as long).
PARALLEL_MIN_ROWS = 50_000


def _fit_group(hyperparameters: dict[str, Any], rows: pd.DataFrame, one_thread: bool,
               progress: bool = False, export_onnx: bool = False) -> GBCostModel | None:
    """One route group's `GBCostModel` (None when no target has enough usable rows), with its ONNX graph
    built when `export_onnx`. Module level so a worker process can run it."""
    model = model_factory(hyperparameters)()
    params = model.params
    if one_thread:
        model.params = {**params, "num_threads": 1}
    try:
        model.fit(rows, progress=progress)
    except ValueError:  # no target with enough usable rows in this group
        return None
    # the thread count is how this fit ran (kept in `lightgbm_params`), not a hyperparameter to refit with
    model.params = params
    model.meta_["hyperparameters"] = model.get_params()
    if export_onnx:
        model.onnx_graph()
    return model


def _fit_in_processes(groups: dict[str, pd.DataFrame], hyperparameters: dict[str, Any], n_jobs: int,
                      names: dict[str, list[str]] | None, export_onnx: bool = False) -> dict[str, GBCostModel | None]:
    """`_fit_group` of one-thread groups in `n_jobs` spawned processes, largest first. Groups whose
    worker failed to start or died are left out (the caller fits them here)."""
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: PLC0415
    from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415

    out: dict[str, GBCostModel | None] = {}
    order = sorted(groups, key=lambda sub: -len(groups[sub]))
    workers = min(n_jobs, len(order))
    t0 = time.perf_counter()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_fit_group, hyperparameters, groups[sub], True, export_onnx=export_onnx): sub
                       for sub in order}
            if names is not None:
                print(f"  fitting {len(order)} smaller sub-models in {workers} processes: "
                      + ", ".join(f"{sub} ({len(groups[sub]):,} rows)" for sub in order), flush=True)
            for future in as_completed(futures):
                sub = futures[future]
                out[sub] = future.result()
                if names is not None:
                    print(f"  [{sub}] fitted ({', '.join(names[sub])}), {time.perf_counter() - t0:.1f} s", flush=True)
    except (OSError, BrokenProcessPool) as err:  # no worker could start, or one died: fit the rest here
        import warnings  # noqa: PLC0415

        warnings.warn(f"worker processes failed ({err!r}); fitting the remaining sub-models in this process",
                      RuntimeWarning, stacklevel=3)
    return out


def energy_points(models: Mapping[str, GBCostModel]) -> dict[str, str]:
    """Per (sub-)model with an energy target, the output answering it (`energy_j` or power × runtime's
    `energy_j.product`, `GBCostModel(energy_point=)`): logged with the run so the choice is searchable."""
    return {name: m.meta_["targets"]["energy_j"]["point"] for name, m in models.items() if "energy_j" in m.meta_["targets"]}


def model_factory(hyperparameters: dict[str, Any]) -> Any:
    """A zero-argument factory of `GBCostModel` with the given constructor arguments (as in model.json)."""
    hp = dict(hyperparameters)
    if hp.get("quantiles") is not None:
        hp["quantiles"] = tuple(hp["quantiles"])

    def make() -> GBCostModel:
        return GBCostModel(**hp)

    return make


def meta_factory(meta: Mapping[str, Any]) -> Any:
    """A zero-argument factory re-fitting the model a `model.json` describes: a `RoutedGBCostModel` with
    its routes for a routed model, else a `GBCostModel` with its hyperparameters (used by promote)."""
    if not meta.get("routed"):
        return model_factory(meta["hyperparameters"])
    routes = dict(meta["routes"])
    hp = dict(meta["hyperparameters"])
    min_rows = int((meta.get("routing") or {}).get("min_family_rows", MIN_FAMILY_ROWS))
    return lambda: RoutedGBCostModel(hp, routes=routes, min_family_rows=min_rows)


def holdout_metrics(
    frame: pd.DataFrame, hyperparameters: dict[str, Any], split: Any, *, factory: Any = None
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Fit on the split's train rows, score its test rows: (metrics, test frame, test predictions).

    `factory` builds the model (default: `GBCostModel` with `hyperparameters`)."""
    from perfcast.training.evaluate import evaluate  # noqa: PLC0415

    result = evaluate(factory or model_factory(hyperparameters), frame, split)
    model = result.pop("_model")
    _, test_idx = split.train_test(frame)
    test = frame.iloc[test_idx].reset_index(drop=True)
    pred = model.predict(test)
    metrics = {k: float(v) for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return metrics, test, pred


def _print_holdout(name: str, metrics: Mapping[str, float], n_test: int, seconds: float) -> None:
    """One progress line with the held-out fit's headline metrics (the phase is otherwise silent)."""
    labels = (("test.runtime_ms.median_ape", "runtime median APE {:.2f}%"), ("test.runtime_ms.coverage_80", "80% coverage {:.3f}"),
              ("test.spearman_median", "Spearman {:.3f}"), ("test.top1_slowdown_geomean", "top-1 {:.3f}"))
    parts = [fmt.format(metrics[k]) for k, fmt in labels if k in metrics and np.isfinite(metrics[k])]
    print(f"[{name}] held-out: {', '.join(parts) or 'no runtime metrics'} on {n_test:,} test rows ({seconds:.0f} s)",
          flush=True)


def _release_work(work: Path, result: TrainResult, artifact_uri: str | None) -> None:
    """Remove a training run's temporary directory once MLflow holds its plots and model (each run left
    one behind, a model copy included). A model saved only there (not registered, no `out_dir`) stays
    and `result.model_dir` names it; a registered one is then read from the run's logged copy."""
    from perfcast.training.registry import local_path  # noqa: PLC0415

    if result.model_dir.resolve().is_relative_to(work.resolve()):
        logged = local_path(artifact_uri) if artifact_uri else None
        if logged is None or not logged.is_dir():
            shutil.rmtree(work / "plots", ignore_errors=True)
            return
        result.model_dir = logged
    shutil.rmtree(work, ignore_errors=True)


def train_one(
    frame: pd.DataFrame,
    name: str,
    *,
    hyperparameters: dict[str, Any] | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    out_dir: Path | None = None,
    register: bool = True,
    tracking_uri: str | None = None,
    progress: bool = True,
    training_sample: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train, save, log and register one model from a canonical frame (`training_sample`: how the frame
    was sampled from the store, kept in `model.json` so promote can re-draw it)."""
    from perfcast.training import tracking  # noqa: PLC0415
    from perfcast.training.splits import ranking_groups  # noqa: PLC0415

    t0 = time.perf_counter()
    hp = GBCostModel(**(hyperparameters or {})).get_params()
    metrics: dict[str, float] = {}
    split_dict = None
    plots: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="perfcast-train-"))
    if holdout > 0:
        split = freeze_split(frame, holdout, seed)
        split_dict = {**split.to_dict(), "split_id": split.split_id}
        if progress:
            print(f"[{name}] held-out fit: {split.kind} split, {split.counts}", flush=True)
        metrics, test, pred = holdout_metrics(frame, hp, split)
        if progress:
            _print_holdout(name, metrics, len(test), time.perf_counter() - t0)
        plots = tracking.make_plots(test, pred, ranking_groups(test), work / "plots")
    if progress:
        print(f"[{name}] final fit on {len(frame):,} rows", flush=True)
    model = GBCostModel(**{**hp, "keep_data": False}).fit(frame, progress=progress)
    model.meta_["eval_split"] = split_dict
    if training_sample:
        model.meta_["training_sample"] = dict(training_sample)
    model_dir = Path(out_dir) if out_dir is not None else work / "model"
    model.save(model_dir, metrics=metrics)
    save_training_rows(model_dir, frame)
    if holdout > 0:
        save_heldout_predictions(model_dir, test, pred)
    snapshot = model.meta_["data"]
    result = TrainResult(
        name=name,
        model_dir=model_dir,
        n_rows=len(frame),
        kernels=sorted(snapshot["kernels"]),
        metrics=metrics,
        split=split_dict,
    )
    if register:
        if progress:
            print(f"[{name}] logging the run to MLflow and registering a version", flush=True)
        logged = tracking.log_training_run(
            model_dir,
            run_name=name,
            registered_name=name,
            params={"hyperparameters": hp, "lightgbm": model.meta_["lightgbm_params"], "holdout": holdout,
                    "feature_schema_version": model.schema_.version, "n_features": model.meta_["n_features"],
                    "targets": list(model.meta_["targets"]), "split": split_dict or {},
                    "energy_point": energy_points({name: model})},
            metrics={**metrics, "final.fit_seconds": model.meta_["fit_seconds"],
                     **{f"final.cqr_correction.{t}": s["correction"] for t, s in model.meta_["targets"].items()},
                     **{f"final.onnx_parity.{k}": v for k, v in model.meta_["onnx_parity"].items()}},
            snapshot=snapshot,
            plots=plots,
            tags={"perfcast.kernels": ",".join(result.kernels)},
            tracking_uri=tracking_uri,
        )
        result.run_id, result.version = logged["run_id"], logged["version"]
    _release_work(work, result, logged["artifact_uri"] if register else None)
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def train_routed(
    frame: pd.DataFrame,
    name: str,
    *,
    hyperparameters: dict[str, Any] | None = None,
    routes: Mapping[str, str] | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    out_dir: Path | None = None,
    register: bool = True,
    tracking_uri: str | None = None,
    progress: bool = True,
    training_sample: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train one routed model (a sub-model per kernel family, `plan_routes`), save ONE directory, log ONE
    run and register ONE version of `name`.

    Held out: a `RoutedSplit` (one frozen split per sub-model); the logged `test.*` metrics score the
    union of the groups' test rows, each predicted by its group's held-out model (the same keys a single
    model logs, so `perfcast promote` compares routed and single models); each group's own metrics are
    logged as `<sub>.test.*` and kept in its sub-directory's `model.json`."""
    from perfcast.training import tracking  # noqa: PLC0415
    from perfcast.training.evaluate import score  # noqa: PLC0415
    from perfcast.training.splits import ranking_groups  # noqa: PLC0415

    t0 = time.perf_counter()
    hp = {**GBCostModel(**(hyperparameters or {})).get_params(), "keep_data": False}
    routes = dict(routes) if routes is not None else plan_routes(frame)
    groups = route_groups(routes)
    if progress:
        print(f"[{name}] routes: " + "; ".join(f"{sub} <- {', '.join(ks)}" for sub, ks in groups.items()), flush=True)
    metrics: dict[str, float] = {}
    group_metrics: dict[str, dict[str, float]] = {}
    group_splits: dict[str, dict[str, Any]] = {}
    split_dict = None
    plots: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="perfcast-train-"))
    if holdout > 0:
        split = RoutedSplit.freeze(frame, routes, holdout, seed)
        split_dict = {**split.to_dict(), "split_id": split.split_id}
        if progress:
            print(f"[{name}] held-out fit: routed split (per sub-model by problem or config), {split.counts}", flush=True)
        metrics, test, pred = holdout_metrics(
            frame, hp, split, factory=lambda: RoutedGBCostModel(hp, routes=routes)
        )
        if progress:
            _print_holdout(name, metrics, len(test), time.perf_counter() - t0)
        kernels = test["kernel"].astype(str)
        for sub, ks in groups.items():
            rows = np.flatnonzero(kernels.isin(ks).to_numpy())
            if len(rows):
                part = test.iloc[rows].reset_index(drop=True)
                scored = score(part, pred.iloc[rows].reset_index(drop=True))
                group_metrics[sub] = {"test.n_rows": float(len(rows)), **{f"test.{k}": float(v) for k, v in scored.items()}}
            if sub in split.groups:
                g = split.group_split(sub)
                group_splits[sub] = {**g.to_dict(), "split_id": g.split_id}
        plots = tracking.make_plots(test, pred, ranking_groups(test), work / "plots")
    if progress:
        print(f"[{name}] final fit on {len(frame):,} rows, {len(groups)} sub-models", flush=True)
    model = RoutedGBCostModel(hp, routes=routes).fit(frame, progress=progress, export_onnx=True)
    model_dir = Path(out_dir) if out_dir is not None else work / "model"
    model.save(model_dir, metrics=metrics, eval_split=split_dict, group_metrics=group_metrics, group_splits=group_splits,
               training_sample=training_sample)
    save_training_rows(model_dir, frame)
    if holdout > 0:
        save_heldout_predictions(model_dir, test, pred)
    meta = json.loads((model_dir / "model.json").read_text())
    result = TrainResult(name=name, model_dir=model_dir, n_rows=len(frame), kernels=sorted(meta["kernels"]),
                         metrics=metrics, split=split_dict)
    if register:
        if progress:
            print(f"[{name}] logging the run to MLflow and registering a version", flush=True)
        subs = model.models_
        first = next(iter(subs.values()))
        parity = [m.meta_["onnx_parity"] for m in subs.values() if m.meta_.get("onnx_parity")]
        logged = tracking.log_training_run(
            model_dir,
            run_name=name,
            registered_name=name,
            params={"granularity": "routed", "routes": dict(sorted(model.routes_.items())), "hyperparameters": hp,
                    "lightgbm": first.meta_["lightgbm_params"], "holdout": holdout,
                    "n_features": {sub: m.meta_["n_features"] for sub, m in subs.items()},
                    "targets": list(meta["targets"]), "split_id": (split_dict or {}).get("split_id"),
                    "energy_point": energy_points(subs)},
            metrics={**metrics, "final.fit_seconds": meta["fit_seconds"],
                     **{f"{sub}.{k}": v for sub, gm in group_metrics.items() for k, v in gm.items()},
                     **{f"final.{sub}.cqr_correction.{t}": s["correction"]
                        for sub, m in subs.items() for t, s in m.meta_["targets"].items()},
                     **({"final.onnx_parity.max_rel": max(p["max_rel"] for p in parity),
                         "final.onnx_parity.p999_rel": max(p["p999_rel"] for p in parity)} if parity else {})},
            snapshot=meta["data"],
            plots=plots,
            tags={"perfcast.kernels": ",".join(result.kernels), "perfcast.granularity": "routed"},
            tracking_uri=tracking_uri,
        )
        result.run_id, result.version = logged["run_id"], logged["version"]
    _release_work(work, result, logged["artifact_uri"] if register else None)
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def train_models(
    store: Any = None,
    *,
    kernels: Sequence[str] | None = None,
    systems: Sequence[str] | None = None,
    by: str = DEFAULT_BY,
    frame: pd.DataFrame | None = None,
    hyperparameters: dict[str, Any] | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    name: str | None = None,
    out_dir: Path | None = None,
    register: bool = True,
    tracking_uri: str | None = None,
    progress: bool = True,
    max_rows_per_group: int = 0,
) -> list[TrainResult]:
    """Train cost models from the measurement store (or a given canonical `frame`), log and register them.

    `by="routed"` (the default): one registered model (`perfcast-default` unless `name`) whose
    directory routes each kernel family to its own sub-model (`train_routed`);
    `by="all"`: one model across every kernel family (name `perfcast-default` unless `name`);
    `by="family"`: one registered model per kernel family (`perfcast-<family>`). `out_dir` keeps the
    saved model directories there (one sub-folder per registered model) besides logging them to MLflow.
    `max_rows_per_group > 0` trains on whole problems sampled to that many rows per (kernel, system)
    (`sample_problems`, seeded by `seed`; recorded in `model.json` as `training_sample`).
    """
    if by not in GRANULARITIES:
        raise ValueError(f"by must be one of {', '.join(GRANULARITIES)}, got {by!r}")
    if frame is None:
        from perfcast.measurements.store import MeasurementStore  # noqa: PLC0415

        store = store if store is not None else MeasurementStore()
        frame = load_training_frame(store, kernels, systems)
    else:
        frame = select_rows(frame, kernels, systems)
    sample = None
    if max_rows_per_group > 0:
        frame = sample_problems(frame, max_rows_per_group, seed)
        sample = {"max_rows_per_group": int(max_rows_per_group), "seed": int(seed)}
    if by == "routed":
        model_id = name or DEFAULT_NAME
        return [train_routed(frame, model_id, hyperparameters=hyperparameters, holdout=holdout, seed=seed,
                             out_dir=Path(out_dir) / model_id if out_dir is not None else None, register=register,
                             tracking_uri=tracking_uri, progress=progress, training_sample=sample)]
    groups: list[tuple[str, pd.DataFrame]]
    if by == "all":
        groups = [(name or DEFAULT_NAME, frame)]
    else:
        groups = [
            (model_name(str(k)), g.reset_index(drop=True)) for k, g in frame.groupby("kernel", sort=True)
        ]
    results = []
    for model_id, group in groups:
        target = Path(out_dir) / model_id if out_dir is not None else None
        results.append(
            train_one(
                group,
                model_id,
                hyperparameters=hyperparameters,
                holdout=holdout,
                seed=seed,
                out_dir=target,
                register=register,
                tracking_uri=tracking_uri,
                progress=progress,
                training_sample=sample,
            )
        )
    return results


def ensure_champion(store: Any = None, *, name: str = DEFAULT_NAME, tracking_uri: str | None = None,
                    **kwargs: Any) -> str:
    """`models:/<name>@champion`, training it from the store first when none is registered (quickstart)."""
    from perfcast.training.registry import CHAMPION, alias_version  # noqa: PLC0415

    if alias_version(name, CHAMPION, tracking_uri=tracking_uri) is None:
        train_models(store, name=name, by=kwargs.pop("by", DEFAULT_BY), tracking_uri=tracking_uri, **kwargs)
    return f"models:/{name}@{CHAMPION}"


def summarize(results: Sequence[TrainResult]) -> pd.DataFrame:
    """One row per trained model with its headline held-out metrics."""
    rows = []
    for r in results:
        row = {"name": r.name, "rows": r.n_rows, "version": r.version, "seconds": r.seconds}
        for key in ("test.runtime_ms.median_ape", "test.runtime_ms.coverage_80", "test.spearman_median",
                    "test.top1_slowdown_geomean", "test.power_w.median_ape"):
            if key in r.metrics and np.isfinite(r.metrics[key]):
                row[key.removeprefix("test.")] = r.metrics[key]
        rows.append(row)
    return pd.DataFrame(rows)


def compare_granularity(
    frame: pd.DataFrame,
    *,
    hyperparameters: dict[str, Any] | None = None,
    routes: Mapping[str, str] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Held-out metrics per kernel family: one model across families vs the routed model.

    Both are fitted on the training rows of the routed model's frozen split (`RoutedSplit`: per
    sub-model by problem, by config for a single-problem group) and scored on the same test rows
    with `perfcast.training.evaluate.score`. A family that shares a sub-model (too few rows of its
    own, `plan_routes`) is also scored with a model fitted on its rows alone (`alone.*`). This is the
    measurement behind `DEFAULT_BY` and `MIN_FAMILY_ROWS`.
    """
    from perfcast.training.evaluate import score  # noqa: PLC0415

    frame = frame.reset_index(drop=True)
    routes = dict(routes) if routes is not None else plan_routes(frame)
    split = RoutedSplit.freeze(frame, routes, test_fraction, seed)
    train_idx, test_idx = split.train_test(frame)
    train, test = frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
    hp = hyperparameters or {}
    t0 = time.perf_counter()
    pred_all = GBCostModel(**hp).fit(train, progress=progress).predict(test)
    seconds_all = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred_routed = RoutedGBCostModel(hp, routes=routes).fit(train, progress=progress).predict(test)
    seconds_routed = time.perf_counter() - t0
    groups = route_groups(routes)
    keys = ("runtime_ms.median_ape", "runtime_ms.coverage_80", "spearman_median", "top1_slowdown_geomean")
    rows = []
    for family, idx in sorted(test.groupby("kernel").indices.items()):
        part = test.iloc[idx].reset_index(drop=True)
        sub = routes[str(family)]
        fam_train = train[train["kernel"] == family]
        row: dict[str, Any] = {"family": family, "sub_model": sub, "n_train": len(fam_train), "n_test": len(part)}
        scored = {"all": score(part, pred_all.iloc[idx].reset_index(drop=True)),
                  "routed": score(part, pred_routed.iloc[idx].reset_index(drop=True))}
        if len(groups[sub]) > 1:  # shares a sub-model: how would a model of its own do?
            try:
                scored["alone"] = score(part, GBCostModel(**hp).fit(fam_train).predict(part))
            except ValueError as exc:  # too few usable rows for a model of its own
                row["note"] = str(exc)
        for name, m in scored.items():
            for key in keys:
                row[f"{name}.{key}"] = m.get(key, np.nan)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(seconds_all=round(seconds_all, 1), seconds_routed=round(seconds_routed, 1),
                     split_id=split.split_id, counts=split.counts, routes=routes)
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Measure one model across families vs the routed model (README `models`).")
    ap.add_argument("--store", type=Path, default=None, help=STORE_HELP)
    ap.add_argument("--max-rows-per-group", type=int, default=40_000,
                    help="whole problems sampled to at most this many rows per (kernel, system), as quickstart")
    ap.add_argument("--rounds", type=int, default=250, help="boosting rounds (quickstart: 250)")
    ap.add_argument("--min-family-rows", type=int, default=MIN_FAMILY_ROWS)
    ap.add_argument("--params", default="{}", help='LightGBM params as JSON, e.g. \'{"num_leaves": 255}\'')
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the frozen split and of the models (README `models`: per-family coverage, seeds 0-3)")
    a = ap.parse_args()
    from perfcast.measurements.store import MeasurementStore  # noqa: PLC0415

    data = sample_problems(load_training_frame(MeasurementStore(a.store)), a.max_rows_per_group)
    table = compare_granularity(data, hyperparameters={"num_boost_round": a.rounds, "params": json.loads(a.params),
                                                       "seed": a.seed},
                                routes=plan_routes(data, a.min_family_rows), seed=a.seed, progress=False)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(table.to_string(index=False))
    print({k: v for k, v in table.attrs.items() if k != "routes"}, table.attrs["routes"])
