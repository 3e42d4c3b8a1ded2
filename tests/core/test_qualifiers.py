"""The result-cell parser: qualifiers stay qualifiers, numbers stay exact, and
no input ever raises. The column fast path must agree with the cell parser."""

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kqc.core.cells import join_qualifier_column, parse_result_column
from kqc.core.qualifiers import (
    CENSORED_BELOW,
    NotTested,
    Parsed,
    Qualified,
    Unparsable,
    parse_result,
    with_qualifier_code,
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
        # As LIMS and certificates also write them.
        ("Non-detect", Parsed(qualifier="not_detected")),
        ("Not Present", Parsed(qualifier="not_detected")),
        ("NR", NotTested()),
        ("–", NotTested()),
        ("12.5 (mg/g)", Parsed(value=12.5, unit="mg/g")),
        ("<0.05 (ppm)", Parsed(qualifier="<LOQ", bound=0.05, unit="ppm")),
        # An estimate is the value as measured, as the code J says.
        ("~0.5", Parsed(value=0.5)),
        ("Est. 1.2", Parsed(value=1.2)),
        ("0.5 (est)", Parsed(value=0.5)),
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


def test_a_known_unit_after_a_number_is_kept_for_the_unit_column_to_confirm():
    assert parse_result("0.5 ppm") == Parsed(value=0.5, unit="ppm")
    assert parse_result("1.52%") == Parsed(value=1.52, unit="%")


def test_an_unknown_word_after_a_number_is_named_with_the_fix():
    outcome = parse_result("0.5 furlongs")
    assert isinstance(outcome, Unparsable)
    assert outcome.problem == (
        "result '0.5 furlongs' holds its unit: write 0.5 in the result column and 'furlongs' in"
        " the unit column"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ND (<0.01)", Parsed(qualifier="not_detected", bound=0.01)),
        ("ND<0.01", Parsed(qualifier="not_detected", bound=0.01)),
        ("ND (0.01)", Parsed(qualifier="not_detected", bound=0.01)),
        ("BLQ (<0.05)", Parsed(qualifier="<LOQ", bound=0.05)),
        ("< LOQ (0.05)", Parsed(qualifier="<LOQ", bound=0.05)),
        ("<0.05 (LOQ)", Parsed(qualifier="<LOQ", bound=0.05)),
        ("<0.01 (LOD)", Parsed(qualifier="<LOD", bound=0.01)),
        ("> 1000 (ULOQ)", Parsed(qualifier=">ULOQ", bound=1000.0)),
        ("Not Detected (<10 CFU/g)", Parsed(qualifier="not_detected", bound=10.0, unit="CFU/g")),
        ("N.D. (< 0.005 ppm)", Parsed(qualifier="not_detected", bound=0.005, unit="ppm")),
    ],
)
def test_a_non_detect_written_with_its_limit_keeps_the_limit(text, expected):
    assert parse_result(text) == expected


@pytest.mark.parametrize("text", ["Present (<10)", "ND (>5)", "Detected (<0.1)"])
def test_a_qualifier_and_a_limit_that_disagree_are_refused(text):
    outcome = parse_result(text)
    assert isinstance(outcome, Unparsable) and "two different things" in outcome.problem


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


# A qualifier column beside the result, as LIMS and EPA-style reports write it.
@pytest.mark.parametrize(
    ("result", "code", "read_as", "qualifier", "bound", "value"),
    [
        ("0.05", "U", "0.05 U", "<LOQ", 0.05, None),
        ("0.05", "u", "0.05 u", "<LOQ", 0.05, None),
        ("12", "UJ", "12 UJ", "<LOQ", 12.0, None),
        ("0.05", "<", "<0.05", "<LOQ", 0.05, None),
        ("0.05", "ND", "0.05 ND", "<LOQ", 0.05, None),
        ("1000", ">", ">1000", ">ULOQ", 1000.0, None),
        ("0.021", "J", "0.021 J", None, None, 0.021),
        ("0.3", "B", "0.3 B", None, None, 0.3),
        (None, "ND", "ND", "not_detected", None, None),
        ("<0.05", "<", "<0.05", "<LOQ", 0.05, None),
        ("ND", "U", "ND U", "not_detected", None, None),
        ("TNTC", ">", "TNTC", "TNTC", None, None),
    ],
)
def test_a_qualifier_column_is_read_with_its_result(result, code, read_as, qualifier, bound, value):
    joined = with_qualifier_code(result, code)
    assert joined.problem is None
    assert joined.shown == read_as
    outcome = parse_result(joined.text or "")
    assert outcome == Parsed(value=value, qualifier=qualifier, bound=bound)


@pytest.mark.parametrize(
    ("result", "code", "says"),
    [
        ("0.05", "*", "qualifier '*' is not known"),
        ("0.05", "E", "qualifier 'E' is not known"),
        (None, "<", "has no number in the result column"),
        ("<0.05", "J", "say different things"),
        ("ND", ">", "say different things"),
        ("Present", "U", "say different things"),
    ],
)
def test_a_qualifier_code_that_cannot_be_read_is_named(result, code, says):
    assert says in (with_qualifier_code(result, code).problem or "")


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(["U", "ND", "<", "UJ", "<RL", " u "]),
)
def test_a_number_beside_a_non_detect_code_is_never_a_detection(number, code):
    joined = with_qualifier_code(repr(number), code)
    outcome = parse_result(joined.text or "")
    assert isinstance(outcome, Parsed)
    assert outcome.value is None
    assert outcome.qualifier in CENSORED_BELOW
    assert outcome.bound == number


def test_the_qualifier_column_reads_each_row_as_the_cell_function_does():
    results = pl.Series(["0.05", "0.05", None, "1.2", "0.02", "0.05"], dtype=pl.String)
    codes = pl.Series(["U", "", "ND", None, "J", "*"], dtype=pl.String)
    joined = join_qualifier_column(results, codes, decimal_comma=False)
    expected = [
        with_qualifier_code("0.05", "U"),
        Qualified("0.05", "0.05"),
        with_qualifier_code(None, "ND"),
        Qualified("1.2", "1.2"),
        with_qualifier_code("0.02", "J"),
        with_qualifier_code("0.05", "*"),
    ]
    assert [Qualified(*row) for row in joined.iter_rows()] == expected


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(["U", "UJ", "J", "B", "u", "j"]),
    st.sampled_from(["{} {}", "{}{}", "{} ({})"]),
)
def test_a_code_written_in_the_result_cell_reads_as_in_a_column_of_its_own(number, code, shape):
    joined = with_qualifier_code(repr(number), code)
    assert parse_result(shape.format(repr(number), code)) == parse_result(joined.text or "")


@pytest.mark.parametrize("cell", ["0.52", "<0.05", "ND", "Absent in 25 g", "1.52 %", "0.05 U"])
@pytest.mark.parametrize("mark", ["*", "**", " *", "†", "‡"])
def test_a_footnote_mark_after_a_result_leaves_the_result(cell, mark):
    assert parse_result(cell + mark) == parse_result(cell)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("*", "neither a number nor a known qualifier"),
        (">10 U", "say different things"),  # above, yet not detected
        ("0.52 E", "holds its unit"),  # E is no code kqc reads
    ],
)
def test_a_mark_or_code_that_cannot_be_read_is_still_refused(cell, says):
    outcome = parse_result(cell)
    assert isinstance(outcome, Unparsable) and says in outcome.problem


@pytest.mark.parametrize("cell", ["#N/A", "#VALUE!", "#DIV/0!", "#REF!", "#NAME?", "#num!"])
def test_a_spreadsheet_error_is_named_as_one(cell):
    outcome = parse_result(cell)
    assert isinstance(outcome, Unparsable)
    assert outcome.problem == (
        f"'{cell}' is a spreadsheet error, not a value: correct the formula in the lab's sheet"
        " and export the file again"
    )


@pytest.mark.parametrize("text", ["Pending", "In progress", "To follow", "Retest"])
def test_a_result_not_yet_final_is_refused_as_such(text):
    outcome = parse_result(text)
    assert isinstance(outcome, Unparsable)
    assert outcome.problem.startswith(f"result '{text}' is not final")


@pytest.mark.parametrize("text", ["Trace", "~<0.5", "12.5 (foo)"])
def test_what_says_no_value_stays_refused(text):
    # 'Trace' of an adulterant is a detection no number stands for.
    assert isinstance(parse_result(text), Unparsable)


def test_a_footnote_mark_after_a_limit_leaves_the_limit():
    from kqc.core.qualifiers import parse_number

    assert parse_number("0.05*") == parse_number("0.05 †") == 0.05
    assert isinstance(parse_number("*"), str)
