"""The screen of the potency rules: the label claim, content uniformity and
7-OH (dose.py), and the control chart (drift.py). Each gives the batches
whose rule could find something."""

from __future__ import annotations

import polars as pl

from kqc.core.rules.dose import ALKALOID_UNITS, DEFAULT_TARGET, OK_ALKALOID_SUM, reference_range
from kqc.core.rules.drift import MIN_EARLIER
from kqc.core.rules.dry_weight import DRY_SUFFIX
from kqc.core.rules.frames import MEAN_VALUE
from kqc.core.rules.screen_base import (
    STAT_MARGIN,
    UNITS_PER_SERVING,
    all_pass,
    clearly_passes,
    ids,
    in_serving_unit,
    serving_factor,
)
from kqc.core.vocab import MITRAGYNINE, SEVEN_OH

# --- dosing (dose.py) ---------------------------------------------------------


def label_claim(prod: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame) -> set[str]:
    rules = table.filter(pl.col("rule") == "label_claim")
    any_mg = prod.filter(pl.col("analyte") == MITRAGYNINE).select("batch_id").unique()
    targets = batches.join(any_mg, on="batch_id", how="semi").join(
        rules.select("key_id").unique(), on="key_id", how="semi"
    )
    basis = (
        in_serving_unit(prod.filter(pl.col("analyte") == MITRAGYNINE))
        .with_columns(MEAN_VALUE.alias("mv"))
        .group_by("batch_id")
        .agg(pl.col("per_unit").first(), pl.col("mv").drop_nulls().mean().alias("mv"))
    )
    claim = pl.col("label_claim_mg_per_serving").cast(pl.Float64)
    judged = (
        targets.join(basis, on="batch_id", how="left")
        .with_columns((pl.col("mv") * serving_factor(pl.col("per_unit"))).alias("mean"))
        .join(rules, on="key_id")
        .with_columns(
            pl.when(pl.col("t_unit").str.starts_with("%"))
            .then(pl.col("mean") / claim * 100)
            .otherwise(pl.col("mean"))
            .alias("observed")
        )
    )
    # dose.label_claim skips a claim of zero; a batch with no register has no
    # claim, and its label rules are inconclusive.
    skipped = pl.col("t_unit").str.starts_with("%") & (claim.is_null() | (claim == 0))
    clear = (
        pl.col("registered")
        & pl.col("mean").is_not_null()
        & (
            skipped
            | clearly_passes(pl.col("observed"), pl.col("fails_when"), pl.col("limit"), STAT_MARGIN)
        )
    ).fill_null(False)
    return ids(judged.filter(~clear))


def content_uniformity(prod: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame) -> set[str]:
    # dose.content_uniformity keeps one threshold per unit: the last.
    rules = table.filter(pl.col("rule") == "content_uniformity").unique(
        ["key_id", "t_unit"], keep="last", maintain_order=True
    )
    if not rules.height:
        return set()
    units = prod.filter((pl.col("analyte") == MITRAGYNINE) & (pl.col("unit") == "mg/unit"))
    per_unit_claim = pl.col("label_claim_mg_per_serving").cast(pl.Float64) / UNITS_PER_SERVING
    x = (
        units.join(batches, on="batch_id")
        # dose.dosage_units: a result per serving of several units is no unit's.
        .filter(pl.col("per_serving_of").is_null())
        .with_columns((MEAN_VALUE / per_unit_claim * 100).alias("x"))
        .group_by("batch_id", "key_id")
        .agg(
            pl.len().alias("n_units"),
            pl.col("x").drop_nulls().len().alias("n"),
            pl.col("x").drop_nulls().mean().alias("mean"),
            pl.col("x").drop_nulls().std(ddof=1).alias("sd"),
            pl.col("label_claim_mg_per_serving").first().alias("claim"),
        )
        .filter(pl.col("n_units") >= 2)
        .join(rules, on="key_id")
    )
    fw, limit, n = pl.col("fails_when"), pl.col("limit"), pl.col("n")
    reference = pl.col("mean").clip(*reference_range(DEFAULT_TARGET))  # USP <905> M
    k = pl.when(n >= 30).then(2.0).otherwise(2.4)
    av = (reference - pl.col("mean")).abs() + k * pl.col("sd")
    rsd = pl.col("sd") / pl.col("mean") * 100
    unit = pl.col("t_unit")
    clear = (
        pl.when(pl.col("claim").is_null() | (pl.col("claim") == 0) | (n == 0))
        .then(False)
        .when(unit == "% of label claim")
        .then((n < 10) | clearly_passes(av, fw, limit, STAT_MARGIN))
        .when(unit == "% of M")
        .then(n < 30)
        .when(unit == "% RSD")
        .then((n >= 10) | ((pl.col("mean") != 0) & clearly_passes(rsd, fw, limit, STAT_MARGIN)))
        .otherwise(True)
        .fill_null(False)
    )
    return ids(x.filter(~clear))


def seven_oh(
    samples: pl.DataFrame, summed: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame
) -> set[str]:
    rules = table.filter(pl.col("rule") == "7oh_ratio")
    if not rules.height:
        return set()
    fw, limit = pl.col("fails_when"), pl.col("limit")
    keyed = batches.select("batch_id", "key_id", "serving_size_g", "units_per_serving")
    oh = summed.filter(pl.col("analyte") == SEVEN_OH).join(keyed, on="batch_id")
    found: set[str] = set()
    # 7-OH per gram. A dry-weight limit (FL) reads the sample's moisture as
    # well (dry_weight.py): every batch with a 7-OH result in mg/g goes to it.
    per_g = oh.filter(pl.col("unit") == "mg/g").join(
        rules.filter(pl.col("t_basis") == "per_g"), on="key_id"
    )
    dry = pl.col("t_unit").str.ends_with(DRY_SUFFIX).fill_null(False)
    found |= ids(per_g.filter(dry | ~all_pass(pl.lit(1.0), fw, limit)))
    # 7-OH per serving: mg/unit when the batch has any, else mg/g.
    serving = (
        in_serving_unit(oh)
        .with_columns(serving_factor(pl.col("per_unit")).alias("factor"))
        .join(rules.filter(~pl.col("t_basis").is_in(["per_g", "pct_of_alkaloids"])), on="key_id")
    )
    unclear = pl.col("factor").is_null() | ~all_pass(pl.col("factor"), fw, limit)
    found |= ids(serving.filter(unclear))
    # 7-OH as a share of the alkaloids, sample by sample.
    share_rules = rules.filter(pl.col("t_basis") == "pct_of_alkaloids")
    if share_rules.height:
        found |= _seven_oh_share(samples, keyed, share_rules)
    return found


def _seven_oh_share(samples: pl.DataFrame, keyed: pl.DataFrame, rules: pl.DataFrame) -> set[str]:
    """dose.seven_oh_share over each sample's last result of each alkaloid."""
    others = pl.sum_horizontal(
        pl.col(f"v:{a}").fill_null(0.0) for a in OK_ALKALOID_SUM if a != SEVEN_OH
    )
    judged = (
        samples.filter(
            pl.col("unit").is_in(list(ALKALOID_UNITS))
            & pl.col(f"has:{SEVEN_OH}")
            & pl.col(f"has:{MITRAGYNINE}")
        )
        .join(keyed.select("batch_id", "key_id"), on="batch_id")
        .join(rules, on="key_id")
    )
    oh, bound = pl.col(f"v:{SEVEN_OH}"), pl.col("oh_bound")
    total = others + oh
    share = pl.when(total != 0).then(oh / total * 100).otherwise(float("inf"))
    denominator = others + bound
    most = pl.when(bound.is_not_null() & (denominator != 0)).then(bound / denominator * 100)
    fw, limit = pl.col("fails_when"), pl.col("limit")
    clear = (
        pl.when(oh.is_not_null())
        .then(clearly_passes(share, fw, limit, STAT_MARGIN))
        .otherwise(most.is_not_null() & clearly_passes(most, fw, limit, STAT_MARGIN))
        .fill_null(False)
    )
    return ids(judged.filter(~clear))


# --- the control chart (drift.py) ---------------------------------------------


def own_means(prod: pl.DataFrame) -> pl.DataFrame:
    """batch_id, unit, mean_value: drift._mean_and_n's point per batch (mg/g
    when measured, else mg/unit), as a Polars mean (within a few ulps)."""
    return (
        prod.filter((pl.col("analyte") == MITRAGYNINE) & pl.col("unit").is_in(["mg/g", "mg/unit"]))
        .with_columns(MEAN_VALUE.alias("mv"))
        .filter(pl.col("mv").is_not_null())
        .group_by("batch_id", "unit")
        .agg(pl.col("mv").mean().alias("mean_value"))
        .sort("batch_id", pl.col("unit") != "mg/g")
        .unique("batch_id", keep="first")
    )


def drift(
    prod: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame, history: pl.DataFrame
) -> set[str]:
    rules = table.filter(pl.col("rule") == "potency_drift")
    if not rules.height or not history.height:
        return set()
    blank = pl.lit("")
    made = pl.coalesce(
        pl.col("made").replace("", None), pl.col("manufactured_on").replace("", None), blank
    )
    targets = (
        batches.filter(pl.col("registered"))
        .join(rules.select("key_id").unique(), on="key_id", how="semi")
        .select("batch_id", "product_id", made.cast(pl.String).alias("made"))
        .join(own_means(prod), on="batch_id")
        .with_columns(pl.lit(0).alias("weight"), pl.col("unit").cast(pl.String))
    )
    if not targets.height:
        return set()
    points = history.select(
        pl.col("product_id"),
        pl.col("batch_id"),
        pl.col("made").fill_null("").cast(pl.String),
        pl.col("unit"),
        pl.col("mean_value"),
        pl.lit(1).alias("weight"),
    ).join(targets.select("product_id").unique(), on="product_id", how="semi")
    line = ["product_id", "unit"]
    # Each target sits in its product's chart just before any point made at
    # the same (made, batch_id), with no weight: the running sums up to it are
    # the sums over the batches made before it. Centred on the product's mean
    # so the running variance does not lose its digits.
    chart = (
        pl.concat([points, targets.select(points.columns)])
        .sort([*line, "made", "batch_id", "weight"])
        .with_columns(
            (pl.col("mean_value") - pl.col("mean_value").filter(pl.col("weight") == 1).mean())
            .over(line)
            .fill_null(0.0)
            .alias("dx")
        )
        .with_columns(
            pl.col("weight").cum_sum().over(line).alias("n"),
            (pl.col("dx") * pl.col("weight")).cum_sum().over(line).alias("s1"),
            (pl.col("dx") ** 2 * pl.col("weight")).cum_sum().over(line).alias("s2"),
        )
        .filter(pl.col("weight") == 0)
    )
    n, s1, s2 = pl.col("n").cast(pl.Float64), pl.col("s1"), pl.col("s2")
    variance = (s2 - s1 * s1 / n) / (n - 1)
    distance = (pl.col("dx") - s1 / n).abs() / variance.sqrt()
    judged = chart.join(batches.select("batch_id", "key_id"), on="batch_id").join(
        rules, on="key_id"
    )
    # A variance that is tiny beside the spread of the points has lost its
    # digits in the running sums: the rule decides.
    conditioned = variance > STAT_MARGIN * (s2 / n)
    clear = (
        (pl.col("n") < MIN_EARLIER)
        | (
            conditioned
            & clearly_passes(distance, pl.col("fails_when"), pl.col("limit"), STAT_MARGIN)
        )
    ).fill_null(False)
    return ids(judged.filter(~clear))
