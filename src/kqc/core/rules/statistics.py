"""A batch's statistics as a reviewer reads them: the figures each rule
computes, whether or not they led to a flag, each beside the limit it is
judged against.

Computed when asked (nothing here is stored), from the same evidence the
rules read and with the rules' own functions, so the dossier cannot disagree
with the flags. Non-detects are never zeros: a row for one carries its
qualifier and the most it can be (its bound), never a value of 0.

This module owns the rows of each rule (statistic_rows, batch_statistics);
a row's structure and rounding are in statistic_row.py, the worst result
per limit in worst_rows.py. The figures are plain rows: a dossier in a
terminal shows them without loading Polars. batch_statistics and
worst_per_limit give the same rows as Polars frames.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kqc.core.rules import dose, drift, limits
from kqc.core.rules.applicable import applicable, batch_profiles
from kqc.core.rules.evaluate import earlier_points, means_by_product
from kqc.core.rules.families import LIMIT_RULES
from kqc.core.rules.model import Batch, Threshold
from kqc.core.rules.statistic_row import (
    StatisticRow,
    against,
    as_reported,
    figure,
    reported,
    verdict_of,
    where,
)
from kqc.core.rules.statistic_row import round_sig_figs as round_sig_figs
from kqc.core.rules.worst_rows import worst_per_limit as worst_per_limit
from kqc.core.rules.worst_rows import worst_rows_per_limit as worst_rows_per_limit
from kqc.core.vocab import MITRAGYNINE, SEVEN_OH

if TYPE_CHECKING:
    import polars as pl

# round_sig_figs, worst_rows_per_limit and worst_per_limit (imported above as
# themselves) stay importable from here, where callers have always found them.


# --- dosing -------------------------------------------------------------------


def content_uniformity(batch: Batch, thresholds: list[Threshold]) -> list[StatisticRow]:
    """Per-unit content as % of label claim: n, mean, SD, RSD and, from ten
    units, USP <905>'s acceptance value against L1 (dose.acceptance_value)."""
    units = dose.dosage_units(batch)
    if len(units) < 2:
        return []
    rule = "content_uniformity"
    found = dose.percent_of_claim(batch)
    if found is None:
        return [
            figure(rule, MITRAGYNINE, "units", len(units), "units", note="no label claim per unit")
        ]
    x, rows = found
    rules = {t.unit: t for t in applicable(thresholds, batch, rule)}
    n = len(x)
    mean, sd = statistics.fmean(x), statistics.stdev(x)
    rsd = sd / mean * 100 if mean else None
    claim = "% of label claim"
    out = [
        figure(rule, MITRAGYNINE, "units", n, "units", note=dose.substitution(rows)),
        figure(rule, MITRAGYNINE, "mean", mean, claim),
        figure(rule, MITRAGYNINE, "SD", sd, claim),
        figure(rule, MITRAGYNINE, "lowest unit", min(x), claim),
        figure(rule, MITRAGYNINE, "highest unit", max(x), claim),
    ]
    rsd_rule = rules.get("% RSD") if n < 10 else None  # the rule's test below ten units
    out.append(
        figure(
            rule,
            MITRAGYNINE,
            "RSD",
            rsd,
            "%",
            threshold=rsd_rule,
            verdict=None if rsd_rule is None or rsd is None else verdict_of(rsd_rule, rsd),
            note=None if n >= 10 else "fewer than 10 units: judged by RSD, not by AV",
        )
    )
    if n >= 10:
        target, target_from = dose.target_content(batch)
        av = dose.acceptance_value(x, target)
        l1 = rules.get(claim)
        low, high = dose.reference_range(target)
        out += [
            figure(rule, MITRAGYNINE, "k", av["k"], None, note="2.4 for 10 units, 2.0 for 30"),
            figure(rule, MITRAGYNINE, "T", target, claim, note=f"target content, {target_from}"),
            figure(
                rule,
                MITRAGYNINE,
                "M",
                av["M"],
                claim,
                note=f"reference value (USP <905>): the mean held to {low:g}-{high:g} %",
            ),
            figure(
                rule,
                MITRAGYNINE,
                "acceptance value",
                av["av"],
                claim,
                threshold=l1,
                verdict=None if l1 is None else verdict_of(l1, av["av"]),
                note="AV = |M - mean| + k SD, against L1",
            ),
        ]
        l2 = rules.get("% of M")
        if l2 is not None and n >= 30 and l2.limit_value is not None:
            low, high = dose.l2_range(l2.limit_value, av["M"])
            outside = sum(1 for v in x if v < low or v > high)
            out.append(
                figure(
                    rule,
                    MITRAGYNINE,
                    "units outside 0.75 M - 1.25 M",
                    outside,
                    "units",
                    verdict="fail" if outside else "pass",
                    note=f"range {low:.1f}-{high:.1f} % of label claim (L2)",
                )
            )
    return out


def label_claim(batch: Batch, thresholds: list[Threshold]) -> list[StatisticRow]:
    """Mean mitragynine per serving, as % of the claim, against the band and caps."""
    if not batch.production(MITRAGYNINE):
        return []
    rule = "label_claim"
    found = dose.per_serving_values(batch, MITRAGYNINE)
    if found is None:
        return [
            figure(
                rule,
                MITRAGYNINE,
                "mean per serving",
                None,
                "mg/serving",
                note="no batch register to express mitragynine per serving",
            )
        ]
    values, rows, how = found
    mean = statistics.fmean(values)
    claim = (batch.register or {}).get("label_claim_mg_per_serving")
    out = [
        figure(
            rule,
            MITRAGYNINE,
            "mean per serving",
            mean,
            "mg/serving",
            note=f"{len(values)} result(s), {how}; {dose.substitution(rows)}",
        )
    ]
    if claim:
        out.append(figure(rule, MITRAGYNINE, "label claim", float(claim), "mg/serving"))
    for t in applicable(thresholds, batch, rule):
        if t.unit.startswith("%"):
            if not claim:
                continue
            share = mean / float(claim) * 100
            out.append(
                figure(
                    rule,
                    MITRAGYNINE,
                    "% of label claim",
                    share,
                    "%",
                    threshold=t,
                    verdict=verdict_of(t, share),
                    note=f"allowed {t.describe()}",
                )
            )
        else:
            out.append(
                figure(
                    rule,
                    MITRAGYNINE,
                    "mean per serving",
                    mean,
                    t.unit,
                    threshold=t,
                    verdict=verdict_of(t, mean),
                    note=f"allowed {t.describe()}",
                )
            )
    return out


def _share_rows(batch: Batch, shares: list[Threshold]) -> list[StatisticRow]:
    """7-OH as % of the five-alkaloid sum, sample by sample (non-detects are
    zero in the sum; a non-detect 7-OH gives the most its share can be)."""
    out = []
    for oh, parts, others in dose.seven_oh_samples(batch):
        value, qualifier, note = as_reported(oh, 1.0)
        share = None if value is None or not others + value else value / (others + value) * 100
        if qualifier is None:
            note = f"sum of {', '.join(sorted(parts))}; non-detects as zero"
        judged: list[Threshold | None] = [*shares] or [None]  # no limit: the figure alone
        for t in judged:
            if t is None:
                verdict = None
            elif share is None:
                verdict = "inconclusive"
            elif qualifier is None:
                verdict = verdict_of(t, share)
            else:  # a bound: below the limit proves compliance, above it proves nothing
                verdict = "inconclusive" if t.fails(share) else "pass"
            out.append(
                figure(
                    "7oh_ratio",
                    SEVEN_OH,
                    "share of alkaloids",
                    share,
                    "%",
                    sample_id=where(oh),
                    qualifier=qualifier,
                    threshold=t,
                    verdict=verdict,
                    note=note,
                )
            )
    return out


def seven_oh(batch: Batch, thresholds: list[Threshold]) -> list[StatisticRow]:
    """7-OH's share of the alkaloids, and its amount per gram and per serving."""
    rules = applicable(thresholds, batch, "7oh_ratio")
    out = _share_rows(batch, [t for t in rules if t.basis == "pct_of_alkaloids"])
    for t in rules:
        if t.basis == "per_g":
            rows = batch.production(SEVEN_OH, ("mg/g",))
            out += against(t, rows, 1.0, "per g")
        elif t.basis == "per_serving":
            basis = dose.serving_basis(batch, SEVEN_OH)
            if basis is None:
                continue
            rows, scale, unit = basis
            if scale is None:
                out.append(
                    figure(
                        t.rule,
                        SEVEN_OH,
                        "per serving",
                        None,
                        t.unit,
                        threshold=t,
                        verdict="inconclusive",
                        note="no batch register to express 7-OH per serving",
                    )
                )
                continue
            how = dose.describe_basis(scale, unit, rows)
            out += against(t, rows, scale, "per serving", how)
    if not any(t.basis == "per_serving" for t in rules):
        found = dose.serving_basis(batch, SEVEN_OH)
        rows, scale, unit = found if found is not None else ([], None, "")
        if scale is not None:
            how = dose.describe_basis(scale, unit, rows)
            for r in rows:
                value, qualifier, note = as_reported(r, scale)
                out.append(
                    figure(
                        "7oh_ratio",
                        SEVEN_OH,
                        "per serving",
                        value,
                        "mg/serving",
                        sample_id=where(r),
                        qualifier=qualifier,
                        note=f"{note}; {how}",
                    )
                )
    return out


# --- control chart ------------------------------------------------------------


def earlier_batches(
    batch_id: str, register: dict[str, Any] | None, history: Iterable[Mapping[str, Any]]
) -> list[tuple[str, float, str]]:
    """(batch_id, mean, unit) of the product's batches made before this one,
    as the evaluation chooses them (rules.evaluate); `history` is rows of
    HISTORY_COLUMNS."""
    if register is None:
        return []
    return earlier_points(means_by_product(history), register, batch_id)


def potency_drift(
    batch: Batch, thresholds: list[Threshold], earlier: list[tuple[str, float, str]]
) -> list[StatisticRow]:
    """This batch's mean mitragynine against its product's earlier batches
    (mean +/- k SD, from drift.MIN_EARLIER earlier batches on)."""
    own = drift.batch_mean(batch.results)
    if own is None:
        return []
    rule = "potency_drift"
    mean, unit = own
    past = [m for b, m, u in earlier if u == unit and b != batch.batch_id]
    charted = len(past) >= drift.MIN_EARLIER
    too_few = f"fewer than {drift.MIN_EARLIER} earlier batches: no control limits yet"
    out = [
        figure(rule, MITRAGYNINE, "batch mean", mean, unit, note="non-detects as LOQ/2"),
        figure(
            rule,
            MITRAGYNINE,
            "earlier batches",
            len(past),
            "batches",
            note=None if charted else too_few,
        ),
    ]
    if len(past) >= 2:
        centre, sd = statistics.fmean(past), statistics.stdev(past)
        out += [
            figure(rule, MITRAGYNINE, "earlier mean", centre, unit),
            figure(rule, MITRAGYNINE, "earlier SD", sd, unit),
        ]
    if not charted:
        return out
    judged: list[Threshold | None] = [*applicable(thresholds, batch, rule)] or [None]
    for t in judged:
        k = (t.limit_value if t is not None else None) or 3.0
        distance = abs(mean - centre) / sd if sd else (0.0 if mean == centre else float("inf"))
        out += [
            figure(rule, MITRAGYNINE, "lower control limit", centre - k * sd, unit),
            figure(rule, MITRAGYNINE, "upper control limit", centre + k * sd, unit),
            figure(
                rule,
                MITRAGYNINE,
                "distance from earlier mean",
                distance,
                "SD",
                threshold=t,
                verdict=None if t is None else verdict_of(t, distance),
                note=f"control limits: mean +/- {k:g} SD",
            ),
        ]
    return out


# --- contaminants -------------------------------------------------------------


def contaminants(batch: Batch, thresholds: list[Threshold]) -> list[StatisticRow]:
    """Each contaminant result against each limit that applies: per gram, per
    day (at the register's daily intake), or absence in a test portion."""
    out: list[StatisticRow] = []
    for rule in LIMIT_RULES:  # judged result by result, as limits.evaluate judges them
        for t in applicable(thresholds, batch, rule):
            if t.basis == "per_g" and not limits.is_synthetic_ratio(t):
                out += against(t, limits.per_gram_results(batch, t), 1.0, "per g")
            elif t.basis == "per_day":
                out += _per_day(batch, t)
            elif t.basis == "presence_in_g":
                out += _presence(batch, t)
    return out


def _per_day(batch: Batch, t: Threshold) -> list[StatisticRow]:
    rows = batch.production(t.analyte, ("ug/g",))
    if not rows:
        return []
    scale = limits.exposure_scale(batch)
    if scale is None:
        return [
            figure(
                t.rule,
                t.analyte,
                "per day",
                None,
                t.unit,
                threshold=t,
                verdict="inconclusive",
                note="no batch register (serving size, servings per day) for a daily intake",
            )
        ]
    return against(t, rows, scale, "per day", f"at {scale:g} g of product a day")


def _presence(batch: Batch, t: Threshold) -> list[StatisticRow]:
    """The test portion each result covers, against the portion required;
    judged by the rule itself on that one result."""
    out = []
    for r in batch.production(t.analyte):
        alone = Batch(batch.batch_id, [r], batch.register, batch.profiles)
        found = limits.presence(alone, t)
        # the rule raises a finding of its own, or an inconclusive one, or none
        verdict = "pass" if not found else "fail" if found[0].rule == t.rule else "inconclusive"
        portion = r.get("test_portion_g")
        out.append(
            figure(
                t.rule,
                t.analyte,
                "test portion",
                None if portion is None else float(portion),
                "g",
                sample_id=where(r),
                threshold=t,
                verdict=verdict,
                note=f"{reported(r)} ({r['qualifier'] or 'a count'});"
                f" must be absent in {t.limit_value or 0:g} g",
            )
        )
    return out


# --- the batch ----------------------------------------------------------------


def statistic_rows(
    batch_id: str,
    results: list[dict[str, Any]],
    register: dict[str, Any] | None,
    thresholds: list[Threshold],
    history: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Every rule's figures for one batch, one dict per figure (the columns
    of frames.STATISTICS_SCHEMA): from its current `results`, its `register` row
    (None when QA has not registered it), the `thresholds` in force and its
    product's control-chart `history` (rows of rules.evaluate.HISTORY_COLUMNS)."""
    batch = Batch(batch_id, results, register, batch_profiles(register))
    rows = content_uniformity(batch, thresholds)
    rows += label_claim(batch, thresholds)
    rows += seven_oh(batch, thresholds)
    rows += potency_drift(batch, thresholds, earlier_batches(batch_id, register, history))
    rows += contaminants(batch, thresholds)
    return [row.as_stored() for row in rows]


def batch_statistics(
    batch_id: str,
    results: pl.DataFrame,
    register: dict[str, Any] | None,
    thresholds: list[Threshold],
    history: pl.DataFrame,
) -> pl.DataFrame:
    """statistic_rows as a frame (STATISTICS_SCHEMA), from frames of the
    batch's current `results` and of its product's `history`
    (rules.evaluate.HISTORY_COLUMNS)."""
    import polars as pl

    from kqc.core.rules.frames import STATISTICS_SCHEMA

    history_rows = history.iter_rows(named=True)
    rows = statistic_rows(batch_id, results.to_dicts(), register, thresholds, history_rows)
    return pl.DataFrame(rows, schema=STATISTICS_SCHEMA, orient="row")
