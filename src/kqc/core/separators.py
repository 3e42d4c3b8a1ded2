"""Commas that group thousands in a number ('12,000 CFU/g', '1,500,000').

A US lab's export writes counts and large amounts with commas between groups
of three digits. Where the comma is not the decimal mark (every file but a
semicolon-separated one), a number the comma cannot make a decimal
('1,500,000', '1,250.5') is read with its commas taken out. A number with one
group ('12,000') reads two ways, twelve thousand or twelve written with three
decimals, 1,000 times apart; the file's other numbers settle it. A lab writes
all its numbers one way, so '0.017' or '9.21' beside '12,000' shows the dot is
the decimal mark and the comma groups thousands, unless some number also shows
a decimal comma ('0,5').

Only numbers the lab wrote as text show this: every cell of a delimited
file, a workbook's text cells ('<0.01', '0.52 %') and JSON strings; numeric
cells and JSON numbers are printed by kqc, always with a dot, and show
nothing. The rows at the top of the file decide for the whole file, so a
file streamed in chunks reads as it does whole; a file whose top holds no
decimal written as text (counts first, a workbook of numeric cells) keeps one
group refused, except in a plate count, which is a whole number
(`kqc.core.normalize`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypedDict

# Groups of three digits after commas, the first group not starting with 0
# ('0,500' is a decimal comma), with an optional decimal fraction.
_GROUPED = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?(?![\d.,])")
# A number as a cell holds it, with a sign before and a unit after: only such
# cells show how the lab writes numbers (a method 'AOAC 2017.14' or a date
# '01.02.2024' does not).
_NUMBER_CELL = re.compile(r"^[<>≤≥]?\s*[0-9][0-9.,]*\s*(?:[a-zA-Zµμ%/ ]+)?$")
# A decimal mark no thousands separator could be: a leading 0 ('0.017'), or
# other than three digits after it ('9.21', '0.0025').
_DOT_DECIMAL = re.compile(r"(?<![0-9.,])(?:0\.[0-9]+|[0-9]+\.(?:[0-9]{1,2}|[0-9]{4,}))(?![0-9.,])")
_COMMA_DECIMAL = re.compile(_DOT_DECIMAL.pattern.replace(r"\.", ","))


def without_grouping(text: str, *, one_group: bool) -> str:
    """`text` with the commas taken out of the numbers they group; one group
    of three ('12,000') only when `one_group` (the file shows the dot is its
    decimal mark). Call it only where the comma is not the decimal mark."""
    if "," not in text:
        return text

    def ungrouped(match: re.Match[str]) -> str:
        number = match.group(0)
        unambiguous = number.count(",") > 1 or "." in number
        return number.replace(",", "") if unambiguous or one_group else number

    return _GROUPED.sub(ungrouped, text)


def comma_is_decimal(delimiter: str, mark: str | None) -> bool:
    """A semicolon-separated file is written where the comma is the decimal
    mark, unless its numbers show the dot is (a dot-decimal lab that exports
    with semicolons). `delimiter` is empty for a workbook or JSON."""
    return mark == "," or (mark is None and delimiter == ";")


class CommaReading(TypedDict):
    """RawTable's two flags for what a comma in a number means."""

    decimal_comma: bool
    thousands_comma: bool


def comma_reading(delimiter: str, mark: str | None) -> CommaReading:
    """RawTable's `decimal_comma` and `thousands_comma` for a table whose
    numbers show `mark`, as every reader sets them."""
    return CommaReading(
        decimal_comma=comma_is_decimal(delimiter, mark), thousands_comma=mark == "."
    )


def decimal_mark(cells: Iterable[str | None]) -> str | None:
    """The decimal mark the number cells among `cells` show: '.' or ',' when
    some show one and none the other; None when none or both do. Readers of
    delimited text ask it of the rows at the top of the file
    (`kqc.readers.grid.HEAD_ROWS` lines), so a file streamed in chunks is read
    as the same file read whole."""
    numbers = [c.strip() for c in cells if c and _NUMBER_CELL.match(c.strip())]
    dot = any(_DOT_DECIMAL.search(c) for c in numbers)
    comma = any(_COMMA_DECIMAL.search(c) for c in numbers)
    return None if dot == comma else "." if dot else ","
