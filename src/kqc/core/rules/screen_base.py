"""What every family's screen (screen.py) is built of: the margins a figure
must clear, the test that a figure certainly passes, the per-(batch,
analyte, unit) summary and the per-sample table of alkaloids, and the
rules' per-serving choices (dose.serving_basis) over whole columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from kqc.core.qualifiers import ABOVE_ULOQ, CENSORED_BELOW, DETECTED, TNTC
from kqc.core.rules.dose import OK_ALKALOID_SUM
from kqc.core.rules.frames import CENSORED_BOUND
from kqc.core.vocab import SEVEN_OH

# A figure within this relative distance of its limit goes to the rules: the
# rules round to 12 significant digits (5e-12) before comparing.
MARGIN = 1e-9
# Means, standard deviations and sums the rules compute with statistics.fmean,
# stdev and sequential sums: Polars gets them within a few ulps, and a
# running variance within far less than this.
STAT_MARGIN = 1e-6

PRODUCTION = pl.col("sample_type") == "production"

# dose.units_per_serving over the register's column: one when it gives none (or 0).
_UNITS = pl.col("units_per_serving").cast(pl.Float64)
UNITS_PER_SERVING = pl.when(_UNITS.is_null() | (_UNITS == 0)).then(1.0).otherwise(_UNITS)


def clearly_passes(
    observed: pl.Expr, fails_when: pl.Expr, limit: pl.Expr, margin: float | None = None
) -> pl.Expr:
    """True when Threshold.fails(observed) is certainly False: the figure is
    on the passing side of its limit by more than `margin` (relative).
    Null or NaN figures are never clear."""
    margin = MARGIN if margin is None else margin
    gap = observed - limit
    scale = pl.max_horizontal(observed.abs(), limit.abs())
    return (
        pl.when(fails_when == "detected")
        .then(observed <= 0)
        .when(fails_when.is_in([">", ">="]))
        .then(gap < -margin * scale)
        .when(fails_when.is_in(["<", "<="]))
        .then(gap > margin * scale)
        .otherwise(False)
        .fill_null(False)
    )


def ids(frame: pl.DataFrame) -> set[str]:
    """The batches of `frame`."""
    return set(frame.get_column("batch_id").unique().to_list())


def pairs(frame: pl.DataFrame) -> set[tuple[str, str]]:
    """The (batch, analyte) pairs of `frame`."""
    return set(frame.select("batch_id", "analyte").unique().iter_rows())


# --- what a batch's results of one analyte in one unit say -------------------


def summary(prod: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (batch, analyte, unit) of production results, with what
    judging them against any threshold needs: the extremes of the values,
    the largest bound of the non-detects, and how many rows no figure
    settles (a detection without an amount, a result above the range)."""
    value, qualifier = pl.col("value"), pl.col("qualifier").fill_null("")
    missing = value.is_null()
    censored = missing & qualifier.is_in(CENSORED_BELOW)
    portion = pl.col("test_portion_g")
    return (
        prod.select(
            "batch_id",
            "analyte",
            "unit",
            value,
            (missing & (qualifier == DETECTED)).alias("detected"),
            (missing & ~qualifier.is_in([*CENSORED_BELOW, DETECTED])).alias("other"),
            censored.alias("censored"),
            (censored & CENSORED_BOUND.is_null()).alias("unbounded"),
            pl.when(censored).then(CENSORED_BOUND).alias("bound"),
            # limits.presence: certainly present, or absent in too small a portion.
            qualifier.is_in([DETECTED, ABOVE_ULOQ, TNTC]).alias("present"),
            (censored & portion.is_null()).alias("no_portion"),
            pl.when(censored).then(portion).alias("portion"),
        )
        .group_by("batch_id", "analyte", "unit")
        .agg(
            value.max().alias("max_value"),
            value.min().alias("min_value"),
            pl.col("detected").sum().alias("n_detected"),
            pl.col("other").sum().alias("n_other"),
            pl.col("censored").sum().alias("n_censored"),
            pl.col("unbounded").sum().alias("n_unbounded"),
            pl.col("bound").max().alias("max_bound"),
            pl.col("present").sum().alias("n_present"),
            pl.col("no_portion").sum().alias("n_no_portion"),
            pl.col("portion").min().alias("min_portion"),
        )
    )


def all_pass(scale: pl.Expr, fails_when: pl.Expr, limit: pl.Expr) -> pl.Expr:
    """True when model.judge(t, r, scale) is certainly 'pass' for every row a
    summary row stands for. A positive factor keeps the order of the
    figures, so the largest (or smallest) decides for all."""
    high, low = pl.col("max_value") * scale, pl.col("min_value") * scale
    upper, lower = fails_when.is_in([">", ">="]), fails_when.is_in(["<", "<="])
    values = pl.col("max_value").is_null() | (
        pl.when(fails_when == "detected")
        .then(high <= 0)
        .when(upper)
        .then(clearly_passes(high, fails_when, limit))
        .when(lower)
        .then(clearly_passes(low, fails_when, limit))
        .otherwise(False)
    )
    bounded = (pl.col("n_unbounded") == 0) & (
        pl.when(upper)
        .then(limit.is_null() | (pl.col("max_bound") * scale <= limit))
        .when(lower)
        .then(False)
        .otherwise(True)
    )
    censored = (pl.col("n_censored") == 0) | (fails_when == "detected") | bounded
    return (
        (scale > 0) & values & censored & (pl.col("n_detected") == 0) & (pl.col("n_other") == 0)
    ).fill_null(False)


def samples(prod: pl.LazyFrame, extra: Iterable[str]) -> pl.LazyFrame:
    """One row per (batch, sample, unit_no, unit) with the alkaloids (and
    `extra` analytes): whether each was reported, and the value of its last
    result (the rules key a dict by analyte, which keeps the last it is
    given); for 7-OH also the bound of its last result."""
    names = list(dict.fromkeys([*OK_ALKALOID_SUM, *extra]))
    analyte, value = pl.col("analyte"), pl.col("value")
    return (
        prod.filter(analyte.is_in(names))
        .group_by("batch_id", "sample_id", "unit_no", "unit")
        .agg(
            *[(analyte == a).any().alias(f"has:{a}") for a in names],
            *[value.filter(analyte == a).last().alias(f"v:{a}") for a in names],
            CENSORED_BOUND.filter(analyte == SEVEN_OH).last().alias("oh_bound"),
        )
    )


# --- per serving, as dose.serving_basis takes it ------------------------------


def in_serving_unit(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows of one analyte that dose.serving_basis reads: mg/unit when
    the batch has any, else mg/g; with `per_unit` saying which."""
    return rows.with_columns(
        (pl.col("unit") == "mg/unit").any().over("batch_id").fill_null(False).alias("per_unit")
    ).filter(
        pl.when(pl.col("per_unit"))
        .then(pl.col("unit") == "mg/unit")
        .otherwise(pl.col("unit") == "mg/g")
        .fill_null(False)
    )


def serving_factor(per_unit: pl.Expr) -> pl.Expr:
    """dose.serving_basis's factor: units per serving (else 1) for mg/unit,
    the serving size for mg/g."""
    return (
        pl.when(per_unit)
        .then(UNITS_PER_SERVING)
        .otherwise(pl.col("serving_size_g").cast(pl.Float64))
    )
