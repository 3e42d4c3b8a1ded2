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

This module owns the table of which thresholds apply to which batch, runs
each family's screen (screen_limits, screen_potency, screen_qc, and the
panel's below) and picks the rows the rules then read; the pieces they share
are in screen_base.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from kqc.core.rules import screen_limits, screen_potency, screen_qc
from kqc.core.rules.applicable import applicable, batch_profiles
from kqc.core.rules.dose import OK_ALKALOID_SUM
from kqc.core.rules.dry_weight import MOISTURE
from kqc.core.rules.families import FAMILIES as FAMILIES  # importable from here, as before
from kqc.core.rules.families import LIMIT_RULES, Needs
from kqc.core.rules.limits import is_synthetic_ratio, per_gram_units
from kqc.core.rules.model import Batch, Threshold
from kqc.core.rules.panel import PANEL_ANALYTES
from kqc.core.rules.screen_base import PRODUCTION, ids, samples, summary
from kqc.core.rules.screen_base import STAT_MARGIN as STAT_MARGIN
from kqc.core.rules.screen_base import clearly_passes as clearly_passes
from kqc.core.vocab import MITRAGYNINE

# STAT_MARGIN and clearly_passes (imported above as themselves) stay
# importable from here, where callers have always found them.

_RULES = (*LIMIT_RULES, "label_claim", "content_uniformity", "7oh_ratio", "potency_drift")
_RULES_ALL = (*_RULES, "qc_failure")

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
                        "per_g_units": list(per_gram_units(t.unit)),
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


def _ratio_analytes(thresholds: Iterable[Threshold]) -> set[str]:
    """The analytes the synthetic-alkaloid ratio sets beside mitragynine."""
    return {t.analyte for t in thresholds if is_synthetic_ratio(t)}


def _panel(summed: pl.DataFrame, batch_ids: list[str]) -> set[str]:
    """panel.missing_panel: batches without a production result of every
    panel analyte."""
    wanted = set(PANEL_ANALYTES)
    complete = (
        summed.filter(pl.col("analyte").is_in(wanted))
        .group_by("batch_id")
        .agg(pl.col("analyte").n_unique().alias("n"))
        .filter(pl.col("n") == len(wanted))
    )
    return set(batch_ids) - ids(complete)


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
    prod = frame.filter(PRODUCTION)
    judged = {t.analyte for t in thresholds if t.rule in LIMIT_RULES} | set(PANEL_ANALYTES)
    summed, by_sample, potency, checks = pl.collect_all(
        [
            summary(prod.filter(pl.col("analyte").is_in(judged))),
            samples(prod, _ratio_analytes(thresholds)),
            prod.filter(pl.col("analyte") == MITRAGYNINE).select(_POTENCY_FIELDS),
            frame.filter(~PRODUCTION).select(_QC_FIELDS),
        ]
    )
    limit_analytes: dict[str, set[str]] = {}
    for batch_id, analyte in screen_limits.limit_pairs(by_sample, summed, batches, table):
        limit_analytes.setdefault(batch_id, set()).add(analyte)
    return Needs(
        {
            "limits": set(limit_analytes),
            "label_claim": screen_potency.label_claim(potency, batches, table),
            "content_uniformity": screen_potency.content_uniformity(potency, batches, table),
            "seven_oh": screen_potency.seven_oh(by_sample, summed, batches, table),
            "drift": screen_potency.drift(potency, batches, table, history),
            "qc": screen_qc.qc(frame, checks, batches, table),
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
    "panel": PANEL_ANALYTES,
}


def to_read(results: pl.DataFrame, needs: Needs, thresholds: Iterable[Threshold]) -> pl.DataFrame:
    """The rows of `results` the rules read for `needs`, in their order: a
    batch given only these gets the same findings from each family asked as
    given all of its rows."""
    ratio = _ratio_analytes(thresholds)
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
    production = numbered.filter(PRODUCTION).join(wanted, on=["batch_id", "analyte"], how="semi")
    checked = numbered.filter(pl.col("batch_id").is_in(list(needs.batches["qc"])))
    return pl.concat([production, checked]).unique("_row").sort("_row").drop("_row")
