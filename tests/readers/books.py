"""Real XLSX workbooks for the reader tests, written by openpyxl."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook


def workbook(sheets: dict[str, list[list[object]]]) -> bytes:
    """A workbook holding each sheet's rows, the sheets in the order given."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


# The parts of a workbook of one sheet, 'Results', written by hand: the sheet
# XML is exactly what the test says (a dimension that lies or is absent,
# cells without references), which no library writes on purpose.
_XML = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_OFFICE = b"application/vnd.openxmlformats-officedocument.spreadsheetml"
_PACKAGE = b"http://schemas.openxmlformats.org/package/2006"
_RELATION = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    _XML + b'<Types xmlns="' + _PACKAGE + b'/content-types">'
    b'<Default Extension="rels"'
    b' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="' + _OFFICE + b'.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml"'
    b' ContentType="' + _OFFICE + b'.worksheet+xml"/></Types>'
)
_PACKAGE_RELS = (
    _XML + b'<Relationships xmlns="' + _PACKAGE + b'/relationships">'
    b'<Relationship Id="rId1" Type="' + _RELATION + b'/officeDocument"'
    b' Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    _XML + b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    b' xmlns:r="' + _RELATION + b'">'
    b'<sheets><sheet name="Results" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    _XML + b'<Relationships xmlns="' + _PACKAGE + b'/relationships">'
    b'<Relationship Id="rId1" Type="' + _RELATION + b'/worksheet"'
    b' Target="worksheets/sheet1.xml"/></Relationships>'
)


def sheet_xml(cells: bytes, dimension: str | None = None) -> bytes:
    """A worksheet part: its `<dimension ref>` (none when None) and rows."""
    shown = f'<dimension ref="{dimension}"/>'.encode() if dimension else b""
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + shown
        + b"<sheetData>"
        + cells
        + b"</sheetData></worksheet>"
    )


def hand_workbook(cells: bytes, dimension: str | None = None) -> bytes:
    """A valid workbook whose one sheet, 'Results', holds exactly `cells`
    (the XML of its rows)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _PACKAGE_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml(cells, dimension))
    return buffer.getvalue()


def text_cell(ref: str, text: str) -> bytes:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def number_cell(ref: str, number: float) -> bytes:
    return f'<c r="{ref}"><v>{number}</v></c>'.encode()


RESULTS_HEADER = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
RESULTS_ROW = ["Acme", "KR-1", "S1", "Lead", 0.25, "ppm"]


def results_rows() -> bytes:
    """Rows 1-2 of a small results table (header, one result) as sheet XML."""
    header = b"".join(text_cell(f"{c}1", h) for c, h in zip("ABCDEF", RESULTS_HEADER, strict=True))
    row = b"".join(
        number_cell(f"{c}2", v) if isinstance(v, float) else text_cell(f"{c}2", str(v))
        for c, v in zip("ABCDEF", RESULTS_ROW, strict=True)
    )
    return b'<row r="1">' + header + b'</row><row r="2">' + row + b"</row>"


def far_cell_workbook() -> bytes:
    """The poison workbook, as openpyxl writes it: a results table and one
    stray value at XFD1048576, Excel's last cell (its dimension says so)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Results"
    sheet.append(RESULTS_HEADER)
    sheet.append(RESULTS_ROW)
    sheet["XFD1048576"] = "x"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
