"""The ingest flow: every dropped file ends stored and archived, duplicate and
archived, rejected and quarantined with its errors.csv, or (when the database
could not take it) still in the inbox to be tried again. After the files, the
touched batches are evaluated, the read-only snapshot for regulators is
published, and the run leaves a table of what it changed in Prefect.

One run at a time per database (kqc.runlock): a second run waits, then finds
only what the first left. Crash safety rests on order: a file's rows commit in
one transaction before the file is moved, so a run killed anywhere leaves each
file stored or not; a rerun finds a stored-but-unmoved file ingested and files
it away, and the evaluation queue, committed with the rows, is worked off by
the next run. `faults.point` marks where the crash tests kill the process."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from kqc import faults, inbox, runlock, store
from kqc.flows.evaluate import Evaluated, evaluate_pending
from kqc.flows.prepare import Prepared, prepare
from kqc.settings import lock_wait_seconds, stable_seconds
from kqc.store.connection import LockWaitExpired
from kqc.store.publish import publish
from kqc.store.run_summary import run_changes, summary_markdown, table_rows


@dataclass(frozen=True)
class Places:
    db: Path
    archive: Path
    quarantine: Path


@dataclass(frozen=True)
class FileOutcome:
    file: str
    sha256: str
    status: str  # ingested | duplicate | rejected | failed (left in the inbox)
    rows: int
    errors: int
    stored_as: str | None = None
    errors_csv: str | None = None
    kind: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@task(cache_policy=NO_CACHE)
def discover_files(paths: list[Path], places: Places) -> list[Path]:
    return inbox.discover(paths, exclude=[places.archive, places.quarantine])


@task(cache_policy=NO_CACHE)
def load_file(path: Path) -> inbox.DroppedFile | None:
    try:
        if not inbox.settled(path, stable_seconds()):
            return None
        return inbox.read_complete(path)
    except FileNotFoundError:  # taken away since the scan: nothing to do
        return None


@task(cache_policy=NO_CACHE)
def recorded_earlier(db: Path, sha256: str, targets: list[Path]) -> store.RecordedDrop | None:
    return store.recorded_drop(db, sha256, [str(t) for t in targets])


@task(cache_policy=NO_CACHE)
def already_ingested(db: Path, sha256: str) -> bool:
    return store.ingested_sha256(db, sha256)


@task(cache_policy=NO_CACHE)
def prepare_file(name: str, data: bytes) -> Prepared:
    faults.point("loaded")
    prepared = prepare(name, data)
    faults.point("validated")
    return prepared


@task(cache_policy=NO_CACHE)
def store_file(db: Path, record: store.FileRecord, prepared: Prepared | None) -> str:
    if prepared is None:
        return store.store_ingested(db, file=record, results=None, register=None)
    results = prepared.rows if prepared.kind == "results" else None
    register = prepared.rows if prepared.kind == "register" else None
    # The crash tests kill inside the open transaction; without KQC_FAULT the
    # store is called exactly as before.
    hook = {"before_commit": lambda: faults.point("before_commit")} if faults.armed() else {}
    status = store.store_ingested(db, file=record, results=results, register=register, **hook)
    faults.point("after_commit")
    return status


@task(cache_policy=NO_CACHE)
def record_rejection(db: Path, record: store.FileRecord) -> None:
    store.store_rejected(db, file=record)


@task(cache_policy=NO_CACHE)
def write_errors(target: Path, prepared: Prepared) -> Path:
    path = inbox.errors_path(target)
    inbox.write_atomic(path, inbox.errors_csv(prepared.problems))
    return path


@task(cache_policy=NO_CACHE)
def file_away(source: Path, target: Path) -> Path:
    return inbox.move_into(source, target)


def _record(
    dropped: inbox.DroppedFile, kind: str | None, errors: int, target: Path
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
    )


def _ingest_one(dropped: inbox.DroppedFile, places: Places) -> FileOutcome:
    raw_name = dropped.path.name
    name = inbox.printable_name(raw_name)
    archived = inbox.linked_into(dropped.path, places.archive) or inbox.target_for(
        places.archive, raw_name, dropped.sha256
    )
    quarantined = inbox.linked_into(dropped.path, places.quarantine) or inbox.target_for(
        places.quarantine, raw_name, dropped.sha256
    )
    # A run killed after storing this file but before filing it away left its
    # row: finish that filing and record nothing a second time.
    earlier = recorded_earlier(places.db, dropped.sha256, [archived, quarantined])
    if earlier is not None and earlier.status != "rejected":
        final = file_away(dropped.path, Path(earlier.stored_as))
        rows = earlier.rows if earlier.status == "ingested" else 0
        return FileOutcome(
            name, dropped.sha256, earlier.status, rows, 0, str(final), kind=earlier.kind
        )
    if already_ingested(places.db, dropped.sha256):
        store_file(places.db, _record(dropped, None, 0, archived), None)
        final = file_away(dropped.path, archived)
        return FileOutcome(name, dropped.sha256, "duplicate", 0, 0, str(final))
    prepared = prepare_file(raw_name, dropped.data)
    if not prepared.accepted:
        if earlier is None:
            record_rejection(
                places.db, _record(dropped, prepared.kind, len(prepared.problems), quarantined)
            )
        report = write_errors(quarantined, prepared)
        final = file_away(dropped.path, quarantined)
        return FileOutcome(
            name,
            dropped.sha256,
            "rejected",
            0,
            len(prepared.problems),
            str(final),
            str(report),
            prepared.kind,
            prepared.problems[0].problem,
        )
    status = store_file(places.db, _record(dropped, prepared.kind, 0, archived), prepared)
    final = file_away(dropped.path, archived)
    rows = prepared.rows.height if status == "ingested" else 0
    return FileOutcome(name, dropped.sha256, status, rows, 0, str(final), kind=prepared.kind)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def evaluate_batches(db: Path) -> Evaluated:
    faults.point("evaluate")
    return evaluate_pending(db)


# Artifact keys: each run adds a version under the same key, so the Prefect UI
# shows the latest run's table and keeps the history of earlier ones.
BATCHES_ARTIFACT = "kqc-ingest-batches"
SUMMARY_ARTIFACT = "kqc-ingest-summary"


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def publish_snapshot(db: Path) -> Path:
    faults.point("publish")
    return publish(db)


@task(cache_policy=NO_CACHE)
def summarize_run(db: Path, sha256s: list[str], since: datetime) -> pl.DataFrame:
    return run_changes(db, sha256s, since)


@task(cache_policy=NO_CACHE)
def record_run(changes: pl.DataFrame, file_statuses: list[str], snapshot: Path | None) -> None:
    create_table_artifact(
        table_rows(changes),
        key=BATCHES_ARTIFACT,
        description="Batches this run touched, each with its status and the flags the run"
        " raised, reopened or resolved.",
    )
    create_markdown_artifact(
        summary_markdown(changes, file_statuses, snapshot),
        key=SUMMARY_ARTIFACT,
        description="What this ingest run did, in a few lines.",
    )


def _after_files(db: Path, outcomes: list[FileOutcome], since: datetime) -> None:
    """Evaluate, publish the snapshot, record the run. Each step that fails is
    logged and leaves the stored files as they are: a failed evaluation keeps
    its batches queued for the next run, which also publishes again."""
    logger = get_run_logger()
    try:
        evaluated = evaluate_batches(db)
        logger.info(
            "evaluated %d batch(es), %d finding(s)", len(evaluated.batches), evaluated.flags
        )
    except Exception:
        logger.exception("evaluation failed; the batches stay queued for the next run")
    snapshot: Path | None = None
    try:
        snapshot = publish_snapshot(db)
        logger.info("snapshot for regulators: %s", snapshot)
    except Exception:
        logger.exception("the snapshot could not be published; the previous one stays in place")
    try:
        ingested = [o.sha256 for o in outcomes if o.status == "ingested"]
        changes = summarize_run(db, ingested, since)
        record_run(changes, [o.status for o in outcomes], snapshot)
    except Exception:
        logger.exception("the run's summary could not be recorded in Prefect")


@flow(name="kqc-ingest", log_prints=False, validate_parameters=False)
def ingest_flow(paths: list[Path], places: Places) -> list[FileOutcome]:
    """Ingest every file under `paths`, then evaluate the batches they touched
    (every batch when the thresholds changed), publish the snapshot and record
    what the run changed."""
    with runlock.ingest_run(places.db, lock_wait_seconds()):
        return _ingest_all(paths, places)


def _ingest_all(paths: list[Path], places: Places) -> list[FileOutcome]:
    logger = get_run_logger()
    since = datetime.now(UTC)
    outcomes: list[FileOutcome] = []
    locked: LockWaitExpired | None = None
    for path in discover_files(paths, places):
        dropped = load_file(path)
        if dropped is None:
            if path.exists():
                logger.info("%s is still being written; left for the next run", path)
            continue
        if locked is not None:
            # The database stayed held for the whole wait: the other files
            # stay in the inbox too, without waiting once more each.
            outcome = FileOutcome(path.name, dropped.sha256, "failed", 0, 0, reason=locked.message)
            outcomes.append(outcome)
            continue
        try:
            outcome = _ingest_one(dropped, places)
        except Exception as err:  # one file's failure must not stop the others
            # The file stays where it was dropped: nothing stored, nothing lost.
            if isinstance(err, LockWaitExpired):
                locked = err
                logger.warning("%s left in the inbox: %s", path, err)
            else:
                logger.exception("%s could not be stored", path)
            outcome = FileOutcome(path.name, dropped.sha256, "failed", 0, 0, reason=str(err))
        logger.info("%s: %s", path.name, outcome.status)
        outcomes.append(outcome)
    if places.db.exists() and locked is None:
        _after_files(places.db, outcomes, since)
    return outcomes
