"""Real XLSX workbooks for the reader tests, written by openpyxl."""

from __future__ import annotations

import io

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
