"""Dosing: mitragynine per serving against the label and the per-serving caps,
content uniformity (USP <905>), and 7-OH as a share of the alkaloids and per
gram or serving.

Per serving = mg/unit x units per serving, or mg/g x serving size (DOMAIN §5a).
Non-detects count as LOQ/2 in means and as zero in sums (Directive 2009/90/EC
art. 5(1) and 5(3)); each flag says which was used.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from typing import Any

from kqc.core.qualifiers import CENSORED_BELOW
from kqc.core.rules import causes
from kqc.core.rules.applicable import applicable
from kqc.core.rules.dry_weight import dry_weight_amount, is_dry_weight
from kqc.core.rules.limits import report, verdicts
from kqc.core.rules.model import Batch, Finding, Threshold, censored_bound, finding, inconclusive
from kqc.core.vocab import MITRAGYNINE, SEVEN_OH

OK_ALKALOID_SUM = (  # 63 O.S. (OK SB 891) "total kratom alkaloids"
    MITRAGYNINE,
    "speciociliatine",
    "speciogynine",
    "paynantheine",
    SEVEN_OH,
)
# The units an alkaloid's share of the sum is read in: amounts of the same
# sample, whichever way it was measured.
ALKALOID_UNITS = ("mg/g", "mg/unit", "mg/mL")


def mean_value(r: dict[str, Any]) -> float | None:
    """A result's contribution to a mean: its value, LOQ/2 for a non-detect."""
    if r["value"] is not None:
        return float(r["value"])
    if r["qualifier"] in CENSORED_BELOW:
        bound = censored_bound(r)
        return bound / 2 if bound is not None else None
    return None


def units_per_serving(register: dict[str, Any] | None) -> float:
    """The register's dosage units per serving; one when it gives none (or 0)."""
    return float((register or {}).get("units_per_serving") or 1)


def serving_basis(batch: Batch, analyte: str) -> tuple[list[dict], float | None, str] | None:
    """The results that give `analyte` per serving and their factor to it:
    mg/unit x units per serving (preferred), else mg/g x serving size (factor
    None when the register does not give one). None when neither was measured."""
    reg = batch.register or {}
    per_unit = batch.production(analyte, ("mg/unit",))
    if per_unit:
        return per_unit, units_per_serving(reg), "mg/unit"
    per_gram = batch.production(analyte, ("mg/g",))
    if per_gram:
        size = reg.get("serving_size_g")
        return per_gram, None if size is None else float(size), "mg/g"
    return None


def describe_basis(scale: float, unit: str, rows: list[dict]) -> str:
    """How `rows` were put on a per-serving basis (serving_basis's factor and unit)."""
    text = f"{unit} x {scale:g} {'unit(s)' if unit == 'mg/unit' else 'g'} per serving"
    if any(r.get("per_serving_of") for r in rows):
        # The lab's own per-serving figure, divided to one unit as read, is
        # multiplied back: it counts once, as written.
        text += "; results reported per serving count as reported"
    return text


def per_serving_values(batch: Batch, analyte: str) -> tuple[list[float], list[dict], str] | None:
    """Amounts per serving (non-detects as LOQ/2, for means), with how they were found."""
    basis = serving_basis(batch, analyte)
    if basis is None:
        return None
    rows, scale, unit = basis
    if scale is None:
        return None
    kept = [(v * scale, r) for r in rows if (v := mean_value(r)) is not None]
    if not kept:
        return None
    return [v for v, _ in kept], [r for _, r in kept], describe_basis(scale, unit, rows)


def substitution(rows: list[dict]) -> str:
    """How many of `rows` are non-detects counted as LOQ/2 (mean_value)."""
    censored = sum(1 for r in rows if r["value"] is None)
    return f"{censored} non-detect(s) counted as LOQ/2" if censored else "no non-detects"


def label_claim(batch: Batch, thresholds: list[Threshold]) -> list[Finding]:
    out: list[Finding] = []
    rules = applicable(thresholds, batch, "label_claim")
    if not rules or not batch.production(MITRAGYNINE):
        return out
    found = per_serving_values(batch, MITRAGYNINE)
    claim = (batch.register or {}).get("label_claim_mg_per_serving")
    for t in rules:
        if found is None:
            claimed = ("label_claim_mg_per_serving",) if t.unit.startswith("%") else ()
            why, cause = causes.per_serving_blocked(batch, MITRAGYNINE, *claimed)
            out.append(inconclusive(batch, t, why, {}, cause))
            continue
        values, rows, how = found
        mean = statistics.fmean(values)
        evidence = {
            "n": len(values),
            "mean_mg_per_serving": mean,
            "per_serving": how,
            "substitution": substitution(rows),
            "result_ids": [r.get("result_id") for r in rows],
        }
        if t.unit.startswith("%"):
            if not claim:
                if batch.register is None:  # amounts per unit, but no claim to hold them to
                    cause = causes.no_register("label_claim_mg_per_serving", "units_per_serving")
                    why = "no batch register to give the label claim"
                    out.append(inconclusive(batch, t, why, {}, cause))
                continue
            observed = mean / float(claim) * 100
            evidence["label_claim_mg_per_serving"] = claim
            text = (
                f"mitragynine {mean:.2f} mg per serving is {observed:.1f} % of the"
                f" {claim:g} mg label claim; allowed {t.describe()}"
            )
        else:
            observed = mean
            text = f"mitragynine {mean:.2f} mg per serving; allowed {t.describe()}"
        if t.fails(observed):
            out.append(finding(batch, t, observed, f"{text} — {t.citation()}", evidence))
    return out


def dosage_units(batch: Batch) -> list[dict]:
    """The mitragynine results of single dosage units, as content uniformity
    judges them (USP <905> tests units one by one). A result the lab reported
    per serving of a product served as several units is of those units
    together (`per_serving_of`): it counts toward the label claim, not here."""
    return [r for r in batch.production(MITRAGYNINE, ("mg/unit",)) if not r.get("per_serving_of")]


def percent_of_claim(batch: Batch) -> tuple[list[float], list[dict]] | None:
    reg = batch.register or {}
    claim = reg.get("label_claim_mg_per_serving")
    units = units_per_serving(reg)
    # A unit below quantitation stays in: it counts as LOQ/2 (art. 5(1)), since
    # dropping it would hide the very unit that fails.
    kept = [(v, r) for r in dosage_units(batch) if (v := mean_value(r)) is not None]
    if not claim or not kept:
        return None
    per_unit_claim = float(claim) / units
    return [v / per_unit_claim * 100 for v, _ in kept], [r for _, r in kept]


# USP <905> Uniformity of Dosage Units, Table 2 (harmonized text, official
# since USP 28-NF 23, 1 April 2006): "Unless otherwise stated, T is 100.0%".
DEFAULT_TARGET = 100.0
TARGET_FROM_REGISTER = "declared in the batch register"
TARGET_BY_DEFAULT = "USP <905> default: the register declares none"


def target_content(batch: Batch) -> tuple[float, str]:
    """USP <905>'s T for the batch (the manufacturer's target content per
    unit, % of label claim) and where it comes from: the register's declared
    target_content_pct, else 100 %."""
    declared = (batch.register or {}).get("target_content_pct")
    if declared is None:
        return DEFAULT_TARGET, TARGET_BY_DEFAULT
    return float(declared), TARGET_FROM_REGISTER


def reference_range(target: float) -> tuple[float, float]:
    """USP <905>'s range for the reference value M: 98.5-101.5 %, its top
    raised to the target content T when T is above 101.5 %."""
    return 98.5, max(101.5, target)


def l2_range(limit_value: float, reference: float) -> tuple[float, float]:
    """USP <905>'s L2 range around the reference value M: (1 -/+ L2/100) M."""
    return (1 - limit_value / 100) * reference, (1 + limit_value / 100) * reference


def acceptance_value(x: list[float], target: float = DEFAULT_TARGET) -> dict[str, float]:
    """USP <905> Table 2: AV = |M - mean| + k s, k = 2.4 (10 units) or 2.0
    (30). M, the reference value, is the mean held to 98.5-101.5 % when the
    target content T is at most 101.5 % (case 1), and to 98.5 %-T when T is
    above it (case 2): a batch made to an overage of T is not held to 101.5."""
    n = len(x)
    mean = statistics.fmean(x)
    s = statistics.stdev(x)
    k = 2.0 if n >= 30 else 2.4
    low, high = reference_range(target)
    reference = min(max(mean, low), high)
    return {
        "n": n,
        "mean": mean,
        "sd": s,
        "k": k,
        "T": target,
        "M": reference,
        "av": abs(reference - mean) + k * s,
    }


def content_uniformity(batch: Batch, thresholds: list[Threshold]) -> list[Finding]:
    rules = {t.unit: t for t in applicable(thresholds, batch, "content_uniformity")}
    units = dosage_units(batch)
    if not rules or len(units) < 2:
        return []
    found = percent_of_claim(batch)
    av_rule = rules.get("% of label claim")
    if found is None:
        t = av_rule or next(iter(rules.values()))
        cause = causes.no_register("label_claim_mg_per_serving", "units_per_serving")
        return [inconclusive(batch, t, "no label claim per unit in the batch register", {}, cause)]
    x, rows = found
    ids = [r.get("result_id") for r in rows]
    out: list[Finding] = []
    if len(x) >= 10 and av_rule is not None:
        target, target_from = target_content(batch)
        figures = acceptance_value(x, target)
        # A declared T is named beside M; T = 100 % goes without saying.
        declared = target_from == TARGET_FROM_REGISTER
        # The evidence names T only when the register declares it: a batch
        # judged with T = 100 keeps the evidence (and so the flag, and its
        # review) it had before T could be declared.
        stats = figures if declared else {k: v for k, v in figures.items() if k != "T"}
        told = {"T_from": target_from} if declared else {}
        reference = f"M {stats['M']:.1f}"
        if declared:
            reference += f" for the declared T {target:g} %"
        if av_rule.fails(stats["av"]):
            out.append(
                finding(
                    batch,
                    av_rule,
                    stats["av"],
                    f"content uniformity: AV {stats['av']:.1f} over {stats['n']} units (mean"
                    f" {stats['mean']:.1f} % of claim, SD {stats['sd']:.2f}, k {stats['k']},"
                    f" {reference}) exceeds L1 {av_rule.limit_value:g} — {av_rule.citation()}",
                    {
                        **stats,
                        **told,
                        "substitution": substitution(rows),
                        "result_ids": ids,
                    },
                )
            )
        l2 = rules.get("% of M")
        if l2 is not None and len(x) >= 30 and l2.limit_value is not None:
            low, high = l2_range(l2.limit_value, stats["M"])
            outside = [v for v in x if v < low or v > high]
            if outside:
                worst = max(outside, key=lambda v: abs(v - stats["M"]))
                out.append(
                    finding(
                        batch,
                        l2,
                        abs(worst - stats["M"]) / stats["M"] * 100,
                        f"content uniformity: {len(outside)} unit(s) outside {low:.1f}-{high:.1f} %"
                        f" of claim (0.75 M-1.25 M{f', {reference}' if declared else ''})"
                        f" — {l2.citation()}",
                        {**stats, **told, "outside": outside, "result_ids": ids},
                        key="L2",
                    )
                )
    rsd_rule = rules.get("% RSD")
    if len(x) < 10 and rsd_rule is not None:
        mean = statistics.fmean(x)
        rsd = statistics.stdev(x) / mean * 100 if mean else math.inf
        if rsd_rule.fails(rsd):
            out.append(
                finding(
                    batch,
                    rsd_rule,
                    rsd,
                    f"content uniformity: RSD {rsd:.1f} % over only {len(x)} units exceeds"
                    f" {rsd_rule.limit_value:g} % — {rsd_rule.citation()}",
                    {"n": len(x), "mean": mean, "rsd": rsd, "result_ids": ids},
                )
            )
    return out


def _alkaloid_samples(batch: Batch) -> dict[tuple, dict[str, dict]]:
    samples: dict[tuple, dict[str, dict]] = {}
    for r in batch.results:
        if (
            r["sample_type"] == "production"
            and r["analyte"] in OK_ALKALOID_SUM
            and r["unit"] in ALKALOID_UNITS
        ):
            samples.setdefault((r["sample_id"], r["unit_no"], r["unit"]), {})[r["analyte"]] = r
    return samples


def seven_oh_samples(batch: Batch) -> Iterator[tuple[dict, dict[str, dict], float]]:
    """Each sample with both 7-OH and mitragynine: its 7-OH result, all its
    alkaloid results, and the sum of the other alkaloids (non-detects count as
    zero in it)."""
    for parts in _alkaloid_samples(batch).values():
        oh, mg = parts.get(SEVEN_OH), parts.get(MITRAGYNINE)
        if oh is None or mg is None:
            continue
        others = sum(
            float(r["value"]) for a, r in parts.items() if a != SEVEN_OH and r["value"] is not None
        )
        yield oh, parts, others


def seven_oh_share(batch: Batch, t: Threshold) -> list[Finding]:
    """7-OH as % of the five-alkaloid sum in each sample; non-detects are zero
    in the sum, and a non-detect 7-OH is judged by its LOQ."""
    worst: tuple[float, dict] | None = None
    unsure: list[tuple[str, dict]] = []
    for oh, parts, others in seven_oh_samples(batch):
        if oh["value"] is not None:
            total = others + float(oh["value"])
            share = float(oh["value"]) / total * 100 if total else math.inf
            if t.fails(share) and (worst is None or share > worst[0]):
                worst = (
                    share,
                    {
                        "sample": oh["sample_id"],
                        "sum": total,
                        "parts": sorted(parts),
                        "result_ids": [r.get("result_id") for r in parts.values()],
                    },
                )
        else:
            bound = censored_bound(oh)
            most = bound / (others + bound) * 100 if bound is not None and others + bound else None
            if most is None or t.fails(most):
                unsure.append(
                    (
                        f"7-OH '{oh['reported_result']}' could be up to"
                        f" {'?' if most is None else f'{most:.1f}'} % of the alkaloids",
                        oh,
                    )
                )
    if worst:
        share, evidence = worst
        return [
            finding(
                batch,
                t,
                share,
                f"7-OH is {share:.2f} % of the alkaloids (sum of {', '.join(evidence['parts'])};"
                f" non-detects as zero) in sample {evidence['sample']}; allowed"
                f" {t.describe()} — {t.citation()}",
                evidence,
            )
        ]
    if unsure:
        return [
            inconclusive(batch, t, unsure[0][0], {"result_ids": [unsure[0][1].get("result_id")]})
        ]
    return []


def seven_oh_amount(batch: Batch, t: Threshold) -> list[Finding]:
    """GA/RI/FL caps: 7-OH per gram, or per serving. A non-detect is judged by
    its LOQ (at most LOQ per serving), never by a substituted value."""
    if t.basis == "per_g" and is_dry_weight(t.unit):  # FL: judged with the moisture
        return dry_weight_amount(batch, t)
    if t.basis == "per_g":
        rows = batch.production(SEVEN_OH, ("mg/g",))
        failed, unsure = verdicts(t, rows, 1.0)
        return report(batch, t, failed, unsure, "")
    basis = serving_basis(batch, SEVEN_OH)
    if basis is None:
        return []
    rows, scale, unit = basis
    if scale is None:
        cause = causes.no_register("serving_size_g")
        return [inconclusive(batch, t, "no batch register to express 7-OH per serving", {}, cause)]
    failed, unsure = verdicts(t, rows, scale)
    return report(batch, t, failed, unsure, f"({describe_basis(scale, unit, rows)}): ", scale)


def seven_oh(batch: Batch, thresholds: list[Threshold]) -> list[Finding]:
    out: list[Finding] = []
    for t in applicable(thresholds, batch, "7oh_ratio"):
        if t.basis == "pct_of_alkaloids":
            out += seven_oh_share(batch, t)
        else:
            out += seven_oh_amount(batch, t)
    return out
