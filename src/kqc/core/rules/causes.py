"""One cause, one finding.

A rule that cannot judge a limit says so with an `inconclusive` finding and
a `Cause`: what is missing, as one thing the lab or QA fixes once (a batch's
register row, a test portion large enough, a result with a lower LOQ). One
missing register row blocks every per-day limit and every label rule of its
batch; one non-detect whose LOQ is too high blocks every limit on that
analyte. `group` reports each such cause once, listing the judgements it
blocks and what to send, so a reviewer decides on the cause, not on each of
its consequences.

A batch's missing register is always reported this way, even when it blocks
one judgement; a cause of the results is grouped when it blocks two or more,
and a single one keeps the finding its rule wrote.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from kqc.core.columns import REGISTER_REQUIRED
from kqc.core.qualifiers import ABOVE_ULOQ, CENSORED_BELOW, DETECTED, TNTC
from kqc.core.rules.applicable import DEFAULT_FORM
from kqc.core.rules.model import Batch, Cause, Finding, Threshold, censored_bound

# The kinds of cause, each one thing to send.
NO_REGISTER = "no_register"  # the batch's register row
TEST_PORTION = "test_portion"  # an absence test over a large enough portion
NO_LOQ = "no_loq"  # the LOQ of a non-detect
LOQ_ABOVE = "loq_above"  # a non-detect with a lower LOQ
NO_AMOUNT = "no_amount"  # the amount of a detection
ABOVE_RANGE = "above_range"  # an amount within the measuring range
UNIT = "unit"  # a result in a unit a serving can be computed from
KINDS = (NO_REGISTER, TEST_PORTION, NO_LOQ, LOQ_ABOVE, NO_AMOUNT, ABOVE_RANGE, UNIT)

# The register row a batch needs (CONTRACT §1): the required columns, as the
# register reader requires them, then those that apply to some products only.
REGISTER_COLUMNS = REGISTER_REQUIRED
REGISTER_OPTIONAL = ("units_per_serving", "markets", "manufacturer", "manufactured_on")

# Where a serving's amount comes from (dose.serving_basis).
_SERVING_UNITS = ("mg/unit", "mg/g")


# --- causes, as the rules name them ------------------------------------------


def no_register(*columns: str) -> Cause:
    """The batch has no register row; the judgement reads `columns` of it."""
    return Cause(NO_REGISTER, columns=columns)


def serving_columns(batch: Batch, analyte: str) -> tuple[str, ...]:
    """The register column that turns `analyte`'s results into a serving."""
    per_unit = batch.production(analyte, ("mg/unit",))
    return ("units_per_serving",) if per_unit else ("serving_size_g",)


def per_serving_blocked(batch: Batch, analyte: str, *columns: str) -> tuple[str, Cause | None]:
    """Why `analyte` cannot be put per serving (dose.per_serving_values gave
    nothing), and its cause: results only in a unit no register column turns
    into a serving (mg/mL), no register, or no result with a figure."""
    rows = batch.production(analyte)
    if rows and not any(r["unit"] in _SERVING_UNITS for r in rows):
        units = ", ".join(sorted({str(r["unit"]) for r in rows}))
        why = f"{analyte} is reported in {units}, which no register column turns into a serving"
        return why, Cause(UNIT, analyte, shown=units)
    if batch.register is None:
        return (
            f"no batch register to express {analyte} per serving",
            no_register(*columns, *serving_columns(batch, analyte)),
        )
    served = (of_result(None, r, 1.0) for r in rows if r["unit"] in _SERVING_UNITS)
    return f"no {analyte} result with a figure", next((c for c in served if c), None)


def test_portion(analyte: str, portion: float | None, required: float) -> Cause:
    """An absence shown in `portion` g (None: not stated) where `required` g is asked."""
    shown = "no test portion" if portion is None else f"{portion:g} g"
    return Cause(TEST_PORTION, analyte, shown=shown, need=required, need_unit="g")


def of_result(t: Threshold | None, r: dict[str, Any], scale: float) -> Cause | None:
    """The cause of one result that `t` (at `scale`, model.judge) could not
    judge; None when it is none a lab fixes by sending something."""
    analyte, shown = r["analyte"], f"'{r['reported_result']}'"
    if r["value"] is not None:
        return None
    qualifier = r["qualifier"]
    if qualifier == DETECTED:
        return Cause(NO_AMOUNT, analyte, shown=shown)
    if qualifier in (ABOVE_ULOQ, TNTC):
        return Cause(ABOVE_RANGE, analyte, shown=shown)
    if qualifier not in CENSORED_BELOW:
        return None
    if censored_bound(r) is None:
        return Cause(NO_LOQ, analyte, shown=shown)
    if t is None or t.fails_when not in (">", ">=") or t.limit_value is None or not scale:
        return None
    # The highest LOQ, in the result's own unit, that shows this limit is met.
    return Cause(LOQ_ABOVE, analyte, shown=shown, need=t.limit_value / scale, need_unit=r["unit"])


# --- one finding per cause -----------------------------------------------------


def group(batch: Batch, findings: list[Finding]) -> list[Finding]:
    """`findings` with the inconclusive ones that share a cause reported as
    one finding, in the place of the first of them."""
    members: dict[tuple[str, str | None, str | None], list[Finding]] = {}
    for f in findings:
        if f.rule == "inconclusive" and f.cause is not None:
            members.setdefault(f.cause.key, []).append(f)
    out: list[Finding] = []
    for f in findings:
        cause = f.cause if f.rule == "inconclusive" else None
        if cause is None:
            out.append(f)
            continue
        shared = members.get(cause.key)
        if shared is None:  # already reported, with the first of them
            continue
        if len(shared) == 1 and cause.kind != NO_REGISTER:
            out.append(f)
        else:
            out.append(one_finding(batch, cause.kind, shared))
        del members[cause.key]
    return out


def one_finding(batch: Batch, kind: str, shared: list[Finding]) -> Finding:
    """The finding of one cause, from the inconclusive findings it blocks."""
    first = shared[0].cause
    assert first is not None
    profiles = _profiles(batch, shared)
    several = len(profiles) > 1 and len({f.profile for f in shared}) > 1
    blocked = [_blocked(f) for f in shared]
    send, limit, unit = _send(kind, shared)
    evidence: dict[str, Any] = {
        "cause": kind,
        "shown": first.shown or None,
        "blocked": blocked,
        "n_blocked": len(blocked),
        "send": send,
        "result_ids": list(
            dict.fromkeys(i for f in shared for i in f.evidence.get("result_ids", []))
        ),
    }
    if kind == NO_REGISTER:
        # Until the register says otherwise the batch is judged as a powder
        # under the default profile: its form and markets may bring limits
        # of their own (content uniformity, a state's limits).
        evidence["judged_as"] = {"form": DEFAULT_FORM, "profiles": list(batch.profiles)}
    return Finding(
        batch.batch_id,
        "inconclusive",
        first.analyte,
        shared[0].severity,
        None,
        limit,
        unit,
        None,
        ";".join(profiles),
        "; ".join(dict.fromkeys(f.source for f in shared)),
        _message(batch, kind, first, shared, several),
        evidence,
        key=f"cause:{kind}" + (f":{first.need_unit}" if first.need_unit else ""),
    )


def _profiles(batch: Batch, shared: list[Finding]) -> list[str]:
    named = {p for f in shared for p in f.profile.split(";")}
    ordered = [p for p in batch.profiles if p in named]
    return ordered + sorted(named - set(ordered))


def _allowed(t: Threshold) -> str:
    if t.basis == "presence_in_g" and t.limit_value is not None:
        return f"absent in {t.limit_value:g} g"
    return t.describe()


def _judgement(f: Finding, several: bool, named: bool) -> str:
    """One judgement blocked, as a reviewer reads it: 'lead <= 5 ug/day',
    without the analyte when the cause names it, with the profile when the
    cause spans several."""
    t = f.threshold
    allowed = _allowed(t) if t is not None else f"({f.rule})"
    text = allowed if named else f"{f.analyte} {allowed}"
    return f"{text} ({f.profile})" if several else text


def _blocked(f: Finding) -> dict[str, Any]:
    t, cause = f.threshold, f.cause
    # No citation here: the flag's `source` joins them, and a re-dated
    # citation must not reopen a reviewed finding (the evidence is hashed).
    entry: dict[str, Any] = {
        "rule": f.evidence.get("for_rule", t.rule if t else None),
        "analyte": f.analyte,
        "profile": f.profile,
        "basis": f.basis,
        "limit_value": f.limit_value,
        "unit": f.unit,
        "allowed": _allowed(t) if t is not None else None,
    }
    if cause is not None and cause.columns:
        entry["register_columns"] = list(dict.fromkeys(cause.columns))
    if cause is not None and cause.need is not None:
        entry["needs"] = cause.need
        entry["needs_unit"] = cause.need_unit
    return entry


def _send(kind: str, shared: list[Finding]) -> tuple[dict[str, Any], float | None, str | None]:
    """What to send, as data, and the one figure that satisfies every
    judgement blocked (the largest portion asked, the lowest LOQ)."""
    causes = [f.cause for f in shared if f.cause is not None]
    needs = [c.need for c in causes if c.need is not None]
    unit = causes[0].need_unit if causes else None
    if kind == NO_REGISTER:
        read = list(dict.fromkeys(c for cause in causes for c in cause.columns))
        return (
            {
                "register_row": list(REGISTER_COLUMNS),
                "optional": list(REGISTER_OPTIONAL),
                "read_by_the_blocked": read,
            },
            None,
            None,
        )
    if kind == TEST_PORTION and needs:
        return {"test_portion_g": max(needs)}, max(needs), unit
    if kind == LOQ_ABOVE and needs:
        return {"loq_at_most": min(needs), "unit": unit}, min(needs), unit
    what = {
        NO_LOQ: "the LOQ of each result listed",
        NO_AMOUNT: "the measured amount of each result listed",
        ABOVE_RANGE: "an amount within the measuring range (a diluted re-test)",
        UNIT: "results per gram or per dosage unit",
    }
    return {"what": what.get(kind, "")}, None, None


def _and(parts: Iterable[str]) -> str:
    items = list(parts)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _satisfies(n: int) -> str:
    return "both" if n == 2 else f"all {n}"


def at_most(x: float) -> str:
    """`x` to three significant digits, rounded down: an LOQ at or below the
    figure shown is at or below `x`."""
    if x <= 0 or not math.isfinite(x):
        return f"{x:g}"
    exponent = math.floor(math.log10(x)) - 2
    shown = Decimal(repr(x)).scaleb(-exponent).to_integral_value(ROUND_FLOOR).scaleb(exponent)
    return f"{float(shown):g}"


def _message(batch: Batch, kind: str, first: Cause, shared: list[Finding], several: bool) -> str:
    n = len(shared)
    listed = _and(_judgement(f, several, first.analyte is not None) for f in shared)
    plural = "s" if n > 1 else ""
    made = f"{n} judgement{plural} cannot be made ({listed})"
    unshown = f"{n} limit{plural} cannot be shown to be met ({listed})"
    analyte, shown = first.analyte, first.shown
    causes = [f.cause for f in shared if f.cause is not None]
    if kind == NO_REGISTER:
        return (
            f"batch {batch.batch_id} has no register row, so {made}: send its register row"
            f" ({', '.join(REGISTER_COLUMNS[1:])}; {' and '.join(REGISTER_OPTIONAL[:2])}"
            " where they apply)"
        )
    if kind == TEST_PORTION:
        asks = [f"{f.profile} ({_short(f.source)}) asks for {_g(f.cause)}" for f in shared]
        most = max(c.need for c in causes if c.need is not None)
        where = "with no test portion stated" if shown == "no test portion" else f"in {shown}"
        return (
            f"{analyte} absence is shown {where}, where {_and(asks)}:"
            f" send a test in {most:g} g, which satisfies {_satisfies(n)}"
        )
    if kind == LOQ_ABOVE:
        lowest = min(c.need for c in causes if c.need is not None)
        return (
            f"{analyte} {shown} has an LOQ too high to show {n} limit{plural} are met ({listed}):"
            f" send a {analyte} result with an LOQ at or below {at_most(lowest)}"
            f" {first.need_unit}, which satisfies {_satisfies(n)}"
        )
    if kind == NO_LOQ:
        return f"{analyte} {shown} is reported without its LOQ, so {unshown}: send that LOQ"
    if kind == NO_AMOUNT:
        return (
            f"{analyte} is reported as detected without an amount, so {unshown}:"
            " send the measured amount"
        )
    if kind == ABOVE_RANGE:
        return (
            f"{analyte} {shown} is above the measuring range, so {unshown}:"
            " send an amount from a diluted re-test"
        )
    return (
        f"{analyte} is reported in {shown}, which no register column turns into a serving,"
        f" so {made}: send {analyte} per gram or per dosage unit (mg/g, mg/capsule, mg/serving)"
    )


def _short(source: str) -> str:
    """A limit's source up to its first colon: 'USP <2023> Table 2'."""
    return source.split(":")[0].strip()


def _g(cause: Cause | None) -> str:
    return "?" if cause is None or cause.need is None else f"{cause.need:g} g"
