"""The commands on the record regulators and QA read: `kqc report` writes the
HTML report, `kqc verify` checks every hash chain and kept file, `kqc publish`
writes the read-only snapshot (and with --parquet its export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kqc.cli.app import _error
from kqc.cli.options import ArchiveOption, DbOption, QuarantineOption
from kqc.config.settings import locations
from kqc.core import terminal
from kqc.errors import UsageError
from kqc.process import quiet


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
