"""The rules: pure functions from a batch's results, its register row and the
thresholds in force to findings, one module per family. `evaluate` runs them
all over a set of batches.

Importing the package loads no Polars: the rules of one batch (a dossier in
a terminal) need none, and a read-only command's start is most of its time.
The Polars side (the screen; the frames' schemas, in frames.py) loads when
first used."""

from kqc.core.rules.applicable import batch_profiles, thresholds_from_frame
from kqc.core.rules.evaluate import evaluate
from kqc.core.rules.model import Batch, Finding, Threshold

__all__ = [
    "Batch",
    "Finding",
    "Threshold",
    "batch_profiles",
    "evaluate",
    "thresholds_from_frame",
]
