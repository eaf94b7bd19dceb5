"""Feature extraction: canonical records -> numeric feature matrix with a stored schema.

Public API::

    featurize(frame, schema=None) -> (X, FeatureSchema)   # fit without a schema, transform with one
    compile_plan(schema) -> FeaturePlan; plan.transform(columns) -> ndarray  # same values, small batches fast
    FeatureSchema, FeatureSchemaError, UNKNOWN_CODE
    register_extractor(kernel, extractor), get_extractor(kernel), Extractor, GenericExtractor
    prefetch_ir_features(frame, n_jobs)   # IR texts featurised in worker processes, then cached

`X` always has `roofline_ms` (physics lower bound, NaN where not derivable).
"""

from perfcast.features.plan import FeaturePlan, compile_plan
from perfcast.features.registry import (
    ROOFLINE,
    Extractor,
    GenericExtractor,
    featurize,
    get_extractor,
    prefetch_ir_features,
    register_extractor,
    registered_kernels,
)
from perfcast.features.schema import UNKNOWN_CODE, FeatureSchema, FeatureSchemaError

__all__ = [
    "ROOFLINE",
    "UNKNOWN_CODE",
    "Extractor",
    "FeatureSchema",
    "FeaturePlan",
    "FeatureSchemaError",
    "GenericExtractor",
    "compile_plan",
    "featurize",
    "get_extractor",
    "prefetch_ir_features",
    "register_extractor",
    "registered_kernels",
]
