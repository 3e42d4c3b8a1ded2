"""`kqc batch`: one batch's dossier (its register row and status, every
result as reported and canonical, each rule's statistics, its flags and
reviews), printed as a table, json or jsonl from plain rows without polars,
or as csv and --out files from frames typed as stored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kqc.cli.app import _exit_while_open
from kqc.cli.options import DbOption, OutOption
from kqc.cli.render import (
    Format,
    _cell,
    _check_export,
    _export,
    _json,
    _number,
    _print_frame,
    _reading,
    _text_table,
)
from kqc.config.settings import locations
from kqc.core import terminal

if TYPE_CHECKING:  # `kqc batch` starts without polars (a third of its time)
    import polars as pl

    from kqc.store import StoredDossier

Rows = list[dict[str, Any]]


def _dossier_rows(db: Path, batch_id: str) -> dict[str, Rows]:
    """The dossier's sections (batch, results, statistics, flags, reviews) as
    plain rows, for the terminal and json: what is stored, and the statistics
    computed now by the rules' functions. No polars is loaded, a third of
    the command's time."""
    from kqc.core.rules.applicable import thresholds_from_rows
    from kqc.core.rules.statistics import statistic_rows
    from kqc.store import read_dossier_rows

    stored = read_dossier_rows(db, batch_id)
    stats = statistic_rows(
        batch_id,
        stored.current,
        stored.register,
        thresholds_from_rows(stored.thresholds),
        stored.history,
    )
    return {
        "batch": [_dossier_head(stored)],
        "results": stored.results,
        "statistics": stats,
        "flags": stored.flags,
        "reviews": stored.reviews,
    }


def _dossier_frames(db: Path, batch_id: str) -> dict[str, pl.DataFrame]:
    """The same sections as frames typed as stored, for --out."""
    import polars as pl

    from kqc.core.rules import thresholds_from_frame
    from kqc.core.rules.statistics import batch_statistics
    from kqc.store import read_dossier

    stored = read_dossier(db, batch_id)
    stats = batch_statistics(
        batch_id,
        stored.current,
        stored.register,
        thresholds_from_frame(stored.thresholds),
        stored.history,
    )
    return {
        "batch": pl.DataFrame([_dossier_head(stored)]),
        "results": stored.results,
        "statistics": stats,
        "flags": stored.flags,
        "reviews": stored.reviews,
    }


def _dossier_head(stored: StoredDossier[Any]) -> dict[str, Any]:
    """The batch section's one row: its status and its register row."""
    register = {k: v for k, v in (stored.register or {}).items() if k not in _NOT_SHOWN}
    return {
        "batch_id": stored.batch_id,
        "status": stored.status,
        "open_flags": stored.open_flags,
        "registered": stored.register is not None,
        **register,
    }


_NOT_SHOWN = ("batch_id", "source_sha256", "updated_at")


def _superseded(result: dict[str, Any]) -> str:
    """An amended result names the file whose result replaced it."""
    if result["superseded_by"] is None:
        return ""
    return f" (superseded by {result['superseded_by_file'] or 'a later file'})"


def _show_dossier(sections: dict[str, Rows]) -> None:
    from kqc.core.rules.statistics import worst_rows_per_limit

    head = sections["batch"][0]
    product = (
        f"{head.get('product_name') or ''} ({head['product_id']}), {head['form']}"
        if head["registered"]
        else "not in the batch register"
    )
    lines = [
        terminal.shown(
            f"{head['batch_id']} — {product}: {head['status']},"
            f" {head['open_flags']} open or confirmed flag(s)"
        )
        + "\n",
        _text_table(
            "batch register",
            ["field", "value"],
            [
                [key, _cell(value)]
                for key, value in head.items()
                if key not in ("batch_id", "status", "open_flags", "registered")
                and value is not None
            ],
        ),
        _text_table(
            "results (as reported, and canonical)",
            [
                "sample",
                "type",
                "analyte",
                "reported",
                "canonical",
                "unit",
                "LOD",
                "LOQ",
                "lab",
                "file",
            ],
            [
                [
                    r["sample_id"] + (f" #{r['unit_no']}" if r["unit_no"] else ""),
                    r["sample_type"] + _superseded(r),
                    r["analyte"],
                    f"{r['reported_result']} {r['reported_unit'] or ''}".strip(),
                    _reading(r["value"], r["qualifier"], r["bound"]),
                    r["unit"] or "",
                    _number(r["lod"]),
                    _number(r["loq"]),
                    r["lab_id"],
                    r["source_file"] or "",
                ]
                for r in sections["results"]
            ],
        ),
        _text_table(
            "statistics (the worst result against each limit; json and --out: every result)",
            [
                "rule",
                "analyte",
                "sample",
                "statistic",
                "value",
                "unit",
                "limit",
                "x limit",
                "verdict",
                "note",
            ],
            [
                [
                    r["rule"],
                    r["analyte"] or "",
                    r["sample_id"] or "",
                    r["statistic"],
                    _reading(r["value"], r["qualifier"]) if r["qualifier"] else _number(r["value"]),
                    r["unit"] or "",
                    _number(r["limit_value"]),
                    _number(r["ratio_to_limit"]),
                    r["verdict"] or "",
                    r["note"] or "",
                ]
                for r in worst_rows_per_limit(sections["statistics"])
            ],
        ),
        _text_table(
            "flags",
            ["flag_id", "rule", "analyte", "severity", "status", "message"],
            [
                [
                    f["flag_id"],
                    f["rule"],
                    f["analyte"] or "",
                    f["severity"],
                    f["status"],
                    f["message"],
                ]
                for f in sections["flags"]
            ],
        ),
        _text_table(
            "reviews",
            ["flag_id", "decision", "reviewer", "reviewed at (UTC)", "note"],
            [
                [
                    r["flag_id"],
                    r["decision"],
                    r["reviewer"],
                    f"{r['reviewed_at']:%Y-%m-%d %H:%M:%S}",
                    r["note"] or "",
                ]
                for r in sections["reviews"]
            ],
        ),
    ]
    print("\n".join(lines), end="")


def batch(
    batch_id: Annotated[str, typer.Argument(help="The batch (see kqc flags).", show_default=False)],
    db: DbOption = None,
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            help="table, json (an array of one dossier, its sections by name), jsonl"
            " (a row a line, each naming its section) or csv (one table, a section"
            " column first).",
        ),
    ] = Format.table,
    out: OutOption = None,
) -> None:
    """One batch's dossier: product and label, every result as reported and
    canonical, each rule's statistics, flags, reviews and status."""
    where = locations(db)
    if out is not None or fmt is Format.csv:
        if out is not None:
            _check_export(out)
        frames = _dossier_frames(where.db, batch_id)
        if out is not None:
            _export(out, frames)
        else:
            _print_frame(_one_table(frames), Format.csv, "", [])
        _exit_while_open((frames["flags"].get_column("status") == "open").any())
    sections = _dossier_rows(where.db, batch_id)
    if fmt is Format.json:
        whole = {
            "batch": sections["batch"][0],
            **{name: rows for name, rows in sections.items() if name != "batch"},
        }
        # An array, as on every command (CONTRACT §6), of the one dossier:
        # its sections stay together by name.
        print(_json([whole]))
    elif fmt is Format.jsonl:
        for name, rows in sections.items():
            for row in rows:
                print(_json({"section": name, **row}))
    else:
        _show_dossier(sections)
    _exit_while_open(any(f["status"] == "open" for f in sections["flags"]))


def _one_table(sections: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The dossier's sections as one table, for one CSV on stdout: a `section`
    column first, then each section's columns as they first appear, empty
    where a section has none. Every value becomes text (a column such as
    `value` is a number in one section and absent in another); times in UTC,
    as the exported files write them."""
    import polars as pl

    parts = []
    for name, frame in sections.items():
        in_utc = frame.with_columns(
            pl.col(column).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            for column, dtype in frame.schema.items()
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
        )
        parts.append(in_utc.select(pl.lit(name).alias("section"), pl.all().cast(pl.String)))
    return pl.concat(parts, how="diagonal")
