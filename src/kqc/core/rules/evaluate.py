"""Run every rule over a set of batches.

The screen (screen.py) finds, over whole columns, the batches where a family
of rules could find something; the rules then read only those batches, and
of each only the results that family reads. The rules stay the one
definition of every finding; the cost follows the findings, not the results.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from kqc.core.rules import causes, dose, drift, limits, panel, qc
from kqc.core.rules.applicable import DEFAULT_FORM, batch_profiles
from kqc.core.rules.families import FAMILIES, LIMIT_RULES, Needs
from kqc.core.rules.model import Batch, Finding, Threshold, to_frame

# Polars and the screen load with the first evaluation, not with this
# module: the package imports it, and a dossier in a terminal reads one
# batch's rules without Polars.
if TYPE_CHECKING:
    import polars as pl

# The history frame: one control-chart point per batch of the products
# evaluated (drift.batch_means, with the product and the date it was made).
HISTORY_COLUMNS = ("product_id", "batch_id", "made", "unit", "mean_value")

# Below this many results the rules read every batch: the screen's fixed
# cost (some thirty small Polars queries, a few tens of ms) is more than
# the rules spend on a few thousand results (about 9 us each).
SCREEN_FROM = 5_000

Earlier = list[tuple[str, float, str]]
RULES: dict[str, Callable[[Batch, list[Threshold], Earlier], list[Finding]]] = {
    "limits": lambda b, t, _: limits.evaluate(b, t),
    "label_claim": lambda b, t, _: dose.label_claim(b, t),
    "content_uniformity": lambda b, t, _: dose.content_uniformity(b, t),
    "seven_oh": lambda b, t, _: dose.seven_oh(b, t),
    "drift": drift.potency_drift,
    "qc": lambda b, t, _: qc.qc_failure(b, t),
    "panel": lambda b, _t, _e: panel.missing_panel(b),
}
assert tuple(RULES) == FAMILIES


def batch_findings(
    batch: Batch,
    thresholds: list[Threshold],
    earlier: Earlier,
    families: tuple[str, ...] = FAMILIES,
) -> list[Finding]:
    """The batch's findings, family by family, with the inconclusive ones
    that share a cause (a missing register row, one result's LOQ) reported as
    one finding each (causes.group)."""
    findings: list[Finding] = []
    for family in families:
        findings += RULES[family](batch, thresholds, earlier)
    return causes.group(batch, findings)


class ChartPoint(NamedTuple):
    """One batch's point on its product's control chart."""

    made: str  # "" when the register gives no date
    batch_id: str
    mean: float
    unit: str


def product_means(history: pl.DataFrame) -> dict[str, list[ChartPoint]]:
    """product -> its ChartPoints, for every batch with a mean."""
    return means_by_product(history.select(HISTORY_COLUMNS).iter_rows(named=True))


def means_by_product(history: Iterable[Mapping[str, Any]]) -> dict[str, list[ChartPoint]]:
    """product_means of history rows (HISTORY_COLUMNS) as plain dicts."""
    means: dict[str, list[ChartPoint]] = defaultdict(list)
    for row in history:
        means[row["product_id"]].append(
            ChartPoint(row["made"] or "", row["batch_id"], row["mean_value"], row["unit"])
        )
    return means


def earlier_points(
    means: dict[str, list[ChartPoint]], reg: dict[str, Any] | None, batch_id: str
) -> Earlier:
    """(batch_id, mean, unit) of the product's batches made before this one
    (by date made, then batch id); none for a batch with no register row."""
    if reg is None:
        return []
    made = reg.get("made") or reg.get("manufactured_on") or ""
    return [
        (p.batch_id, p.mean, p.unit)
        for p in means.get(reg["product_id"], [])
        if (p.made, p.batch_id) < (made, batch_id)
    ]


def evaluate(
    batch_ids: list[str],
    results: pl.DataFrame,
    register: pl.DataFrame,
    thresholds: list[Threshold],
    history: pl.DataFrame,
    version: str,
    *,
    screened: bool | None = None,
) -> pl.DataFrame:
    """Flags for `batch_ids` from their current `results` (with result_id),
    their `register` rows, the `thresholds` in force and the products'
    `history` (HISTORY_COLUMNS: each batch's mean mitragynine for the same
    products, with the date it was made). The screen runs from SCREEN_FROM
    results up (`screened` forces it on or off); without it every rule reads
    every batch: the same flags, the screen's reference."""
    import polars as pl

    from kqc.core.rules.screen import screen, to_read

    if screened is None:
        screened = results.height >= SCREEN_FROM
    if screened:
        needs = screen(batch_ids, results, register, thresholds, history)
        rows = to_read(results, needs, thresholds)
    else:
        every = set(batch_ids)
        needs = Needs({family: every for family in FAMILIES}, {})
        rows = results
    asked = set().union(*needs.batches.values())
    by_batch: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.iter_rows(named=True):
        by_batch[row["batch_id"]].append(row)
    registered = {
        row["batch_id"]: row
        for row in register.filter(pl.col("batch_id").is_in(list(asked))).iter_rows(named=True)
    }
    charted = {
        reg["product_id"] for b in needs.batches["drift"] if (reg := registered.get(b)) is not None
    }
    means = product_means(history.filter(pl.col("product_id").is_in(list(charted))))
    in_force = InForce(thresholds)
    findings: list[Finding] = []
    for batch_id in batch_ids:
        if batch_id not in asked:
            continue
        families = tuple(f for f in FAMILIES if batch_id in needs.batches[f])
        reg = registered.get(batch_id)
        batch = Batch(batch_id, by_batch.get(batch_id, []), reg, batch_profiles(reg))
        earlier = earlier_points(means, reg, batch_id) if "drift" in families else []
        chosen = in_force.for_batch(batch, needs.limit_analytes.get(batch_id) if screened else None)
        findings += batch_findings(batch, chosen, earlier, families)
    return to_frame(findings, version)


class InForce:
    """The thresholds that can apply to a batch (its profiles and form), kept
    per (form, profiles): `applicable` picks the same from them as from all,
    at a fraction of the cost."""

    def __init__(self, thresholds: list[Threshold]) -> None:
        self.thresholds = thresholds
        self.kept: dict[tuple[str, tuple[str, ...]], list[Threshold]] = {}

    def for_batch(self, batch: Batch, limit_analytes: set[str] | None) -> list[Threshold]:
        form = batch.form or DEFAULT_FORM
        key = (form, batch.profiles)
        if key not in self.kept:
            self.kept[key] = [
                t
                for t in self.thresholds
                if t.profile in batch.profiles and (not t.forms or form in t.forms)
            ]
        kept = self.kept[key]
        if limit_analytes is None:
            return kept
        # The limit rules judge each analyte on its own thresholds: those of
        # the analytes the screen let through are all they need.
        return [t for t in kept if t.rule not in LIMIT_RULES or t.analyte in limit_analytes]
