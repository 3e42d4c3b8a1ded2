"""The screen of the limit rules (limits.py): which (batch, analyte) pairs a
contaminant limit, per gram, per day, as absence in a test portion or as the
synthetic-alkaloid ratio, could flag."""

from __future__ import annotations

import polars as pl

from kqc.core.rules.families import LIMIT_RULES
from kqc.core.rules.screen_base import all_pass, clearly_passes, ids, pairs
from kqc.core.vocab import MITRAGYNINE

# limits.is_synthetic_ratio over the thresholds table.
SYNTHETIC_RATIO = (pl.col("rule") == "synthetic_alkaloid") & (pl.col("t_unit") == "ratio")


def limit_pairs(
    samples: pl.DataFrame, summed: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame
) -> set[tuple[str, str]]:
    """(batch, analyte) whose limit rules the rules must judge."""
    rules = table.filter(pl.col("rule").is_in(LIMIT_RULES))
    joined = summed.join(
        batches.select("batch_id", "key_id", "exposure_scale"), on="batch_id"
    ).join(rules, left_on=["key_id", "analyte"], right_on=["key_id", "t_analyte"])
    fw, limit, basis = pl.col("fails_when"), pl.col("limit"), pl.col("t_basis")
    presence = (
        (pl.col("n_present") > 0)
        | (pl.col("max_value") > 0)
        | (pl.col("n_no_portion") > 0)
        | (pl.col("min_portion") < pl.col("limit").fill_null(0.0))
    ).fill_null(False)
    scale = pl.col("exposure_scale")
    per_day = (pl.col("unit") == "ug/g").fill_null(False) & (
        scale.is_null() | ~all_pass(scale, fw, limit)
    )
    per_g = ((fw == "detected") | pl.col("unit").is_in(pl.col("per_g_units"))).fill_null(False)
    needs = (
        pl.when(basis == "per_day")
        .then(per_day)
        .when(basis == "presence_in_g")
        .then(presence)
        .when(SYNTHETIC_RATIO)
        .then(False)  # judged sample by sample below
        .when(basis == "per_g")
        .then(per_g & ~all_pass(pl.lit(1.0), fw, limit))
        .otherwise(False)
    )
    found = pairs(joined.filter(needs))
    ratio_rules = rules.filter(SYNTHETIC_RATIO)
    for t_analyte in ratio_rules.get_column("t_analyte").unique().to_list():
        chosen = ratio_rules.filter(pl.col("t_analyte") == t_analyte)
        found |= {(b, t_analyte) for b in _synthetic_ratio(samples, batches, chosen, t_analyte)}
    return found


def _synthetic_ratio(
    samples: pl.DataFrame, batches: pl.DataFrame, rules: pl.DataFrame, t_analyte: str
) -> set[str]:
    """limits.synthetic_ratio: each sample's last `t_analyte` beside its last
    mitragynine."""
    oh, mg = pl.col(f"v:{t_analyte}"), pl.col(f"v:{MITRAGYNINE}")
    judged = (
        samples.filter(pl.col(f"has:{MITRAGYNINE}") & oh.is_not_null() & (oh != 0))
        .join(batches.select("batch_id", "key_id"), on="batch_id")
        .join(rules.select("key_id", "fails_when", "limit"), on="key_id")
    )
    # A sample passes only with a measured, non-zero mitragynine and a ratio
    # clearly within the limit; a non-detect goes to the rule.
    clear = (
        mg.is_not_null()
        & (mg != 0)
        & clearly_passes(oh / mg, pl.col("fails_when"), pl.col("limit"))
    ).fill_null(False)
    return ids(judged.filter(~clear))
