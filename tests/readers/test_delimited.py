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
