"""Which sheets of a workbook are read: every sheet that holds a table, each
with its own header, metadata block and row numbers; a sheet holding a table
kqc cannot read refuses the workbook, naming the sheet; a sheet of text alone
(a cover, notes) is passed over."""

import io

import pytest
from openpyxl import Workbook

from kqc.core.records import SheetTables
from kqc.pipeline.prepare import prepare
from kqc.readers import read_bytes
from tests.readers.books import workbook as _book

HEADER = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
ROW = ["Acme", "KR-1", "S1", "Lead", 0.25, "ppm"]
COVER = [
    ["Borneo Analytical Sdn Bhd"],
    ["Certificate of Analysis"],
    [],
    ["Client:", "Green Leaf Botanicals"],
    ["Report no.:", "COA-2611"],
    [],
    ["Approved by: Dr. A. Rahman, Laboratory Director"],
    ["Results relate only to the sample tested."],
]


def _problem_texts(out) -> list[str]:
    return [p.problem for p in out.problems]


def test_every_sheet_holding_a_table_is_read_in_sheet_order():
    potency = [HEADER, ["Acme", "KR-1", "S1", "Mitragynine", 1.52, "%"]]
    metals = [HEADER, ROW, ["Acme", "KR-1", "S1", "Cadmium", 0.05, "ppm"]]
    out = prepare("coa.xlsx", _book({"Potency": potency, "Heavy Metals": metals}))
    assert out.problems == []
    assert out.rows.select("source_row", "analyte").rows() == [
        (2, "mitragynine"),
        (2, "lead"),
        (3, "cadmium"),
    ]


def test_a_sheet_named_results_is_read_with_the_others_not_instead_of_them():
    other = ["Acme", "KR-2", "S2", "Nickel", 1.5, "ppm"]
    out = prepare("coa.xlsx", _book({"First": [HEADER, ROW], "Results": [HEADER, other]}))
    assert out.problems == []
    assert out.rows["batch_id"].to_list() == ["KR-1", "KR-2"]


def test_each_sheet_has_its_own_header_row_metadata_and_row_numbers():
    potency = [
        ["Lab: Acme Analytical"],
        ["Batch: KR-1"],
        [],
        ["Sample ID", "Test", "Value", "UOM"],
        ["S1", "Mitragynine", 1.52, "%"],
    ]
    metals = [
        ["Laboratory", "Metals Partner Lab"],
        ["Lot #", "KR-1"],
        ["Report date:", "2026-11-20"],
        [],
        [],
        [None, "Sample", "Analyte", "Result (ppm)"],
        [None, "S1", "Lead", 0.25],
        [None, "S1", "Arsenic", 0.1],
    ]
    out = prepare("coa.xlsx", _book({"Potency": potency, "Heavy Metals": metals}))
    assert out.problems == []
    assert out.rows.select("source_row", "lab_id", "analyte", "unit").rows() == [
        (5, "Acme Analytical", "mitragynine", "mg/g"),
        (7, "Metals Partner Lab", "lead", "ug/g"),
        (8, "Metals Partner Lab", "arsenic", "ug/g"),
    ]


def test_a_cover_sheet_of_text_alone_is_passed_over():
    out = prepare("coa.xlsx", _book({"Cover": COVER, "Analytical Results": [HEADER, ROW]}))
    assert out.problems == []
    assert out.rows.select("analyte", "value").rows() == [("lead", 0.25)]


def test_the_cover_s_lab_and_batch_stand_for_the_sheets_that_do_not_say_them():
    cover = [["Certificate of Analysis"], ["Lab:", "Borneo Analytical"], ["Batch:", "KR-9"]]
    header = ["Sample", "Analyte", "Result", "Unit"]
    own_lab = [["Lab: Partner Micro Lab"], header, ["S1", "TAMC", 1200, "CFU/g"]]
    book = _book(
        {"Cover": cover, "Metals": [header, ["S1", "Lead", 0.25, "ppm"]], "Micro": own_lab}
    )
    out = prepare("coa.xlsx", book)
    assert out.problems == []
    assert out.rows.select("lab_id", "batch_id", "analyte").rows() == [
        ("Borneo Analytical", "KR-9", "lead"),
        ("Partner Micro Lab", "KR-9", "tamc"),
    ]


def test_a_workbook_of_several_sheets_names_the_sheet_of_every_problem():
    bad = ["Acme", "KR-1", "S2", "Lead", "lots", "ppm"]
    data = _book({"Summary": [["Certificate of Analysis"]], "Analytical Results": [HEADER, bad]})
    out = prepare("coa.xlsx", data)
    [problem] = out.problems
    assert (problem.row, problem.column, problem.value) == (2, "Result", "lots")
    assert problem.problem.endswith("(sheet 'Analytical Results')")
    alone = prepare("coa.xlsx", _book({"Data": [HEADER, ROW, bad]}))
    assert "sheet" not in alone.problems[0].problem


def test_a_bad_cell_on_the_third_sheet_is_named_by_its_sheet_and_row_and_nothing_is_kept():
    metals = [["Lab: Acme"], ["Batch: KR-1"], [], HEADER[2:]]
    metals += [["S1", a, 0.1, "ppm"] for a in ("Lead", "Arsenic", "Cadmium", "Mercury")]
    metals += [["S1", "Nickel", "n/a?", "ppm"]]
    book = _book(
        {
            "Cover": COVER,
            "Potency": [HEADER, ["Acme", "KR-1", "S1", "Mitragynine", 1.52, "%"]],
            "Heavy Metals": metals,
        }
    )
    out = prepare("coa.xlsx", book)
    assert not out.accepted
    [problem] = out.problems
    assert (problem.row, problem.column, problem.value) == (9, "Result", "n/a?")
    assert problem.problem.endswith("(sheet 'Heavy Metals')")


def test_a_sheet_whose_columns_kqc_does_not_know_refuses_the_workbook_naming_it():
    odd = [["Organism", "Count", "Units", "Method"], ["Aerobic bacteria", 1200, "CFU/g", "USP 61"]]
    out = prepare("coa.xlsx", _book({"Metals": [HEADER, ROW], "Micro": odd}))
    assert not out.accepted and out.kind == "results"
    [problem] = out.problems
    assert problem.problem.startswith("no recognizable columns")
    assert "delete it from the workbook" in problem.problem
    assert problem.problem.endswith("(sheet 'Micro')")


def test_an_unknown_analyte_on_one_sheet_refuses_the_workbook_naming_the_sheet():
    micro = [HEADER, ["Acme", "KR-1", "S1", "Listeria-ish", "Absent in 25 g", ""]]
    out = prepare("coa.xlsx", _book({"Metals": [HEADER, ROW], "Micro": micro}))
    [problem] = out.problems
    assert problem.row == 2 and problem.column == "Analyte"
    assert "unknown analyte 'Listeria-ish'" in problem.problem
    assert problem.problem.endswith("(sheet 'Micro')")


def test_a_unit_a_sheet_cannot_use_refuses_the_workbook_naming_the_sheet():
    metals = [HEADER, ["Acme", "KR-1", "S1", "Lead", 0.25, "furlongs"]]
    out = prepare("coa.xlsx", _book({"Potency": [HEADER, ROW], "Metals": metals}))
    [problem] = out.problems
    assert problem.row == 2 and problem.column == "Unit"
    assert problem.problem.endswith("(sheet 'Metals')")


@pytest.mark.parametrize(
    ("sheet", "row", "cells"),
    [
        # A grid under a header kqc does not know: three filled cells, twice.
        (
            [["Panel: micro"], ["Organism", "Count", "Units"], ["Aerobic", 1200, "CFU/g"]],
            2,
            "Organism | Count | Units",
        ),
        # A summary naming an analyte, with no header at all.
        ([["Summary"], ["Lead", "PASS"]], 2, "Lead | PASS"),
        ([["Summary"], ["Lead: 0.25 ppm"]], 2, "Lead: 0.25 ppm"),
    ],
)
def test_a_table_under_no_header_kqc_recognises_refuses_the_workbook(sheet, row, cells):
    out = prepare("coa.xlsx", _book({"Metals": [HEADER, ROW], "Notes": sheet}))
    assert out.rows.height == 0
    [problem] = out.problems
    assert (problem.row, problem.column, problem.value) == (row, "(header)", cells)
    assert problem.problem.startswith(
        "the sheet 'Notes' holds a table, but no header row kqc recognises"
    )


def test_a_header_with_no_rows_under_it_holds_no_result_and_is_passed_over():
    out = prepare("coa.xlsx", _book({"Metals": [HEADER, ROW], "Micro": [HEADER]}))
    assert out.problems == [] and out.rows.height == 1


def test_an_empty_sheet_is_passed_over():
    out = prepare("coa.xlsx", _book({"Sheet1": [], "Data": [HEADER, ROW]}))
    assert out.problems == [] and out.rows.height == 1


def test_no_sheet_with_a_table_names_the_first_sheet_s_problem():
    out = prepare("coa.xlsx", _book({"Summary": [["Notes only"]], "More": [["Still notes"]]}))
    assert out.rows.height == 0
    [problem] = out.problems
    assert "recognizable columns" in problem.problem and "'Notes only'" in problem.problem
    assert problem.problem.endswith("(sheet 'Summary'; no other sheet holds a table either)")


def test_a_workbook_of_empty_sheets_says_so():
    [problem] = prepare("coa.xlsx", _book({"A": [], "B": []})).problems
    assert problem.problem.startswith("every sheet of the workbook (2) is empty")


def _with_hidden(sheets: dict[str, list[list[object]]], hidden: str) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title == hidden:
            sheet.sheet_state = "hidden"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_hidden_sheet_is_read_and_its_problems_say_it_is_hidden():
    other = ["Acme", "KR-1", "S1", "Arsenic", 0.1, "ppm"]
    data = _with_hidden({"Potency": [HEADER, ROW], "Old metals": [HEADER, other]}, "Old metals")
    out = prepare("coa.xlsx", data)
    assert out.problems == []
    assert out.rows["analyte"].to_list() == ["lead", "arsenic"]
    bad = ["Acme", "KR-1", "S1", "Arsenic", "lots", "ppm"]
    data = _with_hidden({"Potency": [HEADER, ROW], "Old metals": [HEADER, bad]}, "Old metals")
    [problem] = prepare("coa.xlsx", data).problems
    assert problem.problem.endswith("(hidden sheet 'Old metals')")


def test_a_result_reported_on_two_sheets_is_a_repeat_within_the_file():
    out = prepare("coa.xlsx", _book({"Potency": [HEADER, ROW], "Metals": [HEADER, ROW, ROW]}))
    assert out.rows.height > 0 and not out.accepted
    named = sorted((p.row, p.problem.rsplit("(", 1)[1]) for p in out.problems)
    assert named == [(2, "sheet 'Metals')"), (2, "sheet 'Potency')"), (3, "sheet 'Metals')")]
    assert all(p.problem.startswith("the same result appears more than once") for p in out.problems)


REGISTER = ["Batch ID", "Product ID", "Product Name", "Form", "Label claim (mg/serving)"]
REGISTER += ["Serving size (g)", "Servings per day"]


def test_a_register_over_two_sheets_is_read_whole():
    first = [REGISTER, ["KR-1", "P-1", "Leaf", "powder", 40, 2, 3]]
    second = [REGISTER, ["KR-2", "P-1", "Leaf", "powder", 40, 2, 3]]
    out = prepare("register.xlsx", _book({"2025": first, "2026": second}))
    assert out.problems == [] and out.kind == "register"
    assert out.rows["batch_id"].to_list() == ["KR-1", "KR-2"]
    twice = prepare("register.xlsx", _book({"2025": first, "2026": first}))
    assert [(p.row, p.column) for p in twice.problems] == [(2, "Batch ID"), (2, "Batch ID")]
    assert "registered on more than one sheet" in twice.problems[0].problem


def test_results_and_a_register_in_one_workbook_are_refused_with_a_sentence():
    register = [REGISTER, ["KR-1", "P-1", "Leaf", "powder", 40, 2, 3]]
    out = prepare("coa.xlsx", _book({"Metals": [HEADER, ROW], "Batches": register}))
    assert out.rows.height == 0 and out.kind is None
    [problem] = out.problems
    assert problem.row == 0
    assert problem.problem.startswith(
        "the workbook holds results (sheet 'Metals') and a batch register (sheet 'Batches')"
    )


def test_a_percent_cell_on_a_later_sheet_is_read_as_shown():
    book = Workbook()
    book.active.title = "Metals"
    book.active.append(HEADER)
    book.active.append(ROW)
    potency = book.create_sheet("Potency")
    potency.append(HEADER)
    potency.append(["Acme", "KR-1", "S1", "Mitragynine", 0.0152, "%"])
    potency["E2"].number_format = "0.00%"
    buffer = io.BytesIO()
    book.save(buffer)
    out = prepare("coa.xlsx", buffer.getvalue())
    assert out.problems == []
    assert out.rows.select("analyte", "value", "reported_result").rows() == [
        ("lead", 0.25, "0.25"),
        ("mitragynine", pytest.approx(15.2), "1.52%"),
    ]


def test_the_reader_gives_each_sheet_s_table_with_its_sheet():
    book = read_bytes(
        "coa.xlsx", _book({"Cover": COVER, "Potency": [HEADER, ROW], "Metals": [[], HEADER, ROW]})
    )
    assert isinstance(book, SheetTables)
    assert [(t.sheet, t.header_row, t.frame["source_row"].to_list()) for t in book.tables] == [
        ("Potency", 1, [2]),
        ("Metals", 2, [3]),
    ]
