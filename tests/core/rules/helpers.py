"""Builders shared by the golden rule tests: a result row, a register row, a
batch, the shipped thresholds, and a filter over findings. Pure Python: no
database, no Prefect."""

from __future__ import annotations

import itertools
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from kqc.core.qualifiers import BELOW_LOQ
from kqc.core.rules import Batch, Finding, Threshold, batch_profiles, thresholds_from_frame
from kqc.schemas.thresholds import load_thresholds

_ids = itertools.count(1)


def result(**overrides: Any) -> dict[str, Any]:
    """One canonical result row; every key a rule may read is present."""
    row: dict[str, Any] = {
        "result_id": f"R{next(_ids)}",
        "batch_id": "B1",
        "sample_id": "S1",
        "analyte": "lead",
        "value": 0.0,
        "unit": "ug/g",
        "qualifier": None,
        "bound": None,
        "loq": None,
        "lod": None,
        "reported_result": None,
        "reported_unit": None,
        "sample_type": "production",
        "unit_no": None,
        "spike_level": None,
        "test_portion_g": None,
    }
    row.update(overrides)
    if row["reported_result"] is None:
        row["reported_result"] = row["qualifier"] if row["value"] is None else str(row["value"])
    if row["reported_unit"] is None:
        row["reported_unit"] = row["unit"]
    return row


def nd(analyte: str, loq: float | None, unit: str = "ug/g", **overrides: Any) -> dict[str, Any]:
    """A '<LOQ' non-detect with its LOQ."""
    return result(analyte=analyte, value=None, qualifier=BELOW_LOQ, loq=loq, unit=unit, **overrides)


def register(**overrides: Any) -> dict[str, Any]:
    """A batch-register row: a powder, 100 mg mitragynine in a 5 g serving, twice a day."""
    row: dict[str, Any] = {
        "batch_id": "B1",
        "product_id": "P1",
        "product_name": "Test powder",
        "form": "powder",
        "label_claim_mg_per_serving": 100.0,
        "serving_size_g": 5.0,
        "servings_per_day": 2.0,
        "units_per_serving": 1,
        "manufactured_on": "2026-01-01",
        "markets": None,
    }
    row.update(overrides)
    return row


def batch(results: list[dict[str, Any]], reg: dict[str, Any] | None = None) -> Batch:
    """A batch whose profiles come from its register's markets, as evaluate() builds it."""
    return Batch("B1", results, reg, batch_profiles(reg))


@lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[Threshold, ...], str]:
    # Always the shipped file (schemas/thresholds.csv), whatever $KQC_THRESHOLDS says.
    with resources.as_file(resources.files("kqc.schemas") / "thresholds.csv") as path:
        frame, version = load_thresholds(Path(path))
    return tuple(thresholds_from_frame(frame)), version


def thresholds() -> list[Threshold]:
    """The real thresholds (schemas/thresholds.csv)."""
    return list(_shipped()[0])


def threshold(**overrides: Any) -> Threshold:
    """A hand-made threshold (default: lead <= 1 ug/g)."""
    fields: dict[str, Any] = {
        "rule": "heavy_metal",
        "analyte": "lead",
        "limit_value": 1.0,
        "unit": "ug/g",
        "basis": "per_g",
        "fails_when": ">",
        "forms": (),
        "profile": "default",
        "severity": "critical",
        "source": "hand-made test threshold",
        "confirmed": True,
        "note": "",
    }
    fields.update(overrides)
    return Threshold(**fields)


def select(
    findings: list[Finding],
    rule: str | None = None,
    analyte: str | None = None,
    basis: str | None = None,
    profile: str | None = None,
) -> list[Finding]:
    """The findings matching every criterion given."""
    return [
        f
        for f in findings
        if (rule is None or f.rule == rule)
        and (analyte is None or f.analyte == analyte)
        and (basis is None or f.basis == basis)
        and (profile is None or f.profile == profile)
    ]


def only(findings: list[Finding], **criteria: Any) -> Finding:
    """The one finding matching `criteria` (fails the test unless exactly one)."""
    found = select(findings, **criteria)
    assert len(found) == 1, f"expected one finding for {criteria}, got {found}"
    return found[0]
