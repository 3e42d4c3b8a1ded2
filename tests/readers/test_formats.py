"""Property tests across formats: whatever bytes or cell text arrive, the
outcome is a table or problems, never an exception."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from kqc.core.problems import Problem
from kqc.core.records import RawTable
from kqc.pipeline.prepare import prepare
from kqc.readers import read_bytes
from tests.readers.books import workbook

HEADER = ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]
cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)


def _is_outcome(outcome) -> bool:
    if isinstance(outcome, RawTable):
        return "source_row" in outcome.frame.columns
    return bool(outcome) and all(isinstance(p, Problem) for p in outcome)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["x.xlsx", "x.json", "x.jsonl", "x.tsv", "x"]))
def test_any_bytes_under_any_name(data, name):
    assert _is_outcome(read_bytes(name, data))


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_zip_looking_bytes(data):
    assert _is_outcome(read_bytes("x.xlsx", b"PK\x03\x04" + data))


def _workbook(rows: list[list[object]]) -> bytes:
    return workbook({"Sheet": rows})


# Text a workbook can hold: openpyxl refuses the control characters XML 1.0
# forbids, so they are never generated rather than caught.
sheet_text = cell_text.filter(lambda text: not ILLEGAL_CHARACTERS_RE.search(text))
# One analyte per row (and one sample per row), so no two rows repeat a result
# whatever one garbled cell becomes.
ANALYTES = ["Lead", "Cadmium", "Arsenic", "Mercury", "Mitragynine"]
# A result cell that says no result was reported: the row is left out, no problem.
NOT_REPORTED = {"nt", "not tested", "nr", "not reported"}


@st.composite
def results_sheet(draw, garbled: bool) -> tuple[list[list[object]], tuple[int, int, object] | None]:
    """Valid rows and, when garbled, one of their cells replaced by anything a
    cell can hold; returns the rows and (row index, column index, new cell)."""
    count = draw(st.integers(min_value=1, max_value=len(ANALYTES)))
    analytes = draw(st.permutations(ANALYTES))[:count]
    results = draw(st.lists(st.floats(0, 1000), min_size=count, max_size=count))
    rows: list[list[object]] = [
        ["Acme", "B1", f"S{i + 1}", analyte, result, "mg/g" if analyte == "Mitragynine" else "ppm"]
        for i, (analyte, result) in enumerate(zip(analytes, results, strict=True))
    ]
    if not garbled:
        return rows, None
    row, column, cell = garble = draw(
        st.tuples(
            st.integers(0, count - 1),
            st.integers(0, len(HEADER) - 1),
            sheet_text | st.floats(allow_nan=False) | st.sampled_from(sorted(NOT_REPORTED)),
        )
    )
    rows[row][column] = cell
    return rows, garble


def _assert_every_row_stored_or_named(
    rows: list[list[object]], garble: tuple[int, int, object] | None
) -> None:
    """Each row of the sheet is stored, or a problem names it (its row and
    column, or its row as a whole), or its result says it was not reported;
    a valid row always stores, and no exception escapes."""
    outcome = prepare("x.xlsx", _workbook([HEADER, *rows]))
    sheet_rows = set(range(2, len(rows) + 2))  # as a spreadsheet numbers them
    stored = outcome.rows["source_row"].to_list() if outcome.rows.height else []
    assert len(stored) == len(set(stored)) and set(stored) <= sheet_rows
    if garble is None:
        assert outcome.problems == [] and sorted(stored) == sorted(sheet_rows)
        return
    garbled_row, garbled_column = garble[0] + 2, HEADER[garble[1]]
    for problem in outcome.problems:
        assert problem.problem.strip(), problem  # one sentence, never blank
        if problem.row == 0:  # the file as a whole: only when no row could be stored
            assert stored == [], problem
        else:  # the garbled cell, or its row as a whole (`(row)`), and no other
            assert problem.row == garbled_row, problem
            assert problem.column in (garbled_column, "(row)"), problem
    assert set(stored) >= sheet_rows - {garbled_row}  # the other rows are all stored
    if garbled_row not in stored and garbled_row not in {p.row for p in outcome.problems}:
        # Left out without a word about its row only as a result not reported.
        assert garbled_column == "Result" and str(garble[2]).strip().lower() in NOT_REPORTED


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results_sheet(garbled=False))
def test_every_valid_row_of_a_workbook_is_stored(sheet):
    _assert_every_row_stored_or_named(*sheet)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results_sheet(garbled=True))
def test_every_row_of_a_workbook_is_stored_or_named_in_a_problem(sheet):
    _assert_every_row_stored_or_named(*sheet)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(HEADER),
            st.none()
            | st.integers()
            | st.floats()
            | cell_text
            | st.lists(st.integers(), max_size=2),
        ),
        max_size=5,
    )
)
def test_arbitrary_json_records(records):
    outcome = prepare("x.json", json.dumps(records).encode())
    assert outcome.problems or outcome.rows.height > 0


def test_a_pdf_or_a_document_is_named_for_what_it_is():
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    for name in ("coa.pdf", "coa.csv"):  # by its bytes, whatever its name
        (problem,) = prepare(name, pdf).problems
        assert problem.problem.startswith("a PDF certificate is not read: export the results")
    rtf = b"{\\rtf1\\ansi Lab,Batch\\par}"
    docx = _workbook([["Lab", "Batch"]])  # a zip, as a .docx is
    for name, data in (("coa.rtf", rtf), ("coa.docx", docx)):
        (problem,) = prepare(name, data).problems
        assert problem.problem.startswith("a word-processor document is not read")


def test_json_strings_show_the_decimal_mark_as_a_workbooks_text_cells_do():
    def records(*rows):
        return json.dumps(
            [
                dict(zip(["lab", "batch", "sample", "analyte", "result", "unit"], row, strict=True))
                for row in rows
            ]
        ).encode()

    us = prepare(
        "r.json",
        records(
            ["Acme", "B1", "S1", "Lead", "<0.05", "ppm"],
            ["Acme", "B1", "S1", "TYMC", "12,000", "CFU/g"],
            ["Acme", "B1", "S1", "Mitragynine", 1.52, "%"],  # a JSON number: kqc prints it
        ),
    )
    assert us.problems == []
    assert us.rows.select("analyte", "value").rows()[1:] == [
        ("tymc", 12000.0),
        ("mitragynine", 15.2),
    ]
    numbers_only = prepare(
        "r.json",
        records(
            ["Acme", "B1", "S1", "Mitragynine", 1.52, "%"],
            ["Acme", "B1", "S1", "Nickel", "1,250", "ppb"],
        ),
    )
    assert "ambiguous number '1,250'" in str(numbers_only.problems)
