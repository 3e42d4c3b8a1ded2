"""A cell Excel shows as '1.52%' stores 0.0152: it is read as shown, so a
potency in a '%' row is never stored 100 times too low."""

import io

from openpyxl import Workbook

from kqc.pipeline.prepare import prepare
from kqc.readers.xlsx_percent import _scales

HEADER = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]


def _workbook(rows: list[list[object]], formats: dict[str, str], first_cell: str = "A1") -> bytes:
    book = Workbook()
    sheet = book.active
    top = sheet[first_cell]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.cell(row=top.row + r, column=top.column + c, value=value)
    for ref, number_format in formats.items():
        sheet[ref].number_format = number_format
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_a_percent_cell_is_read_as_shown():
    rows = [
        HEADER,
        ["Acme", "KR-1", "S1", "Mitragynine", 0.0152, "%"],
        ["Acme", "KR-1", "S1", "7-Hydroxymitragynine", 0.02, ""],  # a spike of 2 %
        ["Acme", "KR-1", "S1", "Lead", 0.25, "ppm"],  # no percent format: as stored
    ]
    out = prepare("coa.xlsx", _workbook(rows, {"E2": "0.00%", "E3": "0%"}))
    assert out.problems == []
    assert out.rows.select("analyte", "value", "unit", "reported_result").rows() == [
        ("mitragynine", 15.2, "mg/g", "1.52%"),
        ("7_hydroxymitragynine", 20.0, "mg/g", "2%"),
        ("lead", 0.25, "ug/g", "0.25"),
    ]


def test_a_percent_cell_against_another_unit_is_refused_wherever_the_table_starts():
    # The table starts at C3: fastexcel's first column is C, the formats' too.
    rows = [HEADER, ["Acme", "KR-1", "S1", "Mitragynine", 0.0152, "mg/g"]]
    out = prepare("coa.xlsx", _workbook(rows, {"G4": "0.00%"}, first_cell="C3"))
    assert out.rows.height == 0
    assert [(p.row, p.column, p.value) for p in out.problems] == [(4, "Result", "1.52%")]
    assert "written in % but the unit column says mg/g" in out.problems[0].problem


def test_only_a_format_that_multiplies_is_a_percentage():
    assert _scales("0.00%") and _scales("0%") and _scales("#,##0.0%")
    assert not _scales('0.00"%"')  # prints the sign only
    assert not _scales("0.00\\%")
    assert not _scales("0.00")


def test_a_percent_limit_is_read_in_a_percent_row_and_named_in_another():
    rows = [
        [*HEADER, "LOQ"],
        ["Acme", "KR-1", "S1", "Mitragynine", 0.0152, "%", 0.0001],
        ["Acme", "KR-1", "S1", "Paynantheine", 0.31, "mg/g", 0.0001],
    ]
    out = prepare("coa.xlsx", _workbook(rows, {"E2": "0.00%", "G2": "0.00%", "G3": "0.00%"}))
    assert [(p.row, p.column, p.value) for p in out.problems] == [(3, "LOQ", "0.01%")]
    assert "is in % but the row's unit is mg/g" in out.problems[0].problem
    # 0.01 % is 0.1 mg/g
    assert out.rows.select("analyte", "value", "loq").rows() == [("mitragynine", 15.2, 0.1)]
