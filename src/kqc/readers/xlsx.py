"""XLSX workbooks: the sheet named `results`, else the first; the sheet's own
row numbers kept for error reports; numbers exactly as stored.

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
from typing import Any

import fastexcel
import polars as pl

from kqc.core import columns as cols
from kqc.core import wide
from kqc.core.problems import Problem, file_problem
from kqc.core.qualifiers import PLAIN_NUMBER
from kqc.core.records import RawTable
from kqc.core.separators import decimal_mark
from kqc.limits_input import MAX_XLSX_UNPACKED_BYTES, described, limit
from kqc.readers.grid import HEAD_ROWS, build_table
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


def read(name: str, data: bytes) -> RawTable | list[Problem]:
    return read_workbook(name, data)


def read_here(name: str, data: bytes, limits: SheetLimits) -> RawTable | list[Problem]:
    """The workbook read in this process: what `read` has a worker process
    do (kqc.readers.isolated)."""
    worksheets: dict[str, bytes] = {}
    problem = _archive_problem(data, worksheets)
    if problem:
        return [problem]
    try:
        book = fastexcel.read_excel(data)  # the sheet names and shared strings: no sheet yet
        names = book.sheet_names
        chosen = next((n for n in names if n.strip().casefold() == "results"), names[0])
        first = _sheet_table(book, chosen, data, limits, worksheets)
        if chosen != names[0] or _recognized(first):
            return _on_sheet(first, chosen, names)
        # A cover sheet first ('Summary', the lab's letterhead) and the table
        # on another: the first other sheet whose columns kqc knows.
        for other in names[1:]:
            table = _sheet_table(book, other, data, limits, worksheets)
            if _recognized(table):
                return _on_sheet(table, other, names)
        return first
    except Exception as err:  # a damaged workbook must become a problem, never a crash
        return [
            file_problem(
                f"the workbook cannot be read ({type(err).__name__}: {str(err)[:200]}):"
                " save it again as XLSX"
            )
        ]


def _on_sheet(
    table: RawTable | list[Problem], sheet: str, names: list[str]
) -> RawTable | list[Problem]:
    """The table, marked with its sheet when that is not the first."""
    if isinstance(table, RawTable) and sheet != names[0]:
        table.sheet = sheet
    return table


def _recognized(table: RawTable | list[Problem]) -> bool:
    return isinstance(table, RawTable) and (
        cols.guess_kind(table.headers) is not None or wide.is_wide(table.headers)
    )


def _sheet_table(
    book: Any, chosen: str, data: bytes, limits: SheetLimits, worksheets: dict[str, bytes]
) -> RawTable | list[Problem]:
    # The reader allocates the sheet's whole rectangle: its reach is checked first.
    if (too_far := sheet_problem(data, chosen, limits, worksheets)) is not None:
        return [too_far]
    # header_row=None with skip_rows=0 keeps leading empty rows: row i is sheet row i+1.
    text = book.load_sheet(chosen, header_row=None, skip_rows=0, dtypes="string").to_polars()
    numbers = book.load_sheet(chosen, header_row=None, skip_rows=0, dtypes="float").to_polars()
    if text.height == 0 or text.width == 0:
        return [file_problem(f"the sheet '{chosen}' is empty")]
    cells = _exact_cells(text, numbers)
    rows = [["" if v is None else v for v in row] for row in cells.iter_rows()]
    for r, c in percent_cells(data, chosen, worksheets):
        if r < len(rows) and c < numbers.width and (shown := numbers[r, c]) is not None:
            # 0.0152 shown as 1.52 %: read as the person reading the sheet reads it
            rows[r][c] = f"{shown * 100:.12g}%"
    return build_table(rows, list(range(1, len(rows) + 1)), mark=_text_mark(text, numbers))


def _text_mark(text: pl.DataFrame, numbers: pl.DataFrame) -> str | None:
    """The decimal mark the text cells at the top of the sheet show ('<0.01',
    '0,52 %'): the lab typed them, where kqc printed the numeric cells."""
    top = text.head(HEAD_ROWS)
    typed = top.select(
        pl.when(numbers[name].head(HEAD_ROWS).is_null()).then(pl.col(name)) for name in top.columns
    )
    return decimal_mark(cell for row in typed.iter_rows() for cell in row)
