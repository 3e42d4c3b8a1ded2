"""qc_failure: the lab's own quality controls, reported beside the samples.
A method blank at or above its LOQ, a spike or CRM recovery outside its range,
a duplicate too far from its sample: the batch's results cannot be trusted."""

from __future__ import annotations

from kqc.core.qualifiers import CENSORED_BELOW
from kqc.core.rules.applicable import applicable
from kqc.core.rules.model import Batch, Finding, Threshold, censored_bound, finding


def _by_type(thresholds: list[Threshold]) -> dict[str, list[Threshold]]:
    grouped: dict[str, list[Threshold]] = {}
    for t in thresholds:
        grouped.setdefault(t.analyte, []).append(t)
    return grouped


def qc_failure(batch: Batch, thresholds: list[Threshold]) -> list[Finding]:
    rules = _by_type(applicable(thresholds, batch, "qc_failure"))
    out: list[Finding] = []
    for r in batch.results:
        kind, value = r["sample_type"], r["value"]
        if kind in ("spike", "crm") and value is None and r.get("spike_level"):
            out += _not_recovered(batch, rules.get(kind, []), r)
            continue
        if kind == "production" or value is None:
            continue
        tag = f"{r['sample_id']}:{r['analyte']}:{r['unit']}"
        if kind == "blank" and r.get("loq") is not None:
            for t in rules.get("blank", []):
                if value >= r["loq"]:
                    out.append(
                        _qc(
                            batch,
                            t,
                            r,
                            value,
                            tag,
                            f"method blank {r['sample_id']} shows {r['analyte']}"
                            f" {value:g} {r['unit']}, at or above its LOQ {r['loq']:g}",
                        )
                    )
        elif kind in ("spike", "crm") and r.get("spike_level"):
            recovery = value / r["spike_level"] * 100
            for t in rules.get(kind, []):
                if t.fails(recovery):
                    out.append(
                        _qc(
                            batch,
                            t,
                            r,
                            recovery,
                            tag,
                            f"{kind} {r['sample_id']} recovered {recovery:.1f} % of"
                            f" {r['analyte']} (allowed {t.describe()})",
                        )
                    )
        elif kind == "duplicate":
            twins = [
                p
                for p in batch.production(r["analyte"], (r["unit"],))
                if p["value"] is not None and (r["unit_no"] is None or p["unit_no"] == r["unit_no"])
            ]
            if not twins:
                continue
            original = sum(p["value"] for p in twins) / len(twins)
            mean = (original + value) / 2
            rpd = abs(value - original) / mean * 100 if mean else 0.0
            for t in rules.get("duplicate", []):
                if t.fails(rpd):
                    out.append(
                        _qc(
                            batch,
                            t,
                            r,
                            rpd,
                            tag,
                            f"duplicate {r['sample_id']} differs from its sample by RPD"
                            f" {rpd:.1f} % for {r['analyte']} (allowed {t.describe()})",
                        )
                    )
    return out


def _qc(batch: Batch, t: Threshold, r: dict, observed: float, tag: str, text: str) -> Finding:
    found = finding(
        batch,
        t,
        observed,
        f"{text} — {t.citation()}",
        {
            "result_ids": [r.get("result_id")],
            "qc_sample": r["sample_id"],
            "qc_analyte": r["analyte"],
        },
        key=f"{tag}:{t.fails_when}",
    )
    found.analyte = r["analyte"]
    return found


def _not_recovered(batch: Batch, rules: list[Threshold], r: dict) -> list[Finding]:
    """A spike or CRM reported as a non-detect recovered at most bound / level:
    a failure when even that is below the lower limit."""
    bound = censored_bound(r) if r["qualifier"] in CENSORED_BELOW else None
    if bound is None:
        return []
    most = bound / r["spike_level"] * 100
    tag = f"{r['sample_id']}:{r['analyte']}:{r['unit']}"
    return [
        _qc(
            batch,
            t,
            r,
            most,
            tag,
            f"{r['sample_type']} {r['sample_id']} reported {r['analyte']} as"
            f" '{r['reported_result']}': at most {most:.1f} % recovered (allowed {t.describe()})",
        )
        for t in rules
        if t.fails_when in ("<", "<=") and t.fails(most)
    ]
