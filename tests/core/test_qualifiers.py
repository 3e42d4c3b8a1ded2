"""The result-cell parser: qualifiers stay qualifiers, numbers stay exact, and
no input ever raises. The column fast path must agree with the cell parser."""

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kqc.core.cells import parse_result_column
from kqc.core.qualifiers import (
    NotTested,
    Parsed,
    Unparsable,
    parse_result,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.42", Parsed(value=1.42)),
        ("<LOQ", Parsed(qualifier="<LOQ")),
        ("< 0.50", Parsed(qualifier="<LOQ", bound=0.5)),
        ("<0.005", Parsed(qualifier="<LOQ", bound=0.005)),
        ("BLQ", Parsed(qualifier="<LOQ")),
        ("<LOD", Parsed(qualifier="<LOD")),
        ("ND", Parsed(qualifier="not_detected")),
        ("Not Detected", Parsed(qualifier="not_detected")),
        ("Not detected in 25 g", Parsed(qualifier="not_detected", test_portion_g=25.0)),
        ("Absent", Parsed(qualifier="not_detected")),
        ("Absent/25g", Parsed(qualifier="not_detected", test_portion_g=25.0)),
        ("Present", Parsed(qualifier="detected")),
        ("Detected", Parsed(qualifier="detected")),
        (">ULOQ", Parsed(qualifier=">ULOQ")),
        ("> 1000", Parsed(qualifier=">ULOQ", bound=1000.0)),
        ("TNTC", Parsed(qualifier="TNTC")),
        ("3.2E4", Parsed(value=32000.0)),
        ("3,2E4", Parsed(value=32000.0)),
        ("<10", Parsed(qualifier="<LOQ", bound=10.0)),
        ("NT", NotTested()),
        # A value with its measurement uncertainty: the value is the result.
        ("1.52 ± 0.03", Parsed(value=1.52)),
        ("1.52 +/- 0.03 %", Parsed(value=1.52, unit="%")),
        # Counts written with a power of ten, superscript or caret.
        ("1.2 x 10^3", Parsed(value=1200.0)),
        ("1.2×10³", Parsed(value=1200.0)),
        ("4.5 x 10⁻²", Parsed(value=0.045)),
        ("< 1.0 x 10^1 CFU/g", Parsed(qualifier="<LOQ", bound=10.0, unit="CFU/g")),
    ],
)
def test_known_cells(text, expected):
    assert parse_result(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Pass",
        "Fail",
        "foo",
        "1,420",
        "1,42",
        "nan",
        "inf",
        "1e999",
        "1.5 ±",
        "3 x 10^2.5",
        "1e999 ± 1",
    ],
)
def test_cells_that_are_problems(text):
    assert isinstance(parse_result(text), Unparsable)


def test_a_unit_written_in_the_result_cell_is_named_with_the_fix():
    outcome = parse_result("0.5 ppm")
    assert isinstance(outcome, Unparsable)
    assert outcome.problem == (
        "result '0.5 ppm' holds its unit: write 0.5 in the result column and 'ppm' in the unit"
        " column"
    )


def test_decimal_comma_only_where_the_file_says_so():
    assert parse_result("1,42", decimal_comma=True) == Parsed(value=1.42)
    assert isinstance(parse_result("1,42"), Unparsable)


def test_a_non_detect_is_never_a_zero():
    for text in ("ND", "<LOQ", "< 0.5", "Absent", "BLQ", "<LOD"):
        outcome = parse_result(text)
        assert isinstance(outcome, Parsed)
        assert outcome.value is None
        assert outcome.qualifier is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.booleans())
def test_any_text_is_a_result_or_a_problem(text, decimal_comma):
    outcome = parse_result(text, decimal_comma=decimal_comma)
    assert isinstance(outcome, Parsed | Unparsable | NotTested)
    if isinstance(outcome, Parsed):
        assert (outcome.value is None) != (outcome.qualifier is None)
        if outcome.value is not None:
            assert math.isfinite(outcome.value)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_numbers_round_trip_exactly(number):
    assert parse_result(repr(number)) == Parsed(value=number)


cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1.42", "<LOQ", "ND", "3,2E4", " 7 ", "", "NT", "1e999", "Absent in 25 g"]),
    st.floats(allow_nan=False).map(str),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, min_size=1, max_size=20), st.booleans())
def test_column_parser_agrees_with_cell_parser(texts, decimal_comma):
    frame = parse_result_column(pl.Series(texts, dtype=pl.String), decimal_comma=decimal_comma)
    assert frame.height == len(texts)
    for text, row in zip(texts, frame.iter_rows(named=True), strict=True):
        outcome = parse_result(text.strip(), decimal_comma=decimal_comma)
        if isinstance(outcome, Parsed):
            got = (row["value"], row["qualifier"], row["bound"], row["test_portion_g"])
            assert (*got, row["cell_unit"]) == (
                outcome.value,
                outcome.qualifier,
                outcome.bound,
                outcome.test_portion_g,
                outcome.unit,
            )
            assert row["problem"] is None
        elif isinstance(outcome, NotTested):
            assert row["not_tested"] is True
        else:
            assert row["problem"]
