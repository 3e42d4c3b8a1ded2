"""A workbook's decimal mark is what its text cells show: kqc prints the
numeric cells itself, so only the cells the lab typed as text ('<0.01',
'12,000 CFU/g') tell how the lab writes numbers."""

from __future__ import annotations

from kqc.pipeline.prepare import prepare
from tests.readers.books import workbook

HEADER = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]


def _workbook(rows: list[list[object]]) -> bytes:
    return workbook({"Sheet": [HEADER, *rows]})


def test_text_cells_with_a_decimal_dot_make_a_comma_group_thousands():
    data = _workbook(
        [
            ["Acme", "KR-1", "S1", "Mitragynine", 1.52, "%"],  # a numeric cell
            ["Acme", "KR-1", "S1", "Lead", "<0.05", "ppm"],  # typed as text
            ["Acme", "KR-1", "S1", "TYMC", "12,000 CFU/g", ""],
        ]
    )
    out = prepare("coa.xlsx", data)
    assert out.problems == []
    assert out.rows.select("analyte", "value", "bound", "reported_result").rows() == [
        ("mitragynine", 15.2, None, "1.52"),
        ("lead", None, 0.05, "<0.05"),
        ("tymc", 12000.0, None, "12,000 CFU/g"),
    ]


def test_numeric_cells_alone_show_no_mark_and_one_group_stays_refused():
    data = _workbook(
        [
            ["Acme", "KR-1", "S1", "Mitragynine", 1.52, "%"],  # printed by kqc: no evidence
            ["Acme", "KR-1", "S1", "Nickel", "1,250 ppb", ""],
        ]
    )
    out = prepare("coa.xlsx", data)
    assert (3, "Result", "1,250 ppb") in [(p.row, p.column, p.value) for p in out.problems]
    assert "ambiguous number '1,250'" in str(out.problems)


def test_text_cells_with_a_decimal_comma_are_read_as_decimals():
    # A European lab's workbook: its typed cells write the comma.
    data = _workbook(
        [
            ["Acme", "KR-1", "S1", "Mitragynine", 1.52, "%"],
            ["Acme", "KR-1", "S1", "Lead", "<0,05", "ppm"],
            ["Acme", "KR-1", "S1", "Cadmium", "0,12 ppm", ""],
        ]
    )
    out = prepare("coa.xlsx", data)
    assert out.problems == []
    assert out.rows.select("analyte", "value", "bound").rows() == [
        ("mitragynine", 15.2, None),
        ("lead", None, 0.05),
        ("cadmium", 0.12, None),
    ]
