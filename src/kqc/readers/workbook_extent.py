"""How far a worksheet reaches, read from its XML before the workbook reader
sees it.

The native reader (calamine, under fastexcel) allocates one slot for every
cell of the rectangle from A1 to the sheet's farthest cell, filled or not: a
1.6 KB workbook holding one cell at XFD1048576 asks for 512 GiB and aborts
the process. So the farthest cell is found here first, and a sheet whose
rectangle is larger than any lab report is refused with a sentence.

The sheet's own `<dimension ref="…">` is only a hint: it may lie (smaller
than the cells) or be absent, and the reader does not trust it either (a huge
dimension over a small table costs nothing). What counts is every cell's
reference (`<c r="XFD1048576">`), and for a cell written without one, its
place after the cell before it, as the reader places it.

Most sheets are checked in one pass of a compiled regex (in Polars, which
runs it in Rust): "is any cell beyond the hint, or written in a form the pass
does not read?" Only when the answer is yes is every cell walked in Python.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from kqc.config.input_limits import limit, register
from kqc.core.problems import Problem, file_problem
from kqc.readers.xlsx_percent import sheet_path

# Rows × columns of the rectangle from A1 to a sheet's farthest cell. The
# reader holds some 32 bytes per cell of it before a single value is read,
# and kqc then holds every cell again as text: a sheet of the full 1,048,576
# rows and 19 columns (19.9 million cells) was measured at 1.3 GB and 25 s.
# A lab report is far smaller: the benchmark's wide workbook of 50,000
# results is 50,001 rows × 19 columns, under a million cells.
MAX_SHEET_CELLS = register(("KQC_MAX_SHEET_CELLS", 20_000_000))
# Excel's own grid: no spreadsheet program writes a cell past it.
MAX_SHEET_ROWS = register(("KQC_MAX_SHEET_ROWS", 1_048_576))
MAX_SHEET_COLUMNS = register(("KQC_MAX_SHEET_COLUMNS", 16_384))

_DIMENSION = re.compile(rb'<(?:[\w.-]+:)?dimension\b[^>]*?\bref="([^"]*)"')
_REFERENCE = re.compile(r"^\$?([A-Za-z]{1,10})\$?(\d{1,15})$")
_TAG = re.compile(rb"<(?:[\w.-]+:)?(row|c)(?=[\s/>])([^>]*)>")
_R = re.compile(rb"""(?:^|\s)r\s*=\s*["']([^"']*)["']""")
# A cell tag whose first attribute is not r (or that has none, or a
# namespace prefix): the one-pass check does not read those, so it stands
# aside for the full walk. Rows need no look: a cell with its reference is
# placed by it, whatever row tag holds it.
_UNREAD_FORM = (
    r"<c(?:>|/>|\s[^r])|<c\sr[^=]|:c[\s/>]"
    # a reference in lower case, with a $, or not a reference at all
    r'|<c r="[A-Z]*[^A-Z0-9]|<c r="[A-Z]*\d+[^0-9"]'
)


@dataclass(frozen=True)
class SheetLimits:
    """The limits a sheet is checked against, as numbers: read in the
    process that read the settings, so a reader in another process checks
    against the same values."""

    cells: int
    rows: int
    columns: int

    @classmethod
    def current(cls) -> SheetLimits:
        return cls(limit(MAX_SHEET_CELLS), limit(MAX_SHEET_ROWS), limit(MAX_SHEET_COLUMNS))


@dataclass(frozen=True)
class Extent:
    """The rectangle from A1 to the farthest cell: its last row and column,
    numbered from 1 as a spreadsheet numbers them."""

    rows: int
    columns: int

    @property
    def cells(self) -> int:
        return self.rows * self.columns

    @property
    def far_cell(self) -> str:
        return f"{column_letters(self.columns)}{self.rows}"

    def within(self, limits: SheetLimits) -> bool:
        return (
            self.rows <= limits.rows
            and self.columns <= limits.columns
            and self.cells <= limits.cells
        )


def column_letters(number: int) -> str:
    """1 → A, 26 → Z, 27 → AA, 16,384 → XFD."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def sheet_problem(
    data: bytes,
    sheet_name: str,
    limits: SheetLimits,
    unpacked: Mapping[str, bytes] | None = None,
) -> Problem | None:
    """A problem when the sheet (as the workbook names it) reaches past the
    limits; None when it does not. Call it after the archive checks, which
    bound what a member may unpack to (and may have unpacked the sheets
    already: `unpacked`, by part name). A sheet whose part cannot be found
    by name has every worksheet of the workbook checked instead."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            path = sheet_path(archive, sheet_name)
        except (KeyError, SyntaxError):  # no workbook.xml, or not XML: check them all
            path = None
        names = set(archive.namelist())
        parts = (
            [path]
            if path in names
            else [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        )
        for part in parts:
            xml = unpacked[part] if unpacked and part in unpacked else archive.read(part)
            extent = over_limits(xml, limits)
            if extent is not None:
                return too_far(sheet_name, extent, limits)
    return None


def too_far(sheet_name: str, extent: Extent, limits: SheetLimits) -> Problem:
    if extent.rows > limits.rows:
        over = f"{limits.rows:,} rows (set {MAX_SHEET_ROWS[0]} to change it)"
    elif extent.columns > limits.columns:
        over = f"{limits.columns:,} columns (set {MAX_SHEET_COLUMNS[0]} to change it)"
    else:
        over = f"{limits.cells:,} cells (set {MAX_SHEET_CELLS[0]} to change it)"
    return file_problem(
        f"the sheet '{sheet_name[:100]}' reaches cell {extent.far_cell}"
        f" ({_counted(extent.rows, 'row')} × {_counted(extent.columns, 'column')}),"
        f" over the limit of {over}: delete the stray cell far"
        " from the table (Ctrl+End shows it), save, and drop the file again"
    )


def _counted(number: int, thing: str) -> str:
    return f"{number:,} {thing}" if number == 1 else f"{number:,} {thing}s"


def over_limits(xml: bytes, limits: SheetLimits) -> Extent | None:
    """The sheet's extent when it is over the limits, else None."""
    last = _last_cell(xml)  # a real cell: the sheet reaches at least this far
    if last is not None and not last.within(limits):
        return last  # refused at once, named by that cell
    hint = _union(last, _dimension(xml))
    if not hint.within(limits):  # a dimension larger than any cell costs nothing: set aside
        hint = last or Extent(1, 1)
    beyond = _cells_beyond(xml, hint)
    if beyond is None:
        extent = sheet_extent(xml)
    else:
        # Every cell not named here lies within the hint: together they bound the sheet.
        extent = _union(hint, beyond)
        if not extent.within(limits):  # may be the hint's part: make sure, cell by cell
            extent = sheet_extent(xml)
    return None if extent.within(limits) else extent


def _union(one: Extent | None, other: Extent | None) -> Extent:
    found = [e for e in (one, other) if e is not None] or [Extent(1, 1)]
    return Extent(max(e.rows for e in found), max(e.columns for e in found))


def _parsed(ref: bytes) -> Extent | None:
    m = _REFERENCE.match(ref.decode("ascii", "replace"))
    return Extent(int(m.group(2)), column_number(m.group(1))) if m else None


def _dimension(xml: bytes) -> Extent | None:
    # The schema puts it before the cells: only the head is searched.
    head = xml.find(b"sheetData", 0, 1 << 20)
    m = _DIMENSION.search(xml, 0, head if head >= 0 else 1 << 20)
    return _parsed(m.group(1).split(b":")[-1]) if m else None


def _last_cell(xml: bytes) -> Extent | None:
    """The last cell written: in a sheet written in order, its farthest row."""
    last = xml.rfind(b'<c r="')
    if last < 0:
        return None
    end = xml.find(b'"', last + 6, last + 40)
    return _parsed(xml[last + 6 : end]) if end >= 0 else None


def _cells_beyond(xml: bytes, hint: Extent) -> Extent | None:
    """How far the cells past the hint reach (the hint itself when none is),
    in one regex pass run in Rust; None when a cell is written in a form the
    pass does not read, or the sheet is not UTF-8: the full walk decides."""
    letters = _greater(column_letters(hint.columns), "A", "Z")
    digits = _greater(str(hint.rows), "0", "9")
    beyond = f'<c r="(?:{letters}\\d+|[A-Z]+{digits})"'
    try:
        text = pl.Series([xml], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.PolarsError:
        return None
    found: list[str] = text.str.extract_all(f"{beyond}|{_UNREAD_FORM}").item().to_list()
    extents = [_parsed(m[6:-1].encode()) if m.startswith('<c r="') else None for m in found]
    cells = [e for e in extents if e is not None]
    if len(cells) < len(extents):
        return None
    return Extent(
        max([hint.rows, *(e.rows for e in cells)]),
        max([hint.columns, *(e.columns for e in cells)]),
    )


def _greater(shown: str, low: str, high: str) -> str:
    """A pattern for the column letters (low A, high Z) or row digits (0, 9)
    that name a larger number than `shown`: more of them, or as many and
    larger at the first place they differ."""
    more = "[A-Z]" if high == "Z" else "\\d"
    alternatives = [f"{more}{{{len(shown) + 1},}}"]
    for i, ch in enumerate(shown):
        if ch < high:
            rest = len(shown) - i - 1
            larger = f"[{chr(ord(ch) + 1)}-{high}]"
            alternatives.append(f"{shown[:i]}{larger}{more}{{{rest}}}")
    return f"(?:{'|'.join(alternatives)})"


def sheet_extent(xml: bytes) -> Extent:
    """Every row and cell tag walked in order, each cell placed as the reader
    places it: at its reference, or without one, in the column after the
    cell before it, on the current row."""
    row = 0
    column = 0
    rows = columns = 0
    for m in _TAG.finditer(xml):
        attributes = m.group(2)
        r = _R.search(attributes)
        ref = r.group(1).decode("ascii", "replace") if r else ""
        if m.group(1) == b"row":
            row = int(ref) if ref.isdigit() else row + 1
            column = 0
            continue
        cell = _REFERENCE.match(ref)
        if cell:
            column = column_number(cell.group(1))
            cell_row = int(cell.group(2))
        else:
            column += 1
            cell_row = max(row, 1)
        rows = max(rows, cell_row)
        columns = max(columns, column)
    return Extent(rows, columns)
