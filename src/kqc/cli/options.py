"""The options several commands take, declared once so each reads and helps
the same everywhere: the database (checked as it is read), the inbox, archive
and quarantine folders, and --out for an exported file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kqc.cli.app import _check_database

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
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Write a .csv or .xlsx file instead.", show_default=False),
]
