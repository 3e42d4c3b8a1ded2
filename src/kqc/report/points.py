"""What each chart draws, computed by the rules' own functions so a chart can
never disagree with a flag: per-unit % of claim and the acceptance value from
dose.py, each result judged against its limit by limits.py, control limits
judged as drift.py judges them.

Pure: frames in, plain records out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from kqc.core.qualifiers import ABOVE_ULOQ, CENSORED_BELOW, TNTC
from kqc.core.rules import dose, drift, limits
from kqc.core.rules.applicable import applicable, batch_profiles, thresholds_from_frame
from kqc.core.rules.model import Batch, Threshold, censored_bound, judge

CONTAMINANT_RULES = ("heavy_metal", "residual_solvent", "microbial")


def _batches(results: pl.DataFrame, registers: pl.DataFrame, ids: list[str]) -> list[Batch]:
    """The rules' view of each batch: its results and its register row."""
    by_batch: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in results.iter_rows(named=True):
        by_batch.setdefault(row["batch_id"], []).append(row)
    regs = {r["batch_id"]: r for r in registers.iter_rows(named=True)}
    return [Batch(i, by_batch[i], regs.get(i), batch_profiles(regs.get(i))) for i in ids]


# --- content uniformity ------------------------------------------------------


@dataclass
class Unit:
    percent: float  # % of the label claim per unit
    mg: float  # mg per unit as the rule counts it (a non-detect as LOQ/2)
    reported: str
    unit_no: str | None
    censored: bool


@dataclass
class UniformityBatch:
    batch_id: str
    product_name: str | None
    flagged: bool
    claim_mg_per_unit: float | None
    units: list[Unit]
    av: dict[str, float] | None = None  # USP <905> figures when >= 10 units
    av_limit: float | None = None
    l2_band: tuple[float, float] | None = None  # 0.75 M - 1.25 M, % of claim
    label_band: tuple[float | None, float | None] = (None, None)
    note: str = ""


def uniformity(
    results: pl.DataFrame,
    registers: pl.DataFrame,
    thresholds: pl.DataFrame,
    ids: list[str],
    flagged: list[str],
) -> list[UniformityBatch]:
    rules = thresholds_from_frame(thresholds)
    out = []
    for batch in _batches(results, registers, ids):
        reg = batch.register or {}
        claim = reg.get("label_claim_mg_per_serving")
        per_unit_claim = float(claim) / (reg.get("units_per_serving") or 1) if claim else None
        entry = UniformityBatch(
            batch.batch_id, reg.get("product_name"), batch.batch_id in flagged, per_unit_claim, []
        )
        out.append(entry)
        found = dose.percent_of_claim(batch)
        if found is None:
            entry.note = "no label claim in the batch register: % of claim unknown"
            continue
        percents, rows = found
        entry.units = [
            Unit(p, dose.mean_value(r) or 0.0, _reported(r), r.get("unit_no"), r["value"] is None)
            for p, r in zip(percents, rows, strict=True)
        ]
        cu = {t.unit: t for t in applicable(rules, batch, "content_uniformity")}
        if len(percents) >= 10:
            entry.av = dose.acceptance_value(percents, dose.target_content(batch)[0])
            av_rule = cu.get("% of label claim")
            entry.av_limit = av_rule.limit_value if av_rule else None
            l2 = cu.get("% of M")
            if l2 is not None and l2.limit_value is not None:
                m = entry.av["M"]
                entry.l2_band = ((1 - l2.limit_value / 100) * m, (1 + l2.limit_value / 100) * m)
        entry.label_band = _label_band(applicable(rules, batch, "label_claim"))
    return out


def _label_band(rules: list[Threshold]) -> tuple[float | None, float | None]:
    low = [t.limit_value for t in rules if t.unit.startswith("%") and t.fails_when in ("<", "<=")]
    high = [t.limit_value for t in rules if t.unit.startswith("%") and t.fails_when in (">", ">=")]
    return (
        max((v for v in low if v is not None), default=None),
        min((v for v in high if v is not None), default=None),
    )


def _reported(r: dict[str, Any]) -> str:
    return f"{r.get('reported_result') or ''} {r.get('reported_unit') or ''}".strip()


# --- contaminants against their limits ------------------------------------------


@dataclass
class LimitPoint:
    batch_id: str
    analyte: str
    basis: str  # per_g or per_day
    fraction: float | None  # observed / limit; for a non-detect, its bound / limit
    kind: str  # 'value', 'below' (non-detect: at most), 'above' (over the range)
    verdict: str  # 'fail', 'pass', 'inconclusive' (judge())
    observed: float | None
    limit: float
    unit: str
    reported: str
    source: str
    why: str = ""


def contaminants(
    results: pl.DataFrame, registers: pl.DataFrame, thresholds: pl.DataFrame, ids: list[str]
) -> list[LimitPoint]:
    """Every contaminant result of the batches as a fraction of the strictest
    limit in force for it, per gram and per day."""
    rules = thresholds_from_frame(thresholds)
    points: list[LimitPoint] = []
    for batch in _batches(results, registers, ids):
        strictest: dict[tuple[str, str], Threshold] = {}
        for rule in CONTAMINANT_RULES:
            for t in applicable(rules, batch, rule):
                if t.basis not in ("per_g", "per_day") or t.limit_value is None:
                    continue
                if t.fails_when not in (">", ">="):
                    continue
                key = (t.analyte, t.basis)
                held = strictest.get(key)
                if held is None or (held.limit_value or 0) > t.limit_value:
                    strictest[key] = t
        for (analyte, basis), t in sorted(strictest.items()):
            if basis == "per_day":
                scale = limits.exposure_scale(batch)
                rows = batch.production(analyte, ("ug/g",))
            else:
                scale = 1.0
                rows = batch.production(analyte, limits.PER_G_UNITS.get(t.unit, (t.unit,)))
            if scale is None:  # no register: the rule says inconclusive, nothing to draw
                continue
            points += [_limit_point(batch.batch_id, t, r, scale) for r in rows]
    return points


def _limit_point(batch_id: str, t: Threshold, r: dict[str, Any], scale: float) -> LimitPoint:
    verdict, observed, why = judge(t, r, scale)
    limit = float(t.limit_value or 0.0)
    kind, figure = "value", observed
    if r["value"] is None and r["qualifier"] in CENSORED_BELOW:
        bound = censored_bound(r)
        kind, figure = "below", None if bound is None else bound * scale
    elif r["qualifier"] in (ABOVE_ULOQ, TNTC):
        kind = "above"
        figure = observed if observed is not None else None
    return LimitPoint(
        batch_id=batch_id,
        analyte=t.analyte,
        basis=t.basis,
        fraction=None if figure is None or not limit else figure / limit,
        kind=kind,
        verdict=verdict,
        observed=figure,
        limit=limit,
        unit=t.unit,
        reported=_reported(r),
        source=t.citation(),
        why=why,
    )


# --- control charts ------------------------------------------------------------


@dataclass
class ControlPoint:
    batch_id: str
    made: str
    mean: float
    n: int
    centre: float | None  # of the earlier batches, when there are enough to judge
    low: float | None
    high: float | None
    out: bool  # outside the limits, as the rule judges it
    flagged: bool  # an unsettled potency_drift flag in the database


@dataclass
class ControlChart:
    product_id: str
    product_name: str | None
    unit: str
    k: float
    points: list[ControlPoint] = field(default_factory=list)


def control_charts(
    points: pl.DataFrame, thresholds: pl.DataFrame, product_ids: list[str]
) -> list[ControlChart]:
    rule = next(
        (
            t
            for t in thresholds_from_frame(thresholds)
            if t.rule == "potency_drift" and t.profile == "default"
        ),
        None,
    )
    k = (rule.limit_value if rule else None) or 3.0
    charts: dict[str, ControlChart] = {}
    for row in points.iter_rows(named=True):
        chart = charts.setdefault(
            row["product_id"],
            ControlChart(row["product_id"], row["product_name"], row["unit"], k),
        )
        if row["unit"] != chart.unit:
            continue  # one unit per chart; a product measured both ways keeps its first
        judged = row["n_earlier"] >= drift.MIN_EARLIER and row["sd"] is not None
        centre, sd = (row["centre"], row["sd"]) if judged else (None, None)
        out = False
        if centre is not None and sd is not None:
            mean = row["mean_value"]
            distance = abs(mean - centre) / sd if sd else (0.0 if mean == centre else float("inf"))
            out = rule.fails(distance) if rule else distance > k
        chart.points.append(
            ControlPoint(
                batch_id=row["batch_id"],
                made=row["made"],
                mean=row["mean_value"],
                n=row["n"],
                centre=centre,
                low=None if centre is None or sd is None else centre - k * sd,
                high=None if centre is None or sd is None else centre + k * sd,
                out=out,
                flagged=bool(row["flagged"]),
            )
        )
    return [charts[p] for p in product_ids if p in charts]
