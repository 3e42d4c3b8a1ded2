"""Delimited text: encodings, delimiters, header found by content, row numbers
as a spreadsheet shows them, and bad bytes turned into problems."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kqc.core.problems import Problem
from kqc.core.records import RawTable
from kqc.readers import read_bytes

CSV = b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B1,S1,Lead,0.25,ppm\nAcme,B1,S1,Nickel,1.1,ppm\n"


def table(data: bytes, name: str = "x.csv") -> RawTable:
    outcome = read_bytes(name, data)
    assert isinstance(outcome, RawTable), outcome
    return outcome


def test_comma_file_rows_are_spreadsheet_rows():
    t = table(CSV)
    assert t.frame["source_row"].to_list() == [2, 3]
    assert t.frame["Analyte"].to_list() == ["Lead", "Nickel"]
    assert not t.decimal_comma


def test_lines_ended_by_cr_alone_as_excel_for_mac_writes_them():
    cr = b"Report\r\rLab: Acme\r" + CSV.replace(b"Acme,", b"").replace(b"Lab,", b"").replace(
        b"\n", b"\r"
    )
    t = table(cr)
    assert t.frame["source_row"].to_list() == [5, 6]
    assert t.frame["Analyte"].to_list() == ["Lead", "Nickel"]
    assert t.metadata == {"Lab": "Acme"}


def test_tsv_and_semicolon_are_sniffed():
    assert table(CSV.replace(b",", b"\t"), "x.tsv").frame.height == 2
    semi = table(CSV.replace(b",", b";").replace(b"0.25", b"0,25"))
    assert semi.decimal_comma
    assert semi.frame["Result"].to_list() == ["0,25", "1.1"]


def test_the_numbers_at_the_top_show_the_files_decimal_mark():
    us = table(CSV.replace(b"1.1,ppm", b'"12,000",CFU/g'))
    assert (us.decimal_comma, us.thousands_comma) == (False, True)
    # a dot-decimal lab exporting with semicolons: 1,250 ppb is 1250 ppb
    semi = table(CSV.replace(b",", b";").replace(b"1.1", b"1,250"))
    assert (semi.decimal_comma, semi.thousands_comma) == (False, True)
    # decimal commas quoted in a comma-separated file
    eu = table(CSV.replace(b"0.25", b'"0,25"').replace(b"1.1", b'"1,1"'))
    assert (eu.decimal_comma, eu.thousands_comma) == (True, False)
    # a file with no decimal at its top shows nothing
    counts = table(CSV.replace(b"0.25", b"450").replace(b"1.1", b'"12,000"'))
    assert (counts.decimal_comma, counts.thousands_comma) == (False, False)


def test_bom_and_windows_1252():
    assert table(b"\xef\xbb\xbf" + CSV).headers[0] == "Lab"
    cp = "Lab;Batch;Sample;Analyte;Result;Unit\nAcme;B1;S1;Lead;0,25;µg/g\n".encode("cp1252")
    assert table(cp).frame["Unit"].to_list() == ["µg/g"]


def test_title_lines_above_the_header_become_metadata():
    data = b"Certificate of Analysis\nLab: Acme Labs\nReport date: 2026-11-20\n\n" + CSV
    t = table(data)
    assert t.metadata["Lab"] == "Acme Labs"
    assert t.frame["source_row"].to_list() == [6, 7]


def test_blank_lines_are_skipped_and_rows_stay_numbered():
    t = table(CSV.replace(b"ppm\nAcme", b"ppm\n\nAcme", 1))
    assert t.frame["source_row"].to_list() == [2, 4]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x00\x01\x02binary\x00junk" * 10, "not a text file"),
        (b"Lab,Batch,Sample,Analyte,Result,Unit\n", "no data rows"),
        (b"foo,bar\n1,2\n", "no header row"),
    ],
)
def test_unreadable_files_are_problems(data, fragment):
    outcome = read_bytes("x.csv", data)
    assert isinstance(outcome, list)
    assert fragment in outcome[0].problem


def test_a_row_wider_than_the_header_is_named():
    data = CSV + b"Acme,B1,S1,Lead,0,25,ppm\n"
    outcome = read_bytes("x.csv", data)
    assert isinstance(outcome, list)
    assert outcome[0].row == 4


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_a_table_or_problems(data):
    outcome = read_bytes("fuzz.csv", data)
    if isinstance(outcome, RawTable):
        assert isinstance(outcome.frame, pl.DataFrame)
        assert "source_row" in outcome.frame.columns
    else:
        assert outcome and all(isinstance(p, Problem) for p in outcome)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet='ab1.<, ;"', max_size=6), min_size=6, max_size=6),
        min_size=1,
        max_size=8,
    )
)
def test_fast_and_careful_readers_agree(rows):
    import csv
    import io

    from kqc.readers import delimited
    from kqc.readers.grid import build_table

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"], *rows]
    )
    text = buffer.getvalue()
    found = delimited.layout(delimited.head_lines(text), ",")
    assert found is not None
    body = text.encode().split(b"\n", found.header_row)[-1]
    fast = delimited.fast_frame(body, found, found.header_row + 1)
    parsed = list(csv.reader(io.StringIO(text)))
    careful = build_table(parsed, list(range(1, len(parsed) + 1)), delimiter=",")
    if fast is None or fast.height == 0:
        return
    assert isinstance(careful, RawTable)
    assert fast.fill_null("").equals(careful.frame.fill_null(""))
    # and both take the decimal mark the same numbers show
    assert found.comma_reading == {
        "decimal_comma": careful.decimal_comma,
        "thousands_comma": careful.thousands_comma,
    }


# A copy still under way ends mid-row; a lab's export never does.
CUT_HEADER = b"Lab,Batch,Sample,Analyte,Result,Unit\n"
CUT_ROW = b"Acme,B1,S1,Mitragynine,1.42,%\n"


@pytest.mark.parametrize(
    ("tail", "fields"),
    [(b"Acme,B1,S2,Lead,2", 5), (b"Acme,B1,S2,Le", 4), (b"Ac", 1), (b'Acme,"B1,S2', 2)],
)
def test_a_last_row_cut_short_without_a_line_break_rejects_the_file(tail, fields):
    from kqc.readers import read_bytes

    outcome = read_bytes("cut.csv", CUT_HEADER + CUT_ROW * 3 + tail)
    assert isinstance(outcome, list) and len(outcome) == 1, outcome
    (problem,) = outcome
    assert problem.row == 5
    assert problem.problem == (
        f"row 5 has {fields} of 6 fields and the file does not end with a line break:"
        " the file looks cut short (a copy still under way?); drop the whole file again"
    )


def test_a_cut_row_is_named_in_a_file_the_careful_reader_reads():
    from kqc.readers import read_bytes

    quoted = b'Acme,B1,"S1\nsecond line",Lead,1,ppm\n'  # a cell spanning lines
    outcome = read_bytes("cut.csv", CUT_HEADER + quoted + CUT_ROW + b"Acme,B1")
    assert isinstance(outcome, list) and [p.row for p in outcome] == [5]
    assert "2 of 6 fields" in outcome[0].problem


@pytest.mark.parametrize("end", [b"", b"\n", b"\r\n"])
def test_a_whole_last_row_reads_with_or_without_a_line_break(end):
    from kqc.readers import read_bytes

    table = read_bytes("whole.csv", CUT_HEADER + CUT_ROW + b"Acme,B1,S2,Lead,250,ppb" + end)
    assert not isinstance(table, list), table
    assert table.frame["Sample"].to_list() == ["S1", "S2"]
    assert table.frame["Unit"].to_list() == ["%", "ppb"]
    assert table.frame["source_row"].to_list() == [2, 3]


def test_a_note_line_after_a_line_break_stays_a_note():
    from kqc.readers import read_bytes

    table = read_bytes("noted.csv", CUT_HEADER + CUT_ROW + b"\nApproved by: J. Doe\n")
    assert not isinstance(table, list), table
    assert table.frame["Sample"].to_list() == ["S1"]


def test_blank_lines_keep_the_row_numbers_a_spreadsheet_shows():
    from kqc.readers import read_bytes

    data = (
        CUT_HEADER
        + b"\n"
        + CUT_ROW
        + b" , ,\t,\n\n\r\n"
        + CUT_ROW.replace(b"S1", b"S2")
        + b",,,,,\n"
        + CUT_ROW.replace(b"S1", b"S3")
        + b"\n   "
    )
    table = read_bytes("blank.csv", data)
    assert not isinstance(table, list), table
    assert table.frame.select("Sample", "source_row").rows() == [("S1", 3), ("S2", 7), ("S3", 9)]


def test_a_blank_line_inside_a_quoted_cell_is_kept():
    from kqc.readers import read_bytes

    data = CUT_HEADER + b'Acme,B1,"S1\n\nnote",Lead,1,ppm\n\n' + CUT_ROW.replace(b"S1", b"S2")
    table = read_bytes("quoted.csv", data)
    assert not isinstance(table, list), table
    assert table.frame.select("Sample", "source_row").rows() == [("S1\n\nnote", 2), ("S2", 6)]


def test_ten_million_blank_lines_cost_no_memory():
    import time
    import tracemalloc

    from kqc.readers import read_bytes

    data = CUT_HEADER + CUT_ROW + b"\n" * 10_000_000 + CUT_ROW.replace(b"S1", b"S2")
    tracemalloc.start()
    began = time.perf_counter()
    try:
        table = read_bytes("blank.csv", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not isinstance(table, list), table
    assert table.frame.select("Sample", "source_row").rows() == [("S1", 2), ("S2", 10_000_003)]
    assert peak < 40 << 20, f"peak {peak / (1 << 20):.0f} MB"
    assert time.perf_counter() - began < 10


@pytest.mark.parametrize(
    "blank_row",
    [
        b'"","","","","",""',
        b" , , , , , ",
        b"\t,,,,,",
        b"\xc2\xa0,\xc2\xa0,,,,",
        b",,,,,\xe2\x80\x83",
    ],
)
@pytest.mark.parametrize("rows_after", [0, 40_000], ids=["small", "over 1 MiB"])
def test_a_row_of_blank_cells_is_skipped_however_it_is_blank(blank_row, rows_after):
    # Quoted empties, spaces, a tab, and Unicode spaces (no-break, em): the
    # quick look at first cells (a small file) and the look at the frame (a
    # large one) must not let any of them through as a row.
    more = b"".join(b"Acme,B1,S%d,Lead,0.25,ppm\n" % i for i in range(rows_after))
    t = table(CSV.replace(b"ppm\nAcme", b"ppm\n" + blank_row + b"\nAcme", 1) + more)
    assert t.frame["source_row"].to_list()[:2] == [2, 4]
    assert t.frame.height == 2 + rows_after
