"""Which sheet of a workbook is read: one named 'results', else the first,
else (when the first holds no table kqc knows) the first sheet that does."""

from kqc.flows.prepare import prepare
from tests.readers.books import workbook as _book

HEADER = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
ROW = ["Acme", "KR-1", "S1", "Lead", 0.25, "ppm"]


def test_a_cover_sheet_first_and_the_table_on_another():
    data = _book(
        {
            "Summary": [
                ["Certificate of Analysis"],
                ["Client:", "Green Leaf"],
                ["Overall:", "PASS"],
            ],
            "Analytical Results": [HEADER, ROW],
        }
    )
    out = prepare("coa.xlsx", data)
    assert out.problems == []
    assert out.rows.select("analyte", "value").rows() == [("lead", 0.25)]


def test_an_empty_first_sheet_is_passed_over():
    out = prepare("coa.xlsx", _book({"Sheet1": [], "Data": [HEADER, ROW]}))
    assert out.problems == [] and out.rows.height == 1


def test_the_first_sheet_is_read_when_it_holds_a_table_even_if_another_does_too():
    other = ["Acme", "KR-2", "S2", "Nickel", 1.5, "ppm"]
    out = prepare("coa.xlsx", _book({"First": [HEADER, ROW], "Second": [HEADER, other]}))
    assert out.rows["batch_id"].to_list() == ["KR-1"]


def test_a_sheet_named_results_wins_wherever_it_is():
    other = ["Acme", "KR-2", "S2", "Nickel", 1.5, "ppm"]
    out = prepare("coa.xlsx", _book({"First": [HEADER, ROW], "Results": [HEADER, other]}))
    assert out.rows["batch_id"].to_list() == ["KR-2"]


def test_no_sheet_with_a_table_names_the_first_sheet_s_problem():
    out = prepare("coa.xlsx", _book({"Summary": [["Notes only"]], "More": [["Still notes"]]}))
    assert out.rows.height == 0
    assert "recognizable columns" in out.problems[0].problem
    assert "'Notes only'" in out.problems[0].problem


def test_problems_on_a_later_sheet_name_that_sheet():
    # The lab opens the workbook on its cover sheet: row 3 alone would point there.
    bad = ["Acme", "KR-1", "S2", "Lead", "lots", "ppm"]
    data = _book(
        {"Summary": [["Certificate of Analysis"]], "Analytical Results": [HEADER, ROW, bad]}
    )
    out = prepare("coa.xlsx", data)
    [problem] = out.problems
    assert (problem.row, problem.column, problem.value) == (3, "Result", "lots")
    assert problem.problem.endswith("(sheet 'Analytical Results')")
    first = prepare("coa.xlsx", _book({"Data": [HEADER, ROW, bad]}))
    assert "sheet" not in first.problems[0].problem
