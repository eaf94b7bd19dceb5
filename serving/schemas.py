"""Typed request and response models of the HTTP API (pydantic v2); they also make the OpenAPI document.

Structural checks live here (types, finite numbers, bounded sizes) and answer 422 naming the field.
Size limits that must answer 413 (too many records, IR text too long) are checked by the handlers
against the constants below, so that they are documented in one place.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

#: Most records in one `/v1/predict` or `/v1/measurements` request, and candidates in one `/v1/rank`.
MAX_RECORDS = 10_000
#: Most characters of IR text in one record (all `ir.*` fields together).
MAX_IR_CHARS = 1_000_000
#: Largest request body accepted at all (bytes); bigger bodies answer 413 before parsing.
MAX_BODY_BYTES = 64 * 1024 * 1024

Objective = Literal["runtime", "energy", "edp"]

# Numbers beyond 2**53 are not exactly representable as float64 features (and mean nothing for a GPU
# kernel's shape or config): params/problem values outside +-2**53 are invalid input.
BoundedInt = Annotated[StrictInt, Field(ge=-(2**53), le=2**53)]
BoundedFloat = Annotated[float, Field(allow_inf_nan=False, ge=-(2.0**53), le=2.0**53)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=False)]
ShortStr = Annotated[StrictStr, Field(max_length=256)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=256)]
#: A value of `params` / `problem`: numbers, short strings and booleans (no nesting, no NaN/inf).
Scalar = StrictBool | BoundedInt | BoundedFloat | ShortStr | None
Section = Annotated[dict[Annotated[StrictStr, Field(min_length=1, max_length=128)], Scalar], Field(max_length=256)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueryRecord(_Model):
    """One configuration to predict: a canonical record without measured targets."""

    kernel: Name = Field(description="Kernel family `<library>.<op>`, e.g. `triton.matmul`.")
    system: Name = Field(description="GPU name or alias known to `perfcast systems`.")
    params: Section = Field(default_factory=dict, description="Tuning parameters (`BLOCK_M`, `num_warps`, ...).")
    problem: Section = Field(default_factory=dict, description="Problem shape and types (`M`, `N`, `K`, `dtype`).")
    ir: dict[Annotated[StrictStr, Field(max_length=64)], StrictStr] | None = Field(
        default=None, description=f"IR text by dialect (`ttgir`, `ptx`, ...); at most {MAX_IR_CHARS} characters in all (413)."
    )


class PredictRequest(_Model):
    records: list[QueryRecord] = Field(min_length=1, description=f"At most {MAX_RECORDS} records (413 beyond).")


class Estimate(_Model):
    """A point prediction with its 10 %–90 % interval."""

    value: float
    q10: float
    q90: float


class Prediction(_Model):
    runtime_ms: Estimate | None = None
    power_w: Estimate | None = None
    energy_j: Estimate | None = None


_UNANSWERED = Field(
    default=None,
    description="Present when a target the model predicts is null in an answer: per target, the kernel and GPU "
    "it has no measurements of, and the GPUs it has them on (often a short name of another card: `A100` is the SXM4).",
)


class PredictResponse(_Model):
    model: str
    model_version: str
    predictions: list[Prediction]
    unanswered: list[str] | None = _UNANSWERED


class RankRequest(_Model):
    kernel: Name | None = Field(
        default=None, description="Kernel family; may be left out when the model knows exactly one."
    )
    system: Name
    problem: Section
    candidates: list[Section] = Field(min_length=1, description=f"Candidate `params`; at most {MAX_RECORDS} (413 beyond).")
    objective: Objective = Field(default="runtime", description="`runtime`, `energy` or `edp` (energy × runtime).")
    top_k: Annotated[StrictInt, Field(ge=1, le=MAX_RECORDS)] | None = None
    ir: dict[Annotated[StrictStr, Field(max_length=64)], StrictStr] | None = None


class RankedCandidate(_Model):
    index: int = Field(description="Position of the candidate in the request.")
    params: dict[str, Any]
    score: float = Field(description="The objective: runtime_ms, energy_j or energy_j × runtime_ms (lower is better).")
    prediction: Prediction


class RankResponse(_Model):
    model: str
    model_version: str
    objective: Objective
    candidates: list[RankedCandidate]
    unanswered: list[str] | None = _UNANSWERED


class MeasurementRecord(_Model):
    """A canonical measurement; value checks (positive runtime, known status, ...) quarantine rather than reject."""

    kernel: Name
    system: Name
    params: Section = Field(default_factory=dict)
    problem: Section = Field(default_factory=dict)
    ir: dict[Annotated[StrictStr, Field(max_length=64)], StrictStr] | None = None
    runtime_ms: FiniteFloat | None = None
    runtime_ms_samples: Annotated[list[FiniteFloat], Field(max_length=10_000)] | None = None
    power_w: FiniteFloat | None = None
    energy_j: FiniteFloat | None = None
    status: ShortStr = "ok"
    source: ShortStr | None = None
    measured_at: ShortStr | None = None


class MeasurementsRequest(_Model):
    records: list[MeasurementRecord] = Field(min_length=1, description=f"At most {MAX_RECORDS} records (413 beyond).")


class QuarantinedRow(_Model):
    index: int
    reason: str


class MeasurementsResponse(_Model):
    received: int
    stored: int
    duplicates: int
    quarantined: int
    quarantine: list[QuarantinedRow] = Field(description="The first quarantined rows with their reason.")


class ModelInfo(_Model):
    name: str
    version: str
    aliases: list[str]
    uri: str
    directory: str
    targets: list[str]
    kernels: list[str]
    inputs: dict[str, list[str]] = Field(description="Per kernel, the record fields the model's features read.")
    measured_on: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per target, the `kernel on system` pairs it was measured on (`[\"*\"]`: a model saved "
        "without this record, answered everywhere); elsewhere the target is left out of predictions.",
    )
    feature_schema_version: str | None = Field(description="The single model's feature schema version (null for a routed model).")
    feature_schema_versions: dict[str, str] = Field(
        default_factory=dict, description="Per kernel, the feature schema version of the (sub-)model answering it."
    )
    routes: dict[str, str] | None = Field(
        default=None, description="A routed model (one sub-model per kernel family): kernel -> sub-model directory."
    )
    metrics: dict[str, Any]


class ModelsResponse(_Model):
    models: list[ModelInfo]


class ReloadResponse(_Model):
    reloaded: bool
    model_version: str
    previous_version: str


class Health(_Model):
    status: str
    model_version: str | None = None


class ErrorResponse(BaseModel):
    """Every 4xx answer: what was wrong and, where it helps, what is known."""

    detail: Any
    known: list[str] | None = None
