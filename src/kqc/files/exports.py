"""Tables a QA lead opens in a spreadsheet program: CSV or XLSX, written
whole (beside the target, then renamed), every text cell from a lab made inert
(kqc.core.spreadsheet), numbers kept as numbers and times in UTC.

A workbook holds one sheet per section; CSV holds one section a file, so a
dossier becomes `<stem>.<section>.csv` beside one another.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import polars as pl

from kqc.core.spreadsheet import neutralized, neutralized_frame
from kqc.errors import UsageError
from kqc.files.inbox import write_atomic

FORMATS = (".csv", ".xlsx")


def check_target(target: Path) -> str:
    """The export format of `target` (".csv" or ".xlsx"), checked before any
    work is done: an unknown extension or a missing folder is a usage error."""
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot export to '{target.name}': name a .csv or .xlsx file with --out")
    if not target.absolute().parent.is_dir():
        raise UsageError(f"the folder for {target} does not exist: create it or choose another")
    return suffix


def _in_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Zoned times as naive UTC: a spreadsheet cell has no time zone."""
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )


def _prepared(frame: pl.DataFrame) -> pl.DataFrame:
    return neutralized_frame(_in_utc(frame))


def csv_text(frame: pl.DataFrame) -> str:
    """The CSV of `frame` made inert as `csv_bytes` makes it, without the
    byte-order mark: for stdout, which is often redirected to a .csv."""
    return _prepared(frame).write_csv()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    # With a byte-order mark, Excel reads UTF-8 (µg/g, names with accents) as such.
    return _prepared(frame).write_csv(include_bom=True).encode("utf-8")


def xlsx_bytes(sections: dict[str, pl.DataFrame]) -> bytes:
    """A workbook with one sheet per section. Cells are written by type, and
    the workbook is told never to read a string as a formula, a number or a
    link: the neutralized text arrives as text."""
    import xlsxwriter  # only an export needs it

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
        },
    )
    bold = book.add_format({"bold": True})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, frame in sections.items():
        sheet = book.add_worksheet(name[:31])
        shown = _prepared(frame)
        for col, header in enumerate(shown.columns):
            sheet.write_string(0, col, neutralized(header), bold)
        for row, values in enumerate(shown.iter_rows(), start=1):
            for col, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(row, col, value)
                elif isinstance(value, int | float):
                    sheet.write_number(row, col, value)
                elif isinstance(value, datetime):
                    sheet.write_datetime(row, col, value, when)
                elif isinstance(value, date):
                    sheet.write_datetime(row, col, value, day)
                else:
                    sheet.write_string(row, col, neutralized(str(value)))
        sheet.freeze_panes(1, 0)
        sheet.autofit()
    book.close()
    return buffer.getvalue()


def write_sections(target: Path, sections: dict[str, pl.DataFrame]) -> list[Path]:
    """Write `sections` to `target` and return the files written: one
    workbook, or one CSV per section (`<stem>.<section>.csv`; a single section
    goes to `target` itself)."""
    suffix = check_target(target)
    if suffix == ".xlsx":
        write_atomic(target, xlsx_bytes(sections))
        return [target]
    if len(sections) == 1:
        write_atomic(target, csv_bytes(next(iter(sections.values()))))
        return [target]
    written = []
    for name, frame in sections.items():
        path = target.with_name(f"{target.stem}.{name}.csv")
        write_atomic(path, csv_bytes(frame))
        written.append(path)
    return written
