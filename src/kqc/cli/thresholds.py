"""`kqc thresholds`: the limits kqc applies, filtered by profile, rule or
analyte, each with its basis and source. Needs no database."""

from __future__ import annotations

from typing import Annotated

import typer

from kqc.cli.render import FORMAT_HELP, Format, _cell, _print_frame
from kqc.errors import UsageError


def thresholds(
    profile: Annotated[
        str | None, typer.Option(help="Only this profile: default, or a market such as UT.")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule code.")] = None,
    analyte: Annotated[str | None, typer.Option(help="Only this analyte code.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help=FORMAT_HELP)] = Format.table,
) -> None:
    """The limits kqc applies, each with its basis, profile and source
    ($KQC_THRESHOLDS names a house file to use instead of the shipped one)."""
    import polars as pl

    from kqc.schemas.thresholds import load_thresholds, thresholds_file

    frame, version = load_thresholds()
    for column, wanted in (("profile", profile), ("rule", rule), ("analyte", analyte)):
        if wanted is not None:
            if wanted not in frame[column].to_list():
                known = ", ".join(sorted(set(frame[column].to_list())))
                raise UsageError(f"no thresholds for {column} '{wanted}': use one of {known}")
            frame = frame.filter(pl.col(column) == wanted)
    shown = frame.with_columns(pl.lit(version).alias("version"))
    if fmt is not Format.table:
        _print_frame(shown, fmt, "", [])
        return
    shown = shown.with_columns(
        pl.when(pl.col("confirmed")).then(pl.lit("")).otherwise(pl.lit("UNCONFIRMED")).alias("!"),
        pl.Series(
            "fails",
            [
                # limit_value is loaded as Float64: a limit is a float here.
                "when detected"
                if when == "detected"
                else f"{when} {'its LOQ' if limit is None else _cell(limit)}"
                for when, limit in shown.select("fails_when", "limit_value").iter_rows()
            ],
        ),
    )
    _print_frame(
        shown,
        fmt,
        f"kqc thresholds — {thresholds_file() or 'shipped'}, version {version}",
        ["rule", "analyte", "fails", "unit", "basis", "forms", "profile", "!", "source"],
    )
