"""Where things live: the database, and the inbox, archive and quarantine
folders beside it unless told otherwise (CONTRACT §3, §4)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kqc.errors import UsageError

DEFAULT_DB = "kqc.duckdb"


@dataclass(frozen=True)
class Locations:
    db: Path
    inbox: Path
    archive: Path
    quarantine: Path

    @property
    def logs(self) -> Path:
        return self.db.parent / "logs"


def resolve_db(db: Path | None) -> Path:
    chosen = db or (Path(os.environ["KQC_DB"]) if os.environ.get("KQC_DB") else Path(DEFAULT_DB))
    chosen = chosen.expanduser().absolute()
    if not chosen.parent.is_dir():
        raise UsageError(
            f"the folder for the database, {chosen.parent}, does not exist:"
            " create it, or pass --db or set KQC_DB to a path in an existing folder"
        )
    if chosen.is_dir():
        raise UsageError(f"{chosen} is a folder, not a database file: pass --db with a file path")
    return chosen


def locations(
    db: Path | None,
    *,
    inbox: Path | None = None,
    archive: Path | None = None,
    quarantine: Path | None = None,
) -> Locations:
    db_path = resolve_db(db)
    home = db_path.parent
    return Locations(
        db=db_path,
        inbox=(inbox or home / "inbox").absolute(),
        archive=(archive or home / "archive").absolute(),
        quarantine=(quarantine or home / "quarantine").absolute(),
    )
