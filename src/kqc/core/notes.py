"""Notes a lab writes under its table of results.

A certificate of analysis exported to CSV or XLSX often ends with lines that
are not results: "Approved by: J. Smith, Lab Director", "End of report", a
legend of abbreviations. Read as rows, each would be refused for its empty
sample, analyte and result, and the whole file with it, with advice (fill in
the analyte) that does not fit a signature line.

Such a line names no analyte and holds no result, so it can never be a
result. The rows at the end of a long results table that hold neither are
left out; a row with an analyte but no result, or a result but no analyte,
is a result with a mistake and stays, to be named in the errors file. Rows
before the last result are never touched, and a table of nothing but such
rows is left whole for its problems to be named. The file itself is kept
byte for byte in the archive, notes included.

A certificate also groups its results under headings: a row holding only
"Potency", "Heavy Metals" or "Microbiology" above the rows of that panel.
Such a row names no analyte kqc knows, nor one close to a known name, and
holds nothing else; it is left out wherever it stands
(`without_section_headings`). A row holding only a misspelled analyte
('Leed') stays, to be named.

A LIMS that breaks its export into pages, or a technician who pastes one
export under another, repeats the header row among the results. Such a row
holds the column names again and no result; it is left out wherever it
stands (`without_repeated_header`), where it would be refused as a result
whose analyte is 'Analyte'.
"""

from __future__ import annotations

import polars as pl

from kqc.core import columns as cols
from kqc.core.names import closest, name_key
from kqc.core.records import RawTable
from kqc.core.vocab import ANALYTE_SPELLINGS, analyte_code


def without_trailing_notes(table: RawTable) -> RawTable:
    """`table` without the rows after its last row that names an analyte or
    holds a result (`notes_start`); whole when every row lacks both."""
    start = notes_start(table)
    return table.with_frame(table.frame.head(start)) if 0 < start < table.frame.height else table


def notes_start(table: RawTable) -> int:
    """Where the rows that can only be notes begin: the index of the first
    row after the last one naming an analyte or holding a result (0 when no
    row does), or the table's height when it ends with a result. Only a long
    results table (an analyte and a result column) has them: a wide table's
    row with no analyte cell filled holds no result already."""
    frame = table.frame
    fields = cols.map_columns(table.headers, "results").fields
    if "analyte" not in fields or "result" not in fields:
        return frame.height
    filled = pl.any_horizontal(
        pl.col(fields[f]).cast(pl.String).str.strip_chars().fill_null("") != ""
        for f in ("analyte", "result")
    )
    # Most tables end with a result: one row tells, not millions.
    if frame.tail(1).select(filled).to_series().all():
        return frame.height
    last = frame.select(filled.arg_true().max()).item()
    return 0 if last is None else last + 1


def without_repeated_header(table: RawTable) -> RawTable:
    """`table` without the rows that repeat its header: each cell the column's
    name (spaces around it aside) or empty, and at least two of them names."""
    headers = table.headers
    if len(headers) < 2 or table.frame.height == 0:
        return table
    first = pl.col(headers[0])
    # A cheap look at one column first, by a test that copies no text: most
    # tables hold no repeat, and a lab named 'Acme Labs' under 'Lab' is none.
    maybe = first.str.contains(headers[0], literal=True) & (
        first.str.len_bytes() <= len(headers[0].encode()) + 8
    )
    candidates = table.frame.with_row_index("_row").filter(maybe)
    if candidates.height == 0:
        return table
    cells = [pl.col(h).str.strip_chars() for h in headers]
    named = pl.sum_horizontal(
        [(c == h).fill_null(False) for c, h in zip(cells, headers, strict=True)]
    )
    empty_or_named = pl.all_horizontal(
        [(c == h) | c.is_null() | (c == "") for c, h in zip(cells, headers, strict=True)]
    )
    repeats = candidates.filter((named >= 2) & empty_or_named.fill_null(False))["_row"]
    if repeats.len() == 0:
        return table
    kept = table.frame.with_row_index("_row").filter(~pl.col("_row").is_in(repeats.implode()))
    return table.with_frame(kept.drop("_row"))


# Panel names close enough to an analyte's name to be taken for a misspelling
# of it ('Alkaloids' and total_alkaloids), yet the heading of a panel.
_PANEL_HEADINGS = {name_key(n) for n in ("Alkaloids", "Alkaloid", "Kratom alkaloids")}


def without_section_headings(table: RawTable) -> RawTable:
    """A long results table without its section headings: rows with no
    result whose one filled cell names no analyte, nor one close to a known
    name (or names a panel, `_PANEL_HEADINGS`)."""
    fields = cols.map_columns(table.headers, "results").fields
    if "analyte" not in fields or "result" not in fields:
        return table
    frame = table.frame.with_row_index("_row")
    text = [pl.col(h).cast(pl.String).str.strip_chars() for h in table.headers]
    result = pl.col(fields["result"]).cast(pl.String)
    # Rows with no result first, by a test that copies no text: a handful of
    # rows, not millions.
    no_result = result.is_null() | (result.str.len_bytes() == 0)
    lone = (
        frame.filter(no_result)
        .filter(pl.sum_horizontal((t.fill_null("") != "") for t in text) == 1)
        .select("_row", pl.coalesce(t.replace("", None) for t in text).alias("_text"))
    )
    headings = [row for row, name in lone.iter_rows() if _is_heading(name)]
    if not headings:
        return table
    return table.with_frame(frame.filter(~pl.col("_row").is_in(headings)).drop("_row"))


def _is_heading(name: str) -> bool:
    if name_key(name) in _PANEL_HEADINGS:
        return True
    return analyte_code(name) is None and closest(name, ANALYTE_SPELLINGS) is None
