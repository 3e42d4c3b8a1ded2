"""The commands on flags: `kqc flags` lists them (a page on a terminal, all of
them in json, jsonl, csv or --out), `kqc review` records a QA decision on one
and renews the snapshot for regulators (`_republish`). The table on a
terminal is printed without loading polars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kqc.cli.app import _exit_while_open
from kqc.cli.options import DbOption, OutOption
from kqc.cli.render import (
    FORMAT_HELP,
    Format,
    _cell,
    _check_export,
    _export,
    _print_frame,
    _text_table,
)
from kqc.config.settings import locations
from kqc.errors import KqcError, UsageError

_FLAG_COLUMNS = ["flag_id", "batch_id", "rule", "analyte", "severity", "status", "message"]


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
