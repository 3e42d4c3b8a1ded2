"""The families of rules as evaluate runs them, and what the screen tells it
each family must read. Kept apart from the screen (screen.py), which works
in Polars, so the rules of one batch load without Polars."""

from __future__ import annotations

from dataclasses import dataclass

# The families of rules, in the order a batch's findings are listed.
FAMILIES = (
    "limits",
    "label_claim",
    "content_uniformity",
    "seven_oh",
    "drift",
    "qc",
    "panel",
)
LIMIT_RULES = ("heavy_metal", "microbial", "residual_solvent", "adulterant", "synthetic_alkaloid")


@dataclass
class Needs:
    """What the rules must read: for each family the batches where it could
    find something, and for the limit rules which analytes of each batch."""

    batches: dict[str, set[str]]
    limit_analytes: dict[str, set[str]]
