"""The worst result against each limit: a batch's statistics (statistics.py)
cut down to what a terminal shows, chosen as a Polars sort would choose it.
The json and the exports keep every row."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

_VERDICT_RANK = {"fail": 0, "inconclusive": 1, "pass": 2}
# The columns that name a limit a row is judged against.
_LIMIT_KEYS = ("rule", "analyte", "statistic", "unit", "limit_value", "profile")


def worst_rows_per_limit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per rule, analyte, figure and limit: the worst result of the
    batch against it (a failure first, then an inconclusive one, then the
    highest share of the limit, then the highest value; among equals the
    first), its note saying how many results stand behind it. Batch-level
    figures (no sample) are kept as they are, and every row keeps its place.
    A terminal shows this; the json and the exports keep every row."""
    per_limit: dict[tuple[Any, ...], list[int]] = {}
    for at, row in enumerate(rows):
        if row["sample_id"] is not None:
            per_limit.setdefault(tuple(row[k] for k in _LIMIT_KEYS), []).append(at)
    shown = {at: row for at, row in enumerate(rows) if row["sample_id"] is None}
    for behind in per_limit.values():
        worst = min(behind, key=lambda at: _badness(rows[at]))  # the first of equals
        row = rows[worst]
        if len(behind) > 1 and row["note"] is not None:
            row = {**row, "note": f"worst of {len(behind)} results; {row['note']}"}
        shown[worst] = row
    return [shown[at] for at in sorted(shown)]


def _badness(row: dict[str, Any]) -> tuple[Any, ...]:
    """The smaller, the worse: verdict, then share of the limit and value,
    each highest first with a missing one last (NaN, as Polars sorts it,
    above any number)."""
    return (
        _VERDICT_RANK.get(row["verdict"], 3),
        *_highest_first(row["ratio_to_limit"]),
        *_highest_first(row["value"]),
    )


def _highest_first(value: float | None) -> tuple[int, float]:
    if value is None:
        return (2, 0.0)
    if math.isnan(value):
        return (0, 0.0)
    return (1, -value)


def worst_per_limit(frame: pl.DataFrame) -> pl.DataFrame:
    """worst_rows_per_limit of a statistics frame, as a frame of its schema."""
    if frame.is_empty():
        return frame
    import polars as pl

    return pl.DataFrame(worst_rows_per_limit(frame.to_dicts()), schema=frame.schema)
