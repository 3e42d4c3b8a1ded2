"""One row of a batch's statistics (statistics.py): a figure a rule computes,
beside the limit it is judged against; how a result is shown on a limit's
basis (a non-detect as its bound, never as zero); and the row as
frames.STATISTICS_SCHEMA holds it, its numbers rounded as Polars rounds the
flags' figures. Plain Python: a dossier in a terminal loads no Polars."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from kqc.core.qualifiers import ABOVE_ULOQ, CENSORED_BELOW, TNTC
from kqc.core.rules.model import Threshold, censored_bound, judge

# The figures a row holds as numbers (Float64 in frames.STATISTICS_SCHEMA).
_NUMBERS = ("value", "limit_value", "ratio_to_limit")


@dataclass(frozen=True)
class StatisticRow:
    """The columns of frames.STATISTICS_SCHEMA, in its order."""

    rule: str
    analyte: str | None
    sample_id: str | None
    statistic: str
    value: float | None
    qualifier: str | None  # set when `value` is a bound (a non-detect), not a measurement
    unit: str | None
    limit_value: float | None
    ratio_to_limit: float | None  # value / limit, for upper limits only
    verdict: str | None  # pass, fail, inconclusive; None for a figure with no limit
    profile: str | None
    note: str | None

    def as_stored(self) -> dict[str, Any]:
        """The row as STATISTICS_SCHEMA holds it: numbers as floats (a count
        of units is 10.0), at 12 significant digits as flags keep them: 0.82,
        not 0.8200000000000001."""
        stored = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _NUMBERS:
            if stored[name] is not None:
                stored[name] = round_sig_figs(float(stored[name]), 12)
        return stored


def figure(
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
) -> StatisticRow:
    """A row for one figure; with a threshold, its limit, profile and (for an
    upper limit) the figure's share of it."""
    limit = threshold.limit_value if threshold is not None else None
    upper = threshold is not None and threshold.fails_when in (">", ">=")
    ratio = value / limit if upper and value is not None and limit else None
    return StatisticRow(
        rule=rule,
        analyte=analyte,
        sample_id=sample_id,
        statistic=statistic,
        value=value,
        qualifier=qualifier,
        unit=unit,
        limit_value=limit,
        ratio_to_limit=ratio,
        verdict=verdict,
        profile=threshold.profile if threshold is not None else None,
        note=note,
    )


def allowed(t: Threshold) -> str:
    return "any detection fails" if t.fails_when == "detected" else f"allowed {t.describe()}"


def verdict_of(t: Threshold, observed: float) -> str:
    return "fail" if t.fails(observed) else "pass"


def where(r: dict[str, Any]) -> str:
    """The sample a result is of, and its unit when it is of one unit."""
    unit_no = r.get("unit_no")
    return r["sample_id"] + (f" unit {unit_no}" if unit_no else "")


def reported(r: dict[str, Any]) -> str:
    """What the lab wrote for the result."""
    return f"reported '{r['reported_result']}'" + (
        f" {r['reported_unit']}" if r.get("reported_unit") else ""
    )


def as_reported(r: dict[str, Any], scale: float) -> tuple[float | None, str | None, str]:
    """(value on the limit's basis, qualifier, note) of one result. A
    non-detect gives its bound, marked by its qualifier: at most that much."""
    written = reported(r)
    if r["value"] is not None:
        return float(r["value"]) * scale, None, written
    qualifier = r["qualifier"]
    if qualifier in CENSORED_BELOW:
        bound = censored_bound(r)
        if bound is None:
            return None, qualifier, f"{written}: a non-detect without a LOQ"
        return bound * scale, qualifier, f"{written}: at most this (a non-detect, not zero)"
    if qualifier in (ABOVE_ULOQ, TNTC) and r.get("bound") is not None:
        return float(r["bound"]) * scale, qualifier, f"{written}: at least this"
    return None, qualifier, written


def against(
    t: Threshold, rows: list[dict[str, Any]], scale: float, statistic: str, extra: str = ""
) -> list[StatisticRow]:
    """Each result on the threshold's basis beside its limit, judged as the rule judges it."""
    out = []
    for r in rows:
        judged, _, why = judge(t, r, scale)
        value, qualifier, note = as_reported(r, scale)
        out.append(
            figure(
                t.rule,
                t.analyte,
                statistic,
                value,
                t.unit or r["unit"],
                sample_id=where(r),
                qualifier=qualifier,
                threshold=t,
                verdict=judged,
                note="; ".join(p for p in (note, extra, why, allowed(t)) if p),
            )
        )
    return out


# --- rounding as Polars rounds ------------------------------------------------


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
