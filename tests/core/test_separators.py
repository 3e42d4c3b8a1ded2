"""Commas grouping thousands, and the decimal mark a file's numbers show."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kqc.core.separators import comma_is_decimal, decimal_mark, without_grouping


@given(st.integers(min_value=1000, max_value=10**12), st.booleans())
def test_a_number_grouped_with_commas_reads_as_written_without_them(number, one_group):
    written = f"{number:,}"
    read = without_grouping(f"<{written} CFU/g", one_group=one_group)
    if one_group or written.count(",") > 1:
        assert read == f"<{number} CFU/g"
    else:  # '12,000' alone: twelve thousand, or twelve with three decimals
        assert read == f"<{written} CFU/g"


@given(st.floats(min_value=1000, max_value=1e9))
def test_a_grouped_number_with_decimals_is_never_ambiguous(number):
    assert without_grouping(f"{number:,.2f}", one_group=False) == f"{number:.2f}"


@pytest.mark.parametrize(
    "text", ["0,500", "2,5", "12,0000", "1,2 x 10^3", "AOAC 2017,14", "12,000,5", "3,2E4"]
)
def test_what_is_no_thousands_group_is_left_alone(text):
    assert without_grouping(text, one_group=True) == text


@pytest.mark.parametrize(
    ("cells", "mark"),
    [
        (["9.21", "<0.01", "12,000"], "."),
        (["0.017 %", "450"], "."),
        (["0,017", "1.250"], ","),
        (["2,5 mg/g", "ND"], ","),
        (["0.5", "0,5"], None),  # both: the file does not settle it
        (["450", "12,000", "1.250", "<10"], None),  # neither: no decimal anywhere
        (["AOAC 2017.14", "01.02.2024", "Lot 4.5a"], None),  # not numbers
    ],
)
def test_the_decimal_mark_is_what_the_number_cells_show(cells, mark):
    assert decimal_mark(cells) == mark


def test_a_semicolon_file_takes_the_comma_as_decimal_unless_its_numbers_show_the_dot():
    assert comma_is_decimal(";", None) and comma_is_decimal(";", ",")
    assert not comma_is_decimal(";", ".")
    assert not comma_is_decimal(",", None) and comma_is_decimal(",", ",")
