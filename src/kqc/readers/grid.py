"""From a grid of cells (CSV lines, sheet rows) to a RawTable.

Every text format ends here, so the header rule and the metadata rule are one
rule: the header is the first row whose cells name known fields (or analytes,
for a wide file); `Key: value` lines above it, in one cell or two, are
metadata applied to every row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import polars as pl

from kqc.core import columns as cols
from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable
from kqc.core.separators import comma_reading, decimal_mark
from kqc.core.vocab import analyte_code

HEAD_ROWS = 60
_META = re.compile(r"^\s*([^:=]{1,60}?)\s*[:=]\s*(.*?)\s*$")


def header_score(cells: Sequence[str]) -> int:
    """How many cells name a contract field or an analyte."""
    score = 0
    for cell in cells:
        text = cell.strip()
        if not text or len(text) > 80:
            continue
        if cols.result_field(text) or cols.register_field(text) or analyte_code(text):
            score += 1
    return score


def find_header(rows: Sequence[Sequence[str]]) -> int | None:
    """Index of the header among the first rows: the first with two or more
    recognized cells and at least as many as any row after it nearby."""
    best: tuple[int, int] | None = None
    for i, cells in enumerate(rows[:HEAD_ROWS]):
        score = header_score(cells)
        if score >= 2 and (best is None or score > best[0]):
            best = (score, i)
            if score >= 4:
                break
    return best[1] if best else None


def metadata(rows: Iterable[Sequence[str]]) -> dict[str, str]:
    """'Lab: Acme' in one cell, or 'Lab:' | 'Acme' (or 'Lab' | 'Acme') in two."""
    meta: dict[str, str] = {}
    for cells in rows:
        filled = [c.strip() for c in cells if c and c.strip()]
        if not filled:
            continue
        m = _META.match(filled[0])
        if m and m.group(2):
            meta[m.group(1)] = m.group(2)
        elif m and len(filled) >= 2:
            meta[m.group(1)] = filled[1]
        elif len(filled) == 2 and (cols.result_field(filled[0]) or cols.register_field(filled[0])):
            meta[filled[0]] = filled[1]
    return meta


# A row of this many filled cells, with another under it, is laid out as a
# table: a letterhead, a signature block and `Key: value` lines fill one or two.
GRID_CELLS = 3


def table_without_header(rows: Sequence[Sequence[str]]) -> int | None:
    """Where rows in which no header was found (`find_header`) still show a
    table: the index of the first row that names a known analyte (in a cell
    of its own, or as the key of a `Lead: 0.25 ppm` line), or that starts a
    grid (it and the row under it each fill GRID_CELLS cells or more). None
    when they are text alone: a letterhead, notes, a signature block,
    `Key: value` lines. A workbook's sheet that shows a table it cannot read
    is refused, never passed over (kqc.readers.xlsx)."""
    filled = [[c.strip() for c in cells if c and c.strip()] for cells in rows]
    for i, cells in enumerate(filled):
        if any(_names_analyte(cell) for cell in cells):
            return i
        below = filled[i + 1] if i + 1 < len(filled) else []
        if len(cells) >= GRID_CELLS and len(below) >= GRID_CELLS:
            return i
    return None


def _names_analyte(cell: str) -> bool:
    if len(cell) > 80:
        return False
    key = _META.match(cell)
    return analyte_code(cell) is not None or (key is not None and bool(analyte_code(key.group(1))))


def no_header_problem(first_row: Sequence[str]) -> Problem:
    found = ", ".join(f"'{c.strip()}'" for c in first_row if c and c.strip())[:300] or "nothing"
    return file_problem(
        f"no header row with recognizable columns in the first {HEAD_ROWS} rows: a results"
        " file needs "
        + ", ".join(cols.RESULT_REQUIRED)
        + " (or one column per analyte, e.g. 'Lead (ppm)'); a batch register needs "
        + ", ".join(cols.REGISTER_REQUIRED)
        + f"; the first row holds {found}",
        column="(header)",
    )


def build_table(
    rows: Sequence[Sequence[str]],
    row_numbers: Sequence[int],
    *,
    delimiter: str | None = None,
    mark: str | None = None,
) -> RawTable | list[Problem]:
    """`rows` are the cells of every row, `row_numbers` what a person sees.
    `delimiter` is a delimited file's: its numbers are the lab's own text, and
    those at its top show its decimal mark (`kqc.core.separators`). A
    workbook's numeric cells are printed by kqc and show nothing, so its
    reader gives the `mark` its text cells show."""
    index = find_header(rows)
    if index is None:
        first = next((r for r in rows if any(c and c.strip() for c in r)), [])
        return [no_header_problem(first)]
    header_row = row_numbers[index]
    raw_header = [(c or "").strip() for c in rows[index]]
    # Trailing unnamed columns are usually empty formatting, not data.
    while raw_header and not raw_header[-1]:
        raw_header.pop()
    problems = _header_problems(raw_header, header_row)
    header = [h or f"column {i + 1}" for i, h in enumerate(raw_header)]
    body = body_frame(rows[index + 1 :], row_numbers[index + 1 :], header)
    problems += body if isinstance(body, list) else []
    if problems:
        return problems
    if isinstance(body, list) or body.height == 0:
        return [no_rows_problem()]
    if delimiter is not None:
        mark = decimal_mark(cell for row in rows[index + 1 : HEAD_ROWS] for cell in row)
    return RawTable(
        body,
        metadata(rows[:index]),
        **comma_reading(delimiter or "", mark),
        header_row=header_row,
    )


def no_rows_problem() -> Problem:
    return file_problem("the file has a header but no data rows", column="(header)")


def body_frame(
    rows: Sequence[Sequence[str]], row_numbers: Sequence[int], header: Sequence[str]
) -> pl.DataFrame | list[Problem]:
    """The rows under the header as a frame of text (blank rows skipped, short
    rows padded), or the rows that hold more cells than the header names."""
    width = len(header)
    problems: list[Problem] = []
    records: list[list[str]] = []
    numbers: list[int] = []
    for cells, number in zip(rows, row_numbers, strict=True):
        cells = [c or "" for c in cells]
        if not any(c.strip() for c in cells):
            continue
        extra = [c for c in cells[width:] if c.strip()]
        if extra:
            problems.append(
                Problem(
                    number,
                    "(row)",
                    " | ".join(c for c in cells if c.strip())[:200],
                    f"row has {len(cells)} cells but the header has {width}: check for an"
                    " unquoted delimiter inside a value",
                )
            )
            continue
        records.append((cells + [""] * width)[:width])
        numbers.append(number)
    if problems:
        return problems
    frame = pl.DataFrame(records, schema={h: pl.String() for h in header}, orient="row")
    return frame.with_columns(pl.Series("source_row", numbers, dtype=pl.Int64))


def _header_problems(header: list[str], row: int) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for h in header:
        if h and h in seen:
            problems.append(Problem(row, h, h, f"column '{h}' appears twice: rename or remove one"))
        seen.add(h)
    if "source_row" in seen:
        problems.append(
            Problem(row, "source_row", "source_row", "'source_row' is reserved: rename it")
        )
    return problems
