"""Microbial counts, whose separators a file's decimal mark cannot settle: a
plate count is a whole number, so where the comma is no decimal mark
'12,000 CFU/g' is read again as twelve thousand, and a count grouped like
'1.200' is refused, since 1.2 and 1,200 cannot be told."""

from __future__ import annotations

import polars as pl

from kqc.core import wide
from kqc.core.normalize.collector import Collector
from kqc.core.units import spelling

# '1.200' or '150.000': a plate count is a whole number, so three digits after
# a dot are a thousands separator (as Excel writes 1200 in a European locale)
# as likely as decimals. Read as 1.2, a yeast and mould count of 150,000 CFU/g
# would pass a limit of 10^5. In a file whose decimal mark is the comma,
# '150,000' is the same trap the other way round (the US thousands separator,
# read as 150); elsewhere a comma-grouped number is refused as it is read.
_DOTTED_THOUSANDS = r"^[<>]?\s*[1-9]\d{0,2}(?:\.\d{3})+$"
_COMMA_THOUSANDS = r"^[<>]?\s*[1-9]\d{0,2}(?:,\d{3})+$"


def grouped_counts(
    frame: pl.DataFrame, headers: dict[str, str], issues: Collector, decimal_comma: bool
) -> None:
    """A count written like '1.200' (or '1,200' where the comma is the decimal
    mark) is refused: 1.2 or 1,200 cannot be told."""
    counts = pl.col("canonical_unit").is_in(["CFU/g", "CFU/mL", "MPN/g"]) & ~pl.col(
        "log10"
    ).fill_null(False)
    grouped = pl.col("result").str.contains(_DOTTED_THOUSANDS)
    if decimal_comma:
        grouped = grouped | pl.col("result").str.contains(_COMMA_THOUSANDS)
    issues.add(
        # counts first, in the four columns needed: the pattern is tried on a
        # few rows, and no other column is copied
        frame.select(
            "source_row",
            "result",
            "reported_result",
            "canonical_unit",
            "log10",
            *[c for c in (wide.CELL_COLUMN,) if c in frame.columns],
        )
        .filter(counts)
        .filter(grouped),
        headers["result"],
        pl.col("reported_result"),
        pl.format(
            "a count of {} reads as a decimal or with a thousands separator: write it without"
            " the separator (1200) or as a power of ten (1.2E3)",
            pl.col("result"),
        ),
    )


def unread_commas(frame: pl.DataFrame, parsed: pl.DataFrame) -> bool:
    """Whether a result could not be read or a limit holds a comma: only such
    a table needs the second look at its counts. Asked only where the comma
    may group thousands and the file does not say so, so the limit columns of
    a large file that shows its mark are not scanned."""
    return parsed["problem"].null_count() < parsed.height or any(
        frame[f].str.contains(",", literal=True).any() for f in ("lod", "loq", "spike_level")
    )


def count_rows(frame: pl.DataFrame, cell_unit: pl.Series) -> pl.Series | None:
    """Rows whose unit is a plate count (CFU/g, MPN/g), with no qualifier
    code joined to their result; None when there are none. A count is a whole
    number: where the comma is no decimal mark, '12,000 CFU/g' is twelve
    thousand even when nothing else in the file shows the mark, since no lab
    writes twelve colonies with three decimals (`kqc.core.separators`)."""
    # The unit cell, else what follows the number in the result cell ('<1,000
    # CFU/g'), which the result's reading gives only when it can be read.
    written = pl.col("result").str.extract(r"([A-Za-z][A-Za-z0-9/ .]*)$")
    unit = frame.select(
        pl.coalesce(pl.col("unit"), pl.lit(cell_unit), written).alias("u")
    ).to_series()
    kinds = [u for u in unit.drop_nulls().unique().to_list() if _is_count(u)]
    if not kinds:
        return None
    coded = (
        frame["result_qualifier"].str.strip_chars().fill_null("") != ""
        if "result_qualifier" in frame.columns
        else pl.repeat(False, frame.height, eager=True)
    )
    rows = unit.is_in(kinds).fill_null(False) & ~coded
    return rows if rows.any() else None


def _is_count(unit: str) -> bool:
    read = spelling(unit)
    return read is not None and read.dimension == "count"


def read_again(first: pl.DataFrame, again: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """`first`, with the reading in `again` on `rows` that `first` could not read."""
    take = rows & first["problem"].is_not_null()
    return first.select(
        pl.when(pl.lit(take)).then(pl.lit(again[c])).otherwise(pl.col(c)).alias(c)
        for c in first.columns
    )
