"""A lab's certificate of analysis as a workbook of several sheets, written
by xlsxwriter as a LIMS or a lab's template writes one: a cover of text
alone (letterhead, client, batch, signature), then Potency, Heavy Metals and
Microbiology, each with its own title, metadata lines and header, and a
sign-off sheet of text alone at the end."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

Cell = str | float | int | dt.date | None

COVER_LAB = "Borneo Analytical"
COVER_BATCH = "KR-2612-C"
COVER_SAMPLE = "BA-26-4471"

POTENCY: list[list[Cell]] = [
    ["Mitragynine", 0.0152, "%", 0.01, "AOAC 2017.14 (mod.)"],  # shown as 1.52 %
    ["Paynantheine", 0.31, "%", 0.01, "AOAC 2017.14 (mod.)"],
    ["Speciogynine", 0.22, "%", 0.01, "AOAC 2017.14 (mod.)"],
    ["Speciociliatine", 0.18, "%", 0.01, "AOAC 2017.14 (mod.)"],
    ["7-Hydroxymitragynine", "<LOQ", "%", 0.01, "AOAC 2017.14 (mod.)"],
]
METALS: list[list[Cell]] = [
    ["Lead", 0.21, "ppm", 0.05],
    ["Arsenic", 0.12, "ppm", 0.05],
    ["Cadmium", "<0.02", "ppm", 0.02],
    ["Mercury", "ND", "ppm", 0.01],
]
MICRO: list[list[Cell]] = [
    ["Total Aerobic Microbial Count", 1200, "CFU/g", "USP <2021>"],
    ["Total Yeast and Mold Count", 150, "CFU/g", "USP <2021>"],
    ["Salmonella spp.", "Absent in 25 g", None, "USP <2022>"],
    ["E. coli", "Absent in 10 g", None, "USP <2022>"],
]
METALS_NOTE = "ppm = µg/g of dry sample"  # a line under the metals table
# Where each sheet's header sits (its rows follow): the sheet's own row numbers.
POTENCY_HEADER_ROW = 5
METALS_HEADER_ROW = 4
MICRO_HEADER_ROW = 3
SHEETS = ["Cover", "Potency", "Heavy Metals", "Microbiology", "Sign-off"]


def multi_sheet_certificate(
    *,
    metals: Sequence[Sequence[Cell]] = METALS,
    micro_header: Sequence[str] = ("Test", "Result", "Units", "Method"),
) -> bytes:
    """The certificate; `metals` and `micro_header` let a test spoil one sheet."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"author": "LIMS export", "created": dt.datetime(2026, 11, 22, 9, 30)})
    title = book.add_format({"bold": True, "font_size": 16})
    bold = book.add_format({"bold": True, "bottom": 1})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    percent = book.add_format({"num_format": "0.00%"})

    cover = book.add_worksheet("Cover")
    cover.merge_range("A1:F1", "Borneo Analytical Sdn Bhd", title)
    cover.write("A2", "Lot 12, Jalan Teknologi 3, 93350 Kuching, Sarawak, Malaysia")
    cover.write("A3", "ISO/IEC 17025:2017 accredited laboratory, certificate SAMM 1234")
    cover.merge_range("A5:F5", "CERTIFICATE OF ANALYSIS", title)
    for row, (key, value) in enumerate(
        [
            ("Client:", "Green Leaf Botanicals LLC"),
            ("Lab:", COVER_LAB),
            ("Batch:", COVER_BATCH),
            ("Sample ID:", COVER_SAMPLE),
            ("Product:", "Maeng Da kratom powder, 1 kg"),
        ],
        start=6,
    ):
        cover.write(row, 0, key, bold)
        cover.write(row, 1, value)
    cover.write("A13", "Date received:", bold)
    cover.write_datetime("B13", dt.datetime(2026, 11, 18), date)
    cover.write("A15", "Results relate only to the sample as received.")

    potency = book.add_worksheet("Potency")
    potency.write("A1", "Potency: alkaloids by HPLC-UV", title)
    potency.write("A2", "Analyst: S. Lim")
    potency.write("A3", "Instrument: Agilent 1260 Infinity II")
    _table(potency, POTENCY_HEADER_ROW, ["Analyte", "Result", "Unit", "LOQ", "Method"], bold)
    for i, row in enumerate(POTENCY):
        _row(potency, POTENCY_HEADER_ROW + i, row, percent if i == 0 else None)

    metals_sheet = book.add_worksheet("Heavy Metals")
    metals_sheet.write("A1", "Heavy metals by ICP-MS (USP <233>)", title)
    metals_sheet.write("A2", "Analyzed:")
    metals_sheet.write("B2", "2026-11-21")
    _table(metals_sheet, METALS_HEADER_ROW, ["Analyte", "Result", "Units", "LOQ"], bold)
    for i, row in enumerate(metals):
        _row(metals_sheet, METALS_HEADER_ROW + i, row)
    metals_sheet.write(METALS_HEADER_ROW + len(metals) + 1, 0, METALS_NOTE)

    micro = book.add_worksheet("Microbiology")
    micro.write("A1", "Microbiology", title)
    _table(micro, MICRO_HEADER_ROW, list(micro_header), bold)
    for i, row in enumerate(MICRO):
        _row(micro, MICRO_HEADER_ROW + i, row)

    sign_off = book.add_worksheet("Sign-off")
    sign_off.write("A1", "Reviewed by: M. Tan, QA Officer")
    sign_off.write("A2", "Approved by: Dr. A. Rahman, Laboratory Director")
    sign_off.write("A4", "End of report")
    book.close()
    return buffer.getvalue()


def _table(sheet: Worksheet, row: int, header: list[str], bold: Format) -> None:
    """The header on sheet row `row` (numbered from 1, as the sheet shows it)."""
    sheet.write_row(row - 1, 0, header, bold)


def _row(
    sheet: Worksheet, index: int, cells: Sequence[Cell], result_format: Format | None = None
) -> None:
    """A result on the sheet row `index` + 1 (the row under the header, plus
    its place in the table); `result_format` for its result cell."""
    for column, value in enumerate(cells):
        if value is None:
            continue
        if column == 1 and result_format is not None and isinstance(value, float):
            sheet.write_number(index, column, value, result_format)
        else:
            sheet.write(index, column, value)
