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


# How long the pipeline waits for the live database (or another ingest run)
# before it leaves the files in the inbox and says why: long enough for a
# person to close a SQL client, short enough that a stuck holder is reported.
DEFAULT_LOCK_WAIT_SECONDS = 60.0
LOCK_WAIT_ENV = "KQC_LOCK_WAIT"


def lock_wait_seconds() -> float:
    """Seconds to wait for a database another process holds ($KQC_LOCK_WAIT)."""
    return _seconds(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT_SECONDS)


def _seconds(env: str, default: float) -> float:
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):  # also refuses nan
        raise UsageError(
            f"{env}={text!r} is not a number of seconds: set it to e.g. {default:g}, or unset it"
        )
    return seconds


# A dropped file counts as complete once its size and mtime have not changed
# for this long: a lab's export or a copy over the network pauses between
# writes, and half a file must never be read as a whole one.
DEFAULT_STABLE_SECONDS = 1.0
STABLE_ENV = "KQC_STABLE_SECONDS"


def stable_seconds() -> float:
    """Seconds a dropped file must stay unchanged before it is read ($KQC_STABLE_SECONDS)."""
    return _seconds(STABLE_ENV, DEFAULT_STABLE_SECONDS)


GROUP_FILES_ENV = "KQC_GROUP_FILES"
# Files stored in one transaction: one commit (and one chain seal, one
# amendment search) for a thousand small files instead of one each.
DEFAULT_GROUP_FILES = 1_000


def group_files() -> int:
    """How many files one transaction may hold ($KQC_GROUP_FILES)."""
    text = os.environ.get(GROUP_FILES_ENV, "").strip()
    if not text:
        return DEFAULT_GROUP_FILES
    if not text.isdigit() or int(text) < 1:
        raise UsageError(
            f"{GROUP_FILES_ENV}={text!r} is not a whole number of files:"
            f" set it to e.g. {DEFAULT_GROUP_FILES}, or unset it"
        )
    return int(text)


MAX_EVENTS_ENV = "KQC_MAX_EVENTS"
# Findings a run announces one by one (and, apart, status changes): a file of
# a few samples raises a handful, while a whole export of bad data can raise
# a hundred thousand, which would mean as many e-mails from an automation
# and a minute of the Prefect server's time. A hundred is more than anyone
# reads one by one, and the summary past it names its worst severity; a
# thousand of each cost a 1,000-file ingest a second of its 12 (the server
# stores and matches every event while the run still needs the cores).
# Past this many, the rest are counted in one event (kqc.pipeline.events).
DEFAULT_MAX_EVENTS = 100


def max_events() -> int:
    """How many findings (and status changes) a run announces one by one ($KQC_MAX_EVENTS)."""
    text = os.environ.get(MAX_EVENTS_ENV, "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_EVENTS
    if not text.isdigit():
        raise UsageError(
            f"{MAX_EVENTS_ENV}={text!r} is not a whole number of events:"
            f" set it to e.g. {DEFAULT_MAX_EVENTS} (0 sends only the count), or unset it"
        )
    return int(text)


def check_environment() -> None:
    """Every setting above read once, so a bad value stops a command with one
    sentence (UsageError, exit 2) before any file moves, rather than in the
    middle of a run. kqc.config.input_limits.check_all calls it with the limits."""
    lock_wait_seconds()
    stable_seconds()
    group_files()
    max_events()
