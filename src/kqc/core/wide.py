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
from kqc.core.names import closest, did_you_mean, name_key
from kqc.core.qualifiers import Parsed, parse_result
from kqc.core.records import RawTable
from kqc.core.units import spelling
from kqc.core.vocab import ANALYTE_SPELLINGS, ANALYTES, HOUSE_VOCABULARY_HINT, analyte_code

# The column a melted cell came from, so problems name 'Lead (ppm)', not 'result'.
CELL_COLUMN = "_cell_column"

_BRACKETED = re.compile(r"^(.*?)\s*[\(\[]\s*([^()\[\]]+?)\s*[\)\]]\s*$")
_TRAILING_UNIT = re.compile(r"^(.*?)\s*[,;]\s*(\S+)\s*$")
# 'Lead ppm', 'Lead_ppm', 'Mitragynine %': read only when the name before the
# unit is a known analyte (a header such as 'Sample ID' is no analyte column).
_SPACED_UNIT = re.compile(r"^(.*?)[\s_]+(\S+)$")


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
    whole = analyte_code(text)
    spaced = _SPACED_UNIT.match(text)
    # 'Mitragynine %' folds to a known name too: a unit that is not a word
    # ('%', 'mg/g') is read as the unit.
    if spaced and spelling(spaced.group(2)) is not None:
        name, unit = spaced.group(1).strip(" _"), spaced.group(2)
        code = analyte_code(name)
        if (whole is None or not unit.isalpha()) and code and cols.result_field(name) is None:
            return AnalyteColumn(header, name, code, unit)
    if whole is not None and cols.result_field(text) is None:
        return AnalyteColumn(header, text, whole, None)
    return None


def with_units_row(table: RawTable) -> RawTable:
    """A wide table whose first row under the header gives the units of its
    analyte columns (a two-row header: 'Lead' over 'ppm'): the units join
    the headers ('Lead (ppm)') and that row is no sample. Read so only when
    the row holds nothing but units (and perhaps a 'Units' label), and a
    unit for an analyte column the header gives none."""
    frame = table.frame
    if frame.height == 0:
        return table
    columns = {h: analyte_column(h) for h in table.headers}
    first = {h: (v or "").strip() for h, v in frame.row(0, named=True).items() if h in columns}
    analytes = [h for h, c in columns.items() if c is not None]
    for h, col in columns.items():
        cell = first[h]
        if not cell:
            continue
        if col is None and cols.result_field(cell) != "unit":
            return table  # a sample's id, lab or date: a sample row
        if col is not None and spelling(cell) is None:
            return table  # a result
    renamed = {
        h: f"{col.name} ({first[h]})"
        for h in analytes
        if (col := columns[h]) is not None and col.code and not col.unit and first[h]
    }
    if not renamed or set(renamed.values()) & set(table.headers):
        return table
    return table.with_frame(frame.slice(1).rename(renamed))


def _unknown(name: str) -> str:
    guess = did_you_mean(name, ANALYTE_SPELLINGS)
    if guess:
        return f"unknown analyte column '{name}'{guess} Or, {HOUSE_VOCABULARY_HINT}"
    return (
        f"unknown analyte column '{name}': name one of the analytes kqc knows"
        " (docs/vocabulary.md) in the header, or take the column out of the file;"
        f" {HOUSE_VOCABULARY_HINT}"
    )


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
        elif col.code and not col.unit and not has_unit_column and not _needs_no_unit(col.code):
            found.append(
                (
                    h,
                    f"column '{h}' has no unit: a unit is never assumed, write it in the"
                    f" header, e.g. '{col.name} (ppm)' or '{col.name} (%)'",
                )
            )
    return found


def unread_result_columns(table: RawTable) -> list[tuple[str, str]]:
    """(header, problem) for a column that would be left out of a wide file
    although it holds results under a misspelt analyte ('Leed': numbers, ND,
    <LOQ): its results are never dropped unseen. A column of other figures
    ('Sample weight', 'Notes') names nothing close to an analyte and stays
    out, as before."""
    found = []
    for h in table.headers:
        if cols.result_field(h) is not None or analyte_column(h) is not None:
            continue
        # Short names ('Ash', 'pH') are other measures far more often than typos.
        guess = closest(h, ANALYTE_SPELLINGS) if len(name_key(h)) >= 4 else None
        if guess is None or len(name_key(guess)) < 4:
            continue
        cells = table.frame.get_column(h).cast(pl.String).str.strip_chars().drop_nulls()
        cells = cells.filter(cells != "").unique()
        read = [isinstance(parse_result(c), Parsed) for c in cells.to_list()]
        if read and sum(read) * 2 >= len(read):
            found.append(
                (
                    h,
                    f"column '{h}' holds results but names no known analyte — did you mean"
                    f" '{guess}'? Write the analyte and its unit in the header, e.g."
                    f" '{guess} (ppm)'",
                )
            )
    return found


def _needs_no_unit(code: str) -> bool:
    """A presence test, or water activity (a ratio): a column without a unit."""
    return ANALYTES[code].reporting in ("presence", "ratio")


def melt(frame: pl.DataFrame, headers: list[str]) -> tuple[pl.DataFrame, list[AnalyteColumn]]:
    """Long rows (Analyte, Result, Unit text columns plus every other column)
    from the analyte columns of a wide frame; also the columns it read."""
    analyte_columns = [c for h in headers if (c := analyte_column(h)) is not None]
    unit_header = next((h for h in frame.columns if cols.result_field(h) == "unit"), None)
    usable = [
        c
        for c in analyte_columns
        if c.code is not None and (c.unit or unit_header or _needs_no_unit(c.code))
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
