"""The `kqc` command: parse arguments, call flows or the store, turn errors
into one sentence and an exit code (0 done, 1 something to act on, 2 bad usage
or configuration). Read-only commands never import Prefect."""

from __future__ import annotations

import json
import shutil
import sys
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from kqc import quiet
from kqc.errors import KqcError, UsageError
from kqc.settings import Locations, locations

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="kqc: kratom lab results in, validated, stored in DuckDB, flagged with cited limits.",
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Database file (default: $KQC_DB, else ./kqc.duckdb).", show_default=False
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


def _run_ingest(paths: list[Path], where: Locations) -> list[Any]:
    """Run the Prefect ingest flow with Prefect's output kept in the log."""
    quiet.mute_prefect(where.logs / "kqc.log")
    from kqc.flows.ingest import Places, ingest_flow  # Prefect loads only here

    places = Places(db=where.db, archive=where.archive, quarantine=where.quarantine)
    return list(ingest_flow(paths, places))


def _short(path: str | None, base: Path) -> str:
    if not path:
        return "inbox (left for retry)"
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path


def _show_outcomes(outcomes: list[Any], as_json: bool, base: Path) -> None:
    if as_json:
        for outcome in outcomes:
            print(json.dumps(outcome.as_dict(), ensure_ascii=False))
        return
    console = Console()
    if not outcomes:
        console.print("Nothing to ingest.")
        return
    table = Table("file", "status", "rows", "errors", "now in", title=f"kqc ingest — {base}")
    for o in outcomes:
        style = {"ingested": "green", "duplicate": "cyan", "rejected": "red"}.get(
            o.status, "yellow"
        )
        table.add_row(
            o.file,
            f"[{style}]{o.status}[/]",
            str(o.rows),
            str(o.errors),
            _short(o.stored_as, base),
        )
    console.print(table)
    for o in outcomes:
        if o.status == "rejected":
            console.print(
                f"[red]{o.file}[/] rejected: {o.reason} — see {_short(o.errors_csv, base)}"
            )
        elif o.status == "failed":
            console.print(f"[yellow]{o.file}[/] left in the inbox: {o.reason}")


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
    _check_thresholds()
    if paths:
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise UsageError(f"no such file or folder: {missing[0]} — check the path")
        targets = [p.absolute() for p in paths]
    else:
        where.inbox.mkdir(parents=True, exist_ok=True)
        targets = [where.inbox]
    outcomes = _run_ingest(targets, where)
    _show_outcomes(outcomes, as_json, where.db.parent)
    raise typer.Exit(_exit_code(outcomes))


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _print_frame(data: pl.DataFrame, fmt: Format, title: str, columns: list[str]) -> None:
    if fmt is Format.json:
        for named in data.iter_rows(named=True):
            print(json.dumps(named, default=str, ensure_ascii=False))
    elif fmt is Format.csv:
        print(data.write_csv(), end="")
    else:
        table = Table(*columns, title=title)
        for row in data.select(columns).iter_rows():
            table.add_row(
                *["" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in row]
            )
        Console().print(table)


@app.command()
def flags(
    db: DbOption = None,
    status: Annotated[
        str | None, typer.Option(help="open, confirmed, dismissed or resolved.")
    ] = None,
    batch: Annotated[str | None, typer.Option(help="Only this batch.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule code.")] = None,
    product: Annotated[str | None, typer.Option(help="Only this product id.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.table,
) -> None:
    """Flagged batches: open first, most severe first."""
    from kqc.store import flags as query_flags

    where = locations(db)
    if status is not None and status not in ("open", "confirmed", "dismissed", "resolved"):
        raise UsageError(f"unknown status '{status}': use open, confirmed, dismissed or resolved")
    found = query_flags(where.db, status=status, batch=batch, rule=rule, product=product)
    _print_frame(
        found,
        fmt,
        f"kqc flags — {where.db}",
        ["flag_id", "batch_id", "rule", "analyte", "severity", "status", "message"],
    )
    open_count = found.filter(pl.col("status") == "open").height
    raise typer.Exit(1 if open_count else 0)


@app.command()
def review(
    flag_id: Annotated[str, typer.Argument(help="The flag decided on (see kqc flags).")],
    decision: Annotated[str, typer.Option(help="confirm or dismiss.", show_default=False)],
    reviewer: Annotated[str, typer.Option(help="Who decides.", show_default=False)],
    note: Annotated[str | None, typer.Option(help="Why; required to dismiss.")] = None,
    db: DbOption = None,
) -> None:
    """Record a QA decision on a flag (append-only; the flag's status follows it)."""
    from kqc.store import record_review

    done = record_review(locations(db).db, flag_id, decision, reviewer, note)
    print(
        f"{done.flag_id} ({done.batch_id}, {done.rule}): {done.status} by {done.reviewer}"
        f" at {done.reviewed_at:%Y-%m-%d %H:%M:%S} UTC"
    )


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
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.table,
) -> None:
    """The limits kqc applies, each with its basis, profile and source
    ($KQC_THRESHOLDS names a house file to use instead of the shipped one)."""
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


def _show_statuses(db: Path) -> None:
    from kqc.store import batch_statuses

    _print_frame(
        batch_statuses(db),
        Format.table,
        "batch status",
        ["batch_id", "product_name", "status", "open_flags"],
    )


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
    console = Console()
    console.print(
        f"\nDatabase:   {where.db}\nArchive:    {where.archive}\nQuarantine: {where.quarantine}"
        " (each rejected file has <name>.errors.csv beside it)\n"
        f'Query it:   duckdb -readonly {where.db} "SELECT * FROM batch_status"\n'
        f"Flags:      kqc flags --db {where.db}"
    )


def _error(message: str) -> None:
    print(f"kqc: {message}", file=quiet.user_stderr())


def _usage_message(err: Exception) -> str | None:
    """Click's usage errors (Typer carries its own copy of Click, so match by
    shape): their message, or None for any other exception."""
    if getattr(err, "exit_code", None) != 2 or not hasattr(err, "format_message"):
        return None
    ctx = getattr(err, "ctx", None)
    name = getattr(ctx, "command_path", "kqc") if ctx else "kqc"
    text = " ".join(str(err.format_message()).split())
    return f"{text} (see: {name} --help)"


def main() -> None:
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
            if not usage.startswith("("):  # bare `kqc`: the help was printed already
                _error(usage)
            code = 2
        else:
            _error(f"unexpected failure ({type(err).__name__}: {err}); report it with the command")
            code = 1
    sys.stdout.flush()
    sys.exit(code if isinstance(code, int) else 0)
