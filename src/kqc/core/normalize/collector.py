"""What every kind of table shares on its way to canonical rows: the outcome
(`Normalized`), the collector of per-cell problems, the mapping of lab
headers and the metadata block to contract fields, and the last step that
keeps the rows no problem names."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from kqc.core import columns as cols
from kqc.core import wide
from kqc.core.problems import Problem, problems_frame
from kqc.core.records import REGISTER_SCHEMA, RESULT_SCHEMA, RawTable

PROBLEM_COLUMNS = ["source_row", "column", "value", "problem"]
_PROBLEM_FRAME_SCHEMA = {
    "source_row": pl.Int64(),
    "column": pl.String(),
    "value": pl.String(),
    "problem": pl.String(),
}
# The rows each kind ends in; the kind is said by the caller, never guessed
# from the schema.
SCHEMAS: dict[cols.Kind, dict[str, pl.DataType]] = {
    "results": RESULT_SCHEMA,
    "register": REGISTER_SCHEMA,
}


@dataclass(frozen=True)
class Normalized:
    kind: cols.Kind | None
    rows: pl.DataFrame  # RESULT_SCHEMA or REGISTER_SCHEMA; rows that read cleanly
    problems: list[Problem]
    headers: dict[str, str] = field(default_factory=dict)  # field -> the lab's column name
    # Wide files: the analyte column each row came from, aligned with `rows`.
    cell_columns: list[str] | None = None
    # The lab's columns that hold values kqc does not read (unused_columns).
    unused_columns: tuple[str, ...] = ()


class Collector:
    """Gathers per-cell problems as frames, so a million rows stay vectorized."""

    def __init__(self, header_row: int = 1) -> None:
        self.frames: list[pl.DataFrame] = []
        self.fixed: list[Problem] = []
        self.header_row = header_row

    def add(self, rows: pl.DataFrame, column: str, value: pl.Expr, problem: pl.Expr) -> None:
        if rows.height:
            # In a wide file the result, unit and analyte come from the cell's own column.
            name = pl.col(wide.CELL_COLUMN) if column == wide.CELL_COLUMN else pl.lit(column)
            self.frames.append(
                rows.select(
                    pl.col("source_row"),
                    name.alias("column"),
                    value.cast(pl.String).fill_null("").alias("value"),
                    problem.cast(pl.String).alias("problem"),
                )
            )

    def header(self, problem: str, column: str = "(header)", value: str = "") -> None:
        self.fixed.append(Problem(self.header_row, column, value, problem))

    def frame(self) -> pl.DataFrame:
        fixed = problems_frame(self.fixed).rename({"row": "source_row"})
        schema = pl.Schema(_PROBLEM_FRAME_SCHEMA)
        return pl.concat([fixed, *[f.cast(schema) for f in self.frames]])

    def problems(self) -> list[Problem]:
        return sorted(
            Problem(int(r), c, v, p)
            for r, c, v, p in self.frame().select(PROBLEM_COLUMNS).iter_rows()
        )


def fields_frame(
    table: RawTable, kind: cols.Kind, required: tuple[str, ...], issues: Collector
) -> tuple[pl.DataFrame, dict[str, str]] | None:
    """Rename lab headers to fields (trimmed text, empty = NULL) and add the
    metadata block's fields. Returns None when a required column is missing."""
    cmap = cols.map_columns(table.headers, kind)
    for fld, first, second in cmap.clashes:
        issues.header(
            f"columns '{first}' and '{second}' both mean {fld}: keep one of them",
            column=second,
        )
    lookup = cols.result_field if kind == "results" else cols.register_field
    constants: dict[str, str] = {}
    for key, value in table.metadata.items():
        meta_field = lookup(key)
        # A qualifier belongs to one result, never to a whole file.
        if meta_field is None or meta_field in ("result_qualifier", *cmap.fields):
            continue
        if value.strip():
            constants[meta_field] = value.strip()
    refused_before = len(issues.fixed)
    header_units = _units_from_headers(cmap, issues)
    constants.update({fld: unit for fld, (_, unit) in header_units.items()})
    missing = [f for f in required if f not in cmap.fields and f not in constants]
    for fld in missing:
        issues.header(
            f"missing required column {fld}: add a column named one of "
            f"{cols.expected_headers(kind, fld)}"
            + (" (or a 'Lab:' line above the table)" if fld == "lab_id" else ""),
            column=fld,
        )
    if missing or cmap.clashes or len(issues.fixed) > refused_before:
        return None
    frame = table.frame.select(
        pl.col("source_row").cast(pl.Int64),
        *[_text(header).alias(fld) for fld, header in cmap.fields.items()],
        *[pl.lit(v, dtype=pl.String).alias(fld) for fld, v in constants.items()],
    )
    headers = {
        **{f: f"{k} (above the table)" for f, k in _meta_keys(table, constants)},
        **{fld: header for fld, (header, _) in header_units.items()},
        **cmap.fields,
    }
    return frame, headers


def _units_from_headers(cmap: cols.ColumnMap, issues: Collector) -> dict[str, tuple[str, str]]:
    """The unit a long file gives in a number column's header ('Result
    (mg/kg)', 'LOQ (ppm)'), by the unit field it fills, with that header. Given
    twice (a unit column too, or 'LOD (ppb)' beside 'LOQ (ppm)'), it is refused:
    the file must say one unit for one number."""
    given: dict[str, tuple[str, str]] = {}
    for fld, named in cmap.header_units.items():
        header, unit = named[0]
        if fld in cmap.fields:
            issues.header(
                f"the unit is given twice, in '{header}' and in column '{cmap.fields[fld]}':"
                " keep one of them",
                column=header,
            )
        elif len({u for _, u in named}) > 1:
            issues.header(
                f"'{named[0][0]}' and '{named[1][0]}' give their numbers in different units:"
                " give them in one unit",
                column=named[1][0],
            )
        else:
            given[fld] = (header, unit)
    return given


def _meta_keys(table: RawTable, constants: dict[str, str]) -> list[tuple[str, str]]:
    lookup_pairs = []
    for key in table.metadata:
        fld = cols.result_field(key) or cols.register_field(key)
        if fld in constants:
            lookup_pairs.append((fld, key))
    return lookup_pairs


def _text(header: str) -> pl.Expr:
    stripped = pl.col(header).cast(pl.String).str.strip_chars()
    return stripped.replace("", None)


def require_values(
    frame: pl.DataFrame, fields: tuple[str, ...], headers: dict[str, str], issues: Collector
) -> None:
    for fld in fields:
        if fld in frame.columns:
            empty = frame.filter(pl.col(fld).is_null())
            issues.add(empty, headers[fld], pl.lit(""), pl.lit(f"{fld} is empty: fill it in"))


def with_missing_fields(frame: pl.DataFrame, kind: cols.Kind) -> pl.DataFrame:
    """`frame` with every field of its kind's rows that no column gave, as NULL text."""
    for fld in SCHEMAS[kind]:
        if fld not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(fld))
    return frame


def refused(kind: cols.Kind, issues: Collector) -> Normalized:
    """The outcome of a table refused as a whole: no rows, its problems."""
    return Normalized(kind, pl.DataFrame(schema=SCHEMAS[kind]), issues.problems())


def finish(
    frame: pl.DataFrame,
    issues: Collector,
    kind: cols.Kind,
    headers: dict[str, str],
) -> Normalized:
    problems = issues.frame()
    clean = (
        frame.join(problems.select("source_row").unique(), on="source_row", how="anti")
        if problems.height
        else frame
    )
    rows = clean.select([pl.col(c).cast(t) for c, t in SCHEMAS[kind].items()])
    cells = clean[wide.CELL_COLUMN].to_list() if wide.CELL_COLUMN in clean.columns else None
    return Normalized(kind, rows, issues.problems(), headers, cells)
