"""A results table, long or wide, to result rows: every cell read (analyte to
its code, result to a number or a qualifier, sample type, limits), then the
units converted (`units`) and the counts checked (`counts`). A wide file is
melted to the long shape first, each row keeping the analyte column it came
from."""

from __future__ import annotations

import polars as pl

from kqc.core import columns as cols
from kqc.core import wide
from kqc.core.cells import join_qualifier_column, parse_number_column, parse_result_column
from kqc.core.normalize.collector import (
    Collector,
    Normalized,
    fields_frame,
    finish,
    refused,
    require_values,
    with_missing_fields,
)
from kqc.core.normalize.counts import count_rows, grouped_counts, read_again, unread_commas
from kqc.core.normalize.units import convert_units
from kqc.core.problems import Problem
from kqc.core.records import RawTable
from kqc.core.units import spelling
from kqc.core.vocab import (
    analyte_code,
    sample_type_code,
    unknown_analyte_message,
    unknown_sample_type_message,
)


def normalize_wide(table: RawTable) -> Normalized:
    table = wide.with_units_row(table)
    issues = wide.header_problems(table.headers) + wide.unread_result_columns(table)
    long, _ = wide.melt(table.frame, table.headers)
    outcome = normalize_results(
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


def normalize_results(table: RawTable, *, from_wide: bool = False) -> Normalized:
    issues = Collector(table.header_row)
    mapped = fields_frame(table, "results", cols.RESULT_REQUIRED, issues)
    if mapped is None:
        return refused("results", issues)
    frame, headers = mapped
    if from_wide:
        if "result_qualifier" in headers:
            issues.header(
                f"column '{headers['result_qualifier']}' cannot say which analyte's result it"
                " qualifies: write the qualifier in each result cell (<0.05, ND) and remove"
                " the column",
                column=headers["result_qualifier"],
            )
            return refused("results", issues)
        frame = frame.with_columns(table.frame[wide.CELL_COLUMN])
        headers.update(analyte=wide.CELL_COLUMN, result=wide.CELL_COLUMN, unit=wide.CELL_COLUMN)
    frame = with_missing_fields(frame, "results")
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
        if table.decimal_comma or one_group or not unread_commas(frame, parsed)
        else count_rows(frame, parsed["cell_unit"])
    )
    if counts is not None:
        again = parse_result_column(frame["result"], decimal_comma=False, one_group=True)
        parsed = read_again(parsed, again, counts)
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
    require_values(frame, ("batch_id", "sample_id", "lab_id", "analyte"), headers, issues)
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
            nums = read_again(nums, _limit_numbers(frame, fld, False, True), counts)
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
    frame = convert_units(frame, headers, issues)
    grouped_counts(frame, headers, issues, table.decimal_comma)
    return finish(frame, issues, "results", headers)


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
    issues: Collector,
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


def _map_analytes(frame: pl.DataFrame, headers: dict[str, str], issues: Collector) -> pl.DataFrame:
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
    frame: pl.DataFrame, headers: dict[str, str], issues: Collector
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
