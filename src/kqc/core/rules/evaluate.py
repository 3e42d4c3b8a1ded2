"""Run every rule over a set of batches."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

from kqc.core.rules import dose, drift, limits, panel, qc
from kqc.core.rules.applicable import batch_profiles
from kqc.core.rules.model import Batch, Finding, Threshold, to_frame

# The history frame: one control-chart point per batch of the products
# evaluated (drift.batch_means, with the product and the date it was made).
HISTORY_COLUMNS = ("product_id", "batch_id", "made", "unit", "mean_value")


def batch_findings(
    batch: Batch, thresholds: list[Threshold], earlier: list[tuple[str, float, str]]
) -> list[Finding]:
    findings = limits.evaluate(batch, thresholds)
    findings += dose.label_claim(batch, thresholds)
    findings += dose.content_uniformity(batch, thresholds)
    findings += dose.seven_oh(batch, thresholds)
    findings += drift.potency_drift(batch, thresholds, earlier)
    findings += qc.qc_failure(batch, thresholds)
    findings += panel.missing_panel(batch)
    return findings


def product_means(history: pl.DataFrame) -> dict[str, list[tuple[str, str, float, str]]]:
    """product -> [(made, batch_id, mean, unit)] for every batch with a mean."""
    means: dict[str, list[tuple[str, str, float, str]]] = defaultdict(list)
    for row in history.select(HISTORY_COLUMNS).iter_rows(named=True):
        means[row["product_id"]].append(
            (row["made"] or "", row["batch_id"], row["mean_value"], row["unit"])
        )
    return means


def evaluate(
    batch_ids: list[str],
    results: pl.DataFrame,
    register: pl.DataFrame,
    thresholds: list[Threshold],
    history: pl.DataFrame,
    version: str,
) -> pl.DataFrame:
    """Flags for `batch_ids` from their current `results` (with result_id),
    their `register` rows, the `thresholds` in force and the products'
    `history` (HISTORY_COLUMNS: each batch's mean mitragynine for the same
    products, with the date it was made)."""
    by_batch: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in results.iter_rows(named=True):
        by_batch[row["batch_id"]].append(row)
    registered = {row["batch_id"]: row for row in register.iter_rows(named=True)}
    means = product_means(history)
    findings: list[Finding] = []
    for batch_id in batch_ids:
        reg = registered.get(batch_id)
        batch = Batch(batch_id, by_batch.get(batch_id, []), reg, batch_profiles(reg))
        earlier: list[tuple[str, float, str]] = []
        if reg is not None:
            made = reg.get("made") or reg.get("manufactured_on") or ""
            earlier = [
                (b, m, u)
                for when, b, m, u in means.get(reg["product_id"], [])
                if (when, b) < (made, batch_id)
            ]
        findings += batch_findings(batch, thresholds, earlier)
    return to_frame(findings, version)
