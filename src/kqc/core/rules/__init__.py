"""The rules: pure functions from a batch's results, its register row and the
thresholds in force to findings, one module per family. `evaluate` runs them
all over a set of batches.

Importing the package loads no Polars: the rules of one batch (a dossier in
a terminal) need none, and a read-only command's start is most of its time.
The Polars side (the screen, the flags frame) loads when first used."""

from typing import TYPE_CHECKING, Any

from kqc.core.rules.applicable import batch_profiles, thresholds_from_frame
from kqc.core.rules.evaluate import evaluate
from kqc.core.rules.model import Batch, Finding, Threshold

if TYPE_CHECKING:
    from kqc.core.rules.model import FLAG_SCHEMA


def __getattr__(name: str) -> Any:
    # FLAG_SCHEMA is made of Polars types (model.py builds it on first use).
    if name == "FLAG_SCHEMA":
        from kqc.core.rules import model

        return model.FLAG_SCHEMA
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FLAG_SCHEMA",
    "Batch",
    "Finding",
    "Threshold",
    "batch_profiles",
    "evaluate",
    "thresholds_from_frame",
]
