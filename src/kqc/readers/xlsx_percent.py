"""The cells a workbook shows as percentages.

Excel stores a cell shown as '1.52%' as the number 0.0152, and its text is
that number: read bare, a mitragynine result of 1.52 % in a row whose unit
says '%' would be stored 100 times too low (and a 7-OH spike of 2 % read as
0.02 %). The cell's number format says which it is; fastexcel does not give
formats, so they are read here from the workbook's own styles and sheet XML,
and only when a percent format exists at all.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from xml.etree import ElementTree

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_BUILT_IN_PERCENT = {9, 10}  # '0%', '0.00%'
# A cell's opening tag (any namespace prefix), its attributes, and whether it
# holds anything ('/>' closes an empty cell).
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/?)>")
_ATTRIBUTE = re.compile(rb'\b(r|s|t)="([^"]*)"')
_REFERENCE = re.compile(r"^([A-Z]+)(\d+)$")


def percent_cells(
    data: bytes, sheet_name: str, unpacked: Mapping[str, bytes] | None = None
) -> set[tuple[int, int]]:
    """(row, column) of each numeric cell shown as a percentage, numbered as
    fastexcel numbers its frame: row 0 is the sheet's row 1, column 0 the
    first column holding a value. Empty when nothing is shown as one (or the
    parts cannot be found: the cells are then read as stored). `unpacked`
    holds sheets' XML already unpacked, by part name."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            styles = _percent_styles(archive)
            if not styles:
                return set()
            sheet = sheet_path(archive, sheet_name)
            if unpacked and sheet and sheet in unpacked:
                xml = unpacked[sheet]
            else:
                xml = archive.read(sheet) if sheet else b""
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError, OSError):
        return set()
    return _cells_styled(xml, styles)


def _percent_styles(archive: zipfile.ZipFile) -> set[str]:
    """Indexes (as written in a cell's s="…") of the cell formats that show a
    number as a percentage."""
    root = ElementTree.fromstring(archive.read("xl/styles.xml"))
    custom = {
        int(f.get("numFmtId", "-1")): f.get("formatCode", "") for f in root.iter(f"{_MAIN}numFmt")
    }
    percent_ids = _BUILT_IN_PERCENT | {i for i, code in custom.items() if _scales(code)}
    xfs = root.find(f"{_MAIN}cellXfs")
    if xfs is None:
        return set()
    return {
        str(index)
        for index, xf in enumerate(xfs.iter(f"{_MAIN}xf"))
        if int(xf.get("numFmtId", "0")) in percent_ids
    }


def _scales(code: str) -> bool:
    """A format code multiplies by 100 when it holds a '%' that is neither
    quoted ('0.00"%"') nor escaped ('0.00\\%'), which only print the sign."""
    bare = re.sub(r'"[^"]*"|\\.', "", code)
    return "%" in bare


def sheet_path(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rel_id = next(
        (s.get(f"{_REL}id") for s in book.iter(f"{_MAIN}sheet") if s.get("name") == sheet_name),
        None,
    )
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next(
        (
            r.get("Target")
            for r in rels.iter(f"{_PACKAGE_REL}Relationship")
            if r.get("Id") == rel_id
        ),
        None,
    )
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _cells_styled(xml: bytes, styles: set[str]) -> set[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    first_column: int | None = None
    for m in _CELL.finditer(xml):
        if m.group(2):  # <c r="A1" s="3"/>: an empty cell
            continue
        attributes = {k.decode(): v.decode() for k, v in _ATTRIBUTE.findall(m.group(1))}
        ref = _REFERENCE.match(attributes.get("r", ""))
        if ref is None:
            continue
        column = _column_number(ref.group(1))
        first_column = column if first_column is None else min(first_column, column)
        if attributes.get("s") in styles and attributes.get("t", "n") == "n":
            found.append((int(ref.group(2)) - 1, column))
    if first_column is None:
        return set()
    return {(row, column - first_column) for row, column in found}


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1
