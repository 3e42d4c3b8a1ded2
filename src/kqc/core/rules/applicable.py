"""Which thresholds apply to a batch: the default profile always, each market
the register names on top, and only limits written for the batch's form."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kqc.core.rules.model import Batch, Threshold

if TYPE_CHECKING:
    import polars as pl

# A batch with no register has no known form: judge it as the most common
# kratom product, a dried powder (USP <2023>'s dried or powdered botanicals
# row, which limits TAMC, TYMC and BTGN alike).
DEFAULT_FORM = "powder"


def thresholds_from_frame(frame: pl.DataFrame) -> list[Threshold]:
    return thresholds_from_rows(frame.iter_rows(named=True))


def thresholds_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Threshold]:
    """Thresholds rows (the thresholds table's columns) as Threshold values."""
    out = []
    for row in rows:
        forms = tuple(f.strip().lower() for f in (row["forms"] or "").split(";") if f.strip())
        out.append(
            Threshold(
                rule=row["rule"],
                analyte=row["analyte"],
                limit_value=row["limit_value"],
                unit=row["unit"] or "",
                basis=row["basis"],
                fails_when=row["fails_when"],
                forms=forms,
                profile=row["profile"],
                severity=row["severity"],
                source=row["source"],
                confirmed=bool(row["confirmed"]),
                note=row["note"] or "",
            )
        )
    return out


def batch_profiles(register: dict | None) -> tuple[str, ...]:
    markets = (register or {}).get("markets") or ""
    extra = [m.strip().upper() for m in markets.replace(",", ";").split(";") if m.strip()]
    return ("default", *dict.fromkeys(extra))


def applicable(thresholds: Iterable[Threshold], batch: Batch, rule: str) -> list[Threshold]:
    """The batch's thresholds for `rule`. The same limit in several profiles
    (Utah's and Rhode Island's metal limits are one text) is judged once,
    under the profiles joined ('default;UT')."""
    form = batch.form or DEFAULT_FORM
    chosen: dict[tuple, Threshold] = {}
    for t in thresholds:
        if t.rule != rule or t.profile not in batch.profiles:
            continue
        if t.forms and form not in t.forms:
            continue
        same = (t.rule, t.analyte, t.basis, t.limit_value, t.unit, t.fails_when)
        if same in chosen:
            first = chosen[same]
            chosen[same] = Threshold(
                **{**first.__dict__, "profile": f"{first.profile};{t.profile}"}
            )
        else:
            chosen[same] = t
    return list(chosen.values())
