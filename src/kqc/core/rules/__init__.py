"""The rules: pure functions from a batch's results, its register row and the
thresholds in force to findings, one module per family. `evaluate` runs them
all over a set of batches."""

from kqc.core.rules.applicable import batch_profiles, thresholds_from_frame
from kqc.core.rules.evaluate import evaluate
from kqc.core.rules.model import FLAG_SCHEMA, Batch, Finding, Threshold

__all__ = [
    "FLAG_SCHEMA",
    "Batch",
    "Finding",
    "Threshold",
    "batch_profiles",
    "evaluate",
    "thresholds_from_frame",
]
