"""Which reading a table gets: its kind decided by its columns (results,
long or wide, or a batch register), and the lab's columns that no reading
uses, named in the outcome so none is left out unseen."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from kqc.core import columns as cols
from kqc.core import wide
from kqc.core.normalize.collector import Normalized
from kqc.core.normalize.register import normalize_register
from kqc.core.normalize.results import normalize_results, normalize_wide
from kqc.core.notes import without_repeated_header, without_section_headings
from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable


def normalize(table: RawTable) -> Normalized:
    table = without_repeated_header(table)
    headers = table.headers
    kind = cols.guess_kind(headers)
    if kind == "results":
        normalized = normalize_results(without_section_headings(table))
    elif wide.is_wide(headers):
        normalized = normalize_wide(table)
        return replace(normalized, unused_columns=unused_columns(table, "results", analytes=True))
    elif kind == "register":
        normalized = normalize_register(table)
    else:
        return Normalized(None, pl.DataFrame(), [_unrecognized(headers)])
    return replace(normalized, unused_columns=unused_columns(table, kind))


def unused_columns(table: RawTable, kind: cols.Kind, *, analytes: bool = False) -> tuple[str, ...]:
    """The columns of `table` that no field reads (nor, with `analytes`, as in
    a wide file, an analyte) and that hold a value: the file's outcome names
    them, so no column is left out unseen. A cell repeating its header holds
    nothing (a header repeated down a long export)."""
    cmap = cols.map_columns(table.headers, kind)
    unread = {*cmap.unmapped, *cmap.set_aside}
    per_unit = cmap.fields.get("label_claim_mg_per_unit")
    if per_unit and "label_claim_mg_per_serving" in cmap.fields:
        unread.add(per_unit)  # a register's claim per serving is read, not one per capsule
    if analytes:
        unread = {h for h in unread if wide.analyte_column(h) is None}
    return tuple(
        h for h in table.headers if h in unread and _holds_value(table.frame.get_column(h), h)
    )


def _holds_value(cells: pl.Series, header: str) -> bool:
    text = cells.cast(pl.String).str.strip_chars()
    return bool(((text != "") & (text != header.strip())).fill_null(False).any())


def _unrecognized(headers: list[str]) -> Problem:
    found = ", ".join(f"'{h}'" for h in headers) or "none"
    return file_problem(
        "no recognizable columns: a results file needs "
        + ", ".join(cols.RESULT_REQUIRED)
        + "; a batch register needs "
        + ", ".join(cols.REGISTER_REQUIRED)
        + f"; found {found}",
        column="(header)",
    )
