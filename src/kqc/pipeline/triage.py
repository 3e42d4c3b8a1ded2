"""What becomes of each dropped file: the decisions of an ingest run, without
Prefect.

The ingest flow (kqc.flows.ingest) reads, prepares, stores and files away;
this module decides, for each file, where it would be archived or
quarantined, whether the database already holds it, what record it leaves
and what outcome the person who dropped it is told. Every outcome is built
here, by keyword, from the file it is about.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kqc import store
from kqc.config.settings import group_files
from kqc.files import inbox
from kqc.pipeline.outcomes import FileOutcome
from kqc.pipeline.prepare import Prepared, Streamed


@dataclass(frozen=True)
class Places:
    db: Path
    archive: Path
    quarantine: Path


@dataclass(frozen=True)
class Move:
    """Where a file goes once its group is stored, and the errors.csv written
    beside it (a quarantined file only)."""

    target: Path
    errors_csv: bytes | None = None


@dataclass
class Pending:
    """One file of a group on its way: where it would go, and (once decided)
    what it became."""

    dropped: inbox.DroppedFile
    archived: Path
    quarantined: Path
    outcome: FileOutcome | None = None
    prepared: Prepared | Streamed | None = None
    move: Move | None = None

    @property
    def name(self) -> str:
        return inbox.printable_name(self.dropped.path.name)


def failed(path: Path, sha256: str, reason: str) -> FileOutcome:
    """The outcome of a file left in the inbox, with why."""
    return FileOutcome(
        file=inbox.printable_name(path.name),
        sha256=sha256,
        status="failed",
        rows=0,
        errors=0,
        reason=reason,
    )


def file_record(
    dropped: inbox.DroppedFile,
    kind: str | None,
    errors: int,
    target: Path,
    errors_csv: bytes | None = None,
) -> store.FileRecord:
    return store.FileRecord(
        # Faithful and printable: a newline or a byte that is not UTF-8 in a
        # name is shown escaped, never lost, never breaking a listing.
        file_name=inbox.printable_name(dropped.path.name),
        sha256=dropped.sha256,
        kind=kind,
        received_at=datetime.now(UTC),
        size_bytes=dropped.size,  # also for a file too large to be read
        error_count=errors,
        stored_as=str(target),
        # The errors.csv written beside a quarantined file is in the chain too.
        errors_sha256=hashlib.sha256(errors_csv).hexdigest() if errors_csv is not None else None,
    )


def rejection_record(item: Pending, prepared: Prepared | Streamed) -> store.FileRecord:
    errors = item.move.errors_csv if item.move is not None else None
    return file_record(
        item.dropped, prepared.kind, len(prepared.problems), item.quarantined, errors
    )


def places_for(dropped: inbox.DroppedFile, places: Places, taken: set[Path]) -> Pending:
    """Where the file would be archived or quarantined; two files of one
    group with one name (from two subfolders) get two places."""
    raw_name = dropped.path.name
    archived = inbox.linked_into(dropped.path, places.archive) or inbox.target_for(
        places.archive, raw_name, dropped.sha256, taken
    )
    quarantined = inbox.linked_into(dropped.path, places.quarantine) or inbox.target_for(
        places.quarantine, raw_name, dropped.sha256, taken
    )
    taken.update((archived, quarantined))
    return Pending(dropped, archived, quarantined)


def unused(prepared: Prepared | Streamed) -> list[str] | None:
    """The columns the outcome names as not used, for a file whose kind was told."""
    return None if prepared.kind is None else list(prepared.unused_columns)


def reject(item: Pending, prepared: Prepared | Streamed) -> None:
    """The file goes to quarantine with its errors.csv."""
    problems = prepared.problems
    item.move = Move(item.quarantined, inbox.errors_csv(problems))
    item.outcome = FileOutcome(
        file=item.name,
        sha256=item.dropped.sha256,
        status="rejected",
        rows=0,
        errors=len(problems),
        stored_as=str(item.quarantined),
        errors_csv=str(inbox.errors_path(item.quarantined)),
        kind=prepared.kind,
        reason=problems[0].problem if problems else None,
        unused_columns=unused(prepared),
    )


def finish_filing(item: Pending, earlier: store.RecordedDrop) -> None:
    """A run killed after storing this file but before filing it away left
    its row: finish that filing and record nothing a second time."""
    item.move = Move(Path(earlier.stored_as))
    item.outcome = FileOutcome(
        file=item.name,
        sha256=item.dropped.sha256,
        status=earlier.status,
        rows=earlier.rows if earlier.status == "ingested" else 0,
        errors=0,
        stored_as=earlier.stored_as,
        kind=earlier.kind,
    )


def seen_before(item: Pending) -> store.Incoming:
    """Bytes ingested before: this drop is recorded, and no row stored twice."""
    return store.Incoming(file_record(item.dropped, None, 0, item.archived))


def rejected_incoming(item: Pending, prepared: Prepared | Streamed) -> store.Incoming:
    """A file refused by validation: its drop is recorded, no row stored."""
    return store.Incoming(rejection_record(item, prepared), rejected=True)


def incoming(item: Pending, prepared: Prepared | Streamed) -> store.Incoming:
    """What the store is handed for a file that was accepted."""
    record = file_record(item.dropped, prepared.kind, 0, item.archived)
    if isinstance(prepared, Streamed):
        return store.Incoming(
            record, results=prepared.chunks, problems_after=lambda: bool(prepared.problems)
        )
    results = prepared.rows if prepared.kind == "results" else None
    register = prepared.rows if prepared.kind == "register" else None
    return store.Incoming(record, results, register)


def set_stored(item: Pending, status: str) -> None:
    """The outcome of a file its group stored: ingested (to the archive) or
    a duplicate of bytes ingested before."""
    if item.outcome is not None:  # rejected: its outcome and move are set
        return
    if status == "duplicate":
        item.outcome = FileOutcome(
            file=item.name, sha256=item.dropped.sha256, status="duplicate", rows=0, errors=0
        )
    else:
        prepared = item.prepared
        assert prepared is not None
        rows = prepared.rows if isinstance(prepared, Streamed) else prepared.rows.height
        item.outcome = FileOutcome(
            file=item.name,
            sha256=item.dropped.sha256,
            status="ingested",
            rows=rows,
            errors=0,
            kind=prepared.kind,
            unused_columns=unused(prepared),
        )
    item.move = Move(item.archived)


# A group shares one transaction: up to this many files, or this many bytes
# of them, at a time (the memory a group's frames take is a few times that).
GROUP_BYTES = 64 << 20


def groups(paths: list[Path]) -> Iterator[list[Path]]:
    most = group_files()
    group: list[Path] = []
    size = 0
    for path in paths:
        try:
            length = os.lstat(path).st_size
        except OSError:
            length = 0
        if group and (len(group) >= most or size + length > GROUP_BYTES):
            yield group
            group, size = [], 0
        group.append(path)
        size += length
    if group:
        yield group


def by_holding(files: list[inbox.DroppedFile]) -> Iterator[list[inbox.DroppedFile]]:
    """The files held in memory as one group; each file read by path (too
    large to hold) in a group of its own."""
    held = [d for d in files if not d.by_path]
    if held:
        yield held
    for d in files:
        if d.by_path:
            yield [d]
