"""LightGBM boosters -> one ONNX graph with a named output per target x quantile (+ feasibility, rank).

Each booster is converted with onnxmltools' maintained `convert_lightgbm` (default opsets: asking
for a newer `target_opset` raises), then every converted graph is prefixed with `onnx.compose.add_prefix`
and the graphs are joined on one shared float32 input `X` [N, n_features]. Outputs are float32 [N]
in the model's *transformed* space (e.g. log(runtime_ms / roofline_ms)); `model.json` says how to map
them back to units.

LightGBM keeps float64 thresholds; the ONNX tree operator stores float32, so a feature value sitting
between float32(threshold) and the true threshold would take the other branch. `float32_exact`
rounds each threshold down to the largest float32 <= it, which changes nothing for float32 inputs
and removes the flips; tests/test_onnx_parity.py checks parity on 10,000 real rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

INPUT_NAME = "X"


def float32_exact(booster: Any) -> Any:
    """A copy of `booster` that predicts identically on float32 inputs and converts to ONNX exactly.

    Two fixes, both invisible to LightGBM on float32 features (what perfcast trains and predicts on):
    - thresholds: the ONNX tree operator stores float32 thresholds, and float32(t) can round *up* onto
      a value v with t < v (measured: rows of one problem sharing `phys.dram_traffic_ms` = float32(t)
      flipped branch, p99.9 relative difference 4e-2 on 10k store rows). For float32 v, `v <= t` iff
      `v <= t32` where t32 is the largest float32 <= t, so every numerical threshold becomes t32.
    - NaN direction: a feature with no NaN in a booster's training rows gets `missing_type=None`;
      LightGBM predicts NaN there as 0.0 (left iff 0 <= threshold) and ignores `default_left`, while
      onnxmltools routes NaN by `default_left`; setting `default_left = (threshold >= 0)` on those nodes
      makes the converter emit LightGBM's behaviour.
    """
    import lightgbm as lgb  # noqa: PLC0415

    lines = booster.model_to_string().split("\n")
    thr_line = -1
    for i, line in enumerate(lines):
        if line.startswith("threshold="):
            thr_line = i
        elif line.startswith("decision_type=") and thr_line >= 0:
            thresholds = [float(v) for v in lines[thr_line][len("threshold="):].split()]
            types = [int(v) for v in line[len("decision_type="):].split()]
            new_thr, new_types = [], []
            for dt, t in zip(types, thresholds, strict=True):
                if dt & 1 == 0:  # numerical split (categorical ones keep their category index)
                    t32 = np.float32(t)
                    if float(t32) > t:
                        t32 = np.nextafter(t32, np.float32(-np.inf))
                    t = float(t32)
                    if (dt >> 2) & 3 == 0:  # missing_type None: NaN is predicted as 0.0
                        dt = (dt | 2) if t >= 0 else (dt & ~2)
                new_thr.append(repr(t))
                new_types.append(str(dt))
            lines[thr_line] = "threshold=" + " ".join(new_thr)
            lines[i] = "decision_type=" + " ".join(new_types)
            thr_line = -1
    # `tree_sizes` gives each tree's byte length for parallel parsing; the edited text changed them,
    # and without the line LightGBM parses the trees sequentially
    lines = [line for line in lines if not line.startswith("tree_sizes=")]
    return lgb.Booster(model_str="\n".join(lines))


def convert_booster(booster: Any, n_features: int, *, classifier: bool = False) -> onnx.ModelProto:
    """One LightGBM Booster -> an ONNX model with input `input` and output `variable` / `probabilities`."""
    from onnxmltools import convert_lightgbm  # noqa: PLC0415 (heavy; only the export path needs it)
    from onnxmltools.convert.common.data_types import FloatTensorType  # noqa: PLC0415

    kwargs: dict[str, Any] = {"zipmap": False} if classifier else {}
    return convert_lightgbm(
        float32_exact(booster), initial_types=[("input", FloatTensorType([None, n_features]))], **kwargs
    )


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name) + "__"


def merge_boosters(
    boosters: Mapping[str, Any],
    n_features: int,
    *,
    classifiers: tuple[str, ...] = (),
    derived: Mapping[str, Mapping[str, Any]] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """Convert each booster and join them into one graph: input `X`, one output per mapping key.

    `boosters` maps output names (e.g. ``runtime_ms``, ``runtime_ms.q10``, ``feasible_prob``) to
    LightGBM Boosters; names in `classifiers` are binary classifiers whose output is P(class 1).
    `derived` adds outputs computed from those (`{name: {"sum": [outputs], "constant": c}}`, as
    `model.json`'s `derived_outputs`; `perfcast.models.onnx_model.derived_outputs` is the same in numpy).
    """
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    outputs: list[onnx.ValueInfoProto] = []
    opsets: dict[str, int] = {}
    for out_name, booster in boosters.items():
        is_clf = out_name in classifiers
        sub = convert_booster(booster, n_features, classifier=is_clf)
        prefix = _safe(out_name)
        sub = onnx.compose.add_prefix(sub, prefix=prefix)
        g = sub.graph
        sub_input = g.input[0].name
        for node in g.node:
            node.input[:] = [INPUT_NAME if i == sub_input else i for i in node.input]
        nodes.extend(g.node)
        initializers.extend(g.initializer)
        for op in sub.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
        if is_clf:
            # probabilities [N, 2] -> column 1 -> [N]
            probs = next(o.name for o in g.output if o.name.endswith("probabilities"))
            idx = prefix + "idx1"
            initializers.append(helper.make_tensor(idx, TensorProto.INT64, [1], [1]))
            col = prefix + "p1"
            nodes.append(helper.make_node("Gather", [probs, idx], [col], axis=1))
            src = col
        else:
            src = g.output[0].name
        shape = prefix + "shape"
        initializers.append(helper.make_tensor(shape, TensorProto.INT64, [1], [-1]))
        nodes.append(helper.make_node("Reshape", [src, shape], [out_name], name=prefix + "out"))
        outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [None]))
    for out_name, spec in (derived or {}).items():
        prefix = _safe(out_name)
        const = prefix + "constant"
        initializers.append(helper.make_tensor(const, TensorProto.FLOAT, [1], [float(spec["constant"])]))
        nodes.append(helper.make_node("Sum", [*spec["sum"], const], [out_name], name=prefix + "sum"))
        outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [None]))
    graph = helper.make_graph(
        nodes,
        "perfcast_cost_model",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, n_features])],
        outputs,
        initializer=initializers,
    )
    # Gather/Reshape need opset >= 9 (Reshape with a shape input: >= 5); keep the converter's ML opset.
    opsets[""] = max(opsets.get("", 0), 9)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="perfcast",
    )
    model.ir_version = min(model.ir_version, 8)
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    return model


def native_outputs(boosters: Mapping[str, Any], X: np.ndarray) -> dict[str, np.ndarray]:
    """The same outputs computed by LightGBM itself (reference for parity checks)."""
    return {name: np.asarray(b.predict(X), dtype=np.float64).reshape(-1) for name, b in boosters.items()}
