"""A sheet that reaches too far is refused from its own XML, before the
workbook reader would allocate its whole rectangle (one cell at XFD1048576:
512 GiB). What counts is where the cells really are: the dimension may lie
or be missing, and a cell may have no reference."""

import io

import pytest
from openpyxl import load_workbook

from kqc.pipeline.prepare import prepare
from kqc.readers import read_bytes
from kqc.readers.workbook_extent import Extent, SheetLimits, over_limits, sheet_extent
from tests.readers.books import (
    RESULTS_HEADER,
    RESULTS_ROW,
    far_cell_workbook,
    hand_workbook,
    number_cell,
    results_rows,
    sheet_xml,
    workbook,
)

FAR = (
    "the sheet 'Results' reaches cell XFD1048576 (1,048,576 rows × 16,384 columns), over the"
    " limit of 20,000,000 cells (set KQC_MAX_SHEET_CELLS to change it): delete the stray cell"
    " far from the table (Ctrl+End shows it), save, and drop the file again"
)
STRAY = b'<row r="1048576">' + number_cell("XFD1048576", 1) + b"</row>"


def _only_problem(outcome) -> str:
    assert isinstance(outcome, list), outcome
    [problem] = outcome
    assert problem.row == 0
    return problem.problem


def test_the_far_cell_workbook_is_refused_with_one_sentence():
    assert _only_problem(read_bytes("poison.xlsx", far_cell_workbook())) == FAR


def test_a_dimension_smaller_than_the_cells_is_not_believed():
    data = hand_workbook(results_rows() + STRAY, dimension="A1:F2")
    assert _only_problem(read_bytes("lying.xlsx", data)) == FAR


def test_a_missing_dimension_is_no_way_round_the_check():
    data = hand_workbook(results_rows() + STRAY)
    assert _only_problem(read_bytes("no_dimension.xlsx", data)) == FAR


def test_a_far_cell_written_before_the_last_one_is_found_too():
    # Not the last cell written, and past the dimension: found by the one pass.
    cells = b'<row r="5000"><c r="XFD5000"><v>1</v></c></row><row r="5001"><c r="A5001"/></row>'
    problem = _only_problem(read_bytes("first.xlsx", hand_workbook(cells, "A1:F2")))
    assert problem.startswith(
        "the sheet 'Results' reaches cell XFD5001 (5,001 rows × 16,384 columns), over the"
        " limit of 20,000,000 cells"
    )


def test_a_dimension_larger_than_the_cells_costs_nothing_and_is_read():
    data = hand_workbook(results_rows(), dimension="A1:XFD1048576")
    out = prepare("big_dimension.xlsx", data)
    assert out.problems == []
    assert out.rows.select("analyte", "value").rows() == [("lead", 0.25)]


def test_cells_without_references_are_placed_one_after_another():
    # 16,385 cells in one row, none with a reference: the last is XFE1.
    data = hand_workbook(b"<row>" + b"<c><v>1</v></c>" * 16_385 + b"</row>")
    problem = _only_problem(read_bytes("unreferenced.xlsx", data))
    assert problem.startswith(
        "the sheet 'Results' reaches cell XFE1 (1 row × 16,385 columns), over the limit of"
        " 16,384 columns (set KQC_MAX_SHEET_COLUMNS to change it)"
    )


def test_a_row_past_the_grid_is_named_by_its_own_limit():
    data = hand_workbook(results_rows() + b'<row r="2000000"><c r="A2000000"><v>1</v></c></row>')
    problem = _only_problem(read_bytes("tall.xlsx", data))
    assert problem.startswith(
        "the sheet 'Results' reaches cell A2000000 (2,000,000 rows × 1 column), over the"
        " limit of 1,048,576 rows (set KQC_MAX_SHEET_ROWS to change it)"
    )


def test_the_limit_is_read_from_the_environment(monkeypatch):
    rows = [RESULTS_HEADER] + [["Acme", "KR-1", f"S{i}", "Lead", 0.25, "ppm"] for i in range(20)]
    data = workbook({"Results": rows})
    assert not isinstance(read_bytes("ok.xlsx", data), list)
    monkeypatch.setenv("KQC_MAX_SHEET_CELLS", "100")
    problem = _only_problem(read_bytes("ok.xlsx", data))
    assert problem.startswith(
        "the sheet 'Results' reaches cell F21 (21 rows × 6 columns), over the limit of 100"
        " cells (set KQC_MAX_SHEET_CELLS to change it)"
    )


def test_a_far_cell_on_another_sheet_refuses_the_workbook_naming_that_sheet():
    # Every sheet is read (one may hold results), so every sheet's reach is checked.
    book = load_workbook(io.BytesIO(workbook({"Results": [RESULTS_HEADER, RESULTS_ROW]})))
    book.create_sheet("Notes")["XFD1048576"] = "stray"
    buffer = io.BytesIO()
    book.save(buffer)
    out = prepare("two_sheets.xlsx", buffer.getvalue())
    assert out.rows.height == 0
    [problem] = out.problems
    assert problem.problem.startswith("the sheet 'Notes' reaches cell XFD1048576")


LIMITS = SheetLimits(cells=20_000_000, rows=1_048_576, columns=16_384)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (b'<row r="3"><c r="B3"/><c r="C7"/></row>', Extent(7, 3)),
        # After C1, a cell without a reference is D1; a row without one is the next row.
        (b'<row r="1"><c r="C1"/><c/></row><row><c/></row>', Extent(2, 4)),
        (b'<x:row r="1"><x:c r="AB12"/></x:row>', Extent(12, 28)),
        (b'<row r="1"><c s="1" r="Z9"/></row>', Extent(9, 26)),
    ],
)
def test_the_walk_places_every_cell_as_the_reader_does(cells, expected):
    assert sheet_extent(sheet_xml(cells)) == expected


@pytest.mark.parametrize(
    "cells",
    [
        b'<row r="1"><c r="A1"/><c r="XFD1048576"/></row><row r="2"><c r="B2"/></row>',
        b'<row r="1"><c r="A1"/></row><row r="2"><c s="1" r="XFD1048576"/><c r="B2"/></row>',
        b'<row r="1"><x:c r="XFD1048576"/><c r="B2"/></row>',
        b'<row r="1"><c r="xfd1048576"/><c r="B2"/></row>',
    ],
)
def test_the_one_pass_check_misses_no_far_cell_in_any_form(cells):
    assert over_limits(sheet_xml(cells, "A1:B2"), LIMITS) == Extent(1_048_576, 16_384)
