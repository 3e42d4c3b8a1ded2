"""Which batches each family of rules must read, decided over whole columns.

The rules in this package are the one definition of every verdict, written
for one batch at a time in Python. Run over millions of results that costs
minutes, yet almost every result passes. The screen computes the same
figures for all batches at once in Polars and lets through only the batches
where a rule could say something: a failure, an inconclusive result, a
missing panel. Those batches, and only those, are judged by the rules
themselves, so every flag is still written by the Python definition.

The screen may let through a batch that then passes (it errs on the side of
asking); it must never hold back a batch where a rule finds something.
Figures the rules round (a verdict is taken at 12 significant digits) or sum
in another order are judged with a margin: a value that close to its limit
is always handed to the rules. The property tests in
tests/core/rules/test_screen.py hold the screen to the rules on random batches.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from kqc.core.qualifiers import ABOVE_ULOQ, CENSORED_BELOW, DETECTED, TNTC
from kqc.core.rules.applicable import applicable, batch_profiles
from kqc.core.rules.dose import OK_ALKALOID_SUM
from kqc.core.rules.drift import MIN_EARLIER
from kqc.core.rules.dry_weight import DRY_SUFFIX, MOISTURE
from kqc.core.rules.families import FAMILIES as FAMILIES  # importable from here, as before
from kqc.core.rules.families import LIMIT_RULES, Needs
from kqc.core.rules.frames import MEAN_VALUE
from kqc.core.rules.limits import PER_G_UNITS
from kqc.core.rules.model import Batch, Threshold
from kqc.core.rules.panel import PANELS

_RULES = (*LIMIT_RULES, "label_claim", "content_uniformity", "7oh_ratio", "potency_drift")
_RULES_ALL = (*_RULES, "qc_failure")
MITRAGYNINE = "mitragynine"
SEVEN_OH = "7_hydroxymitragynine"

# What the potency rules (label claim, content uniformity, drift) and the QC
# rules read of a result.
_POTENCY_FIELDS = (
    "batch_id",
    "analyte",
    "unit",
    "value",
    "qualifier",
    "bound",
    "loq",
    "lod",
    "per_serving_of",
)
_QC_FIELDS = (
    "batch_id",
    "analyte",
    "unit",
    "unit_no",
    "value",
    "sample_type",
    "spike_level",
    "loq",
)
# Fields a result may lack (the rules read them with r.get).
_OPTIONAL: dict[str, pl.DataType] = {
    "bound": pl.Float64(),
    "loq": pl.Float64(),
    "lod": pl.Float64(),
    "unit_no": pl.String(),
    "test_portion_g": pl.Float64(),
    "spike_level": pl.Float64(),
    "per_serving_of": pl.Float64(),
}
# A figure within this relative distance of its limit goes to the rules: the
# rules round to 12 significant digits (5e-12) before comparing.
MARGIN = 1e-9
# Means, standard deviations and sums the rules compute with statistics.fmean,
# stdev and sequential sums: Polars gets them within a few ulps, and a
# running variance within far less than this.
STAT_MARGIN = 1e-6

_PRODUCTION = pl.col("sample_type") == "production"
_BOUND = pl.coalesce("bound", "loq", "lod")  # model.censored_bound


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


# --- which thresholds apply to which batch ------------------------------------


def _threshold_table(
    thresholds: list[Threshold], register: pl.DataFrame, batch_ids: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(batches, thresholds): each batch with its register figures and the
    key of its (form, markets); each key's applicable thresholds, merged
    across profiles exactly as `applicable` merges them."""
    wanted = pl.DataFrame({"batch_id": batch_ids}, schema={"batch_id": pl.String})
    figures = ["form", "markets", "serving_size_g", "servings_per_day", "units_per_serving"]
    figures += ["label_claim_mg_per_serving", "product_id", "manufactured_on", "made"]
    reg = register.select(
        pl.col("batch_id"),
        *[
            pl.col(c) if c in register.columns else pl.lit(None).alias(c)
            for c in figures
            if c != "made"
        ],
        (pl.col("made") if "made" in register.columns else pl.lit(None, pl.String)).alias("made"),
        pl.lit(True).alias("registered"),
    ).unique("batch_id", keep="last", maintain_order=True)
    batches = wanted.join(reg, on="batch_id", how="left", maintain_order="left").with_columns(
        pl.col("registered").fill_null(False),
        pl.col("form").cast(pl.String),
        pl.col("markets").cast(pl.String),
    )
    keys = batches.select("form", "markets").unique(maintain_order=True)
    rows = []
    for key_id, (form, markets) in enumerate(keys.iter_rows()):
        probe = Batch("", [], {"form": form}, batch_profiles({"markets": markets}))
        for rule in _RULES_ALL:
            for t in applicable(thresholds, probe, rule):
                rows.append(
                    {
                        "key_id": key_id,
                        "rule": t.rule,
                        "t_analyte": t.analyte,
                        "t_basis": t.basis,
                        "t_unit": t.unit,
                        "fails_when": t.fails_when,
                        "limit": t.limit_value,
                        "per_g_units": list(PER_G_UNITS.get(t.unit, (t.unit,))),
                    }
                )
    table = pl.DataFrame(
        rows,
        schema={
            "key_id": pl.UInt32,
            "rule": pl.String,
            "t_analyte": pl.String,
            "t_basis": pl.String,
            "t_unit": pl.String,
            "fails_when": pl.String,
            "limit": pl.Float64,
            "per_g_units": pl.List(pl.String),
        },
    )
    keyed = keys.with_row_index("key_id")
    batches = batches.join(
        keyed, on=["form", "markets"], how="left", nulls_equal=True, maintain_order="left"
    ).with_columns(
        (
            pl.col("serving_size_g").cast(pl.Float64) * pl.col("servings_per_day").cast(pl.Float64)
        ).alias("exposure_scale")
    )
    return batches, table


def _ids(frame: pl.DataFrame) -> set[str]:
    return set(frame.get_column("batch_id").unique().to_list())


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
            (censored & _BOUND.is_null()).alias("unbounded"),
            pl.when(censored).then(_BOUND).alias("bound"),
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


def _pairs(frame: pl.DataFrame) -> set[tuple[str, str]]:
    return set(frame.select("batch_id", "analyte").unique().iter_rows())


# --- the families -------------------------------------------------------------


def _limits(
    samples: pl.DataFrame, summed: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame
) -> set[tuple[str, str]]:
    """(batch, analyte) whose limit rules the rules must judge."""
    rules = table.filter(pl.col("rule").is_in(LIMIT_RULES))
    joined = summed.join(
        batches.select("batch_id", "key_id", "exposure_scale"), on="batch_id"
    ).join(rules, left_on=["key_id", "analyte"], right_on=["key_id", "t_analyte"])
    fw, limit, basis = pl.col("fails_when"), pl.col("limit"), pl.col("t_basis")
    ratio = (pl.col("rule") == "synthetic_alkaloid") & (pl.col("t_unit") == "ratio")
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
        .when(ratio)
        .then(False)  # judged sample by sample below
        .when(basis == "per_g")
        .then(per_g & ~all_pass(pl.lit(1.0), fw, limit))
        .otherwise(False)
    )
    found = _pairs(joined.filter(needs))
    ratio_rules = rules.filter(
        (pl.col("rule") == "synthetic_alkaloid") & (pl.col("t_unit") == "ratio")
    )
    for t_analyte in ratio_rules.get_column("t_analyte").unique().to_list():
        chosen = ratio_rules.filter(pl.col("t_analyte") == t_analyte)
        found |= {(b, t_analyte) for b in _synthetic_ratio(samples, batches, chosen, t_analyte)}
    return found


def _samples(prod: pl.LazyFrame, extra: Iterable[str]) -> pl.LazyFrame:
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
            _BOUND.filter(analyte == SEVEN_OH).last().alias("oh_bound"),
        )
    )


def _synthetic_ratio(
    samples: pl.DataFrame, batches: pl.DataFrame, rules: pl.DataFrame, t_analyte: str
) -> set[str]:
    """limits.synthetic_ratio: each sample's last `t_analyte` beside its last
    mitragynine."""
    oh, mg = pl.col(f"v:{t_analyte}"), pl.col(f"v:{MITRAGYNINE}")
    pairs = (
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
    return _ids(pairs.filter(~clear))


def _serving(per_unit: pl.Expr) -> pl.Expr:
    """dose.serving_basis's factor: units per serving (else 1) for mg/unit,
    the serving size for mg/g."""
    units = pl.col("units_per_serving").cast(pl.Float64)
    return (
        pl.when(per_unit)
        .then(pl.when(units.is_null() | (units == 0)).then(1.0).otherwise(units))
        .otherwise(pl.col("serving_size_g").cast(pl.Float64))
    )


def _basis_rows(prod: pl.DataFrame, analyte: str) -> pl.DataFrame:
    """The production rows of `analyte` that dose.serving_basis reads: mg/unit
    when the batch has any, else mg/g; with `per_unit` saying which."""
    rows = prod.filter(pl.col("analyte") == analyte)
    return rows.with_columns(
        (pl.col("unit") == "mg/unit").any().over("batch_id").fill_null(False).alias("per_unit")
    ).filter(
        pl.when(pl.col("per_unit"))
        .then(pl.col("unit") == "mg/unit")
        .otherwise(pl.col("unit") == "mg/g")
        .fill_null(False)
    )


def _label_claim(prod: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame) -> set[str]:
    rules = table.filter(pl.col("rule") == "label_claim")
    any_mg = prod.filter(pl.col("analyte") == MITRAGYNINE).select("batch_id").unique()
    targets = batches.join(any_mg, on="batch_id", how="semi").join(
        rules.select("key_id").unique(), on="key_id", how="semi"
    )
    basis = (
        _basis_rows(prod, MITRAGYNINE)
        .with_columns(MEAN_VALUE.alias("mv"))
        .group_by("batch_id")
        .agg(pl.col("per_unit").first(), pl.col("mv").drop_nulls().mean().alias("mv"))
    )
    claim = pl.col("label_claim_mg_per_serving").cast(pl.Float64)
    judged = (
        targets.join(basis, on="batch_id", how="left")
        .with_columns((pl.col("mv") * _serving(pl.col("per_unit"))).alias("mean"))
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
    return _ids(judged.filter(~clear))


def _content_uniformity(prod: pl.DataFrame, batches: pl.DataFrame, table: pl.DataFrame) -> set[str]:
    # dose.content_uniformity keeps one threshold per unit: the last.
    rules = table.filter(pl.col("rule") == "content_uniformity").unique(
        ["key_id", "t_unit"], keep="last", maintain_order=True
    )
    if not rules.height:
        return set()
    units = prod.filter((pl.col("analyte") == MITRAGYNINE) & (pl.col("unit") == "mg/unit"))
    per_serving = pl.col("units_per_serving").cast(pl.Float64)
    per_unit_claim = pl.col("label_claim_mg_per_serving").cast(pl.Float64) / (
        pl.when(per_serving.is_null() | (per_serving == 0)).then(1.0).otherwise(per_serving)
    )
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
    reference = pl.col("mean").clip(98.5, 101.5)  # USP <905> M, target 100 %
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
    return _ids(x.filter(~clear))


def _seven_oh(
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
    found |= _ids(per_g.filter(dry | ~all_pass(pl.lit(1.0), fw, limit)))
    # 7-OH per serving: mg/unit when the batch has any, else mg/g.
    per_unit = (pl.col("unit") == "mg/unit").any().over("batch_id").fill_null(False)
    serving = (
        oh.with_columns(per_unit.alias("per_unit"))
        .filter(
            pl.when(pl.col("per_unit"))
            .then(pl.col("unit") == "mg/unit")
            .otherwise(pl.col("unit") == "mg/g")
            .fill_null(False)
        )
        .with_columns(_serving(pl.col("per_unit")).alias("factor"))
        .join(rules.filter(~pl.col("t_basis").is_in(["per_g", "pct_of_alkaloids"])), on="key_id")
    )
    unclear = pl.col("factor").is_null() | ~all_pass(pl.col("factor"), fw, limit)
    found |= _ids(serving.filter(unclear))
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
            pl.col("unit").is_in(["mg/g", "mg/unit", "mg/mL"])
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
    return _ids(judged.filter(~clear))


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


def _drift(
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
    return _ids(judged.filter(~clear))


def _qc(
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
    found = _ids(
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
    found |= _ids(
        recoveries.filter(~clearly_passes(recovery, pl.col("fails_when"), pl.col("limit")))
    )
    duplicates = keyed.filter((kind == "duplicate") & value.is_not_null()).with_row_index("dup")
    if duplicates.height:
        twin_keys = ["batch_id", "analyte", "unit"]
        twins = (
            results.filter(_PRODUCTION & value.is_not_null())
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
        found |= _ids(
            paired.filter(~clearly_passes(rpd, pl.col("fails_when"), pl.col("limit"), STAT_MARGIN))
        )
    return found


def _panel(summed: pl.DataFrame, batch_ids: list[str]) -> set[str]:
    """panel.missing_panel: batches without a production result of every
    panel analyte."""
    wanted = {a for analytes in PANELS.values() for a in analytes}
    complete = (
        summed.filter(pl.col("analyte").is_in(wanted))
        .group_by("batch_id")
        .agg(pl.col("analyte").n_unique().alias("n"))
        .filter(pl.col("n") == len(wanted))
    )
    return set(batch_ids) - _ids(complete)


def screen(
    batch_ids: list[str],
    results: pl.DataFrame,
    register: pl.DataFrame,
    thresholds: list[Threshold],
    history: pl.DataFrame,
) -> Needs:
    """Every other batch (and analyte) has no finding in that family."""
    batches, table = _threshold_table(thresholds, register, batch_ids)
    # The rules read a missing optional field as None (r.get); so does the
    # screen. Each query reads only the columns it needs.
    absent = [c for c in _OPTIONAL if c not in results.columns]
    frame = results.lazy().with_columns(*[pl.lit(None, _OPTIONAL[c]).alias(c) for c in absent])
    prod = frame.filter(_PRODUCTION)
    panels = {a for analytes in PANELS.values() for a in analytes}
    judged = {t.analyte for t in thresholds if t.rule in LIMIT_RULES} | panels
    ratios = {t.analyte for t in thresholds if t.rule == "synthetic_alkaloid" and t.unit == "ratio"}
    summed, samples, potency, checks = pl.collect_all(
        [
            summary(prod.filter(pl.col("analyte").is_in(judged))),
            _samples(prod, ratios),
            prod.filter(pl.col("analyte") == MITRAGYNINE).select(_POTENCY_FIELDS),
            frame.filter(~_PRODUCTION).select(_QC_FIELDS),
        ]
    )
    limit_analytes: dict[str, set[str]] = {}
    for batch_id, analyte in _limits(samples, summed, batches, table):
        limit_analytes.setdefault(batch_id, set()).add(analyte)
    return Needs(
        {
            "limits": set(limit_analytes),
            "label_claim": _label_claim(potency, batches, table),
            "content_uniformity": _content_uniformity(potency, batches, table),
            "seven_oh": _seven_oh(samples, summed, batches, table),
            "drift": _drift(potency, batches, table, history),
            "qc": _qc(frame, checks, batches, table),
            "panel": _panel(summed, batch_ids),
        },
        limit_analytes,
    )


# The analytes each family reads of a batch's production results; the QC
# rules read every row of the batch (a QC sample and its production twins).
_READS: dict[str, tuple[str, ...]] = {
    "label_claim": (MITRAGYNINE,),
    "content_uniformity": (MITRAGYNINE,),
    "drift": (MITRAGYNINE,),
    "seven_oh": (*OK_ALKALOID_SUM, MOISTURE),  # moisture: dry-weight limits
    "panel": tuple(a for analytes in PANELS.values() for a in analytes),
}


def to_read(results: pl.DataFrame, needs: Needs, thresholds: Iterable[Threshold]) -> pl.DataFrame:
    """The rows of `results` the rules read for `needs`, in their order: a
    batch given only these gets the same findings from each family asked as
    given all of its rows."""
    ratio = {t.analyte for t in thresholds if t.rule == "synthetic_alkaloid" and t.unit == "ratio"}
    pairs: set[tuple[str, str]] = set()
    for family, read in _READS.items():
        pairs |= {(b, a) for b in needs.batches[family] for a in read}
    for batch_id, analytes in needs.limit_analytes.items():
        pairs |= {(batch_id, a) for a in analytes}
        if analytes & ratio:  # the 7-OH / mitragynine ratio reads both
            pairs.add((batch_id, MITRAGYNINE))
    wanted = pl.DataFrame(
        list(pairs), schema={"batch_id": pl.String, "analyte": pl.String}, orient="row"
    )
    asked = set().union(*needs.batches.values())
    numbered = results.with_row_index("_row").filter(pl.col("batch_id").is_in(list(asked)))
    production = numbered.filter(_PRODUCTION).join(wanted, on=["batch_id", "analyte"], how="semi")
    checked = numbered.filter(pl.col("batch_id").is_in(list(needs.batches["qc"])))
    return pl.concat([production, checked]).unique("_row").sort("_row").drop("_row")
