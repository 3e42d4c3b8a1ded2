"""A batch's statistics as a reviewer reads them: the figures each rule
computes, whether or not they led to a flag, each beside the limit it is
judged against.

Computed when asked (nothing here is stored), from the same evidence the
rules read and with the rules' own functions, so the dossier cannot disagree
with the flags. Non-detects are never zeros: a row for one carries its
qualifier and the most it can be (its bound), never a value of 0.

The figures are plain rows (statistic_rows, worst_rows_per_limit): a dossier
in a terminal shows them without loading Polars. batch_statistics and
worst_per_limit give the same rows as Polars frames.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kqc.core.qualifiers import ABOVE_ULOQ, CENSORED_BELOW, TNTC
from kqc.core.rules import dose, drift, limits
from kqc.core.rules.applicable import applicable, batch_profiles
from kqc.core.rules.evaluate import means_by_product
from kqc.core.rules.families import LIMIT_RULES
from kqc.core.rules.model import Batch, Threshold, censored_bound, judge

if TYPE_CHECKING:
    import polars as pl


# The figures a row holds as numbers (Float64 in frames.STATISTICS_SCHEMA).
_NUMBERS = ("value", "limit_value", "ratio_to_limit")

_SEVEN_OH = "7_hydroxymitragynine"


def _row(
    rule: str,
    analyte: str | None,
    statistic: str,
    value: float | None,
    unit: str | None,
    *,
    sample_id: str | None = None,
    qualifier: str | None = None,
    threshold: Threshold | None = None,
    verdict: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    limit = threshold.limit_value if threshold is not None else None
    upper = threshold is not None and threshold.fails_when in (">", ">=")
    ratio = value / limit if upper and value is not None and limit else None
    return {
        "rule": rule,
        "analyte": analyte,
        "sample_id": sample_id,
        "statistic": statistic,
        "value": value,
        "qualifier": qualifier,
        "unit": unit,
        "limit_value": limit,
        "ratio_to_limit": ratio,
        "verdict": verdict,
        "profile": threshold.profile if threshold is not None else None,
        "note": note,
    }


def _allowed(t: Threshold) -> str:
    return "any detection fails" if t.fails_when == "detected" else f"allowed {t.describe()}"


def _verdict(t: Threshold, observed: float) -> str:
    return "fail" if t.fails(observed) else "pass"


def _where(r: dict[str, Any]) -> str:
    unit_no = r.get("unit_no")
    return r["sample_id"] + (f" unit {unit_no}" if unit_no else "")


def _as_reported(r: dict[str, Any], scale: float) -> tuple[float | None, str | None, str]:
    """(value on the limit's basis, qualifier, note) of one result. A
    non-detect gives its bound, marked by its qualifier: at most that much."""
    reported = f"reported '{r['reported_result']}'" + (
        f" {r['reported_unit']}" if r.get("reported_unit") else ""
    )
    if r["value"] is not None:
        return float(r["value"]) * scale, None, reported
    qualifier = r["qualifier"]
    if qualifier in CENSORED_BELOW:
        bound = censored_bound(r)
        if bound is None:
            return None, qualifier, f"{reported}: a non-detect without a LOQ"
        return bound * scale, qualifier, f"{reported}: at most this (a non-detect, not zero)"
    if qualifier in (ABOVE_ULOQ, TNTC) and r.get("bound") is not None:
        return float(r["bound"]) * scale, qualifier, f"{reported}: at least this"
    return None, qualifier, reported


def _against(
    t: Threshold, rows: list[dict[str, Any]], scale: float, statistic: str, extra: str = ""
) -> list[dict[str, Any]]:
    """Each result on the threshold's basis beside its limit, judged as the rule judges it."""
    out = []
    for r in rows:
        verdict, _, why = judge(t, r, scale)
        value, qualifier, note = _as_reported(r, scale)
        out.append(
            _row(
                t.rule,
                t.analyte,
                statistic,
                value,
                t.unit or r["unit"],
                sample_id=_where(r),
                qualifier=qualifier,
                threshold=t,
                verdict=verdict,
                note="; ".join(p for p in (note, extra, why, _allowed(t)) if p),
            )
        )
    return out


# --- dosing -------------------------------------------------------------------


def content_uniformity(batch: Batch, thresholds: list[Threshold]) -> list[dict[str, Any]]:
    """Per-unit content as % of label claim: n, mean, SD, RSD and, from ten
    units, USP <905>'s acceptance value against L1 (dose.acceptance_value)."""
    units = dose.dosage_units(batch)
    if len(units) < 2:
        return []
    rule = "content_uniformity"
    found = dose.percent_of_claim(batch)
    if found is None:
        return [
            _row(rule, "mitragynine", "units", len(units), "units", note="no label claim per unit")
        ]
    x, rows = found
    rules = {t.unit: t for t in applicable(thresholds, batch, rule)}
    substitution = dose._substitution(rows)
    n = len(x)
    mean, sd = statistics.fmean(x), statistics.stdev(x)
    rsd = sd / mean * 100 if mean else None
    claim = "% of label claim"
    out = [
        _row(rule, "mitragynine", "units", n, "units", note=substitution),
        _row(rule, "mitragynine", "mean", mean, claim),
        _row(rule, "mitragynine", "SD", sd, claim),
        _row(rule, "mitragynine", "lowest unit", min(x), claim),
        _row(rule, "mitragynine", "highest unit", max(x), claim),
    ]
    rsd_rule = rules.get("% RSD") if n < 10 else None  # the rule's test below ten units
    out.append(
        _row(
            rule,
            "mitragynine",
            "RSD",
            rsd,
            "%",
            threshold=rsd_rule,
            verdict=None if rsd_rule is None or rsd is None else _verdict(rsd_rule, rsd),
            note=None if n >= 10 else "fewer than 10 units: judged by RSD, not by AV",
        )
    )
    if n >= 10:
        target, target_from = dose.target_content(batch)
        av = dose.acceptance_value(x, target)
        l1 = rules.get(claim)
        low, high = 98.5, max(101.5, target)
        out += [
            _row(rule, "mitragynine", "k", av["k"], None, note="2.4 for 10 units, 2.0 for 30"),
            _row(rule, "mitragynine", "T", target, claim, note=f"target content, {target_from}"),
            _row(
                rule,
                "mitragynine",
                "M",
                av["M"],
                claim,
                note=f"reference value (USP <905>): the mean held to {low:g}-{high:g} %",
            ),
            _row(
                rule,
                "mitragynine",
                "acceptance value",
                av["av"],
                claim,
                threshold=l1,
                verdict=None if l1 is None else _verdict(l1, av["av"]),
                note="AV = |M - mean| + k SD, against L1",
            ),
        ]
        l2 = rules.get("% of M")
        if l2 is not None and n >= 30 and l2.limit_value is not None:
            low, high = (1 - l2.limit_value / 100) * av["M"], (1 + l2.limit_value / 100) * av["M"]
            outside = sum(1 for v in x if v < low or v > high)
            out.append(
                _row(
                    rule,
                    "mitragynine",
                    "units outside 0.75 M - 1.25 M",
                    outside,
                    "units",
                    verdict="fail" if outside else "pass",
                    note=f"range {low:.1f}-{high:.1f} % of label claim (L2)",
                )
            )
    return out


def label_claim(batch: Batch, thresholds: list[Threshold]) -> list[dict[str, Any]]:
    """Mean mitragynine per serving, as % of the claim, against the band and caps."""
    if not batch.production("mitragynine"):
        return []
    rule = "label_claim"
    found = dose.per_serving_values(batch, "mitragynine")
    if found is None:
        return [
            _row(
                rule,
                "mitragynine",
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
        _row(
            rule,
            "mitragynine",
            "mean per serving",
            mean,
            "mg/serving",
            note=f"{len(values)} result(s), {how}; {dose._substitution(rows)}",
        )
    ]
    if claim:
        out.append(_row(rule, "mitragynine", "label claim", float(claim), "mg/serving"))
    for t in applicable(thresholds, batch, rule):
        if t.unit.startswith("%"):
            if not claim:
                continue
            share = mean / float(claim) * 100
            out.append(
                _row(
                    rule,
                    "mitragynine",
                    "% of label claim",
                    share,
                    "%",
                    threshold=t,
                    verdict=_verdict(t, share),
                    note=f"allowed {t.describe()}",
                )
            )
        else:
            out.append(
                _row(
                    rule,
                    "mitragynine",
                    "mean per serving",
                    mean,
                    t.unit,
                    threshold=t,
                    verdict=_verdict(t, mean),
                    note=f"allowed {t.describe()}",
                )
            )
    return out


def _share_rows(batch: Batch, shares: list[Threshold]) -> list[dict[str, Any]]:
    """7-OH as % of the five-alkaloid sum, sample by sample (non-detects are
    zero in the sum; a non-detect 7-OH gives the most its share can be)."""
    out = []
    for oh, parts, others in dose.seven_oh_samples(batch):
        value, qualifier, note = _as_reported(oh, 1.0)
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
                verdict = _verdict(t, share)
            else:  # a bound: below the limit proves compliance, above it proves nothing
                verdict = "inconclusive" if t.fails(share) else "pass"
            out.append(
                _row(
                    "7oh_ratio",
                    _SEVEN_OH,
                    "share of alkaloids",
                    share,
                    "%",
                    sample_id=_where(oh),
                    qualifier=qualifier,
                    threshold=t,
                    verdict=verdict,
                    note=note,
                )
            )
    return out


def seven_oh(batch: Batch, thresholds: list[Threshold]) -> list[dict[str, Any]]:
    """7-OH's share of the alkaloids, and its amount per gram and per serving."""
    rules = applicable(thresholds, batch, "7oh_ratio")
    out = _share_rows(batch, [t for t in rules if t.basis == "pct_of_alkaloids"])
    for t in rules:
        if t.basis == "per_g":
            rows = batch.production(_SEVEN_OH, ("mg/g",))
            out += _against(t, rows, 1.0, "per g")
        elif t.basis == "per_serving":
            basis = dose.serving_basis(batch, _SEVEN_OH)
            if basis is None:
                continue
            rows, scale, unit = basis
            if scale is None:
                out.append(
                    _row(
                        t.rule,
                        _SEVEN_OH,
                        "per serving",
                        None,
                        t.unit,
                        threshold=t,
                        verdict="inconclusive",
                        note="no batch register to express 7-OH per serving",
                    )
                )
                continue
            how = dose._describe_basis(scale, unit, rows)
            out += _against(t, rows, scale, "per serving", how)
    if not any(t.basis == "per_serving" for t in rules):
        found = dose.serving_basis(batch, _SEVEN_OH)
        rows, scale, unit = found if found is not None else ([], None, "")
        if scale is not None:
            how = dose._describe_basis(scale, unit, rows)
            for r in rows:
                value, qualifier, note = _as_reported(r, scale)
                out.append(
                    _row(
                        "7oh_ratio",
                        _SEVEN_OH,
                        "per serving",
                        value,
                        "mg/serving",
                        sample_id=_where(r),
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
    made = register.get("made") or register.get("manufactured_on") or ""
    return [
        (b, m, u)
        for when, b, m, u in means_by_product(history).get(register["product_id"], [])
        if (when, b) < (made, batch_id)
    ]


def potency_drift(
    batch: Batch, thresholds: list[Threshold], earlier: list[tuple[str, float, str]]
) -> list[dict[str, Any]]:
    """This batch's mean mitragynine against its product's earlier batches
    (mean +/- k SD, from drift.MIN_EARLIER earlier batches on)."""
    own = drift.batch_mean(batch.results)
    if own is None:
        return []
    rule = "potency_drift"
    mean, unit = own
    past = [m for b, m, u in earlier if u == unit and b != batch.batch_id]
    out = [
        _row(rule, "mitragynine", "batch mean", mean, unit, note="non-detects as LOQ/2"),
        _row(rule, "mitragynine", "earlier batches", len(past), "batches"),
    ]
    if len(past) >= 2:
        centre, sd = statistics.fmean(past), statistics.stdev(past)
        out += [
            _row(rule, "mitragynine", "earlier mean", centre, unit),
            _row(rule, "mitragynine", "earlier SD", sd, unit),
        ]
    if len(past) < drift.MIN_EARLIER:
        out[1]["note"] = f"fewer than {drift.MIN_EARLIER} earlier batches: no control limits yet"
        return out
    judged: list[Threshold | None] = [*applicable(thresholds, batch, rule)] or [None]
    for t in judged:
        k = (t.limit_value if t is not None else None) or 3.0
        distance = abs(mean - centre) / sd if sd else (0.0 if mean == centre else float("inf"))
        out += [
            _row(rule, "mitragynine", "lower control limit", centre - k * sd, unit),
            _row(rule, "mitragynine", "upper control limit", centre + k * sd, unit),
            _row(
                rule,
                "mitragynine",
                "distance from earlier mean",
                distance,
                "SD",
                threshold=t,
                verdict=None if t is None else _verdict(t, distance),
                note=f"control limits: mean +/- {k:g} SD",
            ),
        ]
    return out


# --- contaminants -------------------------------------------------------------


def contaminants(batch: Batch, thresholds: list[Threshold]) -> list[dict[str, Any]]:
    """Each contaminant result against each limit that applies: per gram, per
    day (at the register's daily intake), or absence in a test portion."""
    out: list[dict[str, Any]] = []
    for rule in LIMIT_RULES:  # judged result by result, as limits.evaluate judges them
        for t in applicable(thresholds, batch, rule):
            if t.basis == "per_g" and not (rule == "synthetic_alkaloid" and t.unit == "ratio"):
                if t.fails_when == "detected":
                    rows = batch.production(t.analyte)
                else:
                    rows = batch.production(t.analyte, limits.PER_G_UNITS.get(t.unit, (t.unit,)))
                out += _against(t, rows, 1.0, "per g")
            elif t.basis == "per_day":
                out += _per_day(batch, t)
            elif t.basis == "presence_in_g":
                out += _presence(batch, t)
    return out


def _per_day(batch: Batch, t: Threshold) -> list[dict[str, Any]]:
    rows = batch.production(t.analyte, ("ug/g",))
    if not rows:
        return []
    scale = limits.exposure_scale(batch)
    if scale is None:
        return [
            _row(
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
    return _against(t, rows, scale, "per day", f"at {scale:g} g of product a day")


def _presence(batch: Batch, t: Threshold) -> list[dict[str, Any]]:
    """The test portion each result covers, against the portion required;
    judged by the rule itself on that one result."""
    out = []
    for r in batch.production(t.analyte):
        alone = Batch(batch.batch_id, [r], batch.register, batch.profiles)
        found = limits.presence(alone, t)
        # the rule raises a finding of its own, or an inconclusive one, or none
        verdict = "pass" if not found else "fail" if found[0].rule == t.rule else "inconclusive"
        portion = r.get("test_portion_g")
        reported = f"reported '{r['reported_result']}'" + (
            f" {r['reported_unit']}" if r.get("reported_unit") else ""
        )
        out.append(
            _row(
                t.rule,
                t.analyte,
                "test portion",
                None if portion is None else float(portion),
                "g",
                sample_id=_where(r),
                threshold=t,
                verdict=verdict,
                note=f"{reported} ({r['qualifier'] or 'a count'});"
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
    return [_as_figures(row) for row in rows]


def _as_figures(row: dict[str, Any]) -> dict[str, Any]:
    """The row as STATISTICS_SCHEMA holds it: numbers as floats (a count of
    units is 10.0), at 12 significant digits as flags keep them: 0.82, not
    0.8200000000000001."""
    for name in _NUMBERS:
        if row[name] is not None:
            row[name] = round_sig_figs(float(row[name]), 12)
    return row


def round_sig_figs(value: float, digits: int) -> float:
    """`value` at `digits` significant digits, to the bit as Polars'
    round_sig_figs gives it (what the flags' figures are rounded with): the
    scaling by 10^n split into 2^n, which is exact, and 5^n."""
    if value == 0.0 or not math.isfinite(value):
        return value
    exponent = digits - 1 - math.floor(math.log10(abs(value)))
    five = _integer_power(5.0, exponent)
    scaled = _round_half_away(math.ldexp(value, exponent) * five)
    rounded = math.ldexp(scaled / five, -exponent)
    return rounded if math.isfinite(rounded) else value


def _integer_power(base: float, exponent: int) -> float:
    """base ** exponent by squaring, as Rust's powi computes it (Python's **
    differs in the last bit for large exponents)."""
    result = 1.0
    n = abs(exponent)
    while True:
        if n & 1:
            result *= base
        n //= 2
        if n == 0:
            break
        base *= base
    return 1.0 / result if exponent < 0 else result


def _round_half_away(x: float) -> float:
    """The nearest whole number, halves away from zero (Python's round()
    takes halves to even)."""
    whole = float(math.floor(abs(x)))
    if abs(x) - whole >= 0.5:
        whole += 1.0
    return math.copysign(whole, x)


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


_VERDICT_RANK = {"fail": 0, "inconclusive": 1, "pass": 2}
_LIMIT_KEYS = ("rule", "analyte", "statistic", "unit", "limit_value", "profile")


def worst_rows_per_limit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per rule, analyte, figure and limit: the worst result of the
    batch against it (a failure first, then an inconclusive one, then the
    highest share of the limit, then the highest value; among equals the
    first), its note saying how many results stand behind it. Batch-level
    figures (no sample) are kept as they are, and every row keeps its place.
    A terminal shows this; the json and the exports keep every row."""
    per_limit: dict[tuple[Any, ...], list[int]] = {}
    for at, row in enumerate(rows):
        if row["sample_id"] is not None:
            per_limit.setdefault(tuple(row[k] for k in _LIMIT_KEYS), []).append(at)
    shown = {at: row for at, row in enumerate(rows) if row["sample_id"] is None}
    for behind in per_limit.values():
        worst = min(behind, key=lambda at: _badness(rows[at]))  # the first of equals
        row = rows[worst]
        if len(behind) > 1 and row["note"] is not None:
            row = {**row, "note": f"worst of {len(behind)} results; {row['note']}"}
        shown[worst] = row
    return [shown[at] for at in sorted(shown)]


def _badness(row: dict[str, Any]) -> tuple[Any, ...]:
    """The smaller, the worse: verdict, then share of the limit and value,
    each highest first with a missing one last (NaN, as Polars sorts it,
    above any number)."""
    return (
        _VERDICT_RANK.get(row["verdict"], 3),
        *_highest_first(row["ratio_to_limit"]),
        *_highest_first(row["value"]),
    )


def _highest_first(value: float | None) -> tuple[int, float]:
    if value is None:
        return (2, 0.0)
    if math.isnan(value):
        return (0, 0.0)
    return (1, -value)


def worst_per_limit(frame: pl.DataFrame) -> pl.DataFrame:
    """worst_rows_per_limit of a statistics frame, as a frame of its schema."""
    if frame.is_empty():
        return frame
    import polars as pl

    return pl.DataFrame(worst_rows_per_limit(frame.to_dicts()), schema=frame.schema)
