"""XLSX workbooks: every sheet that holds a table, each with its own header,
metadata block and row numbers; numbers exactly as stored.

Which sheets are read (one rule, so no result is ever passed over unseen):
- a sheet holds a table when kqc finds its header (a row among the first 60
  naming two or more known columns or analytes, as in any file) with rows
  under it. It is read, hidden or not: a hidden sheet's results are the
  lab's results still;
- a sheet whose header kqc finds but cannot read (no analyte or result
  column, a column named twice), or whose rows show a table under no header
  kqc recognises (a cell naming a known analyte, or two rows in a row of
  three or more filled cells: `kqc.readers.grid.table_without_header`),
  makes the whole workbook refused, naming the sheet;
- a sheet of text alone (a letterhead, notes, a signature block, `Key:
  value` lines), an empty sheet, a chart sheet, or a header with no row
  under it holds no result, and is passed over. The `Key: value` lines of
  such a cover before the first table (`Lab: Acme`) stand for every table
  that does not state them itself.
A workbook of one sheet is read as any other file; in a workbook of several,
each table and each problem names its sheet (`(sheet 'Heavy Metals')`).
The tables are one source file: kqc.pipeline.prepare stores them together or
refuses them together.

fastexcel (Rust calamine) reads the sheet twice: once as text, once as
numbers. Its text form prints a number to nine significant digits, so where a
cell holds a number the stored double is printed in full instead: 1/3 stays
0.3333333333333333, not 0.333333333. A zip bomb is refused from the archive's
own directory before any XML is expanded.

A sheet that reaches too far (one stray cell at XFD1048576 makes the reader
allocate 512 GiB) is refused from its own XML before the reader opens it
(kqc.readers.workbook_extent), and the reader runs in a worker process with
a memory and a time limit (kqc.readers.isolated): a workbook that still
brings it down is refused, and the other files are read.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, replace
from typing import Any

import fastexcel
import polars as pl

from kqc.config.input_limits import MAX_XLSX_UNPACKED_BYTES, described, limit
from kqc.core import columns as cols
from kqc.core.problems import Problem, file_problem, on_sheet, sheet_label
from kqc.core.qualifiers import PLAIN_NUMBER
from kqc.core.records import RawTable, SheetTables
from kqc.core.separators import decimal_mark
from kqc.readers.grid import (
    HEAD_ROWS,
    build_table,
    find_header,
    metadata,
    no_rows_problem,
    table_without_header,
)
from kqc.readers.isolated import read_workbook
from kqc.readers.workbook_extent import SheetLimits, sheet_problem
from kqc.readers.xlsx_percent import percent_cells

MAX_RATIO = 200  # real workbooks compress about 5-20x
_CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature … name length, extra length


def _archive_problem(data: bytes, worksheets: dict[str, bytes] | None = None) -> Problem | None:
    """A problem when the archive is not a workbook or unpacks too large.
    Each member is unpacked once here to prove its size; given `worksheets`,
    the sheets' XML is kept there, so the check of a sheet's reach
    (kqc.readers.workbook_extent) need not unpack it again."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return file_problem(
            "the workbook is damaged or truncated (not a complete XLSX file): save it again"
            " from the spreadsheet program and drop the new file"
        )
    unpacked = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if unpacked > limit(MAX_XLSX_UNPACKED_BYTES):
        return file_problem(
            f"the workbook would unpack to {unpacked:,} bytes, over the limit of"
            f" {described(MAX_XLSX_UNPACKED_BYTES)}: refused as unsafe; export the results"
            " as CSV instead"
        )
    if unpacked / packed > MAX_RATIO:
        return file_problem(
            f"the workbook would unpack to {unpacked:,} bytes from {len(data):,}: refused as"
            " unsafe; export the results as CSV instead"
        )
    if not any(i.filename.startswith("xl/worksheets/") for i in infos):
        return file_problem("this zip file holds no worksheet: drop an XLSX workbook or a CSV")
    for info in infos:
        kept: list[bytes] | None = None
        if worksheets is not None and info.filename.startswith("xl/worksheets/"):
            kept = []
        if not _honest_size(data, info, kept):
            return file_problem(
                f"the workbook's part {info.filename[:100]} unpacks to more than the"
                f" {info.file_size:,} bytes its directory declares (or cannot be unpacked):"
                " refused as unsafe; save it again from the spreadsheet program"
            )
        if worksheets is not None and kept is not None:
            worksheets[info.filename] = b"".join(kept)
    return None


def _honest_size(data: bytes, info: zipfile.ZipInfo, kept: list[bytes] | None = None) -> bool:
    """Whether the member unpacks to no more than its declared size. The
    sizes above are the archive's own claims; the workbook reader trusts them
    no further than this, so a forged directory cannot hide a bomb. Streams
    in 1 MiB pieces and stops one byte past the claim; the pieces go to
    `kept` when given."""
    view = memoryview(data)
    start = info.header_offset
    signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(view, start)
    if signature != b"PK\x03\x04":
        return False
    begin = start + _LOCAL_HEADER.size + name_length + extra_length
    packed = view[begin : begin + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        if kept is not None:
            kept.append(bytes(packed))
        return len(packed) == info.file_size
    if info.compress_type != zipfile.ZIP_DEFLATED:
        return False
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    produced = 0
    pending: bytes | memoryview = packed
    try:
        while pending and produced <= info.file_size:
            piece = inflater.decompress(pending, _CHUNK)
            produced += len(piece)
            pending = inflater.unconsumed_tail
            if kept is not None:
                kept.append(piece)
        if produced <= info.file_size:
            piece = inflater.flush(_CHUNK)
            produced += len(piece)
            if kept is not None:
                kept.append(piece)
    except zlib.error:
        return False
    return produced <= info.file_size


def _exact_cells(text: pl.DataFrame, numbers: pl.DataFrame) -> pl.DataFrame:
    """Text cells, with every numeric cell printed from its stored double."""
    columns = []
    for name in text.columns:
        number = numbers[name]
        printed = (
            pl.when(number.is_finite() & (number == number.round(0)) & (number.abs() < 1e15))
            .then(number.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(number.cast(pl.String))
        )
        # A date cell also reads as a number (its serial): keep its text.
        numeric_cell = pl.col(name).str.contains(PLAIN_NUMBER).fill_null(False)
        columns.append(
            pl.when(numeric_cell & number.is_not_null())
            .then(printed)
            .otherwise(pl.col(name))
            .alias(name)
        )
    return text.select(columns)


def read(name: str, data: bytes) -> RawTable | SheetTables | list[Problem]:
    return read_workbook(name, data)


def read_here(
    name: str, data: bytes, limits: SheetLimits
) -> RawTable | SheetTables | list[Problem]:
    """The workbook read in this process: what `read` has a worker process
    do (kqc.readers.isolated), every sheet in the one call."""
    worksheets: dict[str, bytes] = {}
    problem = _archive_problem(data, worksheets)
    if problem:
        return [problem]
    try:
        book = fastexcel.read_excel(data)  # the sheet names and shared strings: no sheet yet
        names = book.sheet_names
        if len(names) == 1:
            only = _read_sheet(book, names[0], data, limits, worksheets, named=False).outcome
            return [only.reason] if isinstance(only, NoTable) else only
        return _every_sheet(
            [_read_sheet(book, n, data, limits, worksheets, named=True) for n in names]
        )
    except Exception as err:  # a damaged workbook must become a problem, never a crash
        return [
            file_problem(
                f"the workbook cannot be read ({type(err).__name__}: {str(err)[:200]}):"
                " save it again as XLSX"
            )
        ]


@dataclass(frozen=True)
class NoTable:
    """A sheet that holds no table: empty, text alone, or a header with no
    rows under it. `reason` is the problem the workbook is refused for when
    no sheet holds one; `metadata` its `Key: value` lines."""

    reason: Problem
    metadata: dict[str, str]
    empty: bool = False


@dataclass(frozen=True)
class SheetRead:
    """One sheet as read: its table, the problems that stop it being read
    (a table kqc cannot read, a sheet that reaches too far), or no table."""

    name: str
    hidden: bool
    outcome: RawTable | list[Problem] | NoTable


def _every_sheet(sheets: list[SheetRead]) -> SheetTables | list[Problem]:
    """The tables of every sheet that holds one; the workbook refused, for
    every sheet that holds one kqc cannot read, when any does."""
    unreadable = [p for s in sheets if isinstance(s.outcome, list) for p in s.outcome]
    if unreadable:
        return sorted(unreadable)
    tables = [(i, s.outcome) for i, s in enumerate(sheets) if isinstance(s.outcome, RawTable)]
    if not tables:
        return [_no_table(sheets)]
    # A cover before the tables (the certificate's letterhead: 'Lab: Acme',
    # 'Batch: KR-1') speaks for every table that does not say it itself.
    cover: dict[str, str] = {}
    for s in sheets[: tables[0][0]]:
        if isinstance(s.outcome, NoTable):
            cover.update(s.outcome.metadata)
    return SheetTables(tuple(_with_cover(table, cover) for _, table in tables))


def _with_cover(table: RawTable, cover: dict[str, str]) -> RawTable:
    """The table's metadata after the cover's, for the fields its own lines
    do not give (its own `Laboratory:` wins over the cover's `Lab:`)."""
    own = {_field(key) for key in table.metadata}
    inherited = {k: v for k, v in cover.items() if (f := _field(k)) is not None and f not in own}
    table.metadata = {**inherited, **table.metadata}
    return table


def _field(key: str) -> str | None:
    return cols.result_field(key) or cols.register_field(key)


def _no_table(sheets: list[SheetRead]) -> Problem:
    filled = [(s, s.outcome) for s in sheets if isinstance(s.outcome, NoTable)]
    filled = [(s, o) for s, o in filled if not o.empty]
    if not filled:
        return file_problem(
            f"every sheet of the workbook ({len(sheets)}) is empty: export the results again"
            " and drop the new file"
        )
    sheet, outcome = filled[0]
    label = sheet_label(sheet.name, hidden=sheet.hidden)
    return replace(
        outcome.reason,
        problem=f"{outcome.reason.problem} ({label}; no other sheet holds a table either)",
    )


def _read_sheet(
    book: Any,
    sheet: str,
    data: bytes,
    limits: SheetLimits,
    worksheets: dict[str, bytes],
    *,
    named: bool,
) -> SheetRead:
    """A sheet's table, or why it has none. A sheet is a table when kqc finds
    its header (`kqc.readers.grid.find_header`) with rows under it; with no
    header found, rows that still show a table (`table_without_header`) are
    refused, and text alone is no table. `named`: the workbook has other
    sheets, so the table and its problems name this one."""
    # The reader allocates the sheet's whole rectangle: its reach is checked first.
    if (too_far := sheet_problem(data, sheet, limits, worksheets)) is not None:
        return SheetRead(sheet, False, [too_far])  # it names the sheet
    # header_row=None with skip_rows=0 keeps leading empty rows: row i is sheet row i+1.
    loaded = book.load_sheet(sheet, header_row=None, skip_rows=0, dtypes="string")
    hidden = getattr(loaded, "visible", "visible") != "visible"
    text = loaded.to_polars()
    if text.height == 0 or text.width == 0:
        empty = file_problem(f"the {sheet_label(sheet)} is empty")
        return SheetRead(sheet, hidden, NoTable(empty, {}, empty=True))
    numbers = book.load_sheet(sheet, header_row=None, skip_rows=0, dtypes="float").to_polars()
    cells = _exact_cells(text, numbers)
    rows = [["" if v is None else v for v in row] for row in cells.iter_rows()]
    for r, c in percent_cells(data, sheet, worksheets):
        if r < len(rows) and c < numbers.width and (shown := numbers[r, c]) is not None:
            # 0.0152 shown as 1.52 %: read as the person reading the sheet reads it
            rows[r][c] = f"{shown * 100:.12g}%"
    row_numbers = list(range(1, len(rows) + 1))
    outcome = build_table(rows, row_numbers, mark=_text_mark(text, numbers))
    if not named:
        return SheetRead(sheet, hidden, outcome)
    label = sheet_label(sheet, hidden=hidden)
    if isinstance(outcome, RawTable):
        outcome.sheet, outcome.hidden_sheet = sheet, hidden
        return SheetRead(sheet, hidden, outcome)
    if outcome == [no_rows_problem()]:  # a header and nothing under it: no result to lose
        return SheetRead(sheet, hidden, NoTable(outcome[0], {}))
    if find_header(rows) is not None:  # a table kqc cannot read (a column named twice…)
        return SheetRead(sheet, hidden, on_sheet(outcome, sheet, hidden=hidden))
    at = table_without_header(rows)
    if at is None:
        return SheetRead(sheet, hidden, NoTable(outcome[0], metadata(rows)))
    return SheetRead(sheet, hidden, [_unheaded_table(label, rows[at], row_numbers[at])])


def _unheaded_table(label: str, cells: list[str], row: int) -> Problem:
    found = " | ".join(c.strip() for c in cells if c and c.strip())[:200]
    return Problem(
        row,
        "(header)",
        found,
        f"the {label} holds a table, but no header row kqc recognises: a results table"
        " needs a header row naming "
        + ", ".join(cols.RESULT_REQUIRED)
        + " (or one column per analyte, e.g. 'Lead (ppm)'); give the sheet such a row"
        " above its table, or, if it holds no results (a list, a calculation), delete the"
        " sheet and drop the file again. kqc reads every sheet of a workbook that holds"
        " a table",
    )


def _text_mark(text: pl.DataFrame, numbers: pl.DataFrame) -> str | None:
    """The decimal mark the text cells at the top of the sheet show ('<0.01',
    '0,52 %'): the lab typed them, where kqc printed the numeric cells."""
    top = text.head(HEAD_ROWS)
    typed = top.select(
        pl.when(numbers[name].head(HEAD_ROWS).is_null()).then(pl.col(name)) for name in top.columns
    )
    return decimal_mark(cell for row in typed.iter_rows() for cell in row)
