"""Notes under a certificate's table ("Approved by: …") are not rows: a file
that ends with them is accepted with its results, while a row that names an
analyte or holds a result is always a row, named in the errors file when it
is incomplete."""

import io

import polars as pl
from openpyxl import Workbook

from kqc.pipeline.prepare import Streamed, prepare, prepare_path

TABLE = (
    "Certificate of Analysis\n"
    "Client: Green Leaf Botanicals\n"
    "\n"
    "Lab,Lot #,Sample ID,Test,Result,Units,LOQ\n"
    "Acme Labs,KR-1001,S1,Lead (Pb),0.42,ppm,0.05\n"
    "Acme Labs,KR-1001,S1,Arsenic,ND,ppm,0.05\n"
    "Acme Labs,KR-1001,S1,Mitragynine,1.62,% w/w,0.01\n"
)
# A signature line with a comma reads as two cells; a legend as one.
FOOTER = (
    "\n"
    "Approved by: J. Smith, Lab Director\n"
    "ND = not detected; LOQ = limit of quantitation\n"
    ",,,,,,\n"
    "End of report\n"
)


def test_a_certificate_ending_with_notes_is_accepted_with_its_results():
    outcome = prepare("coa.csv", (TABLE + FOOTER).encode())
    assert outcome.problems == []
    assert outcome.rows["analyte"].to_list() == ["lead", "arsenic", "mitragynine"]
    assert outcome.rows["source_row"].to_list() == [5, 6, 7]


def test_notes_directly_under_the_table_and_with_crlf():
    text = TABLE + "Approved by: J. Smith\nPage 1 of 1\n"
    outcome = prepare("coa.csv", text.replace("\n", "\r\n").encode())
    assert outcome.problems == [] and outcome.rows.height == 3


def test_an_incomplete_last_row_is_a_row_and_is_named():
    # An analyte without a result, then a result without an analyte.
    text = TABLE + "Acme Labs,KR-1001,S1,Cadmium,,ppm,0.05\nAcme Labs,KR-1001,S1,,0.2,ppm,0.05\n"
    outcome = prepare("coa.csv", (text + FOOTER).encode())
    assert [(p.row, p.column) for p in outcome.problems] == [(8, "Result"), (9, "Test")]
    assert not outcome.accepted


def test_a_line_without_a_result_above_more_results_is_named():
    lines = TABLE.splitlines(keepends=True)
    # Two cells: a lone one would be a section heading (the next test).
    text = "".join(lines[:5]) + "Approved by: J. Smith,,,,,2026-01-05\n" + "".join(lines[5:])
    outcome = prepare("coa.csv", text.encode())
    assert {(p.row, p.column) for p in outcome.problems} >= {(6, "Sample ID"), (6, "Test")}


def test_section_headings_between_results_are_left_out_across_chunks(tmp_path):
    lines = TABLE.splitlines(keepends=True)
    text = "".join(lines[:4]) + "Heavy Metals\n" + lines[4] + ",,,Microbiology,,\n"
    text += "".join(lines[5:])
    whole = prepare("coa.csv", text.encode())
    assert whole.problems == [] and whole.rows["source_row"].to_list() == [6, 8, 9]
    path = tmp_path / "coa.csv"
    path.write_bytes(text.encode())
    streamed = prepare_path(path.name, path, chunk_bytes=60, stream_from=0)
    assert isinstance(streamed, Streamed)
    assert pl.concat(list(streamed.chunks)).equals(whole.rows) and streamed.problems == []


def test_a_table_of_nothing_but_such_rows_is_named_row_by_row():
    text = "Lab,Lot #,Sample ID,Test,Result,Units\nAcme,KR-1,S1,,,ppm\nAcme,KR-1,S2,,,ppm\n"
    outcome = prepare("coa.csv", text.encode())
    assert {(p.row, p.column) for p in outcome.problems} == {
        (2, "Test"),
        (2, "Result"),
        (3, "Test"),
        (3, "Result"),
    }


def test_a_workbook_with_a_signature_under_its_table():
    book = Workbook()
    sheet = book.active
    sheet.append(["Certificate of Analysis"])
    sheet.append(["Lab:", "Borneo Analytical"])
    sheet.append(["Batch:", "KR-77"])
    sheet.append([])
    sheet.append(["Sample ID", "Analyte", "Result", "Units"])
    sheet.append(["S1", "Mitragynine", 1.52, "%"])
    sheet.append(["S1", "Lead", 0.31, "ppm"])
    sheet.append([])
    sheet.append(["Approved by: Dr. A. Rahman"])
    sheet.append(["Results relate only to the sample tested."])
    data = io.BytesIO()
    book.save(data)
    outcome = prepare("coa.xlsx", data.getvalue())
    assert outcome.problems == []
    assert outcome.rows["source_row"].to_list() == [6, 7]
    assert outcome.rows["batch_id"].to_list() == ["KR-77", "KR-77"]


def test_json_records_have_no_notes():
    text = '[{"lab": "Acme", "batch": "KR-1", "sample": "S1", "analyte": "Lead",'
    text += ' "result": "0.2", "unit": "ppm"}, {"lab": "Acme", "batch": "KR-1"}]'
    outcome = prepare("r.json", text.encode())
    assert not outcome.accepted
    assert {(p.row, p.problem.split(" ")[0]) for p in outcome.problems} >= {(2, "analyte")}
