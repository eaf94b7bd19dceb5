"""`perfcast promote --model NAME`: move `champion` to the challenger only if it wins on the frozen split.

The rule (also logged with every decision to the MLflow experiment `perfcast-promote`):

1. Both models are scored on the *same frozen evaluation split*: the challenger's split (stored in its
   `model.json` as `eval_split`, a `perfcast.training.splits.Split`, or for a routed model a
   `perfcast.training.train.RoutedSplit`: one split per sub-model). If the champion's stored metrics
   come from the same split id, they are compared as stored; otherwise the champion's
   hyperparameters (and routes, when routed) are re-fitted on that split's training rows of the current store and scored on
   its test rows (`perfcast.training.evaluate.evaluate`), on the same sample of the store when the
   challenger was trained on one (`training_sample`, e.g. quickstart's); the split refuses to apply if
   the stored rows changed (`SplitMismatchError`).
2. The challenger wins when it is better on at least one headline metric and worse on none beyond
   tolerance: `test.top1_slowdown_geomean` (the autotuner's cost of trusting the model; lower is
   better; "worse" = more than +0.005) and `test.runtime_ms.median_ape` (lower is better; "worse" =
   more than 5% relative). Without ranking metrics (one config per problem) only the median APE
   counts. The 80% interval coverage `test.runtime_ms.coverage_80` must stay within 0.80 ± 0.05 if
   the champion's did; bringing it into that band when the champion's was outside counts as better.
3. New measurements (ingest -> retrain -> promote): when some of the split's test records were never
   seen by the champion (`training_rows.npz`, which `perfcast train` writes beside every model; for an
   older champion, the records of (kernel, system) pairs it has no measurements of), the champion's
   re-fitted recipe only has to be no worse (the same recipe is the same fit: a tie), and the challenger
   must win by rule 2 against the champion *as served* on those records: the challenger's recipe fitted
   on the split's training rows against `load_cost_model(champion)`, whose uncovered pairs are null.
   Records the champion cannot answer count as better; the coverage band widens by two standard
   errors of a coverage measured on that many records.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from perfcast.config import STORE_HELP, TRACKING_URI_HELP

SLOWDOWN = "test.top1_slowdown_geomean"
APE = "test.runtime_ms.median_ape"
SLOWDOWN_TOL, APE_REL_TOL = 0.005, 0.05
COVERAGE_KEY, COVERAGE_TARGET, COVERAGE_TOL = "test.runtime_ms.coverage_80", 0.80, 0.05
RULE = (
    f"both scored on the challenger's frozen split; challenger wins iff it is better on {SLOWDOWN} or {APE} "
    f"and worse on neither ({SLOWDOWN} by > {SLOWDOWN_TOL}, {APE} by > {APE_REL_TOL:.0%} relative; "
    f"{SLOWDOWN} ignored when either side lacks it), and {COVERAGE_KEY} stays within "
    f"{COVERAGE_TARGET} +- {COVERAGE_TOL} when the champion's did (entering that band counts as better). "
    "When the challenger was trained on records the champion never saw: no worse than the champion's "
    "hyperparameters on that split, and winning by the same rule against the champion as served on the test "
    "records it never saw (the coverage band widened by 2*sqrt(0.16/n) for n such records; answering records "
    "the champion has no model for counts as better)"
)


def _num(metrics: dict[str, Any], key: str) -> float:
    v = metrics.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def _compare(challenger: dict[str, Any], champion: dict[str, Any], n_rows: int | None = None
             ) -> tuple[str | None, list[str]]:  # fmt: skip
    """The rule's two halves for two metric dicts: why the challenger is worse beyond tolerance (or
    cannot be compared), None if it is not; and the headline metrics it is better on. With `n_rows`
    (coverages measured on a sample that small) the band widens by two standard errors, 2·sqrt(0.16/n)."""
    ca, ha = _num(challenger, APE), _num(champion, APE)
    if not (math.isfinite(ca) and math.isfinite(ha)):
        return f"{APE} missing (challenger {ca}, champion {ha}): cannot compare", []
    cs, hs = _num(challenger, SLOWDOWN), _num(champion, SLOWDOWN)
    use_slowdown = math.isfinite(cs) and math.isfinite(hs)
    if ca > ha * (1 + APE_REL_TOL):
        return f"{APE}: challenger {ca:.4g} worse than champion {ha:.4g} by > {APE_REL_TOL:.0%}", []
    if use_slowdown and cs > hs + SLOWDOWN_TOL:
        return f"{SLOWDOWN}: challenger {cs:.5g} worse than champion {hs:.5g} by > {SLOWDOWN_TOL}", []
    cc, hc = _num(challenger, COVERAGE_KEY), _num(champion, COVERAGE_KEY)
    tol = COVERAGE_TOL + (2 * math.sqrt(COVERAGE_TARGET * (1 - COVERAGE_TARGET) / n_rows) if n_rows else 0.0)
    c_in = math.isfinite(cc) and abs(cc - COVERAGE_TARGET) <= tol
    h_in = math.isfinite(hc) and abs(hc - COVERAGE_TARGET) <= tol
    if h_in and not c_in:
        return f"{COVERAGE_KEY}: challenger {cc:.3f} outside {COVERAGE_TARGET} +- {tol:.3g}", []
    better = [f"{APE} {ca:.4g} < {ha:.4g}"] if ca < ha else []
    if use_slowdown and cs < hs:
        better.append(f"{SLOWDOWN} {cs:.5g} < {hs:.5g}")
    if c_in and not h_in:
        better.append(f"{COVERAGE_KEY} {cc:.3f} within {COVERAGE_TARGET} +- {tol:.3g} (champion {hc:.3f})")
    return None, better


def challenger_wins(challenger: dict[str, Any], champion: dict[str, Any]) -> tuple[bool, str]:
    """Apply the promotion rule to two metric dicts (same split); returns (wins, reason)."""
    worse, better = _compare(challenger, champion)
    if worse:
        return False, worse
    if not better:
        return False, "challenger is better on no headline metric"
    return True, "challenger better: " + "; ".join(better)


def _recipe(meta: dict[str, Any]) -> str:
    """What `meta_factory` re-fits from: two models with the same recipe make the same fit of one split."""
    return json.dumps({k: meta.get(k) for k in ("routed", "routes", "routing", "hyperparameters")}, sort_keys=True)


def _new_measurements(champ_dir: Path, champ_meta: dict[str, Any], frame: Any, test: Any) -> tuple[Any, str]:
    """The split's test rows (positions in `frame`) the champion was never fitted on, and how that is known:
    from its `training_rows.npz`, or for a model without one, the (kernel, system) pairs it never measured."""
    import pandas as pd
    from perfcast.measurements.validate import HASH_COLUMN
    from perfcast.training.train import seen_in_training

    seen = seen_in_training(champ_dir, frame[HASH_COLUMN].to_numpy()[test]) if HASH_COLUMN in frame else None
    if seen is not None:
        return test[~seen], "the champion's training rows (training_rows.npz)"
    pairs = {(p["kernel"], p["system"]) for ps in (champ_meta.get("measured_pairs") or {}).values() for p in ps}
    if not pairs:
        return test[:0], "unknown (the champion keeps no record of its training rows)"
    rows = frame.iloc[test]
    measured = pd.MultiIndex.from_arrays([rows["kernel"].astype(str), rows["system"].astype(str)]).isin(list(pairs))
    return test[~measured], "the (kernel, system) pairs the champion has measurements of (no training_rows.npz)"


def _served_comparison(ch_dir: Path, ch_meta: dict[str, Any], champ_dir: Path, frame: Any, train: Any,
                       new: Any) -> dict[str, Any]:
    """On records the champion never saw: the challenger's held-out model (its recipe fitted on the split's
    training rows) against the champion as it is served (`load_cost_model`, uncovered pairs null)."""
    import numpy as np
    import pandas as pd
    from perfcast.measurements.validate import HASH_COLUMN
    from perfcast.models.routed import load_cost_model
    from perfcast.training.baselines import usable
    from perfcast.training.evaluate import score
    from perfcast.training.train import heldout_predictions, meta_factory

    rows = frame.iloc[new].reset_index(drop=True)
    ch_pred = heldout_predictions(ch_dir, rows[HASH_COLUMN].to_numpy()) if HASH_COLUMN in rows else None
    challenger_scored = "its held-out fit's predictions (heldout_predictions.npz)"
    if ch_pred is None:  # trained before they were kept, or from a frame without record hashes
        model = meta_factory(ch_meta)()
        model.fit(frame.iloc[train].reset_index(drop=True))
        ch_pred = model.predict(rows)
        challenger_scored = "its hyperparameters re-fitted on the split's training rows"
    champion = load_cost_model(champ_dir)
    # a routed champion refuses kernels it has no sub-model for: as served, those rows get no answer
    routes = getattr(champion, "routes", None)
    known = rows["kernel"].astype(str).isin(list(routes)).to_numpy() if routes is not None else np.ones(len(rows), bool)
    champ_pred = pd.DataFrame(np.nan, index=rows.index, columns=[f"pred.{c}" for c in champion.output_columns()])
    if known.any():
        got = champion.predict_frame(rows[known])
        champ_pred.loc[known, list(got.columns)] = got.to_numpy(dtype=np.float64)
    new_answers = 0
    for target in ("runtime_ms", "power_w", "energy_j"):
        col = f"pred.{target}"
        if col in ch_pred:
            champ_has = champ_pred[col].notna().to_numpy() if col in champ_pred else False
            new_answers += int((usable(rows, target) & ch_pred[col].notna().to_numpy() & ~champ_has).sum())
    both = (ch_pred["pred.runtime_ms"].notna() & champ_pred["pred.runtime_ms"].notna()).to_numpy()
    part = rows[both].reset_index(drop=True)

    def scored(pred: Any) -> dict[str, float]:
        return {f"test.{k}": v for k, v in score(part, pred[both].reset_index(drop=True)).items()} if both.any() else {}

    return {"n_rows": int(len(rows)), "n_compared": int(both.sum()), "new_answers": new_answers,
            "challenger_scored": challenger_scored,
            "challenger_metrics": scored(ch_pred), "champion_metrics": scored(champ_pred)}


def _meta(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "model.json").read_text())


def decide(name: str, *, store: Any = None, tracking_uri: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Compare `models:/name@challenger` with `models:/name@champion` on the challenger's frozen split."""
    from perfcast.models.transfer import is_transfer_dir
    from perfcast.training.registry import CHALLENGER, CHAMPION, current_version, resolve_model_dir

    ch_uri, champ_uri = f"models:/{name}@{CHALLENGER}", f"models:/{name}@{CHAMPION}"
    ch_version = current_version(ch_uri, tracking_uri=tracking_uri).split("/", 1)[1]
    champ_version = current_version(champ_uri, tracking_uri=tracking_uri).split("/", 1)[1]
    decision: dict[str, Any] = {"model": name, "rule": RULE, "challenger_version": ch_version,
                                "champion_version": champ_version}
    if ch_version == champ_version:
        decision.update(outcome="no-op", reason="challenger already is the champion")
        return decision
    ch_dir, champ_dir = (resolve_model_dir(u, tracking_uri=tracking_uri) for u in (ch_uri, champ_uri))
    if is_transfer_dir(ch_dir) or is_transfer_dir(champ_dir):
        decision.update(outcome="kept", reason="adaptations to a new GPU (perfcast adapt) share no frozen split to "
                                               "compare on; --force REASON moves champion")
        return decision
    ch_meta, champ_meta = _meta(ch_dir), _meta(champ_dir)
    split = ch_meta.get("eval_split")
    if not split:
        decision.update(outcome="kept", reason="the challenger has no frozen evaluation split (trained with holdout 0)")
        return decision
    ch_metrics = ch_meta.get("metrics", {})
    decision["split_id"] = split.get("split_id")
    keys = sorted({SLOWDOWN, APE, COVERAGE_KEY})
    champ_split = champ_meta.get("eval_split") or {}
    served = None
    if champ_split.get("split_id") == split.get("split_id"):  # the same rows: nothing new to either
        champ_metrics = champ_meta.get("metrics", {})
        decision["champion_scored"] = "stored metrics (same frozen split)"
    else:
        from perfcast.measurements.store import MeasurementStore
        from perfcast.training.evaluate import evaluate
        from perfcast.training.train import (
            load_training_frame,
            meta_factory,
            sample_problems,
            split_from_dict,
        )

        kernels = sorted(ch_meta["data"]["kernels"])
        systems = sorted(ch_meta["data"]["systems"])
        frame = load_training_frame(store if store is not None else MeasurementStore(), kernels, systems)
        sample = ch_meta.get("training_sample")
        if sample:  # trained on a sample (quickstart): re-draw it, so the frozen split applies
            frame = sample_problems(frame, int(sample["max_rows_per_group"]), int(sample.get("seed", 0)))
        # a routed challenger's split is one frozen split per sub-model; a routed champion re-fits one
        # model per family with its routes (either side may be routed or single)
        frozen = split_from_dict(split)
        train, test = frozen.train_test(frame)  # SplitMismatchError if the stored rows changed
        if _recipe(champ_meta) == _recipe(ch_meta):
            champ_metrics = ch_metrics
            decision["champion_scored"] = "same hyperparameters and routes as the challenger: the same fit of its split"
        else:
            if progress:
                print(f"re-scoring champion v{champ_version} on the challenger's split {split.get('split_id')}", flush=True)
            result = evaluate(meta_factory(champ_meta), frame, frozen)
            result.pop("_model", None)
            champ_metrics = {k: v for k, v in result.items() if isinstance(v, int | float)}
            decision["champion_scored"] = "re-fitted on the challenger's split"
        new, known_by = _new_measurements(champ_dir, champ_meta, frame, test)
        if len(new):
            if progress:
                print(f"scoring champion v{champ_version} as served on {len(new):,} test records it never saw",
                      flush=True)
            served = _served_comparison(ch_dir, ch_meta, champ_dir, frame, train, new)
            decision["new_measurements"] = {"known_by": known_by,
                                            **{k: served[k] for k in ("n_rows", "n_compared", "new_answers",
                                                                      "challenger_scored")},
                                            "challenger_metrics": {k: served["challenger_metrics"].get(k) for k in keys},
                                            "champion_metrics": {k: served["champion_metrics"].get(k) for k in keys}}
    decision["challenger_metrics"] = {k: ch_metrics.get(k) for k in keys}
    decision["champion_metrics"] = {k: champ_metrics.get(k) for k in keys}
    if served is None:
        wins, reason = challenger_wins(ch_metrics, champ_metrics)
    else:
        wins, reason = _new_measurements_verdict(ch_metrics, champ_metrics, served)
    decision.update(outcome="promoted" if wins else "kept", reason=reason)
    return decision


def _new_measurements_verdict(ch_metrics: dict[str, Any], champ_metrics: dict[str, Any],
                              served: dict[str, Any]) -> tuple[bool, str]:
    """The rule when the challenger was trained on records the champion never saw: no worse than the
    champion's recipe on the frozen split, and better than the champion as served on those records."""
    worse, _ = _compare(ch_metrics, champ_metrics)
    if worse:
        return False, f"on the frozen split, against the champion's hyperparameters: {worse}"
    where = f"on {served['n_rows']:,} test records the champion never saw, against it as served"
    worse, better = (_compare(served["challenger_metrics"], served["champion_metrics"], served["n_compared"])
                     if served["n_compared"] else (None, []))
    if worse:
        return False, f"{where}: {worse}"
    if served["new_answers"]:
        better.append(f"answers {served['new_answers']:,} measurements the champion has no model for")
    if not better:
        return False, f"{where}: better on no headline metric"
    return True, f"{where}: " + "; ".join(better)


def promote(name: str, *, store: Any = None, tracking_uri: str | None = None, dry_run: bool = False,
            force: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Decide, move `champion` if the challenger wins (unless `dry_run`), log the decision to MLflow.

    `force="reason"` moves the alias whatever the rule says (e.g. a re-export of the same training, a
    rollback); the rule's verdict and the reason are logged with the decision.
    """
    from perfcast.training.registry import CHAMPION, set_alias
    from perfcast.training.tracking import log_decision

    decision = decide(name, store=store, tracking_uri=tracking_uri, progress=progress)
    if force and decision["outcome"] != "no-op" and not dry_run:
        decision.update(rule_outcome=decision["outcome"], outcome="forced", forced_reason=force)
        set_alias(name, CHAMPION, decision["challenger_version"], tracking_uri=tracking_uri)
    elif decision["outcome"] == "promoted" and not dry_run:
        set_alias(name, CHAMPION, decision["challenger_version"], tracking_uri=tracking_uri)
    if dry_run and decision["outcome"] == "promoted":
        decision["outcome"] = "would-promote (dry run)"
    decision["decision_run_id"] = log_decision(name, decision, tracking_uri=tracking_uri)
    return decision


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="registered model name, e.g. perfcast-default")
    parser.add_argument("--store", type=Path, default=None, help=STORE_HELP + "; read to re-score the champion")
    parser.add_argument("--dry-run", action="store_true", help="decide and log, but do not move the alias")
    parser.add_argument("--force", metavar="REASON", default=None,
                        help="move the alias whatever the rule says; the verdict and REASON are logged")
    parser.add_argument("--tracking-uri", default=None, help=TRACKING_URI_HELP)
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")


def main(args: argparse.Namespace) -> int:
    from perfcast.measurements.store import MeasurementStore
    from perfcast.training.registry import ModelNotFoundError

    try:
        decision = promote(args.model, store=MeasurementStore(args.store), tracking_uri=args.tracking_uri,
                           dry_run=args.dry_run, force=args.force, progress=not args.json)
    except (ModelNotFoundError, ValueError) as exc:  # ValueError: e.g. SplitMismatchError (the store changed)
        print(f"perfcast promote: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(decision, indent=2, default=str))
    else:
        print(f"{args.model}: {decision['outcome']} — {decision['reason']}"
              + (f" (forced: {decision['forced_reason']})" if decision.get("forced_reason") else ""))
        print(f"rule: {decision['rule']}")
    return 0
