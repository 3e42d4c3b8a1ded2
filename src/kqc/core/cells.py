"""Column-at-a-time cell parsing: numbers on a fast path, the rest one by one.

Result and limit columns are mostly plain numbers; those are cast by Polars in
bulk. Only the distinct texts that are not plain numbers ("<LOQ", "3,2E4",
"Absent in 25 g") go through the Python parser, so a million-row file costs
what its few distinct qualifiers cost. `kqc.core.qualifiers.parse_result` stays
the single definition: the fast path only takes texts it would read as
`float(text)`.
"""

from __future__ import annotations

import polars as pl

from kqc.core.qualifiers import (
    PLAIN_NUMBER,
    NotTested,
    Parsed,
    parse_number,
    parse_result,
    with_qualifier_code,
)
from kqc.core.separators import without_grouping

RESULT_PARTS: dict[str, pl.DataType] = {
    "value": pl.Float64(),
    "qualifier": pl.String(),
    "bound": pl.Float64(),
    "test_portion_g": pl.Float64(),
    "cell_unit": pl.String(),
    "not_tested": pl.Boolean(),
    "problem": pl.String(),
}


def _is_plain(col: str) -> pl.Expr:
    return pl.col(col).str.contains(PLAIN_NUMBER)


def parse_result_column(
    texts: pl.Series, *, decimal_comma: bool, one_group: bool = False
) -> pl.DataFrame:
    """One row per input text: value, qualifier, bound, test_portion_g,
    cell_unit (a unit written after the number), not_tested and problem
    (NULL when the cell reads cleanly). Commas grouping thousands are read
    as `kqc.core.separators` says."""
    frame = pl.DataFrame({"text": texts.cast(pl.String).str.strip_chars()})
    plain = frame.select(_is_plain("text").fill_null(False)).to_series()
    others = frame.filter(~plain).unique()
    looked_up = pl.DataFrame(
        [_result_parts(t, decimal_comma, one_group) for t in others["text"].to_list()],
        schema={"text": pl.String(), **RESULT_PARTS},
        orient="row",
    )
    joined = frame.join(looked_up, on="text", how="left", nulls_equal=True, maintain_order="left")
    cast = pl.col("text").cast(pl.Float64, strict=False)
    overflow = pl.lit(plain) & cast.is_infinite()
    return joined.with_columns(
        pl.when(overflow)
        .then(None)
        .when(plain)
        .then(cast)
        .otherwise(pl.col("value"))
        .alias("value"),
        pl.when(plain).then(pl.lit(False)).otherwise(pl.col("not_tested")).alias("not_tested"),
        pl.when(overflow)
        .then(pl.format("'{}' is not a finite number", pl.col("text")))
        .otherwise(pl.col("problem"))
        .alias("problem"),
    ).select(list(RESULT_PARTS))


def with_lookup(
    frame: pl.DataFrame,
    rows: list[tuple[object, ...]],
    schema: dict[str, pl.DataType],
    on: list[str],
) -> pl.DataFrame:
    """`frame` with the columns of `rows` joined on by the `on` columns (rows
    are tuples in `schema` order, one per distinct key, each computed once in
    Python); frame order kept, NULL keys matching NULL."""
    looked_up = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.join(looked_up, on=on, how="left", nulls_equal=True, maintain_order="left")


def join_qualifier_column(
    results: pl.Series, codes: pl.Series, *, decimal_comma: bool, one_group: bool = False
) -> pl.DataFrame:
    """One row per result: `text` to read as the result, `shown` to keep as
    reported and `problem`, for a file whose qualifiers sit in a column of
    their own (`qualifiers.with_qualifier_code`). A row with no code keeps its
    result as it is. Each distinct pair is read once."""
    frame = pl.DataFrame(
        {"result": results.cast(pl.String), "code": codes.cast(pl.String).str.strip_chars()}
    ).with_columns(pl.col("code").replace("", None))
    pairs = frame.filter(pl.col("code").is_not_null()).unique()
    read = [
        (result, code, *_qualified(result, code, decimal_comma, one_group))
        for result, code in pairs.iter_rows()
    ]
    joined = with_lookup(
        frame,
        read,
        {
            "result": pl.String(),
            "code": pl.String(),
            "text": pl.String(),
            "shown": pl.String(),
            "problem": pl.String(),
        },
        on=["result", "code"],
    )
    coded = pl.col("code").is_not_null()
    return joined.select(
        pl.when(coded).then(pl.col("text")).otherwise(pl.col("result")).alias("text"),
        pl.when(coded).then(pl.col("shown")).otherwise(pl.col("result")).alias("shown"),
        pl.col("problem"),
    )


def _qualified(
    result: str | None, code: str, decimal_comma: bool, one_group: bool
) -> tuple[str | None, ...]:
    read = _ungrouped(result, decimal_comma, one_group) if result else result
    q = with_qualifier_code(read, code, decimal_comma=decimal_comma)
    # kept as reported: the lab's own digits, separators and all
    shown = q.shown.replace(read, result, 1) if q.shown and read and result else q.shown
    return (q.text, shown, q.problem)


def _ungrouped(text: str, decimal_comma: bool, one_group: bool) -> str:
    return text if decimal_comma else without_grouping(text, one_group=one_group)


def _result_parts(text: str | None, decimal_comma: bool, one_group: bool) -> tuple[object, ...]:
    outcome = parse_result(
        _ungrouped(text or "", decimal_comma, one_group), decimal_comma=decimal_comma
    )
    if isinstance(outcome, NotTested):
        return (text, None, None, None, None, None, True, None)
    if isinstance(outcome, Parsed):
        return (
            text,
            outcome.value,
            outcome.qualifier,
            outcome.bound,
            outcome.test_portion_g,
            outcome.unit,
            False,
            None,
        )
    return (text, None, None, None, None, None, False, outcome.problem)


def parse_number_column(
    texts: pl.Series, *, decimal_comma: bool, one_group: bool = False
) -> pl.DataFrame:
    """value and problem for a column of optional plain numbers (LOQ, dilution…).
    An empty cell is NULL, not a problem."""
    if texts.null_count() == texts.len():  # a column the file does not have
        return pl.DataFrame(
            {
                "value": pl.repeat(None, texts.len(), dtype=pl.Float64, eager=True),
                "problem": pl.repeat(None, texts.len(), dtype=pl.String, eager=True),
            }
        )
    frame = pl.DataFrame({"text": texts.cast(pl.String).str.strip_chars()})
    frame = frame.with_columns(
        pl.when(pl.col("text") == "").then(None).otherwise(pl.col("text")).alias("text")
    )
    plain = frame.select(_is_plain("text").fill_null(True)).to_series()
    others = frame.filter(~plain).unique()
    rows = []
    for t in others["text"].to_list():
        parsed = parse_number(_ungrouped(t, decimal_comma, one_group), decimal_comma=decimal_comma)
        rows.append((t, parsed, None) if isinstance(parsed, float) else (t, None, parsed))
    looked_up = pl.DataFrame(
        rows,
        schema={"text": pl.String(), "value": pl.Float64(), "problem": pl.String()},
        orient="row",
    )
    joined = frame.join(looked_up, on="text", how="left", nulls_equal=True, maintain_order="left")
    return joined.select(
        pl.when(plain)
        .then(pl.col("text").cast(pl.Float64, strict=False))
        .otherwise(pl.col("value"))
        .alias("value"),
        pl.col("problem"),
    )
