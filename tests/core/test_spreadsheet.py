"""Text for a spreadsheet program made inert (core/spreadsheet.py): a lab's
cell that starts like a formula arrives as text; numbers stay numbers."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kqc.core.spreadsheet import FORMULA_STARTS, neutralized, neutralized_frame


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://evil.example","open")', '\'=HYPERLINK("http://evil.example","open")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("<LOQ", "<LOQ"),
        ("Lead", "Lead"),
        ("1.5 = ok", "1.5 = ok"),
        ("", ""),
    ],
)
def test_neutralized(text, expected):
    assert neutralized(text) == expected


@given(st.text())
def test_no_neutralized_text_starts_like_a_formula(text):
    shown = neutralized(text)
    assert not shown.startswith(FORMULA_STARTS)
    assert shown.removeprefix("'") == text or shown == text


def test_frames_keep_numbers_and_neutralize_every_text_column():
    frame = pl.DataFrame(
        {
            "sample_id": ['=HYPERLINK("http://x","y")', "S2", None],
            "method": ["@SUM(1)", "AOAC 2015.01", "-x"],
            "value": [-0.5, 1.25, None],
            "n": [1, -2, 3],
        }
    )
    shown = neutralized_frame(frame)
    assert shown["sample_id"].to_list() == ['\'=HYPERLINK("http://x","y")', "S2", None]
    assert shown["method"].to_list() == ["'@SUM(1)", "AOAC 2015.01", "'-x"]
    # a negative number is a number, not text that looks like a formula
    assert shown["value"].to_list() == [-0.5, 1.25, None]
    assert shown["n"].to_list() == [1, -2, 3]
    assert shown.schema == frame.schema
    # one definition: the frame form agrees with the cell form
    for column in ("sample_id", "method"):
        expected = [None if v is None else neutralized(v) for v in frame[column].to_list()]
        assert shown[column].to_list() == expected


@pytest.mark.parametrize(
    "text",
    ["  =1+1", " \t@SUM(A1)", '＝HYPERLINK("x")', "＋1", "－1", "＠A1", "\tx", "\rx", "\n=1"],
)
def test_formulas_after_spaces_and_full_width_signs_are_neutralized(text):
    assert neutralized(text) == "'" + text
    frame = neutralized_frame(pl.DataFrame({"t": [text, "Lead"]}))
    assert frame["t"].to_list() == ["'" + text, "Lead"]


@pytest.mark.parametrize("text", [" Lead", "1 = 1", "S-1", "a＝b", "  "])
def test_text_that_is_no_formula_stays_as_it_is(text):
    assert neutralized(text) == text
    assert neutralized_frame(pl.DataFrame({"t": [text]}))["t"].to_list() == [text]
