"""What every rule shares: thresholds as values, a batch's evidence, and the
finding a rule returns. Rules are pure functions of these."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kqc.core.qualifiers import ABOVE_ULOQ, CENSORED_BELOW, DETECTED, TNTC

if TYPE_CHECKING:
    import polars as pl


# The result fields the rules read (Batch.results rows); evidence for the
# rules needs no other column of the results table.
RESULT_FIELDS: tuple[str, ...] = (
    "result_id",
    "batch_id",
    "sample_id",
    "analyte",
    "value",
    "unit",
    "qualifier",
    "bound",
    "reported_result",
    "lod",
    "loq",
    "sample_type",
    "unit_no",
    "test_portion_g",
    "spike_level",
    "per_serving_of",  # units an amount per serving was divided by (kqc.store.evaluation)
)


@dataclass(frozen=True)
class Threshold:
    rule: str
    analyte: str
    limit_value: float | None
    unit: str
    basis: str
    fails_when: str  # '>', '>=', '<', '<=' or 'detected'
    forms: tuple[str, ...]
    profile: str
    severity: str
    source: str
    confirmed: bool
    note: str

    def fails(self, observed: float) -> bool:
        limit = self.limit_value
        if self.fails_when == "detected":
            return observed > 0
        # Judge the figure a person would compute: 22 mg/g x 5 g of a 100 mg
        # claim is 110 %, not the 110.00000000000001 floating point makes of it.
        observed = float(f"{observed:.12g}")
        assert limit is not None, f"{self.rule}/{self.analyte} has no limit"
        return {
            ">": observed > limit,
            ">=": observed >= limit,
            "<": observed < limit,
            "<=": observed <= limit,
        }[self.fails_when]

    def describe(self) -> str:
        if self.fails_when == "detected":
            return "any detection"
        allowed = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}[self.fails_when]
        return f"{allowed} {self.limit_value:g} {self.unit}"

    def citation(self) -> str:
        return self.source + ("" if self.confirmed else " [unconfirmed: a house setting]")


@dataclass
class Batch:
    """One batch's evidence: its current results and its register row."""

    batch_id: str
    results: list[dict[str, Any]]
    register: dict[str, Any] | None
    profiles: tuple[str, ...] = ("default",)

    @property
    def form(self) -> str | None:
        return (self.register or {}).get("form")

    def production(
        self, analyte: str, units: Iterable[str | None] | None = None
    ) -> list[dict[str, Any]]:
        wanted = None if units is None else set(units)
        return [
            r
            for r in self.results
            if r["analyte"] == analyte
            and r["sample_type"] == "production"
            and (wanted is None or r["unit"] in wanted)
        ]


@dataclass(frozen=True)
class Cause:
    """Why a judgement could not be made, as one thing the lab or QA fixes
    once: the inconclusive findings of a batch that share a cause (its kind,
    analyte and unit) are reported as one finding (causes.py)."""

    kind: str  # one of causes.KINDS: 'no_register', 'test_portion', 'loq_above', ...
    analyte: str | None = None  # whose results are at fault; None for the batch's register
    shown: str = ""  # what the results show, as the lab wrote it ("'<1'", "1 g", "mg/mL")
    need: float | None = None  # what this one judgement asks of the fix, in need_unit
    need_unit: str | None = None
    columns: tuple[str, ...] = ()  # register columns this judgement reads

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        # The unit of `need` too: 7-OH per gram and per capsule are two results.
        return (self.kind, self.analyte, self.need_unit)


@dataclass
class Finding:
    batch_id: str
    rule: str
    analyte: str | None
    severity: str
    observed: float | None
    limit_value: float | None
    unit: str | None
    basis: str | None
    profile: str
    source: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # tells apart findings of one rule on one analyte (a QC sample, a limit)
    # An inconclusive finding's cause and the limit it could not judge: what
    # causes.group reads to report one finding per cause. Neither is stored.
    cause: Cause | None = None
    threshold: Threshold | None = None

    def flag_id(self) -> str:
        raw = "|".join(
            str(x)
            for x in (self.batch_id, self.rule, self.analyte, self.basis, self.profile, self.key)
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def finding(
    batch: Batch,
    t: Threshold,
    observed: float | None,
    message: str,
    evidence: dict[str, Any],
    key: str = "",
) -> Finding:
    return Finding(
        batch.batch_id,
        t.rule,
        t.analyte,
        t.severity,
        observed,
        t.limit_value,
        t.unit,
        t.basis,
        t.profile,
        t.citation(),
        message,
        {**evidence, "fails_when": t.fails_when, "note": t.note},
        key or t.fails_when,
    )


def inconclusive(
    batch: Batch,
    t: Threshold,
    message: str,
    evidence: dict[str, Any],
    cause: Cause | None = None,
) -> Finding:
    return Finding(
        batch.batch_id,
        "inconclusive",
        t.analyte,
        "minor",
        None,
        t.limit_value,
        t.unit,
        t.basis,
        t.profile,
        t.citation(),
        f"cannot show {t.analyte} meets {t.describe()} ({t.rule}): {message}",
        {**evidence, "for_rule": t.rule},
        f"{t.rule}:{t.fails_when}",
        cause,
        t,
    )


# --- reading one result against a limit -------------------------------------


def censored_bound(r: dict[str, Any]) -> float | None:
    """The most a non-detect can be: its stated bound, else LOQ, else LOD."""
    for key in ("bound", "loq", "lod"):
        if r.get(key) is not None:
            return float(r[key])
    return None


def judge(t: Threshold, r: dict[str, Any], scale: float = 1.0) -> tuple[str, float | None, str]:
    """('fail' | 'pass' | 'inconclusive', observed, why) for one result.
    `scale` turns the canonical value into the threshold's basis (e.g. ug/g ->
    ug/day). A non-detect passes only when its bound is at or below the limit."""
    value, qualifier = r["value"], r["qualifier"]
    if value is not None:
        observed = float(value) * scale
        return ("fail" if t.fails(observed) else "pass"), observed, ""
    if qualifier == DETECTED:
        if t.fails_when == "detected":
            return "fail", None, "detected"
        return "inconclusive", None, "reported as detected without an amount"
    if qualifier in CENSORED_BELOW:
        if t.fails_when == "detected":
            return "pass", None, ""
        bound = censored_bound(r)
        if bound is None:
            return "inconclusive", None, f"'{r['reported_result']}' without a LOQ"
        most = bound * scale
        if t.fails_when in (">", ">=") and t.limit_value is not None and most > t.limit_value:
            return (
                "inconclusive",
                None,
                (
                    f"'{r['reported_result']}' could be as high as {most:g} {t.unit}:"
                    " its LOQ is above the limit"
                ),
            )
        if t.fails_when in ("<", "<="):
            return "inconclusive", None, f"'{r['reported_result']}' is below quantitation"
        return "pass", None, ""
    if qualifier in (ABOVE_ULOQ, TNTC):
        bound = r.get("bound")
        above_fails = qualifier == TNTC or (bound is not None and t.fails(float(bound) * scale))
        if t.fails_when in (">", ">=", "detected") and above_fails:
            return "fail", None if bound is None else float(bound) * scale, qualifier
        return "inconclusive", None, f"'{r['reported_result']}' is above the measuring range"
    return "inconclusive", None, f"'{r['reported_result']}' cannot be compared"


def to_frame(findings: list[Finding], version: str) -> pl.DataFrame:
    import polars as pl

    from kqc.core.rules.frames import FLAG_SCHEMA

    rows = [
        {
            "flag_id": f.flag_id(),
            "batch_id": f.batch_id,
            "rule": f.rule,
            "analyte": f.analyte,
            "severity": f.severity,
            "observed": f.observed,
            "limit_value": f.limit_value,
            "unit": f.unit,
            "basis": f.basis,
            "profile": f.profile,
            "source": f.source,
            "threshold_version": version,
            "message": f.message,
            "evidence": json.dumps(f.evidence, sort_keys=True, default=str),
        }
        for f in findings
    ]
    # Computed figures keep 12 significant digits, as results do: 5.55, not
    # 5.550000000000001, in what a reviewer reads.
    return pl.DataFrame(rows, schema=FLAG_SCHEMA).with_columns(
        pl.col("observed", "limit_value").round_sig_figs(12)
    )
