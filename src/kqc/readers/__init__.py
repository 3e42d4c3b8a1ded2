"""Readers: bytes in, a RawTable (every cell as text, with source_row) or
problems out; a workbook of several sheets gives SheetTables, one RawTable a
sheet that holds a table. A reader never raises for bad input; the format is
told by the content, with the file name only as a hint.

A new format is one module with a `read(name, data)` function and one line in
`read_bytes`.
"""

from __future__ import annotations

import polars as pl

from kqc.config.input_limits import (
    MAX_CELL_CHARS,
    MAX_FILE_BYTES,
    Limit,
    UnreadBytes,
    described,
    limit,
)
from kqc.core.notes import without_trailing_notes
from kqc.core.problems import Problem, file_problem, on_sheet
from kqc.core.records import RawTable, SheetTables
from kqc.readers import delimited, json_records, xlsx

ReadOutcome = RawTable | SheetTables | list[Problem]

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and .doc)
_PDF_MAGIC = b"%PDF-"
_RTF_MAGIC = b"{\\rtf"


def read_bytes(name: str, data: bytes) -> ReadOutcome:
    try:
        outcome = _dispatch(name, data)
        if isinstance(outcome, SheetTables):
            return _sheets_long_cells(outcome)
        if not isinstance(outcome, RawTable) or _cells_within_limit(name, data):
            return outcome
        return long_cells(outcome)
    except Exception as err:  # a reader bug must reject the file, never stop the run
        return [file_problem(f"the file could not be read ({type(err).__name__}: {err})")]


def _dispatch(name: str, data: bytes) -> ReadOutcome:
    size = data.size if isinstance(data, UnreadBytes) else len(data)
    # UnreadBytes was left unread for its size: refused even if the limit moved since.
    if isinstance(data, UnreadBytes) or size > limit(MAX_FILE_BYTES):
        return [too_large(size, MAX_FILE_BYTES)]
    if not data or data.isspace():  # as `not data.strip()`, without copying the file
        return [file_problem("the file is empty: export the results again and drop the new file")]
    lowered = name.lower()
    if data.startswith(_PDF_MAGIC) or lowered.endswith(".pdf"):
        return [
            file_problem(
                "a PDF certificate is not read: export the results from the lab's system"
                " (LIMS) as CSV or XLSX, or ask the lab for them, and drop that file"
            )
        ]
    if data.startswith(_RTF_MAGIC) or lowered.endswith((".rtf", ".doc", ".docx")):
        return [
            file_problem(
                "a word-processor document is not read: copy its table into a spreadsheet"
                " and save it as CSV or XLSX, and drop that file"
            )
        ]
    if _is_workbook(name, data):
        return _sheet(xlsx.read(name, data))
    if data.startswith(_OLE_MAGIC) or lowered.endswith(".xls"):
        return [
            file_problem(
                "old Excel (.xls) workbooks are not read: save the sheet as .xlsx or CSV UTF-8"
            )
        ]
    if lowered.endswith((".json", ".jsonl", ".ndjson")) or _looks_like_json(data):
        return json_records.read(name, data)
    return _sheet(delimited.read(name, data))


def _sheet(outcome: ReadOutcome) -> ReadOutcome:
    """A spreadsheet or text export without the notes under its table
    ("Approved by: …"), or under each sheet's; JSON records have no such lines."""
    if isinstance(outcome, SheetTables):
        return SheetTables(tuple(without_trailing_notes(t) for t in outcome.tables))
    return without_trailing_notes(outcome) if isinstance(outcome, RawTable) else outcome


def _sheets_long_cells(book: SheetTables) -> ReadOutcome:
    """`long_cells` of every sheet's table, each problem naming its sheet."""
    problems = [
        problem
        for table in book.tables
        if isinstance(checked := long_cells(table), list)
        for problem in on_sheet(checked, table.sheet, hidden=table.hidden_sheet)
    ]
    return sorted(problems) if problems else book


def too_large(size: int, setting: Limit) -> Problem:
    return file_problem(
        f"the file is {size:,} bytes, over the limit of {described(setting)}:"
        " a results file is far smaller, so check that this is the right file, or"
        " split it"
    )


def is_delimited(name: str, head: bytes) -> bool:
    """Whether `read_bytes` would read a file of this name, starting with
    `head` (its first bytes), as delimited text."""
    lowered = name.lower()
    return not (
        head.startswith((_ZIP_MAGIC, _OLE_MAGIC, _PDF_MAGIC, _RTF_MAGIC))
        or lowered.endswith(
            (
                ".xlsx",
                ".xlsm",
                ".xls",
                ".json",
                ".jsonl",
                ".ndjson",
                ".pdf",
                ".rtf",
                ".doc",
                ".docx",
            )
        )
        or _looks_like_json(head)
    )


def _is_workbook(name: str, data: bytes) -> bool:
    """Read as an XLSX workbook: by its zip signature, or by its name (a zip
    with bytes before its signature still opens)."""
    return data.startswith(_ZIP_MAGIC) or name.lower().endswith((".xlsx", ".xlsm"))


def _cells_within_limit(name: str, data: bytes) -> bool:
    """Whether no cell of this file can be over the limit, unread: a text
    file's cells (CSV, JSON, in any encoding) hold no more characters than
    the file has bytes. A workbook's can (its cells are unpacked), whichever
    way `_dispatch` told it was one."""
    return not _is_workbook(name, data) and len(data) <= limit(MAX_CELL_CHARS)


def long_cells(table: RawTable) -> RawTable | list[Problem]:
    """A cell longer than any lab writes is a broken export (or a hostile
    one): refused, so it is never stored or shown."""
    most = limit(MAX_CELL_CHARS)
    texts = [c for c, t in table.frame.schema.items() if t == pl.String]
    # A cell holds no more characters than bytes: most tables end here.
    widest = table.frame.select(pl.max_horizontal(pl.col(texts).str.len_bytes().max())).item()
    if (widest or 0) <= most:
        return table
    lengths = table.frame.select(pl.col(texts).str.len_chars().fill_null(0), "source_row")
    problems = [
        Problem(
            row["source_row"],
            column,
            "",
            f"the cell holds {row[column]:,} characters, over the limit of"
            f" {described(MAX_CELL_CHARS)}: check the file's quoting",
        )
        for column in texts
        for row in lengths.filter(pl.col(column) > most).head(20).iter_rows(named=True)
    ]
    return problems or table


def _looks_like_json(data: bytes) -> bool:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head in (b"[", b"{")
