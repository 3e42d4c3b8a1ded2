"""One problem shape for every stage: readers, normalizer and schema alike.

`row` is the row a person sees in a spreadsheet program (header = row 1; in
XLSX the sheet's own row number); row 0 means the file as a whole. `column` is
the column as the lab named it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from kqc.core.terminal import shown

PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "column": pl.String(),
    "value": pl.String(),
    "problem": pl.String(),
}

WHOLE_FILE = 0


@dataclass(frozen=True, order=True)
class Problem:
    row: int
    column: str
    value: str
    problem: str


def problems_frame(problems: list[Problem]) -> pl.DataFrame:
    return pl.DataFrame(
        [(p.row, p.column, p.value, p.problem) for p in problems],
        schema=PROBLEM_SCHEMA,
        orient="row",
    )


def file_problem(problem: str, *, column: str = "", value: str = "") -> Problem:
    return Problem(WHOLE_FILE, column, value, problem)


def sheet_label(sheet: str, *, hidden: bool = False) -> str:
    """How a problem names a workbook's sheet: `sheet 'Heavy Metals'`, its
    name from the file shown escaped and cut to a length a tab can show."""
    return f"{'hidden sheet' if hidden else 'sheet'} '{shown(sheet)[:100]}'"


def on_sheet(problems: list[Problem], sheet: str | None, *, hidden: bool = False) -> list[Problem]:
    """The problems of a table on a workbook sheet, each ending with the
    sheet it is on: row 14 alone does not say which of the sheets to open.
    Unchanged when `sheet` is None (a file of one table)."""
    if sheet is None:
        return problems
    label = sheet_label(sheet, hidden=hidden)
    return [replace(p, problem=f"{p.problem} ({label})") for p in problems]
