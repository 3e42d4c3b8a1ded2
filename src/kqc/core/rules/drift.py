"""potency_drift: a batch's mean mitragynine outside the control limits
(mean +/- 3 SD) of at least five earlier batches of the same product — drift
caught before a batch fails its label claim."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from kqc.core.rules.applicable import applicable
from kqc.core.rules.dose import mean_value
from kqc.core.rules.model import Batch, Finding, Threshold, finding
from kqc.core.vocab import MITRAGYNINE

if TYPE_CHECKING:
    import polars as pl

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
            if r["analyte"] == MITRAGYNINE
            and r["sample_type"] == "production"
            and r["unit"] == unit
            and (v := mean_value(r)) is not None
        ]
        if values:
            return statistics.fmean(values), unit, len(values)
    return None


def batch_means(results: pl.DataFrame) -> pl.DataFrame:
    """One control-chart point per batch that has mitragynine results:
    batch_id, unit, mean_value, n (POTENCY_SCHEMA), as _mean_and_n gives it.
    Each batch's values are picked out over whole columns; only the mean is
    taken in Python, with statistics.fmean as the rule takes it."""
    import polars as pl

    from kqc.core.rules.frames import MEAN_VALUE, POTENCY_SCHEMA

    mg_g = pl.col("unit") == "mg/g"
    points = (
        results.filter(
            (pl.col("analyte") == MITRAGYNINE)
            & (pl.col("sample_type") == "production")
            & pl.col("unit").is_in(["mg/g", "mg/unit"])
        )
        .with_columns(MEAN_VALUE.alias("mv"))
        .filter(pl.col("mv").is_not_null())
        .group_by("batch_id", "unit", maintain_order=True)
        .agg(pl.col("mv"))
        # mg/g when measured, else mg/unit.
        .filter(mg_g | ~mg_g.any().over("batch_id"))
    )
    values = points.get_column("mv").to_list()
    return pl.DataFrame(
        {
            "batch_id": points.get_column("batch_id"),
            "unit": points.get_column("unit"),
            "mean_value": [statistics.fmean(v) for v in values],
            "n": [len(v) for v in values],
        },
        schema=POTENCY_SCHEMA,
    )


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
