"""Limit rules on single results: heavy metals (per gram and per day),
microbes (counts and presence with test portions), residual solvents,
adulterants and the synthetic-alkaloid marker. One finding per batch and
threshold: the worst result, with every result behind it."""

from __future__ import annotations

from typing import Any

from kqc.core.qualifiers import ABOVE_ULOQ, DETECTED, TNTC
from kqc.core.rules import causes
from kqc.core.rules.applicable import applicable
from kqc.core.rules.model import (
    Batch,
    Finding,
    Threshold,
    censored_bound,
    finding,
    inconclusive,
    judge,
)
from kqc.core.vocab import MITRAGYNINE

# Canonical unit a per-gram threshold reads (thresholds speak the contract's units).
PER_G_UNITS = {"ug/g": ("ug/g",), "mg/g": ("mg/g",), "CFU/g": ("CFU/g", "MPN/g"), "": ("ug/g",)}


def per_gram_units(unit: str) -> tuple[str, ...]:
    """The result units a per-gram threshold in `unit` reads."""
    return PER_G_UNITS.get(unit, (unit,))


def per_gram_results(batch: Batch, t: Threshold) -> list[dict[str, Any]]:
    """The results a per-gram threshold judges: for a prohibition any report
    of the analyte, whatever the unit; else those in the units it reads."""
    if t.fails_when == "detected":
        return batch.production(t.analyte)
    return batch.production(t.analyte, per_gram_units(t.unit))


def is_synthetic_ratio(t: Threshold) -> bool:
    """The synthetic-alkaloid marker as a ratio to mitragynine, judged sample
    by sample (synthetic_ratio) rather than result by result."""
    return t.rule == "synthetic_alkaloid" and t.unit == "ratio"


def exposure_scale(batch: Batch) -> float | None:
    """g of product per day (serving size x servings per day), from the register."""
    reg = batch.register or {}
    size, per_day = reg.get("serving_size_g"), reg.get("servings_per_day")
    if size is None or per_day is None:
        return None
    return float(size) * float(per_day)


def verdicts(t: Threshold, results: list[dict[str, Any]], scale: float) -> tuple[list, list]:
    failed, unsure = [], []
    for r in results:
        verdict, observed, why = judge(t, r, scale)
        if verdict == "fail":
            failed.append((observed, r))
        elif verdict == "inconclusive":
            unsure.append((why, r))
    return failed, unsure


def report(
    batch: Batch, t: Threshold, failed: list, unsure: list, what: str, scale: float = 1.0
) -> list[Finding]:
    if failed:
        numbers = [o for o, _ in failed if o is not None]
        worst = max(numbers) if numbers else None
        first = failed[0][1]
        if t.fails_when == "detected":
            unit = first["unit"] or ""
            shown = f"{worst:g} {unit}".strip() if worst is not None else first["reported_result"]
            text = f"{t.analyte} detected ({shown}) where {t.describe()} is prohibited"
        else:
            shown = f"{worst:.6g} {t.unit}" if worst is not None else first["reported_result"]
            text = f"{t.analyte} {what}{shown}; allowed {t.describe()}"
        return [
            finding(
                batch,
                t,
                worst,
                f"{text} — {t.citation()}",
                {"result_ids": [r.get("result_id") for _, r in failed], "n_failing": len(failed)},
            )
        ]
    if unsure:
        why, first = unsure[0]
        ids = {"result_ids": [r.get("result_id") for _, r in unsure]}
        return [inconclusive(batch, t, why, ids, causes.of_result(t, first, scale))]
    return []


def per_gram(batch: Batch, t: Threshold) -> list[Finding]:
    failed, unsure = verdicts(t, per_gram_results(batch, t), 1.0)
    return report(batch, t, failed, unsure, "")


def per_day(batch: Batch, t: Threshold) -> list[Finding]:
    results = batch.production(t.analyte, ("ug/g",))
    if not results:
        return []
    scale = exposure_scale(batch)
    if scale is None:
        return [
            inconclusive(
                batch,
                t,
                "no batch register (serving size and servings per day) to turn ug/g into ug/day",
                {},
                causes.no_register("serving_size_g", "servings_per_day"),
            )
        ]
    failed, unsure = verdicts(t, results, scale)
    what = f"daily exposure at {scale:g} g of product a day: "
    return report(batch, t, failed, unsure, what, scale)


def presence(batch: Batch, t: Threshold) -> list[Finding]:
    """Absence must cover at least the required portion: 'absent in 1 g' does
    not satisfy 'absent in 10 g'. A count above zero is a detection."""
    required = t.limit_value or 0.0
    failed, unsure = [], []
    for r in batch.production(t.analyte):
        uncountable = r["qualifier"] in (ABOVE_ULOQ, TNTC)  # certainly present
        if r["qualifier"] == DETECTED or uncountable or (r["value"] is not None and r["value"] > 0):
            failed.append((r["value"], r))
        elif r["value"] is None and r["qualifier"] in ("not_detected", "<LOQ", "<LOD"):
            portion = r.get("test_portion_g")
            if portion is None or portion < required:
                shown = "no test portion" if portion is None else f"{portion:g} g"
                unsure.append((f"absence shown in {shown}, {required:g} g required", r))
    if failed:
        return [
            finding(
                batch,
                t,
                None,
                f"{t.analyte} detected (must be absent in {required:g} g) — {t.citation()}",
                {"result_ids": [r.get("result_id") for _, r in failed]},
            )
        ]
    if unsure:
        portion = causes.test_portion(t.analyte, unsure[0][1].get("test_portion_g"), required)
        return [
            inconclusive(
                batch,
                t,
                unsure[0][0],
                {"result_ids": [r.get("result_id") for _, r in unsure]},
                portion,
            )
        ]
    return []


def synthetic_ratio(batch: Batch, t: Threshold) -> list[Finding]:
    """7-OH above mitragynine in one sample (or one capsule): the profile of
    semi-synthetic products. A mitragynine non-detect is at most its LOQ, so
    the ratio is at least 7-OH / LOQ: a finding only when even that fails."""
    by_sample: dict[tuple, dict[str, dict]] = {}
    for r in batch.results:
        if r["sample_type"] == "production" and r["analyte"] in (MITRAGYNINE, t.analyte):
            key = (r["sample_id"], r.get("unit_no"), r["unit"])
            by_sample.setdefault(key, {})[r["analyte"]] = r
    worst: tuple[float, dict, dict] | None = None
    unsure: list[tuple[str, dict]] = []
    for pair in by_sample.values():
        oh, mg = pair.get(t.analyte), pair.get(MITRAGYNINE)
        # Only a sample measured for both says anything about their ratio.
        if not oh or not mg or oh["value"] is None or not oh["value"]:
            continue
        if mg["value"] is not None:
            ratio = oh["value"] / mg["value"] if mg["value"] else float("inf")
        else:
            bound = censored_bound(mg)
            ratio = oh["value"] / bound if bound else float("nan")
            if ratio != ratio or not t.fails(ratio):  # NaN (no LOQ), or could still be below
                unsure.append(
                    (
                        f"mitragynine '{mg['reported_result']}' beside 7-OH"
                        f" {oh['value']:g} {oh['unit']}: the ratio cannot be shown",
                        oh,
                    )
                )
                continue
        if t.fails(ratio) and (worst is None or ratio > worst[0]):
            worst = (ratio, oh, mg)
    if worst:
        ratio, oh, mg = worst
        at_least = "at least " if mg["value"] is None else ""
        shown = f"ratio {at_least}{ratio:.2f}" if ratio != float("inf") else "no mitragynine"
        return [
            finding(
                batch,
                t,
                None if ratio == float("inf") else ratio,
                f"7-OH above mitragynine in sample {oh['sample_id']} ({shown}): the profile of a"
                f" semi-synthetic product — {t.citation()}",
                {"result_ids": [oh.get("result_id"), mg.get("result_id")]},
                key="ratio",
            )
        ]
    if unsure:
        return [
            inconclusive(batch, t, unsure[0][0], {"result_ids": [unsure[0][1].get("result_id")]})
        ]
    return []


def evaluate(batch: Batch, thresholds: list[Threshold]) -> list[Finding]:
    findings: list[Finding] = []
    for rule in (
        "heavy_metal",
        "microbial",
        "residual_solvent",
        "adulterant",
        "synthetic_alkaloid",
    ):
        for t in applicable(thresholds, batch, rule):
            if t.basis == "per_day":
                findings += per_day(batch, t)
            elif t.basis == "presence_in_g":
                findings += presence(batch, t)
            elif is_synthetic_ratio(t):
                findings += synthetic_ratio(batch, t)
            elif t.basis == "per_g":
                findings += per_gram(batch, t)
    return findings
