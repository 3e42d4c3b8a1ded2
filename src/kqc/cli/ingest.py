"""The commands that ingest files: `kqc ingest` once, `kqc watch` for as long
as it runs, `kqc demo` on the shipped samples; and what an ingest run prints
about each file it took, refused or left in the inbox. Prefect loads only
when a flow runs (`_run_ingest`, the watch service)."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from kqc.cli.app import _error
from kqc.cli.options import ArchiveOption, DbOption, InboxOption, QuarantineOption
from kqc.cli.render import Format, _console, _json, _print_frame
from kqc.config.input_limits import check_all
from kqc.config.settings import Locations, locations
from kqc.core import terminal
from kqc.errors import UsageError
from kqc.process import quiet


def _check_thresholds() -> None:
    """A broken house thresholds file stops the run before any file moves."""
    from kqc.schemas.thresholds import load_thresholds

    load_thresholds()


def _run_ingest(paths: list[Path], where: Locations) -> Any:
    """Hand the files to the watch serving this database, or else run the
    Prefect ingest flow here, with Prefect's output kept in the log."""
    handed = _hand_to_watch(paths, where)
    if handed is not None:
        return handed
    quiet.mute_prefect(where.logs / "kqc.log")
    from kqc.service.server_start import (  # Prefect loads only here
        heartbeats_only_where_read,
        start_embedded_server,
    )

    server = start_embedded_server()
    from kqc.flows.ingest import Places, ingest_flow, reading_early  # loads while it boots

    places = Places(db=where.db, archive=where.archive, quarantine=where.quarantine)
    # The first files are read and prepared while the server boots; the flow
    # run takes them, or reads again what changed meanwhile.
    with reading_early(paths, places, while_booting=server.process is not None):
        server.wait()
        # Checked here, not first: the schema check's imports (pandera, polars)
        # are loaded with the flow during the boot, and still no file has moved.
        _check_thresholds()
        with heartbeats_only_where_read(server):
            return ingest_flow(paths, places)  # an IngestRun: the outcomes, what was left


def _hand_to_watch(paths: list[Path], where: Locations) -> Any:
    """The outcomes of the files as the running watch ingested them, or None
    when no watch serves these places (kqc.service.handoff)."""
    from kqc.service import handoff

    if not handoff.handoff_path(where.logs).exists():
        return None
    # The thresholds are not checked here: the watch serves only a request
    # with its own settings, and its thresholds file is checked by every run
    # it makes; a request it refuses is run here, which checks them first.
    target = handoff.Where.of(where.db, where.archive, where.quarantine)
    answer = handoff.hand_over(where.logs, target, paths)
    if answer is None:
        return None
    from kqc.errors import KqcError
    from kqc.files.survey import LeftAlone
    from kqc.pipeline.outcomes import FileOutcome, IngestRun

    if "error" in answer:
        error = KqcError(str(answer["error"]))
        error.exit_code = 2 if answer.get("exit_code") == 2 else 1
        raise error
    run = IngestRun([FileOutcome(**o) for o in answer["outcomes"]])
    run.left = [LeftAlone(Path(p), reason) for p, reason in answer["left"]]
    run.snapshot_problem = answer.get("snapshot_problem")
    return run


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


def _show_left(outcomes: Any, base: Path, stream: Any) -> None:
    """Every inbox entry the run left alone, with why: no file waits without a word."""
    from kqc.files.names import printable_name

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
    from kqc.cli.progress import shown_progress, wanted

    # A bar on a terminal only; piped or --json, nothing but the outcomes.
    with shown_progress(wanted(as_json)):
        outcomes = _run_ingest(targets, where)
    _show_outcomes(outcomes, as_json, where.db.parent)
    raise typer.Exit(max(_exit_code(outcomes), _snapshot_code(outcomes)))


# The watch's own options, shared by `kqc watch` and `kqc serve`.
WatchedInbox = Annotated[
    Path | None,
    typer.Argument(
        metavar="INBOX",
        help="Folder to watch (default: inbox/ beside the db).",
        show_default=False,
    ),
]
IntervalOption = Annotated[
    float | None,
    typer.Option(
        "--interval",
        help="Seconds between full rescans, besides file-system events"
        " (default: $KQC_WATCH_INTERVAL, else 5).",
        show_default=False,
    ),
]
SettleOption = Annotated[
    float | None,
    typer.Option(
        "--settle",
        help="Seconds since a file's last write before it is taken"
        " (default: $KQC_STABLE_SECONDS, else 1).",
        show_default=False,
    ),
]


def watch(
    inbox_dir: WatchedInbox = None,
    db: DbOption = None,
    archive: ArchiveOption = None,
    quarantine: QuarantineOption = None,
    interval: IntervalOption = None,
    settle: SettleOption = None,
) -> None:
    """Keep ingesting what is dropped into INBOX: one long-lived process, a Prefect
    flow run per batch of settled files, one line per file; Ctrl-C stops it."""
    from kqc.process import signals

    signals.hold()  # first: every thread started from here on inherits the block
    where = locations(db, inbox=inbox_dir, archive=archive, quarantine=quarantine)
    check_all()
    _check_thresholds()
    from kqc.service.watch import run as run_watch

    raise typer.Exit(run_watch(where, interval, settle))


def serve(
    inbox_dir: WatchedInbox = None,
    host: Annotated[
        str, typer.Option("--host", help="Address the console listens on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the console.")] = 8765,
    db: DbOption = None,
    archive: ArchiveOption = None,
    quarantine: QuarantineOption = None,
    interval: IntervalOption = None,
    settle: SettleOption = None,
) -> None:
    """The live watch of INBOX and the QA console in one process; prints the console's and
    Prefect's addresses; Ctrl-C stops it."""
    from kqc.process import signals

    signals.hold()  # first: every thread started from here on inherits the block
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port: use 1 to 65535")
    where = locations(db, inbox=inbox_dir, archive=archive, quarantine=quarantine)
    check_all()
    _check_thresholds()
    from kqc.service.serve import run as run_serve

    raise typer.Exit(run_serve(where, host, port, interval, settle))


_DEMO_MARK = ".kqc-demo"


def _sample_files() -> list[Path]:
    root = resources.files("kqc.sample_data")
    return sorted(
        Path(str(entry))
        for entry in root.iterdir()
        if entry.is_file() and not entry.name.startswith((".", "_")) and entry.name != "README.md"
    )


def _show_statuses(db: Path) -> None:
    from kqc.store import batch_statuses

    _print_frame(
        batch_statuses(db),
        Format.table,
        "batch status",
        ["batch_id", "product_name", "status", "open_flags"],
    )


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
