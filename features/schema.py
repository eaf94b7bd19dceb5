"""`FeatureSchema`: the exact columns a model was trained on, stored with the model.

A schema holds the ordered feature names, their output dtypes, the vocabulary of every categorical
feature and, per kernel family, the input columns its features were computed from. `version` is a
hash of all of that, so two schemas with the same version produce the same columns from the same
records. Predicting with a schema that does not match is a `FeatureSchemaError`, never silently
wrong columns.

Categorical encoding: a categorical feature becomes the index of its value in the stored vocabulary
(float64 code 0, 1, ...). A value that was not seen at fit time gets `UNKNOWN_CODE` (-1); a missing
value stays NaN. Neither is an error: models see "unknown" as its own code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from perfcast.measurements.schema import is_hashable

#: Code given to a categorical value not in the schema's vocabulary (documented, not an error).
UNKNOWN_CODE: float = -1.0
#: Schema format version; bump when the meaning of a stored field changes.
SCHEMA_FORMAT = 1
_ALLOWED_DTYPES = ("float64", "float32")


class FeatureSchemaError(ValueError):
    """Raised when features cannot be produced exactly as a schema asks (names the fields)."""


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered feature names, dtypes, categorical vocabularies and per-family input columns."""

    names: tuple[str, ...]
    dtypes: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: per kernel family, the extractor its features were computed by (`Extractor.name`); empty in a
    #: schema written before this was recorded (`features.registry.extractor_for` reads it)
    extractors: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        dtypes = tuple(str(d) for d in self.dtypes)
        if len(names) != len(dtypes):
            raise FeatureSchemaError(f"schema has {len(names)} names but {len(dtypes)} dtypes")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise FeatureSchemaError(f"duplicate feature names in schema: {dupes}")
        bad = sorted({d for d in dtypes if d not in _ALLOWED_DTYPES})
        if bad:
            raise FeatureSchemaError(f"unsupported feature dtypes {bad}; allowed {list(_ALLOWED_DTYPES)}")
        unknown_cats = sorted(set(self.categories) - set(names))
        if unknown_cats:
            raise FeatureSchemaError(f"categorical vocabularies for columns not in the schema: {unknown_cats}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "dtypes", dtypes)
        object.__setattr__(
            self, "categories", {str(k): tuple(str(v) for v in vs) for k, vs in sorted(self.categories.items())}
        )
        object.__setattr__(
            self, "inputs", {str(k): tuple(sorted(str(v) for v in vs)) for k, vs in sorted(self.inputs.items())}
        )
        object.__setattr__(self, "extractors", {str(k): str(v) for k, v in sorted(self.extractors.items())})

    # ---- identity -------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        payload = {
            "format": SCHEMA_FORMAT,
            "names": list(self.names),
            "dtypes": list(self.dtypes),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "inputs": {k: list(v) for k, v in self.inputs.items()},
        }
        if self.extractors:  # absent from older schemas: their stored versions must still match
            payload["extractors"] = dict(self.extractors)
        return payload

    @property
    def version(self) -> str:
        """Hash (sha256, 16 hex digits) of names, dtypes, vocabularies, inputs and extractors."""
        blob = json.dumps(self._payload(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def categorical(self) -> tuple[str, ...]:
        """Names of the categorical (vocabulary-encoded) features, in schema order."""
        return tuple(n for n in self.names if n in self.categories)

    # ---- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {**self._payload(), "version": self.version}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        """Inverse of `to_dict`; a stored `version` that does not match the content is an error."""
        missing = [k for k in ("names", "dtypes") if k not in data]
        if missing:
            raise FeatureSchemaError(f"feature schema dict lacks {missing}")
        fmt = data.get("format", SCHEMA_FORMAT)
        if fmt != SCHEMA_FORMAT:
            raise FeatureSchemaError(f"feature schema format {fmt} is not supported (this build reads {SCHEMA_FORMAT})")
        schema = cls(
            names=tuple(data["names"]),
            dtypes=tuple(data["dtypes"]),
            categories=dict(data.get("categories") or {}),
            inputs=dict(data.get("inputs") or {}),
            extractors=dict(data.get("extractors") or {}),
        )
        stored = data.get("version")
        if stored is not None and stored != schema.version:
            raise FeatureSchemaError(
                f"feature schema version {stored!r} does not match its content (hash {schema.version!r}): edited by hand?"
            )
        return schema

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSchema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FeatureSchemaError(f"feature schema is not valid JSON: {exc}") from exc
        if not isinstance(data, Mapping):
            raise FeatureSchemaError("feature schema JSON must be an object")
        return cls.from_dict(data)

    # ---- checks ---------------------------------------------------------------------------
    def check(self, other: FeatureSchema) -> None:
        """Raise `FeatureSchemaError` describing every difference between two schemas."""
        if not isinstance(other, FeatureSchema):
            raise FeatureSchemaError(f"expected a FeatureSchema, got {type(other).__name__}")
        if other.version == self.version:
            return
        problems: list[str] = []
        mine, theirs = set(self.names), set(other.names)
        if theirs - mine:
            problems.append(f"extra features {sorted(theirs - mine)}")
        if mine - theirs:
            problems.append(f"missing features {sorted(mine - theirs)}")
        if not problems and self.names != other.names:
            problems.append("same features in a different order")
        for name in sorted(mine & theirs):
            a, b = self.dtype_of(name), other.dtype_of(name)
            if a != b:
                problems.append(f"{name}: dtype {b} != {a}")
            ca, cb = self.categories.get(name), other.categories.get(name)
            if ca != cb:
                problems.append(f"{name}: categorical vocabulary {cb} != {ca}")
        if self.inputs != other.inputs:
            problems.append(f"input columns per kernel {dict(other.inputs)} != {dict(self.inputs)}")
        raise FeatureSchemaError(
            f"feature schema mismatch (expected version {self.version}, got {other.version}): " + "; ".join(problems)
        )

    def dtype_of(self, name: str) -> str:
        return self.dtypes[self.names.index(name)]


def encode_categorical(values: object, vocabulary: Sequence[str]) -> np.ndarray:
    """Values -> float64 codes into `vocabulary`; unseen -> `UNKNOWN_CODE`, missing -> NaN."""
    cat = category_strings(values)
    lookup = {v: float(i) for i, v in enumerate(vocabulary)}
    per_category = np.array([lookup.get(c, UNKNOWN_CODE) for c in cat.categories] + [np.nan], dtype="float64")
    return per_category[cat.codes]  # code -1 (missing) picks the trailing NaN


def _canonical_category(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v)


def category_strings(values: object) -> pd.Categorical:
    """Canonical string categories of a column (1.0, 1 and "1" are one category); missing -> NaN.

    Works on the unique values only (pandas factorize), so a million rows with a few categories
    cost one hash pass, not a million Python string conversions.
    """
    if isinstance(values, pd.Categorical) and all(isinstance(c, str) for c in values.categories):
        return values
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): their text is the category
        codes, uniques = pd.factorize(series.map(lambda v: v if is_hashable(v) else repr(v)), use_na_sentinel=True)
    names = [_canonical_category(u) for u in uniques]
    categories = sorted({n for n in names if n is not None})
    position = {c: i for i, c in enumerate(categories)}
    remap = np.array([position[n] if n is not None else -1 for n in names] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=categories)
