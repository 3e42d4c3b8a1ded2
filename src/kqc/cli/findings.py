"""The commands on flags: `kqc flags` lists them (a page on a terminal, all of
them in json, jsonl, csv or --out), `kqc review` records a QA decision on one
and renews the snapshot for regulators (`_republish`). The table on a
terminal is printed without loading polars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
from kqc.core import terminal
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
    decision: Annotated[
        str,
        typer.Option(
            help="confirm, dismiss, or verify (an approver's second signature on another"
            " person's dismissal of a critical or major finding).",
            show_default=False,
        ),
    ],
    reviewer: Annotated[
        str,
        typer.Option(
            help="The console user who decides and signs (see kqc users list); the"
            " password is asked for, or read from stdin.",
            show_default=False,
        ),
    ],
    note: Annotated[str | None, typer.Option(help="Why; required to dismiss.")] = None,
    db: DbOption = None,
) -> None:
    """Record a signed QA decision on a flag (append-only; its status follows)."""
    from kqc.store import record_review
    from kqc.store.reviews import DECISIONS

    if decision not in DECISIONS:  # said before a password is asked for
        raise UsageError(f"unknown decision '{decision}': use confirm, dismiss or verify")
    where = locations(db)
    signer = sign_in(where.db, reviewer)
    done = record_review(where.db, flag_id, decision, signer, note)
    decided = {"confirm": "confirmed", "dismiss": "dismissed", "verify": "dismissal verified"}
    lines = [
        f"{done.flag_id} ({done.batch_id}, {done.rule}): {decided[done.decision]} by"
        f" {signer.name} at {done.reviewed_at:%Y-%m-%d %H:%M:%S} UTC",
        f"signed by {signer.full_name}, signature {done.signature_id}",
    ]
    if done.awaiting_verification:
        lines.append(
            "a critical or major finding stays open until another approver verifies the"
            f" dismissal: kqc review {done.flag_id} --decision verify --reviewer NAME"
        )
    print("\n".join(terminal.shown(line) for line in lines), flush=True)
    _republish(where.db, f"the decision on flag {done.flag_id}")


def dispose(
    batch_id: Annotated[str, typer.Argument(help="The batch disposed of (see kqc batch).")],
    decision: Annotated[
        str,
        typer.Option(help="release (only a PASS batch), reject or hold.", show_default=False),
    ],
    reviewer: Annotated[
        str,
        typer.Option(
            help="The approver who decides and signs; the password is asked for, or read"
            " from stdin.",
            show_default=False,
        ),
    ],
    note: Annotated[str | None, typer.Option(help="The approver's note.")] = None,
    db: DbOption = None,
) -> None:
    """Record an approver's signed batch disposition (append-only; the latest stands)."""
    from kqc.store.dispositions import DECISIONS, record_disposition

    if decision not in DECISIONS:  # said before a password is asked for
        raise UsageError(f"unknown decision '{decision}': use release, reject or hold")
    where = locations(db)
    signer = sign_in(where.db, reviewer)
    done = record_disposition(where.db, batch_id, decision, signer, note)
    decided = {"release": "released", "reject": "rejected", "hold": "put on hold"}
    lines = [
        f"{done.batch_id}: {decided[done.decision]} by {signer.name}"
        f" at {done.decided_at:%Y-%m-%d %H:%M:%S} UTC",
        f"signed by {signer.full_name}, signature {done.signature_id}",
    ]
    print("\n".join(terminal.shown(line) for line in lines), flush=True)
    _republish(where.db, f"the disposition of batch {done.batch_id}")


def sign_in(db: Path, name: str) -> Any:
    """The console user `name`, once their password (prompt, or stdin's first
    line) is right: a signature needs both components (21 CFR 11.200)."""
    from kqc.cli.users import read_password
    from kqc.store.users import authenticate, find_user

    if find_user(db, name) is None:
        raise UsageError(
            f"no console user '{name}': a decision is signed by a user of `kqc users list`"
            " (add one with `kqc users add NAME --role reviewer`)"
        )
    return authenticate(db, name, read_password(f"Password for {name}: ", confirm=False))


def _republish(db: Path, change: str) -> None:
    """Renew the snapshot and the chain heads beside it, as an ingest run does,
    after a change a regulator can see was committed here: the snapshot never
    reports a decision later than the database does. A regulator holding the
    old snapshot keeps reading it (it is replaced by a rename). When the
    renewal fails the change stays recorded and the command exits 1, saying
    the snapshot is stale and how to renew it, so no one records it twice."""
    from kqc.store.publish import renew_snapshot, snapshot_path

    reason = renew_snapshot(db)
    if reason is not None:
        raise KqcError(
            f"{change} is recorded, but the snapshot for regulators {snapshot_path(db)} is"
            f" now stale, without it ({reason}); once that is fixed, run"
            f" `kqc publish --db {db}` to renew it (do not record the decision again)"
        )
