"""potency_drift: a batch's mean mitragynine outside the control limits
(mean +/- 3 SD) of at least five earlier batches of the same product — drift
caught before a batch fails its label claim."""

from __future__ import annotations

import statistics
from typing import Any

import polars as pl

from kqc.core.rules.applicable import applicable
from kqc.core.rules.dose import mean_value
from kqc.core.rules.model import Batch, Finding, Threshold, finding

MIN_EARLIER = 5


def batch_mean(results: list[dict[str, Any]]) -> tuple[float, str] | None:
    """Mean mitragynine of production results: mg/g when measured, else mg/unit."""
    found = _mean_and_n(results)
    return None if found is None else (found[0], found[1])


def _mean_and_n(results: list[dict[str, Any]]) -> tuple[float, str, int] | None:
    for unit in ("mg/g", "mg/unit"):
        values = [
            v
            for r in results
            if r["analyte"] == "mitragynine"
            and r["sample_type"] == "production"
            and r["unit"] == unit
            and (v := mean_value(r)) is not None
        ]
        if values:
            return statistics.fmean(values), unit, len(values)
    return None


POTENCY_SCHEMA = {
    "batch_id": pl.String(),
    "unit": pl.String(),
    "mean_value": pl.Float64(),
    "n": pl.Int64(),
}


def batch_means(results: pl.DataFrame) -> pl.DataFrame:
    """One control-chart point per batch that has mitragynine results:
    batch_id, unit, mean_value, n (POTENCY_SCHEMA)."""
    rows = []
    for (batch_id,), group in results.group_by("batch_id", maintain_order=True):
        found = _mean_and_n(group.to_dicts())
        if found is not None:
            rows.append((batch_id, found[1], found[0], found[2]))
    return pl.DataFrame(rows, schema=POTENCY_SCHEMA, orient="row")


def potency_drift(
    batch: Batch, thresholds: list[Threshold], earlier: list[tuple[str, float, str]]
) -> list[Finding]:
    """`earlier`: (batch_id, mean, unit) of the product's batches made before this one."""
    rules = applicable(thresholds, batch, "potency_drift")
    own = batch_mean(batch.results)
    if not rules or own is None:
        return []
    mean, unit = own
    history = [m for b, m, u in earlier if u == unit and b != batch.batch_id]
    if len(history) < MIN_EARLIER:
        return []
    centre, sd = statistics.fmean(history), statistics.stdev(history)
    out = []
    for t in rules:
        k = t.limit_value or 3.0
        distance = abs(mean - centre) / sd if sd else (0.0 if mean == centre else float("inf"))
        if t.fails(distance):
            out.append(
                finding(
                    batch,
                    t,
                    mean,
                    f"batch mean mitragynine {mean:.3g} {unit} is {distance:.1f} SD from the mean"
                    f" {centre:.3g} of {len(history)} earlier batches (limits {centre - k * sd:.3g}"
                    f"-{centre + k * sd:.3g}) — {t.citation()}",
                    {
                        "n_earlier": len(history),
                        "centre": centre,
                        "sd": sd,
                        "k": k,
                        "distance_sd": distance,
                        "unit": unit,
                    },
                )
            )
            out[-1].limit_value = centre + k * sd if mean > centre else centre - k * sd
            out[-1].unit = unit
    return out
