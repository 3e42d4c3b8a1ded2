"""From a reader's text table to canonical rows, or to the problems that stop it.

Order of work: decide the kind by the columns, map lab headers to contract
fields, fill fields from the metadata block, then read every cell: analyte to
its code, result to a number or a qualifier, unit to its canonical unit with
the factor applied to value, bound, LOD, LOQ and spike level. The lab's words
are kept beside ours. Every problem is collected; nothing is dropped silently
(a cell marked "not tested" is the one thing left out, since it holds no
result).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from kqc.core import columns as cols
from kqc.core import wide
from kqc.core.cells import (
    join_qualifier_column,
    parse_number_column,
    parse_result_column,
    with_lookup,
)
from kqc.core.dates import iso_date
from kqc.core.notes import without_repeated_header, without_section_headings
from kqc.core.problems import Problem, file_problem
from kqc.core.products import form_code, market_codes, unknown_form_message
from kqc.core.qualifiers import DETECTED, NOT_DETECTED
from kqc.core.records import REGISTER_SCHEMA, RESULT_SCHEMA, RawTable
from kqc.core.units import conversion, spelling, test_portion_g
from kqc.core.vocab import (
    ANALYTES,
    analyte_code,
    sample_type_code,
    unknown_analyte_message,
    unknown_sample_type_message,
)

_PROBLEM_COLUMNS = ["source_row", "column", "value", "problem"]


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


def normalize(table: RawTable) -> Normalized:
    table = without_repeated_header(table)
    headers = table.headers
    kind = cols.guess_kind(headers)
    if kind == "results":
        normalized = _normalize_results(without_section_headings(table))
    elif wide.is_wide(headers):
        normalized = _normalize_wide(table)
        return replace(normalized, unused_columns=unused_columns(table, "results", analytes=True))
    elif kind == "register":
        normalized = _normalize_register(table)
    else:
        return Normalized(None, pl.DataFrame(), [_unrecognized(headers)])
    return replace(normalized, unused_columns=unused_columns(table, kind))


def unused_columns(table: RawTable, kind: cols.Kind, *, analytes: bool = False) -> tuple[str, ...]:
    """The columns of `table` that no field reads (nor, with `analytes`, as in
    a wide file, an analyte) and that hold a value: the file's outcome names
    them, so no column is left out unseen. A cell repeating its header holds
    nothing (a header repeated down a long export)."""
    cmap = cols.map_columns(table.headers, kind)
    unread = {*cmap.unmapped, *cmap.set_aside}
    per_unit = cmap.fields.get("label_claim_mg_per_unit")
    if per_unit and "label_claim_mg_per_serving" in cmap.fields:
        unread.add(per_unit)  # a register's claim per serving is read, not one per capsule
    if analytes:
        unread = {h for h in unread if wide.analyte_column(h) is None}
    return tuple(
        h for h in table.headers if h in unread and _holds_value(table.frame.get_column(h), h)
    )


def _holds_value(cells: pl.Series, header: str) -> bool:
    text = cells.cast(pl.String).str.strip_chars()
    return bool(((text != "") & (text != header.strip())).fill_null(False).any())


def _normalize_wide(table: RawTable) -> Normalized:
    table = wide.with_units_row(table)
    issues = wide.header_problems(table.headers) + wide.unread_result_columns(table)
    long, _ = wide.melt(table.frame, table.headers)
    outcome = _normalize_results(
        table.with_frame(long),
        from_wide=True,
    )
    header_issues = [Problem(table.header_row, h, h, p) for h, p in issues]
    return Normalized(
        outcome.kind,
        outcome.rows,
        sorted(header_issues + outcome.problems),
        outcome.headers,
        outcome.cell_columns,
    )


def _unrecognized(headers: list[str]) -> Problem:
    found = ", ".join(f"'{h}'" for h in headers) or "none"
    return file_problem(
        "no recognizable columns: a results file needs "
        + ", ".join(cols.RESULT_REQUIRED)
        + "; a batch register needs "
        + ", ".join(cols.REGISTER_REQUIRED)
        + f"; found {found}",
        column="(header)",
    )


class _Collector:
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
        schema = {
            "source_row": pl.Int64(),
            "column": pl.String(),
            "value": pl.String(),
            "problem": pl.String(),
        }
        fixed = pl.DataFrame(
            [(p.row, p.column, p.value, p.problem) for p in self.fixed],
            schema=schema,
            orient="row",
        )
        return pl.concat([fixed, *[f.cast(pl.Schema(schema)) for f in self.frames]])

    def problems(self) -> list[Problem]:
        return sorted(
            Problem(int(r), c, v, p)
            for r, c, v, p in self.frame().select(_PROBLEM_COLUMNS).iter_rows()
        )


def _fields_frame(
    table: RawTable, kind: cols.Kind, required: tuple[str, ...], issues: _Collector
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


def _units_from_headers(cmap: cols.ColumnMap, issues: _Collector) -> dict[str, tuple[str, str]]:
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


def _require_values(
    frame: pl.DataFrame, fields: tuple[str, ...], headers: dict[str, str], issues: _Collector
) -> None:
    for fld in fields:
        if fld in frame.columns:
            empty = frame.filter(pl.col(fld).is_null())
            issues.add(empty, headers[fld], pl.lit(""), pl.lit(f"{fld} is empty: fill it in"))


def _normalize_results(table: RawTable, *, from_wide: bool = False) -> Normalized:
    issues = _Collector(table.header_row)
    mapped = _fields_frame(table, "results", cols.RESULT_REQUIRED, issues)
    if mapped is None:
        return Normalized("results", pl.DataFrame(schema=RESULT_SCHEMA), issues.problems())
    frame, headers = mapped
    if from_wide:
        if "result_qualifier" in headers:
            issues.header(
                f"column '{headers['result_qualifier']}' cannot say which analyte's result it"
                " qualifies: write the qualifier in each result cell (<0.05, ND) and remove"
                " the column",
                column=headers["result_qualifier"],
            )
            return Normalized("results", pl.DataFrame(schema=RESULT_SCHEMA), issues.problems())
        frame = frame.with_columns(table.frame[wide.CELL_COLUMN])
        headers.update(analyte=wide.CELL_COLUMN, result=wide.CELL_COLUMN, unit=wide.CELL_COLUMN)
    for fld in RESULT_SCHEMA:
        if fld not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(fld))
    frame = frame.with_columns(pl.col("result").alias("reported_result"))
    # Every reading of the comma as a separator stands aside where it is the
    # decimal mark (kqc.core.cells), so the table's flag is passed as it is.
    one_group = table.thousands_comma
    if "result_qualifier" in frame.columns:
        frame = _join_qualifiers(frame, headers, issues, table.decimal_comma, one_group)

    parsed = parse_result_column(
        frame["result"], decimal_comma=table.decimal_comma, one_group=one_group
    )
    counts = (
        None
        if table.decimal_comma or one_group or not _unread_commas(frame, parsed)
        else _count_rows(frame, parsed["cell_unit"])
    )
    if counts is not None:
        again = parse_result_column(frame["result"], decimal_comma=False, one_group=True)
        parsed = _read_again(parsed, again, counts)
    frame = frame.with_columns(
        # A unit written in the result cell ('< 10 CFU/g', '1.52 %') gives an
        # empty unit cell its unit: the lab wrote it, nothing is assumed.
        pl.coalesce(pl.col("unit"), parsed["cell_unit"]).alias("reported_unit"),
        pl.col("analyte").alias("reported_analyte"),
        parsed["value"].alias("raw_value"),
        parsed["qualifier"],
        parsed["bound"].alias("raw_bound"),
        parsed["test_portion_g"].alias("portion_from_result"),
        parsed["cell_unit"],
        parsed["not_tested"],
        parsed["problem"].alias("result_problem"),
    )
    # An explicit "NT" / "not tested" holds no result; an empty cell in a long
    # file is more likely a mistake, so only explicit marks are left out.
    frame = frame.filter(~(pl.col("not_tested") & pl.col("result").is_not_null()))
    _require_values(frame, ("batch_id", "sample_id", "lab_id", "analyte"), headers, issues)
    blank = frame.filter(pl.col("result").is_null())
    issues.add(
        blank,
        headers["result"],
        pl.lit(""),
        pl.lit("result is empty: enter the value, or a qualifier such as ND or <LOQ"),
    )
    bad = frame.filter(pl.col("result_problem").is_not_null())
    issues.add(bad, headers["result"], pl.col("result"), pl.col("result_problem"))

    frame = _map_analytes(frame, headers, issues)
    frame = _map_sample_types(frame, headers, issues)
    limits: dict[str, pl.Series] = {}
    for fld in ("lod", "loq", "spike_level", "dilution"):
        nums = _limit_numbers(frame, fld, table.decimal_comma, one_group)
        if counts is not None and fld != "dilution":
            nums = _read_again(nums, _limit_numbers(frame, fld, False, True), counts)
        flagged = frame.with_columns(nums["problem"].alias("_p")).filter(pl.col("_p").is_not_null())
        if fld in headers:
            issues.add(flagged, headers[fld], pl.col(fld), pl.col("_p"))
        limits[fld] = nums["value"]
    frame = frame.with_columns(
        limits["lod"].alias("raw_lod"),
        limits["loq"].alias("raw_loq"),
        limits["spike_level"].alias("raw_spike"),
        limits["dilution"].alias("dilution_value"),
    )
    frame = _convert_units(frame, headers, issues)
    _grouped_counts(frame, headers, issues, table.decimal_comma)
    return _finish(frame, issues, RESULT_SCHEMA, headers)


# '1.200' or '150.000': a plate count is a whole number, so three digits after
# a dot are a thousands separator (as Excel writes 1200 in a European locale)
# as likely as decimals. Read as 1.2, a yeast and mould count of 150,000 CFU/g
# would pass a limit of 10^5. In a file whose decimal mark is the comma,
# '150,000' is the same trap the other way round (the US thousands separator,
# read as 150); elsewhere a comma-grouped number is refused as it is read.
_DOTTED_THOUSANDS = r"^[<>]?\s*[1-9]\d{0,2}(?:\.\d{3})+$"
_COMMA_THOUSANDS = r"^[<>]?\s*[1-9]\d{0,2}(?:,\d{3})+$"


def _grouped_counts(
    frame: pl.DataFrame, headers: dict[str, str], issues: _Collector, decimal_comma: bool
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


def _unread_commas(frame: pl.DataFrame, parsed: pl.DataFrame) -> bool:
    """Whether a result could not be read or a limit holds a comma: only such
    a table needs the second look at its counts. Asked only where the comma
    may group thousands and the file does not say so, so the limit columns of
    a large file that shows its mark are not scanned."""
    return parsed["problem"].null_count() < parsed.height or any(
        frame[f].str.contains(",", literal=True).any() for f in ("lod", "loq", "spike_level")
    )


def _count_rows(frame: pl.DataFrame, cell_unit: pl.Series) -> pl.Series | None:
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


def _read_again(first: pl.DataFrame, again: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """`first`, with the reading in `again` on `rows` that `first` could not read."""
    take = rows & first["problem"].is_not_null()
    return first.select(
        pl.when(pl.lit(take)).then(pl.lit(again[c])).otherwise(pl.col(c)).alias(c)
        for c in first.columns
    )


def _limit_numbers(
    frame: pl.DataFrame, fld: str, decimal_comma: bool, one_group: bool
) -> pl.DataFrame:
    """value and problem of a limit column. '0.01%' (a limit cell an XLSX shows
    as a percentage) in a row whose limits are in % is the number 0.01; in any
    other row it is refused, named as a limit in another unit than the row's.
    Only a column with a cell that is no number is looked at twice."""
    nums = parse_number_column(frame[fld], decimal_comma=decimal_comma, one_group=one_group)
    if fld == "dilution" or nums["problem"].null_count() == nums.height:
        return nums
    text = pl.col(fld)
    marked = text.str.ends_with("%").fill_null(False)
    in_percent = _limits_in_percent(frame)
    stripped = frame.select(
        pl.when(in_percent & marked).then(text.str.strip_chars_end("% ")).otherwise(text)
    ).to_series()
    nums = parse_number_column(stripped, decimal_comma=decimal_comma, one_group=one_group)
    other_unit = pl.format(
        "{} is in % but the row's unit is {}: write it in {}, or give the limits' unit in a"
        " column of its own (LOQ Units)",
        text,
        pl.col("unit"),
        pl.col("unit"),
    )
    return frame.select(
        nums["value"],
        pl.when(~in_percent & marked).then(other_unit).otherwise(nums["problem"]).alias("problem"),
    )


def _limits_in_percent(frame: pl.DataFrame) -> pl.Expr:
    """Rows whose LOD and LOQ are in %: their limit unit, else their unit."""
    unit = pl.coalesce("limit_unit", "unit") if "limit_unit" in frame.columns else pl.col("unit")
    units = frame.select(unit.alias("u").drop_nulls().unique()).to_series().to_list()
    percent = [u for u in units if spelling(u) == spelling("%")]
    return unit.is_in(percent).fill_null(False)


def _join_qualifiers(
    frame: pl.DataFrame,
    headers: dict[str, str],
    issues: _Collector,
    decimal_comma: bool,
    one_group: bool,
) -> pl.DataFrame:
    """Results read with their qualifier column: '0.05' beside 'U' is the
    non-detect '<0.05', kept as reported '0.05 U'."""
    joined = join_qualifier_column(
        frame["result"], frame["result_qualifier"], decimal_comma=decimal_comma, one_group=one_group
    )
    frame = frame.with_columns(
        joined["text"].alias("result"),
        joined["shown"].alias("reported_result"),
        joined["problem"].alias("qualifier_problem"),
    )
    issues.add(
        frame.filter(pl.col("qualifier_problem").is_not_null()),
        headers["result_qualifier"],
        pl.col("result_qualifier"),
        pl.col("qualifier_problem"),
    )
    return frame


def _map_analytes(frame: pl.DataFrame, headers: dict[str, str], issues: _Collector) -> pl.DataFrame:
    names = frame.select(pl.col("analyte").drop_nulls().unique()).to_series().to_list()
    lookup = pl.DataFrame(
        {"analyte": names, "code": [analyte_code(n) for n in names]},
        schema={"analyte": pl.String(), "code": pl.String()},
    )
    frame = frame.join(lookup, on="analyte", how="left", maintain_order="left")
    unknown = frame.filter(pl.col("analyte").is_not_null() & pl.col("code").is_null())
    messages = {n: unknown_analyte_message(n) for n in unknown["analyte"].unique().to_list()}
    issues.add(
        unknown,
        headers["analyte"],
        pl.col("analyte"),
        pl.col("analyte").replace_strict(messages, default=None),
    )
    return frame.with_columns(pl.col("code").alias("analyte")).drop("code")


def _map_sample_types(
    frame: pl.DataFrame, headers: dict[str, str], issues: _Collector
) -> pl.DataFrame:
    names = frame.select(pl.col("sample_type").drop_nulls().unique()).to_series().to_list()
    codes = {n: sample_type_code(n) for n in names}
    unknown = {n: unknown_sample_type_message(n) for n, c in codes.items() if c is None}
    if unknown:
        rows = frame.filter(pl.col("sample_type").is_in(list(unknown)))
        issues.add(
            rows,
            headers["sample_type"],
            pl.col("sample_type"),
            pl.col("sample_type").replace_strict(unknown, default=None),
        )
    return frame.with_columns(
        pl.col("sample_type")
        .replace_strict(codes, default=None, return_dtype=pl.String)
        .fill_null("production")
    )


_CONVERSION_SCHEMA = {
    "analyte": pl.String(),
    "reported_unit": pl.String(),
    "canonical_unit": pl.String(),
    "factor": pl.Float64(),
    "log10": pl.Boolean(),
    "presence": pl.Boolean(),
    "unit_portion": pl.Float64(),
    "unit_problem": pl.String(),
}


def _conversion_row(code: str, unit_text: str | None) -> tuple[object, ...]:
    analyte = ANALYTES[code]
    if unit_text is None:
        if analyte.reporting == "presence":
            return (code, None, None, 1.0, False, True, None, None)
        if analyte.reporting == "ratio":  # water activity has no unit to assume
            return (code, None, "aw", 1.0, False, False, None, None)
        return (
            code,
            None,
            None,
            None,
            False,
            False,
            None,
            "unit is empty: a unit is never assumed, enter it (e.g. mg/g, %, ppm, CFU/g)",
        )
    conv = conversion(analyte, unit_text)
    if isinstance(conv, str):
        return (code, unit_text, None, None, False, False, None, conv)
    portion = test_portion_g(unit_text) if conv.presence else None
    return (code, unit_text, conv.unit, conv.factor, conv.log10, conv.presence, portion, None)


def _convert_units(
    frame: pl.DataFrame, headers: dict[str, str], issues: _Collector
) -> pl.DataFrame:
    pairs = (
        frame.filter(pl.col("analyte").is_not_null())
        .select("analyte", "reported_unit")
        .unique()
        .iter_rows()
    )
    frame = with_lookup(
        frame,
        [_conversion_row(a, u) for a, u in pairs],
        _CONVERSION_SCHEMA,
        on=["analyte", "reported_unit"],
    )
    # "E. coli: Absent in 10 g" with no unit is a presence test, not a count
    # missing its unit: the words say which (the analyte may be either).
    either = [a.code for a in ANALYTES.values() if a.reporting == "count_or_presence"]
    worded_presence = (
        pl.col("analyte").is_in(either)
        & pl.col("reported_unit").is_null()
        & pl.col("qualifier").is_in([DETECTED, NOT_DETECTED])
    )
    frame = frame.with_columns(
        pl.when(worded_presence).then(None).otherwise(pl.col("unit_problem")).alias("unit_problem"),
        pl.when(worded_presence).then(True).otherwise(pl.col("presence")).alias("presence"),
        pl.when(worded_presence).then(1.0).otherwise(pl.col("factor")).alias("factor"),
    )
    bad_unit = frame.filter(pl.col("unit_problem").is_not_null())
    issues.add(bad_unit, headers["unit"], pl.col("reported_unit"), pl.col("unit_problem"))
    _cell_units_agree(frame, headers, issues)

    presence = pl.col("presence").fill_null(False)
    qualified_presence = pl.col("qualifier").is_in([DETECTED, NOT_DETECTED])
    number_for_presence = frame.filter(
        presence & pl.col("unit_problem").is_null() & pl.col("raw_value").is_not_null()
    )
    issues.add(
        number_for_presence,
        headers["result"],
        pl.col("reported_result"),
        pl.format(
            "{} is a presence/absence test: report Absent or Present (ND, Detected), not a number",
            pl.col("analyte"),
        ),
    )
    qualifier_for_presence = frame.filter(
        presence
        & pl.col("unit_problem").is_null()
        & pl.col("qualifier").is_not_null()
        & ~qualified_presence
    )
    issues.add(
        qualifier_for_presence,
        headers["result"],
        pl.col("reported_result"),
        pl.format(
            "{} is a presence/absence test: report Absent or Present (ND, Detected)",
            pl.col("analyte"),
        ),
    )

    frame = _limit_factors(frame, headers, issues)

    def scaled(col: str, factor: str = "factor", log10: str = "log10") -> pl.Expr:
        base = (
            pl.when(pl.col(log10).fill_null(False))
            .then(pl.lit(10.0).pow(pl.col(col)))
            .otherwise(pl.col(col))
        )
        # 12 significant digits: far beyond any lab's precision, and it drops
        # binary artifacts of the factor (1.38 % is 13.8 mg/g, not 13.799999999999999).
        return (base * pl.col(factor)).round_sig_figs(12)

    return frame.with_columns(
        pl.col("canonical_unit").alias("unit"),
        scaled("raw_value").alias("value"),
        scaled("raw_bound").alias("bound"),
        scaled("raw_lod", "limit_factor", "limit_log10").alias("lod"),
        scaled("raw_loq", "limit_factor", "limit_log10").alias("loq"),
        scaled("raw_spike").alias("spike_level"),
        pl.col("dilution_value").alias("dilution"),
        pl.coalesce("portion_from_result", "unit_portion").alias("test_portion_g"),
    )


def _limit_factors(
    frame: pl.DataFrame, headers: dict[str, str], issues: _Collector
) -> pl.DataFrame:
    """limit_factor and limit_log10: how LOD and LOQ come to the canonical
    unit. The result's own unit, unless a limit unit column gives theirs (a
    result in ppb with its LOQ in ppm: read in ppb, the LOQ would be 1,000
    times too low, and a non-detect would seem to prove more than it does).
    A limit unit that is unknown, or not of the result's kind, is refused."""
    if "limit_unit" not in frame.columns:
        return frame.with_columns(
            pl.col("factor").alias("limit_factor"), pl.col("log10").alias("limit_log10")
        )
    pairs = (
        frame.filter(pl.col("analyte").is_not_null() & pl.col("limit_unit").is_not_null())
        .select("analyte", "limit_unit")
        .unique()
        .iter_rows()
    )
    rows: list[tuple[object, ...]] = []
    for code, unit_text in pairs:
        conv = conversion(ANALYTES[code], unit_text)
        if isinstance(conv, str):
            rows.append((code, unit_text, None, None, None, conv))
        elif conv.presence:
            rows.append(
                (code, unit_text, None, None, None, f"'{unit_text}' is no unit for a limit")
            )
        else:
            rows.append((code, unit_text, conv.unit, conv.factor, conv.log10, None))
    frame = with_lookup(
        frame,
        rows,
        {
            "analyte": pl.String(),
            "limit_unit": pl.String(),
            "limit_canonical": pl.String(),
            "limit_factor": pl.Float64(),
            "limit_log10": pl.Boolean(),
            "limit_problem": pl.String(),
        },
        on=["analyte", "limit_unit"],
    )
    other_kind = (
        pl.col("limit_problem").is_null()
        & pl.col("limit_canonical").is_not_null()
        & pl.col("canonical_unit").is_not_null()
        & (pl.col("limit_canonical") != pl.col("canonical_unit"))
    )
    frame = frame.with_columns(
        pl.when(other_kind)
        .then(
            pl.format(
                "the limits' unit {} is not of the kind of the result's unit {}:"
                " give both in one kind (e.g. ppm and ppb)",
                pl.col("limit_unit"),
                pl.col("reported_unit"),
            )
        )
        .otherwise(pl.col("limit_problem"))
        .alias("limit_problem")
    )
    issues.add(
        frame.filter(pl.col("limit_problem").is_not_null()),
        headers["limit_unit"],
        pl.col("limit_unit"),
        pl.col("limit_problem"),
    )
    given = pl.col("limit_unit").is_not_null()
    return frame.with_columns(
        pl.when(given)
        .then(pl.col("limit_factor"))
        .otherwise(pl.col("factor"))
        .alias("limit_factor"),
        pl.when(given).then(pl.col("limit_log10")).otherwise(pl.col("log10")).alias("limit_log10"),
    )


def _cell_units_agree(frame: pl.DataFrame, headers: dict[str, str], issues: _Collector) -> None:
    """A result that writes its own unit ("< 0.1 ppb") must say what the unit
    column says ("ppm" would read it 1,000 times too high): when the two
    are known units of another size or kind, the row is refused. The same
    unit spelled two ways (ppm, ug/g) agrees."""
    pairs = (
        frame.filter(pl.col("cell_unit").is_not_null() & pl.col("reported_unit").is_not_null())
        .select("cell_unit", "reported_unit")
        .unique()
        .iter_rows()
    )
    disagree = []
    for written, column in pairs:
        in_cell, in_column = spelling(written), spelling(column)
        if in_cell is not None and in_column is not None and in_cell != in_column:
            disagree.append((written, column))
    if not disagree:
        return
    clash = pl.DataFrame(disagree, schema=["cell_unit", "reported_unit"], orient="row")
    issues.add(
        frame.join(clash, on=["cell_unit", "reported_unit"], how="semi"),
        headers["result"],
        pl.col("reported_result"),
        pl.format(
            "the result is written in {} but the unit column says {}: correct one of them",
            pl.col("cell_unit"),
            pl.col("reported_unit"),
        ),
    )


def _finish(
    frame: pl.DataFrame,
    issues: _Collector,
    schema: dict[str, pl.DataType],
    headers: dict[str, str],
) -> Normalized:
    problems = issues.frame()
    kind: cols.Kind = "results" if schema is RESULT_SCHEMA else "register"
    clean = (
        frame.join(problems.select("source_row").unique(), on="source_row", how="anti")
        if problems.height
        else frame
    )
    rows = clean.select([pl.col(c).cast(t) for c, t in schema.items()])
    cells = clean[wide.CELL_COLUMN].to_list() if wide.CELL_COLUMN in clean.columns else None
    return Normalized(kind, rows, issues.problems(), headers, cells)


# The unit a register may write after a number, as its column says it:
# '50 mg' under 'Label claim (mg/serving)', '2 g' under 'Serving size (g)'.
_REGISTER_UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "label_claim_mg_per_serving": ("mg", ("mg", "mg/serving", "mg per serving", "mg/dose")),
    "label_claim_mg_per_unit": (
        "mg",
        ("mg", "mg/unit", "mg/capsule", "mg/cap", "mg/tablet", "mg/tab", "mg each"),
    ),
    "serving_size_g": ("g", ("g", "gm", "gram", "grams")),
    "target_content_pct": (
        "% of label claim",
        ("%", "% lc", "% of lc", "% label claim", "% of label claim", "% of claim", "percent"),
    ),
}
# A target content that is no number: the sentence names the fix, as the
# schema's range check does (kqc.schemas.register).
_NOT_A_TARGET = (
    "'{}' is not a target content: write T as a number of % of the label claim (105 for"
    " 105 %), or leave the cell empty for T = 100 %"
)
_NUMBER_AND_WORD = r"^\s*([+-]?[\d.,]+)\s*([^\d\s.,][^\d]*?)\s*$"


def _register_number(frame: pl.DataFrame, fld: str) -> tuple[pl.Series, pl.Series]:
    """The number text of a register column, with the unit its column gives
    taken off ('50 mg' under mg per serving), and a problem for a cell whose
    unit is another ('2 oz' under grams): a unit is never converted by guess."""
    text = frame[fld].cast(pl.String)
    none = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
    if fld not in _REGISTER_UNITS:
        return text, none
    unit, spellings = _REGISTER_UNITS[fld]
    parts = text.str.extract_groups(_NUMBER_AND_WORD)
    word = parts.struct.field("2").str.to_lowercase().str.replace_all(r"\s+", " ")
    given = word.is_not_null()
    known = word.is_in(list(spellings)).fill_null(False)
    number = frame.select(
        pl.when(known).then(parts.struct.field("1")).otherwise(text).alias(fld)
    ).to_series()
    problem = frame.select(
        pl.when(given & ~known)
        .then(
            pl.format(
                "'{}' is not in {}: write the number of {} alone", text, pl.lit(unit), pl.lit(unit)
            )
        )
        .otherwise(None)
        .alias("_unit_problem")
    ).to_series()
    return number, problem


def _normalize_register(table: RawTable) -> Normalized:
    issues = _Collector(table.header_row)
    named = cols.map_columns(table.headers, "register").fields
    # A claim per capsule stands in for the claim per serving when the
    # register has no such column; the two never mix.
    per_unit = "label_claim_mg_per_unit" in named and "label_claim_mg_per_serving" not in named
    needed = tuple(
        f for f in cols.REGISTER_REQUIRED if not (per_unit and f == "label_claim_mg_per_serving")
    )
    mapped = _fields_frame(table, "register", needed, issues)
    if mapped is not None and per_unit and "units_per_serving" not in mapped[1]:
        issues.header(
            f"a label claim per capsule or tablet ('{named['label_claim_mg_per_unit']}') needs a"
            " units_per_serving column (capsules per serving) to give the claim per serving:"
            " add one, or give label_claim_mg_per_serving instead",
            column=named["label_claim_mg_per_unit"],
        )
        mapped = None
    if mapped is None:
        return Normalized("register", pl.DataFrame(schema=REGISTER_SCHEMA), issues.problems())
    frame, headers = mapped
    for fld in REGISTER_SCHEMA:
        if fld not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(fld))
    # Blank rows between blocks of a register hold nothing to keep.
    text_fields = [f for f in REGISTER_SCHEMA if f != "source_row"]
    frame = frame.filter(~pl.all_horizontal(pl.col(text_fields).is_null()))
    _require_values(frame, ("batch_id", "product_id", "form"), headers, issues)
    numeric = {
        "label_claim_mg_per_serving": not per_unit,
        "serving_size_g": True,
        "servings_per_day": True,
        "units_per_serving": per_unit,
        **({"label_claim_mg_per_unit": True} if per_unit else {}),
        "target_content_pct": False,
    }
    converted = {}
    for fld, required in numeric.items():
        number, unit_problem = _register_number(frame, fld)
        nums = parse_number_column(
            number, decimal_comma=table.decimal_comma, one_group=table.thousands_comma
        )
        with_nums = frame.with_columns(
            nums["value"].alias("_v"),
            pl.coalesce(unit_problem, nums["problem"]).alias("_p"),
        )
        header = headers.get(fld, fld)
        problem = pl.format(_NOT_A_TARGET, pl.col(fld)) if fld == "target_content_pct" else None
        issues.add(
            with_nums.filter(pl.col("_p").is_not_null()),
            header,
            pl.col(fld),
            pl.col("_p") if problem is None else problem,
        )
        if required:
            issues.add(
                with_nums.filter(pl.col(fld).is_null()),
                header,
                pl.lit(""),
                pl.lit(f"{fld} is empty: fill it in"),
            )
        converted[fld] = nums["value"]
    frame = frame.with_columns(
        *[v.alias(k) for k, v in converted.items() if k != "units_per_serving"],
        converted["units_per_serving"].fill_null(1.0).alias("units_per_serving_value"),
    )
    if per_unit:
        frame = frame.with_columns(
            (pl.col("label_claim_mg_per_unit") * pl.col("units_per_serving_value")).alias(
                "label_claim_mg_per_serving"
            )
        )
    frame = _map_products(frame, headers, issues)
    frame = _made_on(frame, headers, issues)
    whole = frame.filter(
        pl.col("units_per_serving_value") != pl.col("units_per_serving_value").round(0)
    )
    issues.add(
        whole,
        headers.get("units_per_serving", "units_per_serving"),
        pl.col("units_per_serving"),
        pl.lit("units_per_serving must be a whole number of capsules or tablets"),
    )
    frame = frame.with_columns(
        pl.col("units_per_serving_value").round(0).cast(pl.Int64).alias("units_per_serving")
    )
    return _finish(frame, issues, REGISTER_SCHEMA, headers)


def _made_on(frame: pl.DataFrame, headers: dict[str, str], issues: _Collector) -> pl.DataFrame:
    """manufactured_on as YYYY-MM-DD (kqc.core.dates): the rules order a
    product's batches by it, as text."""
    read: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for text in frame["manufactured_on"].drop_nulls().unique().to_list():
        try:
            read[text] = iso_date(text)
        except ValueError as err:
            read[text] = None
            problems[text] = str(err)
    _cells_refused(frame, "manufactured_on", problems, headers, issues)
    return frame.with_columns(
        pl.col("manufactured_on").replace_strict(read, default=None, return_dtype=pl.String)
    )


def _cells_refused(
    frame: pl.DataFrame,
    fld: str,
    problems: dict[str, str],
    headers: dict[str, str],
    issues: _Collector,
) -> None:
    """A problem for each row whose `fld` text is a key of `problems` (text ->
    sentence), named by the lab's column."""
    issues.add(
        frame.filter(pl.col(fld).is_in(list(problems))),
        headers.get(fld, fld),
        pl.col(fld),
        pl.col(fld).replace_strict(problems, default=None, return_dtype=pl.String),
    )


def _map_products(frame: pl.DataFrame, headers: dict[str, str], issues: _Collector) -> pl.DataFrame:
    """Form and markets to their codes; an unknown one is a problem for its row
    (they choose which limits apply, so a guess could skip a limit)."""
    forms = {f: form_code(f) for f in frame["form"].drop_nulls().unique().to_list()}
    unknown_forms = {f: unknown_form_message(f) for f, code in forms.items() if code is None}
    _cells_refused(frame, "form", unknown_forms, headers, issues)
    markets = {m: market_codes(m) for m in frame["markets"].drop_nulls().unique().to_list()}
    bad_markets = {m: problem for m, (_, problem) in markets.items() if problem}
    _cells_refused(frame, "markets", bad_markets, headers, issues)
    return frame.with_columns(
        pl.col("form").replace_strict(forms, default=None, return_dtype=pl.String),
        pl.col("markets").replace_strict(
            {m: codes for m, (codes, _) in markets.items()}, default=None, return_dtype=pl.String
        ),
    )
