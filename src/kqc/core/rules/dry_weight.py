"""Limits on a dry-weight basis: Florida's 7-OH rule reads "above four
hundred parts per million on a dry-weight basis", while labs report 7-OH as
is, in the sample as it arrived, water included.

A threshold is on a dry-weight basis when its unit ends in " dry"
("mg/g dry"). Its figure is the as-is result over the sample's dry fraction:

    dry mg/g = as-is mg/g / (1 - moisture % / 100)

with the moisture result (`moisture`, canonical unit %) of the same sample,
else the batch's. Drying only removes water, so the dry figure is never
below the as-is one: an as-is result above the limit fails with no moisture
result at all, but a result under the limit passes only once a moisture
result shows the dry figure is under it too. Without one the finding is
inconclusive and names the result to send; 0 % moisture is never assumed.
Several moisture results are a range: a verdict must hold at both ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kqc.core.qualifiers import CENSORED_BELOW
from kqc.core.rules.model import Batch, Finding, Threshold, finding, inconclusive, judge

DRY_SUFFIX = " dry"
MOISTURE = "moisture"
MOISTURE_UNIT = "%"
# 1 ppm = 1 ug/g = 0.001 mg/g: the rule's 400 ppm is the threshold's 0.4 mg/g.
PPM_PER_MG_PER_G = 1000.0


def is_dry_weight(unit: str | None) -> bool:
    return bool(unit) and str(unit).endswith(DRY_SUFFIX)


def as_is_unit(unit: str) -> str:
    """The unit the as-is results are stored in: 'mg/g' for 'mg/g dry'."""
    return unit[: -len(DRY_SUFFIX)] if is_dry_weight(unit) else unit


@dataclass(frozen=True)
class Moisture:
    """What a sample's moisture results allow: between `low` and `high` %
    (`high` None: not known), with the results behind it."""

    low: float
    high: float | None
    result_ids: tuple[Any, ...]
    shown: str  # as a reader sees it: "5 %", "5-8 %", "<1 % (LOQ)"


def _interval(r: dict[str, Any]) -> tuple[float, float] | None:
    """The moisture a result allows, in %; None when it says nothing usable
    (no figure, or a figure no sample can have)."""
    if r["value"] is not None:
        value = float(r["value"])
        return (value, value) if 0 <= value < 100 else None
    if r["qualifier"] in CENSORED_BELOW:
        bound = next((r[k] for k in ("bound", "loq", "lod") if r.get(k) is not None), None)
        if bound is not None and 0 <= float(bound) < 100:
            return (0.0, float(bound))  # a non-detect: anywhere from none to its bound
    return None


def moisture_for(batch: Batch, sample_id: Any) -> Moisture:
    """The moisture that applies to one sample: its own results, else the
    batch's (one composite moisture often stands for every sample)."""
    rows = batch.production(MOISTURE, (MOISTURE_UNIT,))
    own = [r for r in rows if r["sample_id"] == sample_id]
    usable = [(r, i) for r in (own or rows) if (i := _interval(r)) is not None]
    if not usable:
        return Moisture(0.0, None, (), "no usable moisture result")
    low = min(i[0] for _, i in usable)
    high = max(i[1] for _, i in usable)
    shown = f"{low:g} %" if low == high else f"{low:g}-{high:g} %"
    return Moisture(low, high, tuple(r.get("result_id") for r, _ in usable), shown)


def dry_scale(moisture_pct: float) -> float:
    """as-is -> dry weight: 1 / (1 - moisture fraction)."""
    return 1.0 / (1.0 - moisture_pct / 100.0)


@dataclass(frozen=True)
class DryVerdict:
    verdict: str  # 'fail', 'pass' or 'inconclusive'
    dry: float | None  # the least dry-weight figure the results allow (a failure)
    why: str
    moisture: Moisture
    send: str | None = None  # the result that would settle an inconclusive verdict


def judge_dry(t: Threshold, r: dict[str, Any], moisture: Moisture) -> DryVerdict:
    """One as-is result against a dry-weight limit ('>' or '>=', checked
    when the thresholds load): it fails when it fails even at the lowest
    moisture, and passes when it passes even at the highest."""
    at_low, dry, why_low = judge(t, r, dry_scale(moisture.low))
    if at_low == "fail":
        return DryVerdict("fail", dry, "", moisture)
    if at_low == "inconclusive":  # e.g. a LOQ above the limit: more water only adds to it
        return DryVerdict("inconclusive", None, why_low, moisture)
    sample = r["sample_id"]
    if moisture.high is None:
        return DryVerdict(
            "inconclusive",
            None,
            f"7-OH {_as_is(r)} in sample {sample} is as is, and there is no moisture result"
            " to put it on a dry-weight basis (drying only raises it): send the moisture"
            f" (loss on drying, %) of sample {sample}",
            moisture,
            f"moisture (%) of sample {sample}",
        )
    at_high, high_dry, why_high = judge(t, r, dry_scale(moisture.high))
    if at_high == "pass":
        return DryVerdict("pass", None, "", moisture)
    if at_high == "fail":  # passes at the lowest moisture, fails at the highest
        return DryVerdict(
            "inconclusive",
            None,
            f"7-OH {_as_is(r)} in sample {sample} with moisture {moisture.shown} is between"
            f" {float(r['value']) * dry_scale(moisture.low):.4g} and {high_dry:.4g} {t.unit},"
            f" either side of the limit: send one moisture result (%) for sample {sample}",
            moisture,
            f"one moisture result (%) of sample {sample}",
        )
    return DryVerdict("inconclusive", None, why_high, moisture)


def _as_is(r: dict[str, Any]) -> str:
    if r["value"] is not None:
        return f"{float(r['value']):g} {r['unit']}"
    return f"'{r['reported_result']}'"


def dry_weight_amount(batch: Batch, t: Threshold) -> list[Finding]:
    """The batch's as-is 7-OH results (mg/g) against a dry-weight limit: one
    finding, the worst failing sample, or one inconclusive finding."""
    rows = batch.production(t.analyte, (as_is_unit(t.unit),))
    failed: list[tuple[float | None, dict[str, Any], DryVerdict]] = []
    unsure: list[tuple[dict[str, Any], DryVerdict]] = []
    for r in rows:
        verdict = judge_dry(t, r, moisture_for(batch, r["sample_id"]))
        if verdict.verdict == "fail":
            failed.append((verdict.dry, r, verdict))
        elif verdict.verdict == "inconclusive":
            unsure.append((r, verdict))
    if failed:
        dry, r, verdict = max(failed, key=lambda f: -1.0 if f[0] is None else f[0])
        return [finding(batch, t, dry, _failure_text(t, r, verdict), _evidence(failed))]
    if unsure:
        r, verdict = unsure[0]
        evidence: dict[str, Any] = {
            "result_ids": [u.get("result_id") for u, _ in unsure],
            "moisture_result_ids": list(verdict.moisture.result_ids),
        }
        if verdict.send:
            evidence["send"] = verdict.send
        return [inconclusive(batch, t, verdict.why, evidence)]
    return []


def _failure_text(t: Threshold, r: dict[str, Any], verdict: DryVerdict) -> str:
    limit_ppm = (t.limit_value or 0.0) * PPM_PER_MG_PER_G
    if verdict.dry is None:  # above the measuring range: the least it can be is unknown
        shown = f"'{r['reported_result']}' (above the measuring range)"
    else:
        ppm = verdict.dry * PPM_PER_MG_PER_G
        shown = f"{verdict.dry:.4g} {t.unit} ({ppm:.4g} ppm dry weight)"
    if verdict.moisture.high is None:
        how = f"as-is {_as_is(r)}; no moisture result, and drying only raises it"
        shown = f"at least {shown}"
    elif r["value"] is not None:
        how = f"as-is {_as_is(r)} / (1 - {verdict.moisture.low:g} % moisture / 100)"
        if verdict.moisture.high != verdict.moisture.low:
            how += f", the lowest of the moisture results ({verdict.moisture.shown})"
    else:
        how = f"as-is {_as_is(r)}, moisture {verdict.moisture.shown}"
    return (
        f"7-OH {shown} in sample {r['sample_id']} ({how}); allowed"
        f" {t.describe()} ({limit_ppm:g} ppm) — {t.citation()}"
    )


def _evidence(failed: list[tuple[float | None, dict[str, Any], DryVerdict]]) -> dict[str, Any]:
    return {
        "result_ids": [r.get("result_id") for _, r, _ in failed],
        "n_failing": len(failed),
        "samples": [
            {
                "sample_id": r["sample_id"],
                "as_is_mg_per_g": r["value"],
                "moisture_pct": None if v.moisture.high is None else v.moisture.low,
                "moisture_result_ids": list(v.moisture.result_ids),
                "dry_mg_per_g": dry,
            }
            for dry, r, v in failed
        ],
        "conversion": "dry = as-is / (1 - moisture % / 100); 1 ppm = 0.001 mg/g",
    }
