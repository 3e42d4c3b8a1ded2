"""The rules' Polars side: the schemas of the frames they give, and the
bound and mean-value expressions the screen and the control chart share.
Kept apart from the rule modules, which work on plain rows, so that one
batch's rules (a dossier in a terminal) load without Polars."""

from __future__ import annotations

import polars as pl

from kqc.core.qualifiers import CENSORED_BELOW

# Flags as stored (flags table), one row per finding (model.to_frame).
FLAG_SCHEMA: dict[str, pl.DataType] = {
    "flag_id": pl.String(),
    "batch_id": pl.String(),
    "rule": pl.String(),
    "analyte": pl.String(),
    "severity": pl.String(),
    "observed": pl.Float64(),
    "limit_value": pl.Float64(),
    "unit": pl.String(),
    "basis": pl.String(),
    "profile": pl.String(),
    "source": pl.String(),
    "threshold_version": pl.String(),
    "message": pl.String(),
    "evidence": pl.String(),
}

# The control-chart points drift.batch_means gives.
POTENCY_SCHEMA: dict[str, pl.DataType] = {
    "batch_id": pl.String(),
    "unit": pl.String(),
    "mean_value": pl.Float64(),
    "n": pl.Int64(),
}

# A batch's figures (statistics.batch_statistics), the columns of its rows.
STATISTICS_SCHEMA: dict[str, pl.DataType] = {
    "rule": pl.String(),
    "analyte": pl.String(),
    "sample_id": pl.String(),
    "statistic": pl.String(),
    "value": pl.Float64(),
    "qualifier": pl.String(),  # set when `value` is a bound (a non-detect), not a measurement
    "unit": pl.String(),
    "limit_value": pl.Float64(),
    "ratio_to_limit": pl.Float64(),  # value / limit, for upper limits only
    "verdict": pl.String(),  # pass, fail, inconclusive; NULL for a figure with no limit
    "profile": pl.String(),
    "note": pl.String(),
}

# model.censored_bound over a column: the most a non-detect can be.
CENSORED_BOUND = pl.coalesce("bound", "loq", "lod")

# dose.mean_value over a column: the same figure for every row (a division by
# two and a coalesce are exact), held to it by tests/core/rules/test_screen.py.
MEAN_VALUE = (
    pl.when(pl.col("value").is_not_null())
    .then(pl.col("value").cast(pl.Float64))
    .when(pl.col("qualifier").is_in(CENSORED_BELOW))
    .then(CENSORED_BOUND.cast(pl.Float64) / 2)
    .otherwise(None)
)
