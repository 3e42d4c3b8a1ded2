"""The `kqc` command: parse arguments, call flows or the store, turn errors
into one sentence and an exit code (0 done, 1 something to act on, 2 bad usage
or configuration). Read-only commands never import Prefect."""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
from collections.abc import Iterable
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from kqc.config.input_limits import check_all
from kqc.config.settings import Locations, locations, resolve_db
from kqc.core import terminal
from kqc.errors import KqcError, UsageError
from kqc.process import allocator, quiet

if TYPE_CHECKING:  # `kqc flags` and `kqc batch` start without polars (a third of their time)
    import polars as pl
    from rich.console import Console

    from kqc.store import StoredDossier

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="kqc: kratom lab results in, validated, stored in DuckDB, flagged with cited limits.",
)

# The commands that read a database written earlier; the others create it
# (ingest, watch) or need none (thresholds, demo).
_READS_DATABASE = frozenset({"flags", "review", "batch", "report", "verify", "publish"})


def _check_database(ctx: typer.Context, db: Path | None) -> Path | None:
    """A command that reads the database finds it, or stops as its options are
    read: a database that is not there is bad configuration (exit 2), told in
    one sentence before anything runs."""
    if ctx.resilient_parsing or ctx.info_name not in _READS_DATABASE:
        return db
    chosen = resolve_db(db)  # a missing folder, or a folder given as the file: exit 2
    if not chosen.exists():
        raise UsageError(
            f"no database at {chosen}: run `kqc ingest` first, or pass --db / set KQC_DB"
        )
    return db


DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Database file (default: $KQC_DB, else ./kqc.duckdb).",
        show_default=False,
        callback=_check_database,
    ),
]
InboxOption = Annotated[
    Path | None, typer.Option("--inbox", help="Inbox folder (default: inbox/ beside the db).")
]
ArchiveOption = Annotated[
    Path | None, typer.Option("--archive", help="Archive folder (default: archive/ beside the db).")
]
QuarantineOption = Annotated[
    Path | None,
    typer.Option("--quarantine", help="Quarantine folder (default: quarantine/ beside the db)."),
]


def _run_ingest(paths: list[Path], where: Locations) -> Any:
    """Run the Prefect ingest flow with Prefect's output kept in the log."""
    quiet.mute_prefect(where.logs / "kqc.log")
    from kqc.service.server_start import (  # Prefect loads only here
        heartbeats_only_where_read,
        start_embedded_server,
    )

    server = start_embedded_server()
    from kqc.flows.ingest import Places, ingest_flow  # loads while the server boots

    server.wait()
    # Checked here, not first: the schema check's imports (pandera, polars)
    # are loaded with the flow during the boot, and still no file has moved.
    _check_thresholds()
    places = Places(db=where.db, archive=where.archive, quarantine=where.quarantine)
    with heartbeats_only_where_read(server):
        return ingest_flow(paths, places)  # an IngestRun: the outcomes, and what was left


def _short(path: str | None, base: Path) -> str:
    if not path:
        return "inbox (left for retry)"
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path


def _show_outcomes(outcomes: Any, as_json: bool, base: Path) -> None:
    if as_json:
        for outcome in outcomes:
            print(_json(outcome.as_dict()))
        _show_left(outcomes, base, quiet.user_stderr())  # stdout holds the JSON lines only
        return
    from rich.markup import escape as rich_escape
    from rich.table import Table

    console = _console()
    if not outcomes:
        console.print("Nothing to ingest.")
        _show_left(outcomes, base, sys.stdout)
        return

    # A dropped file's name and the reasons quoting its cells are the lab's
    # text: escaped, so "[red]" in a file name prints as written and an ESC
    # in a cell is shown as \x1b, never sent to the terminal.
    def escape(text: str) -> str:
        return rich_escape(terminal.shown(text))

    table = Table(
        "file", "status", "rows", "errors", "now in", title=escape(f"kqc ingest — {base}")
    )
    for o in outcomes:
        style = {"ingested": "green", "duplicate": "cyan", "rejected": "red"}.get(
            o.status, "yellow"
        )
        table.add_row(
            escape(o.file),
            f"[{style}]{o.status}[/]",
            str(o.rows),
            str(o.errors),
            escape(_short(o.stored_as, base)),
        )
    console.print(table)
    for o in outcomes:
        if o.status == "rejected":
            console.print(
                f"[red]{escape(o.file)}[/] rejected: {escape(o.reason or '')}"
                f" — see {escape(_short(o.errors_csv, base))}"
            )
        elif o.status == "failed":
            reason = escape(o.reason or "")
            console.print(f"[yellow]{escape(o.file)}[/] left in the inbox: {reason}")
        if o.unused_columns:  # kept in the archived file, never dropped unseen
            named = ", ".join(f"'{c}'" for c in o.unused_columns)
            console.print(
                f"{escape(o.file)} {o.status} {o.rows} rows (columns not used: {escape(named)})"
            )
    sys.stdout.flush()
    _show_left(outcomes, base, sys.stdout)


# Wider than any cell kqc prints (a path is at most 4,096 bytes): a table
# that is piped is laid out at its own width, never at the console's.
_UNCUT_WIDTH = 1_000_000


def _console() -> Console:
    """A console for stdout. A terminal's table fits the terminal; piped or
    redirected, rich would lay it out in 80 columns and cut every cell that
    does not fit with an ellipsis, so a script reading it would get a file
    name or a path it cannot use. There the table keeps every cell whole,
    and a sentence stays on one line."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=_UNCUT_WIDTH)


def _show_left(outcomes: Any, base: Path, stream: Any) -> None:
    """Every inbox entry the run left alone, with why: no file waits without a word."""
    from kqc.files.inbox import printable_name

    for left in getattr(outcomes, "left", []):
        try:
            where = left.path.relative_to(base)
        except ValueError:
            where = left.path
        print(
            f"{printable_name(str(where))}: left in the inbox for now: {left.reason}", file=stream
        )


def _snapshot_code(outcomes: Any) -> int:
    """1 when the snapshot could not be published (the last good one is kept)."""
    problem = getattr(outcomes, "snapshot_problem", None)
    if problem is None:
        return 0
    _error(f"the snapshot for regulators was not published: {problem}")
    return 1


def _exit_code(outcomes: list[Any]) -> int:
    return 1 if any(o.status in ("rejected", "failed") for o in outcomes) else 0


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders to ingest (default: the inbox).", show_default=False),
    ] = None,
    db: DbOption = None,
    inbox: InboxOption = None,
    archive: ArchiveOption = None,
    quarantine: QuarantineOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
) -> None:
    """Ingest dropped files now: store, archive or quarantine each one."""
    where = locations(db, inbox=inbox, archive=archive, quarantine=quarantine)
    check_all()  # a bad KQC_* value stops here, before any file moves
    if paths:
        # A link is not followed here either: the flow refuses it with its reason.
        missing = [p for p in paths if not os.path.lexists(p)]
        if missing:
            raise UsageError(f"no such file or folder: {missing[0]} — check the path")
        targets = [p.absolute() for p in paths]
    else:
        where.inbox.mkdir(parents=True, exist_ok=True)
        targets = [where.inbox]
    outcomes = _run_ingest(targets, where)
    _show_outcomes(outcomes, as_json, where.db.parent)
    raise typer.Exit(max(_exit_code(outcomes), _snapshot_code(outcomes)))


class Format(StrEnum):
    """What --format prints (CONTRACT §6): `json` one JSON document, `jsonl`
    one object a line, `csv` one header and a row a line, `table` for people."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


FORMAT_HELP = "table, json (one array), jsonl (one object a line) or csv."


def _json(document: object) -> str:
    """One JSON document with no character in it a terminal acts on."""
    return terminal.json_safe(json.dumps(document, default=str, ensure_ascii=False))


def _json_array(rows: Iterable[object]) -> str:
    """One JSON array that `json.load` reads whole, an element a line so a
    person can still read it; `[]` when there is nothing."""
    body = ",\n".join(_json(row) for row in rows)
    return f"[\n{body}\n]" if body else "[]"


def _print_frame(data: pl.DataFrame, fmt: Format, title: str, columns: list[str]) -> None:
    if fmt is Format.json:
        print(_json_array(data.iter_rows(named=True)))
    elif fmt is Format.jsonl:
        for named in data.iter_rows(named=True):
            print(_json(named))
    elif fmt is Format.csv:
        from kqc.files.exports import csv_text

        # Made inert as an exported file is: stdout is often redirected to
        # a .csv a QA lead opens in a spreadsheet program.
        print(csv_text(data), end="")
    else:
        rows = [[_cell(v) for v in row] for row in data.select(columns).iter_rows()]
        print(_text_table(title, columns, rows), end="")


def _cell(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


_FLAG_COLUMNS = ["flag_id", "batch_id", "rule", "analyte", "severity", "status", "message"]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Write a .csv or .xlsx file instead.", show_default=False),
]


def _check_export(out: Path) -> None:
    from kqc.files.exports import check_target

    check_target(out)


def _export(out: Path, sections: dict[str, pl.DataFrame]) -> None:
    from kqc.files.exports import write_sections

    for path in write_sections(out.absolute(), sections):
        print(f"wrote {path}")


def _exit_while_open(any_open: bool) -> NoReturn:
    """Exit 1 while a flag listed is still open (the contract's "something the
    user must act on"), else 0: one rule for `flags` and `batch` alike."""
    raise typer.Exit(1 if any_open else 0)


@app.command()
def flags(
    db: DbOption = None,
    status: Annotated[
        str | None, typer.Option(help="open, confirmed, dismissed or resolved.")
    ] = None,
    batch: Annotated[str | None, typer.Option(help="Only this batch.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule code.")] = None,
    product: Annotated[str | None, typer.Option(help="Only this product id.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help=FORMAT_HELP)] = Format.table,
    out: OutOption = None,
    limit: Annotated[
        int,
        typer.Option(
            min=0, help="Rows shown in the table (0: all); json, jsonl, csv and --out give all."
        ),
    ] = 50,
) -> None:
    """Flagged batches: open first, most severe first."""
    from kqc.store import flag_page

    where = locations(db)
    if status is not None and status not in ("open", "confirmed", "dismissed", "resolved"):
        raise UsageError(f"unknown status '{status}': use open, confirmed, dismissed or resolved")
    if out is not None:
        _check_export(out)
    chosen = {"status": status, "batch": batch, "rule": rule, "product": product}
    if out is not None or fmt is not Format.table:
        from kqc.store import flags as every_flag

        found = every_flag(where.db, **chosen)
        if out is not None:
            _export(out, {"flags": found})
        else:
            _print_frame(found, fmt, f"kqc flags — {where.db}", _FLAG_COLUMNS)
        _exit_while_open((found.get_column("status") == "open").any())
    # A terminal shows a page, not 30,000 rows; the rest is one option away.
    page = flag_page(where.db, **chosen, limit=limit if limit > 0 else None)
    shown = [page.columns.index(c) for c in _FLAG_COLUMNS]
    rows = [[_cell(row[i]) for i in shown] for row in page.rows]
    print(_text_table(f"kqc flags — {where.db}", _FLAG_COLUMNS, rows), end="")
    if page.total > len(page.rows):
        print(
            f"{page.total - len(page.rows):,} more of {page.total:,} flags"
            f" ({page.open:,} open) not shown: --limit 0 shows all,"
            " --out FILE.xlsx exports them"
        )
    _exit_while_open(page.open > 0)


@app.command()
def review(
    flag_id: Annotated[str, typer.Argument(help="The flag decided on (see kqc flags).")],
    decision: Annotated[str, typer.Option(help="confirm or dismiss.", show_default=False)],
    reviewer: Annotated[str, typer.Option(help="Who decides.", show_default=False)],
    note: Annotated[str | None, typer.Option(help="Why; required to dismiss.")] = None,
    db: DbOption = None,
) -> None:
    """Record a QA decision on a flag (append-only; its status follows), renew the snapshot."""
    from kqc.store import record_review

    where = locations(db)
    done = record_review(where.db, flag_id, decision, reviewer, note)
    print(
        f"{done.flag_id} ({done.batch_id}, {done.rule}): {done.status} by {done.reviewer}"
        f" at {done.reviewed_at:%Y-%m-%d %H:%M:%S} UTC",
        flush=True,
    )
    _republish(where.db, f"the decision on flag {done.flag_id}")


def _republish(db: Path, change: str) -> None:
    """Renew the snapshot and the chain heads beside it, as an ingest run does,
    after a change a regulator can see was committed here: the snapshot never
    reports a decision later than the database does. A regulator holding the
    old snapshot keeps reading it (it is replaced by a rename). When the
    renewal fails the change stays recorded and the command exits 1, saying
    the snapshot is stale and how to renew it, so no one records it twice."""
    from kqc.store.chain import write_heads
    from kqc.store.publish import publish, snapshot_path

    try:
        publish(db)
        write_heads(db)
    except Exception as err:
        reason = err.message if isinstance(err, KqcError) else f"{type(err).__name__}: {err}"
        raise KqcError(
            f"{change} is recorded, but the snapshot for regulators {snapshot_path(db)} is"
            f" now stale, without it ({reason}); once that is fixed, run"
            f" `kqc publish --db {db}` to renew it (do not record the decision again)"
        ) from err


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


def _number(value: float | None) -> str:
    if value is None:
        return ""
    shown = f"{value:.4g}"
    return f"{value:,.0f}" if "e+" in shown else shown  # 110,000 CFU/g, not 1.1e+05


def _reading(value: float | None, qualifier: str | None, bound: float | None = None) -> str:
    """A value as a reviewer reads it: a number, or its qualifier with its
    bound (a non-detect is never shown as a zero)."""
    if value is not None and qualifier is None:
        return f"{value:g}"
    if qualifier is None:
        return ""
    shown = bound if bound is not None else value
    return qualifier if shown is None else f"{qualifier} (≤ {shown:g})"


def _superseded(result: dict[str, Any]) -> str:
    """An amended result names the file whose result replaced it."""
    if result["superseded_by"] is None:
        return ""
    return f" (superseded by {result['superseded_by_file'] or 'a later file'})"


def _text_table(title: str, headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, as `column -t` lays them out. Plain
    text on purpose: a dossier has hundreds of cells, and a lab's text such
    as "[red]" must print as written, not be read as markup."""
    # A lab's text may hold an ESC or a bidi override: each is shown escaped.
    title = terminal.shown(title)
    headers = [terminal.shown(h) for h in headers]
    rows = [[terminal.shown(c) for c in r] for r in rows]
    if not rows:
        return f"{title}: none\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


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
                [key, f"{value:g}" if isinstance(value, float) else str(value)]
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


@app.command()
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


def _check_thresholds() -> None:
    """A broken house thresholds file stops the run before any file moves."""
    from kqc.schemas.thresholds import load_thresholds

    load_thresholds()


@app.command()
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
                "when detected"
                if when == "detected"
                else f"{when} {'its LOQ' if limit is None else f'{limit:g}'}"
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


@app.command()
def report(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The HTML file to write (required).", show_default=False),
    ] = None,
    db: DbOption = None,
) -> None:
    """A QA report: open flags, batch statuses and charts, as one self-contained HTML file."""
    from kqc.files.inbox import write_atomic
    from kqc.report import render
    from kqc.store.report_data import gather

    if out is None:
        raise UsageError("say where to write the report: kqc report --out FILE.html")
    if out.is_dir():
        raise UsageError(f"{out} is a folder: pass a file name, e.g. --out {out / 'report.html'}")
    data = gather(locations(db).db)
    write_atomic(out, render(data).encode("utf-8"))
    counts = data.status_counts
    print(
        f"{out}: {data.flag_counts.get('open', 0)} open flags;"
        f" {counts['FAIL']} FAIL, {counts['INCOMPLETE']} INCOMPLETE, {counts['PASS']} PASS"
    )


@app.command()
def verify(
    db: DbOption = None,
    archive: ArchiveOption = None,
    quarantine: QuarantineOption = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            help="A chain head recorded earlier (TABLE:ID:HASH as verify prints it, TABLE=HASH,"
            " a bare hash) or a heads file; repeatable. Default: the heads file beside the"
            " snapshot, when there is one.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check every table against the hash chains and the ledger, re-hash every kept
    file and check recorded heads: one line per break (exit 1), or the chain heads
    when all is intact."""
    from kqc.store.chain import BadExpectation
    from kqc.store.chain import verify as verify_store

    where = locations(db, archive=archive, quarantine=quarantine)
    try:
        found = verify_store(where.db, where.archive, where.quarantine, expect)
    except BadExpectation as err:
        raise UsageError(str(err)) from err
    for problem in found.breaks:
        print(f"BROKEN {problem}")
    if found.breaks:
        _error(f"{len(found.breaks)} break(s) in {where.db}: see the lines above")
        raise typer.Exit(1)
    counted = ", ".join(f"{n} {table} rows" for table, n in found.rows.items())
    print(f"intact: {counted}, {found.files} kept files re-hashed")
    for source in found.checked_against:
        print(f"recorded heads still in their chains: {source}")
    for head in found.heads.values():
        print(f"head {head}")


def _show_statuses(db: Path) -> None:
    from kqc.store import batch_statuses

    _print_frame(
        batch_statuses(db),
        Format.table,
        "batch status",
        ["batch_id", "product_name", "status", "open_flags"],
    )


@app.command()
def watch(
    inbox_dir: Annotated[
        Path | None,
        typer.Argument(
            metavar="INBOX",
            help="Folder to watch (default: inbox/ beside the db).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    archive: ArchiveOption = None,
    quarantine: QuarantineOption = None,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            help="Seconds between scans (default: $KQC_WATCH_INTERVAL, else 5).",
            show_default=False,
        ),
    ] = None,
    settle: Annotated[
        float | None,
        typer.Option(
            "--settle",
            help="Seconds a file's size and mtime must stay unchanged before it is taken"
            " (default: $KQC_STABLE_SECONDS, else 1).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Keep ingesting what is dropped into INBOX: a Prefect deployment served on an
    interval, one line per file; Ctrl-C stops it."""
    where = locations(db, inbox=inbox_dir, archive=archive, quarantine=quarantine)
    check_all()
    _check_thresholds()
    from kqc.service.watch import run as run_watch

    raise typer.Exit(run_watch(where, interval, settle))


@app.command()
def publish(
    db: DbOption = None,
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet",
            help="Also write each table and view of the snapshot as Parquet into this folder,"
            " with the data dictionary beside them (data_dictionary.csv, data_dictionary.json).",
            show_default=False,
        ),
    ] = None,
    convert_storage: Annotated[
        bool,
        typer.Option(
            "--convert-storage",
            help="First rewrite the database itself in the storage format DuckDB 1.0 reads:"
            " once, for a database an earlier kqc created in DuckDB 2's format.",
        ),
    ] = False,
) -> None:
    """Write the read-only snapshot regulators open (<db stem>.snapshot.duckdb beside the
    database; DuckDB 1.0 and later open it), replaced atomically; print its path, and with
    --parquet the export folder's."""
    from kqc.store.chain import write_heads
    from kqc.store.publish import needs_conversion
    from kqc.store.publish import publish as publish_snapshot

    where = locations(db)
    if parquet is not None:
        from kqc.store.parquet_export import check_target

        check_target(parquet)  # a folder it cannot use is refused before anything is written
    if convert_storage:
        from kqc.store.convert import convert_storage as convert

        if convert(where.db):
            done = f"converted {where.db} to the storage format DuckDB 1.0 reads"
            print(f"kqc: {terminal.shown(done)}", file=quiet.user_stderr())
    snapshot = publish_snapshot(where.db)
    print(snapshot)
    write_heads(where.db)  # beside the snapshot: what `kqc verify` holds the chains against
    note = needs_conversion(where.db)
    if note is not None:
        print(f"kqc: note: {terminal.shown(note)}", file=quiet.user_stderr())
    if parquet is not None:
        from kqc.store.parquet_export import export_parquet

        export_parquet(snapshot, parquet)
        print(parquet.absolute())


_DEMO_MARK = ".kqc-demo"


def _sample_files() -> list[Path]:
    root = resources.files("kqc.sample_data")
    return sorted(
        Path(str(entry))
        for entry in root.iterdir()
        if entry.is_file() and not entry.name.startswith((".", "_")) and entry.name != "README.md"
    )


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo database and its inbox.")
    ] = Path("kqc-demo"),
) -> None:
    """Run the whole pipeline on sample_data/ in a fresh folder and say where to look."""
    directory = directory.absolute()
    check_all()  # before the demo folder is emptied or filled
    if directory.exists() and any(directory.iterdir()):
        if not (directory / _DEMO_MARK).exists():
            raise UsageError(
                f"{directory} exists and is not a kqc demo folder: pass --dir with a new folder"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / _DEMO_MARK).write_text("made by kqc demo; safe to delete\n")
    where = locations(directory / "kqc.duckdb")
    where.inbox.mkdir()
    for sample in _sample_files():
        shutil.copyfile(sample, where.inbox / sample.name)
    outcomes = _run_ingest([where.inbox], where)
    _show_outcomes(outcomes, as_json=False, base=where.db.parent)
    _show_statuses(where.db)
    from kqc.store.clients import query_command
    from kqc.store.publish import snapshot_path

    snapshot = snapshot_path(where.db)
    print(
        f"\nDatabase:   {where.db}\nArchive:    {where.archive}\nQuarantine: {where.quarantine}"
        " (each rejected file has <name>.errors.csv beside it)\n"
        f"Snapshot:   {snapshot} (read-only copy for regulators, renewed after every run)\n"
        f"Query it:   {query_command(snapshot, 'SELECT * FROM batch_status')}\n"
        f"Flags:      kqc flags --db {where.db}"
    )


def _error(message: str) -> None:
    # A message may quote a lab's text or an argument: shown escaped.
    print(f"kqc: {terminal.shown(message)}", file=quiet.user_stderr())


def _usage_message(err: Exception) -> str | None:
    """Click's usage errors (Typer carries its own copy of Click, so match by
    shape): their message ("" for a bare `kqc`, whose help is printed
    already), or None for any other exception."""
    if getattr(err, "exit_code", None) != 2 or not hasattr(err, "format_message"):
        return None
    ctx = getattr(err, "ctx", None)
    name = getattr(ctx, "command_path", "kqc") if ctx else "kqc"
    text = " ".join(str(err.format_message()).split())
    return f"{text} (see: {name} --help)" if text else ""


def main() -> None:
    allocator.keep_freed_pages()  # before anything loads Polars
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        _error("stopped")
        code = 130
    except KqcError as err:
        _error(err.message)
        code = err.exit_code
    except Exception as err:  # the last line of defence: a sentence, never a traceback
        usage = _usage_message(err)
        if usage is not None:
            if usage:
                _error(usage)
            code = 2
        else:
            _error(f"unexpected failure ({type(err).__name__}: {err}); report it with the command")
            code = 1
    sys.stdout.flush()
    # Everything is written and closed by now. Python's last garbage
    # collection at exit would walk every object Prefect, Polars and Pandera
    # loaded, 1.1 s after an ingest; frozen, they are left to the process's
    # end. Exit handlers (Prefect's server stop, log flushing) still run.
    gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)
