"""Wide layout: one row per sample, one column per analyte, the unit in the
header ('Lead (ppm)', 'Mitragynine [mg/capsule]', 'Nickel, ug/g').

The wide table is turned into long rows here, one per filled analyte cell, and
then read by the same code as a long file. A blank cell means "not tested".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from kqc.core import columns as cols
from kqc.core.names import did_you_mean
from kqc.core.units import spelling
from kqc.core.vocab import ANALYTES, analyte_code

# The column a melted cell came from, so problems name 'Lead (ppm)', not 'result'.
CELL_COLUMN = "_cell_column"

_BRACKETED = re.compile(r"^(.*?)\s*[\(\[]\s*([^()\[\]]+?)\s*[\)\]]\s*$")
_TRAILING_UNIT = re.compile(r"^(.*?)\s*[,;]\s*(\S+)\s*$")


@dataclass(frozen=True)
class AnalyteColumn:
    header: str
    name: str  # the analyte as the header names it
    code: str | None  # None: looks like an analyte column but the name is unknown
    unit: str | None  # as written in the header
    problem: str | None = None


def analyte_column(header: str) -> AnalyteColumn | None:
    """Read a header as 'analyte (unit)'; None when it is not an analyte column."""
    text = header.strip()
    for pattern in (_BRACKETED, _TRAILING_UNIT):
        m = pattern.match(text)
        if m and spelling(m.group(2)) is not None:
            name, unit = m.group(1).strip(), m.group(2)
            code = analyte_code(name)
            if code is None:
                return AnalyteColumn(header, name, None, unit, _unknown(name))
            return AnalyteColumn(header, name, code, unit)
    code = analyte_code(text)
    if code is not None and cols.result_field(text) is None:
        return AnalyteColumn(header, text, code, None)
    return None


def _unknown(name: str) -> str:
    spellings = sorted({n for a in ANALYTES.values() for n in (a.code, *a.aliases)})
    return f"unknown analyte column '{name}'{did_you_mean(name, spellings)}"


def is_wide(headers: list[str]) -> bool:
    fields = {cols.result_field(h) for h in headers}
    has_id = bool(fields & {"batch_id", "sample_id"})
    known = [c for h in headers if (c := analyte_column(h)) is not None and c.code]
    return has_id and bool(known) and not {"analyte", "result"} <= fields


def header_problems(headers: list[str]) -> list[tuple[str, str]]:
    """(header, problem) for analyte columns that cannot be read: an unknown
    analyte, or no unit where the analyte needs one."""
    has_unit_column = any(cols.result_field(h) == "unit" for h in headers)
    found = []
    for h in headers:
        col = analyte_column(h)
        if col is None:
            continue
        if col.problem:
            found.append((h, col.problem))
        elif (
            col.code
            and not col.unit
            and not has_unit_column
            and ANALYTES[col.code].reporting != "presence"
        ):
            found.append(
                (
                    h,
                    f"column '{h}' has no unit: a unit is never assumed, write it in the"
                    f" header, e.g. '{col.name} (ppm)' or '{col.name} (%)'",
                )
            )
    return found


def melt(frame: pl.DataFrame, headers: list[str]) -> tuple[pl.DataFrame, list[AnalyteColumn]]:
    """Long rows (Analyte, Result, Unit text columns plus every other column)
    from the analyte columns of a wide frame; also the columns it read."""
    analyte_columns = [c for h in headers if (c := analyte_column(h)) is not None]
    unit_header = next((h for h in frame.columns if cols.result_field(h) == "unit"), None)
    usable = [
        c
        for c in analyte_columns
        if c.code is not None
        and (c.unit or unit_header or ANALYTES[c.code].reporting == "presence")
    ]
    keep = [h for h in frame.columns if h not in {c.header for c in analyte_columns}]
    parts = []
    for col in usable:
        header_unit = pl.lit(col.unit, dtype=pl.String)
        unit = pl.coalesce(header_unit, pl.col(unit_header)) if unit_header else header_unit
        parts.append(
            frame.select(
                *[pl.col(h) for h in keep if h != unit_header],
                pl.lit(col.name).alias("Analyte"),
                pl.col(col.header).cast(pl.String).alias("Result"),
                unit.alias("Unit"),
                pl.lit(col.header).alias(CELL_COLUMN),
            ).filter(pl.col("Result").str.strip_chars().fill_null("") != "")
        )
    if not parts:
        empty: dict[str, pl.DataType] = {h: pl.String() for h in keep if h != unit_header}
        empty.update(Analyte=pl.String(), Result=pl.String(), Unit=pl.String())
        empty[CELL_COLUMN] = pl.String()
        empty["source_row"] = pl.Int64()
        return pl.DataFrame(schema=empty), analyte_columns
    long = pl.concat(parts, how="vertical").sort("source_row", maintain_order=True)
    return long, analyte_columns
