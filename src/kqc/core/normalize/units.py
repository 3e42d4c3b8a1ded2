"""Each result's unit to its analyte's canonical unit (`kqc.core.units`), the
factor applied to value, bound, LOD, LOQ and spike level; the limits' own
unit where a column gives it; and the refusals: a unit that is empty,
unknown or of another kind, a number for a presence test, a result cell
whose unit disagrees with the unit column."""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from kqc.core.cells import with_lookup
from kqc.core.normalize.collector import Collector
from kqc.core.qualifiers import DETECTED, NOT_DETECTED
from kqc.core.units import conversion, spelling, test_portion_g
from kqc.core.vocab import ANALYTES


class _Conversion(NamedTuple):
    """How one analyte's reported unit comes to its canonical unit: a row of
    _CONVERSION_SCHEMA, field for field."""

    analyte: str
    reported_unit: str | None = None
    canonical_unit: str | None = None
    factor: float | None = None
    log10: bool = False
    presence: bool = False
    unit_portion: float | None = None
    unit_problem: str | None = None  # set: the row is refused


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


class _LimitConversion(NamedTuple):
    """How one analyte's limit unit comes to the canonical unit: a row of
    _LIMIT_SCHEMA, field for field."""

    analyte: str
    limit_unit: str
    limit_canonical: str | None = None
    limit_factor: float | None = None
    limit_log10: bool | None = None
    limit_problem: str | None = None  # set: the row is refused


_LIMIT_SCHEMA = {
    "analyte": pl.String(),
    "limit_unit": pl.String(),
    "limit_canonical": pl.String(),
    "limit_factor": pl.Float64(),
    "limit_log10": pl.Boolean(),
    "limit_problem": pl.String(),
}


def _conversion_row(code: str, unit_text: str | None) -> _Conversion:
    analyte = ANALYTES[code]
    if unit_text is None:
        if analyte.reporting == "presence":
            return _Conversion(code, factor=1.0, presence=True)
        if analyte.reporting == "ratio":  # water activity has no unit to assume
            return _Conversion(code, canonical_unit="aw", factor=1.0)
        return _Conversion(
            code,
            unit_problem="unit is empty: a unit is never assumed, enter it"
            " (e.g. mg/g, %, ppm, CFU/g)",
        )
    conv = conversion(analyte, unit_text)
    if isinstance(conv, str):
        return _Conversion(code, unit_text, unit_problem=conv)
    portion = test_portion_g(unit_text) if conv.presence else None
    return _Conversion(
        analyte=code,
        reported_unit=unit_text,
        canonical_unit=conv.unit,
        factor=conv.factor,
        log10=conv.log10,
        presence=conv.presence,
        unit_portion=portion,
        unit_problem=None,
    )


def convert_units(frame: pl.DataFrame, headers: dict[str, str], issues: Collector) -> pl.DataFrame:
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


def _limit_row(code: str, unit_text: str) -> _LimitConversion:
    conv = conversion(ANALYTES[code], unit_text)
    if isinstance(conv, str):
        return _LimitConversion(code, unit_text, limit_problem=conv)
    if conv.presence:
        return _LimitConversion(
            code, unit_text, limit_problem=f"'{unit_text}' is no unit for a limit"
        )
    return _LimitConversion(
        analyte=code,
        limit_unit=unit_text,
        limit_canonical=conv.unit,
        limit_factor=conv.factor,
        limit_log10=conv.log10,
        limit_problem=None,
    )


def _limit_factors(frame: pl.DataFrame, headers: dict[str, str], issues: Collector) -> pl.DataFrame:
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
    frame = with_lookup(
        frame,
        [_limit_row(code, unit_text) for code, unit_text in pairs],
        _LIMIT_SCHEMA,
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


def _cell_units_agree(frame: pl.DataFrame, headers: dict[str, str], issues: Collector) -> None:
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
