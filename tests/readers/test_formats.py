"""Property tests across formats: whatever bytes or cell text arrive, the
outcome is a table or problems, never an exception."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kqc.core.problems import Problem
from kqc.core.records import RawTable
from kqc.flows.prepare import prepare
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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(cell_text | st.floats(allow_nan=False), min_size=6, max_size=6),
        min_size=1,
        max_size=5,
    )
)
def test_arbitrary_cells_in_a_workbook_give_rows_or_problems(rows):
    try:
        data = _workbook([HEADER, *rows])
    except Exception:  # openpyxl refuses some control characters: not our input
        return
    outcome = prepare("x.xlsx", data)
    assert outcome.problems or outcome.rows.height >= 0
    assert all(p.row >= 0 for p in outcome.problems)


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
