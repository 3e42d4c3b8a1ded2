"""The screen of the QC rules (qc.py): the batches whose blanks, spikes,
reference materials or duplicates could fail."""

from __future__ import annotations

import polars as pl

from kqc.core.rules.screen_base import PRODUCTION, STAT_MARGIN, clearly_passes, ids


def qc(
    results: pl.LazyFrame, checks: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame
) -> set[str]:
    """qc.qc_failure over the QC rows (`checks`) and, for duplicates, the
    production results they are set against."""
    rules = table.filter(pl.col("rule") == "qc_failure").select(
        "key_id", pl.col("t_analyte").alias("sample_type"), "fails_when", "limit"
    )
    if not checks.height:
        return set()
    kind, value, level = pl.col("sample_type"), pl.col("value"), pl.col("spike_level")
    spiked = kind.is_in(["spike", "crm"]) & level.is_not_null() & (level != 0)
    # A spike reported as a non-detect, and a blank at or above its LOQ: the
    # rules read them (rare, and a blank's verdict needs no figure).
    found = ids(
        checks.filter(
            (spiked & value.is_null()).fill_null(False)
            | ((kind == "blank") & (value >= pl.col("loq"))).fill_null(False)
        )
    )
    keyed = checks.join(batches.select("batch_id", "key_id"), on="batch_id")
    recoveries = keyed.filter(spiked & value.is_not_null()).join(
        rules, on=["key_id", "sample_type"]
    )
    recovery = value / level * 100
    found |= ids(
        recoveries.filter(~clearly_passes(recovery, pl.col("fails_when"), pl.col("limit")))
    )
    duplicates = keyed.filter((kind == "duplicate") & value.is_not_null()).with_row_index("dup")
    if duplicates.height:
        twin_keys = ["batch_id", "analyte", "unit"]
        twins = (
            results.filter(PRODUCTION & value.is_not_null())
            .join(
                duplicates.select(twin_keys).unique().lazy(),
                on=twin_keys,
                how="semi",
                nulls_equal=True,
            )
            .group_by(*twin_keys, pl.col("unit_no").alias("twin_no"))
            .agg(value.sum().alias("twin_sum"), pl.len().alias("twin_n"))
            .collect()
        )
        paired = (
            duplicates.join(twins, on=twin_keys, nulls_equal=True)
            .filter(pl.col("unit_no").is_null() | (pl.col("twin_no") == pl.col("unit_no")))
            .group_by("dup", "batch_id", "key_id", "value")
            .agg((pl.col("twin_sum").sum() / pl.col("twin_n").sum()).alias("original"))
            .with_columns(pl.lit("duplicate").alias("sample_type"))
            .join(rules, on=["key_id", "sample_type"])
        )
        mean = (pl.col("original") + value) / 2
        rpd = (
            pl.when(mean != 0).then((value - pl.col("original")).abs() / mean * 100).otherwise(0.0)
        )
        found |= ids(
            paired.filter(~clearly_passes(rpd, pl.col("fails_when"), pl.col("limit"), STAT_MARGIN))
        )
    return found
