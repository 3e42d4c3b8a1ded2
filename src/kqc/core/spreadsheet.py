"""Text bound for a spreadsheet program, made inert.

A lab's file is untrusted: a cell such as `=HYPERLINK("http://x", "click")`
or `@SUM(...)` in a result, a sample id or a note would run as a formula when a
QA lead opens an export (or errors.csv) in Excel or LibreOffice. Every text
cell that starts like a formula gets a leading apostrophe, the usual way to say
"this is text" (OWASP, CSV injection). Numbers are never touched: a negative
result stays the number it is, not text.
"""

from __future__ import annotations

import re

import polars as pl

# The characters a spreadsheet program reads as the start of a formula, and
# the tab / carriage return that let one hide behind a field separator.
# Excel and LibreOffice also read a formula after leading spaces (" =1+1")
# and from the full-width forms an East Asian keyboard types (＝ ＋ － ＠).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_STARTS_LIKE_A_FORMULA = "^(?:[\t\r]|[ \t\r\n]*[=+\\-@＝＋－＠])"
_FORMULA = re.compile(_STARTS_LIKE_A_FORMULA)


def neutralized(text: str) -> str:
    """`text`, with a leading apostrophe when a spreadsheet would run it."""
    return "'" + text if _FORMULA.match(text) else text


def neutralized_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column neutralized cell by cell; other columns as they were."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_STARTS_LIKE_A_FORMULA))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )
