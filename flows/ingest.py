"""The ingest flow: every dropped file ends stored and archived, duplicate and
archived, rejected and quarantined with its errors.csv, or (when the database
could not take it) still in the inbox to be tried again. After the files, the
touched batches are evaluated (and the findings raised or reopened announced
as Prefect events, kqc.flows.events), the read-only snapshot for regulators is
published, and the run leaves a table of what it changed in Prefect. How far
it has come is told to kqc.process.progress (a terminal's progress bar).

One run at a time per database (kqc.process.runlock): a second run waits, then finds
only what the first left. Crash safety rests on order: a file's rows commit in
one transaction before the file is moved, so a run killed anywhere leaves each
file stored or not; a rerun finds a stored-but-unmoved file ingested and files
it away, and the evaluation queue, committed with the rows, is worked off by
the next run. `faults.point` marks where the crash tests kill the process."""

from __future__ import annotations

import contextvars
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from kqc import store
from kqc.config.input_limits import check_all
from kqc.config.settings import lock_wait_seconds, stable_seconds
from kqc.errors import KqcError
from kqc.files import inbox
from kqc.flows.events import announce, before_judging
from kqc.pipeline import early_read, triage
from kqc.pipeline.evaluate import Evaluated, evaluate_pending
from kqc.pipeline.outcomes import FileOutcome, IngestRun
from kqc.pipeline.prepare import Prepared, Streamed, prepare_path
from kqc.pipeline.prepare_many import prepare_many
from kqc.pipeline.triage import Pending, Places
from kqc.process import faults, progress, runlock
from kqc.store.connection import LockWaitExpired
from kqc.store.publish import publish
from kqc.store.run_summary import run_changes, summary_markdown, table_rows


@task(cache_policy=NO_CACHE)
def discover_files(paths: list[Path], places: Places) -> inbox.Survey:
    return inbox.survey(paths, exclude=[places.archive, places.quarantine])


Loaded = inbox.DroppedFile | inbox.Refused | None


@task(cache_policy=NO_CACHE)
def load_files(paths: list[Path]) -> list[Loaded]:
    """Each file's bytes, hash and identity; a refusal for what is not a
    regular file (never opened for reading); None when it is still being
    written or was taken away since the scan."""
    loaded: list[Loaded] = []
    quiet_for = stable_seconds()
    early = early_read.current()
    for path in paths:
        dropped: Loaded = early.take_loaded(path) if early is not None else None
        if dropped is not None:
            faults.point("loaded")
            loaded.append(dropped)
            continue
        try:
            if not inbox.settled(path, quiet_for):
                loaded.append(None)
                continue
            dropped = inbox.read_complete(path)
        except FileNotFoundError:
            dropped = None
        except OSError as err:  # unreadable (permissions, I/O): left for the operator
            dropped = inbox.Refused(path, f"could not be read ({err.strerror or err})")
        if isinstance(dropped, inbox.DroppedFile):
            faults.point("loaded")
        loaded.append(dropped)
    return loaded


@task(cache_policy=NO_CACHE)
def known_files(
    db: Path, wanted: dict[str, list[str]]
) -> tuple[dict[str, store.RecordedDrop], set[str]]:
    """What the database already knows of these bytes: the drops recorded by a
    run killed before filing them, and the bytes ingested before."""
    return store.known_files(db, wanted)


@task(cache_policy=NO_CACHE)
def prepare_files(files: list[tuple[str, bytes]]) -> list[Prepared]:
    early = early_read.current()
    found = [early.take_prepared_bytes(data) if early else None for _, data in files]
    todo = [f for f, done in zip(files, found, strict=True) if done is None]
    rest = iter(prepare_many(todo) if todo else [])
    prepared = [done if done is not None else next(rest) for done in found]
    faults.point("validated")
    return prepared


@task(cache_policy=NO_CACHE)
def prepare_large(name: str, path: Path, fingerprint: str | None) -> Prepared | Streamed:
    early = early_read.current()
    prepared = early.take_prepared_path(name, path, fingerprint) if early is not None else None
    if prepared is None:
        prepared = prepare_path(name, path, fingerprint=fingerprint)
    faults.point("validated")
    if isinstance(prepared, Streamed) and progress.active():
        # Its rows are read as the store takes them: counted on their way.
        prepared.chunks = progress.CountingRows(prepared.chunks)
    return prepared


@task(cache_policy=NO_CACHE)
def store_group(db: Path, files: list[store.Incoming], read: list[inbox.DroppedFile]) -> list[str]:
    def still_the_files_read() -> None:
        # The last moment before the commit: a file replaced, appended to or
        # deleted since it was read is not stored (the whole group rolls back
        # and the others are stored without it).
        faults.point("before_commit")
        for dropped in read:
            changed = dropped.still_as_read()
            if changed is not None:
                raise inbox.FileChanged(dropped.path, changed)

    statuses = store.store_files(db, files, before_commit=still_the_files_read)
    faults.point("after_commit")
    return list(statuses)


@task(cache_policy=NO_CACHE)
def record_rejection(db: Path, record: store.FileRecord) -> None:
    store.store_rejected(db, file=record)


@task(cache_policy=NO_CACHE)
def file_group(moves: list[tuple[inbox.DroppedFile, triage.Move]]) -> list[Path | Exception]:
    """File each file's bytes as read at its place (writing its errors.csv
    first when it has one); a file that cannot be filed stays in the inbox,
    and says why."""
    done: list[Path | Exception] = []
    for dropped, move in moves:
        try:
            if move.errors_csv is not None:
                inbox.write_atomic(inbox.errors_path(move.target), move.errors_csv)
            done.append(inbox.file_into(dropped, move.target))
        except (OSError, inbox.FileChanged) as err:
            done.append(err)
    return done


def _ingest_group(group: list[inbox.DroppedFile], places: Places) -> list[FileOutcome]:
    """One group of files: what the database knows of them (one query), each
    prepared, all stored in one transaction, then each filed away."""
    taken: set[Path] = set()
    items = [triage.places_for(d, places, taken) for d in group]
    wanted = {i.dropped.sha256: [str(i.archived), str(i.quarantined)] for i in items}
    recorded, ingested = known_files(places.db, wanted)
    incoming: list[tuple[Pending, store.Incoming]] = []
    to_prepare: list[Pending] = []
    for item in items:
        sha = item.dropped.sha256
        earlier = recorded.get(sha)
        if earlier is not None and earlier.status != "rejected":
            triage.finish_filing(item, earlier)
        elif sha in ingested:
            incoming.append((item, triage.seen_before(item)))
        else:
            to_prepare.append(item)
    for item, prepared in zip(to_prepare, _prepare_all(to_prepare), strict=True):
        item.prepared = prepared
        if isinstance(prepared, Prepared) and not prepared.accepted:
            triage.reject(item, prepared)
            if item.dropped.sha256 not in recorded:
                incoming.append((item, triage.rejected_incoming(item, prepared)))
            continue
        incoming.append((item, triage.incoming(item, prepared)))
    if incoming:
        _store(places.db, incoming)
    moving = [i for i in items if i.move is not None]
    filed = file_group([(i.dropped, i.move) for i in moving if i.move is not None])
    for item, final in zip(moving, filed, strict=True):
        assert item.outcome is not None
        if isinstance(final, Exception):
            item.outcome = triage.failed(
                item.dropped.path, item.dropped.sha256, f"could not be filed: {final}"
            )
        else:
            item.outcome = replace(item.outcome, stored_as=str(final))
    return [i.outcome for i in items if i.outcome is not None]


def _prepare_all(items: list[Pending]) -> list[Prepared | Streamed]:
    progress.phase("reading")
    small = [(i.dropped.path.name, i.dropped.data) for i in items if not i.dropped.by_path]
    prepared_small = iter(prepare_files(small) if small else [])
    return [
        # Read through the descriptor that was hashed, never the inbox name again.
        prepare_large(i.dropped.path.name, i.dropped.source, i.dropped.fingerprint)
        if i.dropped.by_path
        else next(prepared_small)
        for i in items
    ]


def _store(db: Path, incoming: list[tuple[Pending, store.Incoming]]) -> None:
    """Store the group in one transaction and set each file's outcome. When
    the group fails for any reason but a held database, each file is tried
    on its own, so one file the database refuses does not hold back the rest."""
    progress.phase("storing")
    try:
        statuses = store_group(db, [f for _, f in incoming], [i.dropped for i, _ in incoming])
    except store.RejectedWhileStoring:
        # Only a streamed file finds a problem this late, and it is stored alone.
        _late_rejection(db, incoming[0][0])
        return
    except LockWaitExpired:
        raise
    except Exception:
        if len(incoming) == 1:
            raise
        for one in incoming:
            _store_alone(db, one)
        return
    for (item, _), status in zip(incoming, statuses, strict=True):
        triage.set_stored(item, status)


def _late_rejection(db: Path, item: Pending) -> None:
    prepared = item.prepared
    assert prepared is not None
    triage.reject(item, prepared)
    record_rejection(db, triage.rejection_record(item, prepared))


def _store_alone(db: Path, one: tuple[Pending, store.Incoming]) -> None:
    item = one[0]
    try:
        _store(db, [one])
    except LockWaitExpired:
        raise
    except Exception as err:
        get_run_logger().exception("%s could not be stored", item.dropped.path)
        item.move = None
        item.outcome = triage.failed(item.dropped.path, item.dropped.sha256, str(err))


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def evaluate_batches(db: Path) -> Evaluated:
    faults.point("evaluate")
    return evaluate_pending(db)


# Artifact keys: each run adds a version under the same key, so the Prefect UI
# shows the latest run's table and keeps the history of earlier ones.
BATCHES_ARTIFACT = "kqc-ingest-batches"
SUMMARY_ARTIFACT = "kqc-ingest-summary"
HEADS_ARTIFACT = "kqc-chain-heads"


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def publish_snapshot(db: Path) -> Path:
    faults.point("publish")
    snapshot = publish(db)
    # The heads beside the snapshot and in Prefect, out of the database's
    # reach: `kqc verify` then shows a consistent rewrite of a whole chain.
    recorded = json.loads(store.write_heads(db).read_text())["heads"]
    create_table_artifact(
        [{"table": t, "id": h["id"], "row_hash": h["row_hash"]} for t, h in recorded.items()],
        key=HEADS_ARTIFACT,
        description="The last row of each hash chain after this run: keep it; `kqc verify"
        " --expect TABLE:ID:HASH` shows whether the chain still holds it.",
    )
    return snapshot


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


def _after_files(db: Path, outcomes: list[FileOutcome], since: datetime) -> str | None:
    """Evaluate, announce what changed, publish the snapshot, record the run.
    Each step that fails is logged and leaves the stored files as they are: a
    failed evaluation keeps its batches queued for the next run, which also
    publishes again. Returns why the snapshot was not published (the last
    good one is kept), if so."""
    logger = get_run_logger()
    ingested = [o.sha256 for o in outcomes if o.status == "ingested"]
    before = before_judging(db)
    progress.phase("judging")
    announcing: threading.Thread | None = None
    try:
        evaluated = evaluate_batches(db)
        logger.info(
            "evaluated %d batch(es), %d finding(s)", len(evaluated.batches), evaluated.flags
        )
    except Exception:
        logger.exception("evaluation failed; the batches stay queued for the next run")
    else:
        # Announced as soon as judged: a critical finding does not wait for
        # the snapshot (a failed evaluation changed nothing to announce).
        # Beside the publishing, whose reading back is DuckDB's on every
        # core while the events are Python's (0.4 s for 200 events at ten
        # million results); in the run's context, so each event names it.
        announcing = threading.Thread(
            target=contextvars.copy_context().run,
            args=(announce, db, ingested, before, since),
            name="kqc-announce",
        )
        announcing.start()
    progress.phase("publishing")
    snapshot: Path | None = None
    problem: str | None = None
    try:
        snapshot = publish_snapshot(db)
        logger.info("snapshot for regulators: %s", snapshot)
    except Exception as err:
        problem = err.message if isinstance(err, KqcError) else f"{type(err).__name__}: {err}"
        logger.error("the snapshot could not be published, the last good one is kept: %s", problem)
    finally:
        if announcing is not None:
            announcing.join()
    try:
        changes = summarize_run(db, ingested, since)
        record_run(changes, [o.status for o in outcomes], snapshot)
    except Exception:
        logger.exception("the run's summary could not be recorded in Prefect")
    return problem


@contextmanager
def reading_early(paths: list[Path], places: Places, *, while_booting: bool) -> Iterator[None]:
    """While Prefect's embedded server boots (`while_booting`), the first
    files are read and prepared for the flow run that follows inside the
    block (kqc.pipeline.early_read); what it did not take is let go at the end."""
    if not while_booting:
        yield
        return
    early_read.begin(paths, [places.archive, places.quarantine])
    try:
        yield
    finally:
        early_read.end()


@flow(name="kqc-ingest", log_prints=False, validate_parameters=False)
def ingest_flow(paths: list[Path], places: Places) -> IngestRun:
    """Ingest every file under `paths`, then evaluate the batches they touched
    (every batch when the thresholds changed), publish the snapshot and record
    what the run changed."""
    check_all()  # a bad KQC_* limit stops the run before any file is read or moved
    with runlock.ingest_run(places.db, lock_wait_seconds()):
        return _ingest_all(paths, places)


def _ingest_all(paths: list[Path], places: Places) -> IngestRun:
    logger = get_run_logger()
    since = datetime.now(UTC)
    outcomes = IngestRun()
    locked: LockWaitExpired | None = None
    found = discover_files(paths, places)
    outcomes.left.extend(found.left)
    total, done = len(found.entries), 0
    progress.files(done, total)
    for group in triage.groups(found.entries):
        progress.phase("reading")
        ready: list[inbox.DroppedFile] = []
        for path, dropped in zip(group, load_files(group), strict=True):
            if dropped is None:
                if os.path.lexists(path):
                    outcomes.left.append(inbox.LeftAlone(path, "still being written"))
                    logger.info("%s is still being written; left for the next run", path)
            elif isinstance(dropped, inbox.Refused):
                outcomes.append(triage.failed(path, "", dropped.reason))
            elif locked is not None:
                # The database stayed held for the whole wait: the other files
                # stay in the inbox too, without waiting once more each.
                dropped.release()
                outcomes.append(triage.failed(path, dropped.sha256, locked.message))
            else:
                ready.append(dropped)
        if len(ready) < len(group):
            done += len(group) - len(ready)
            progress.files(done, total)
        # A file read by path (too large to hold) goes in a group of its own.
        for part in triage.by_holding(ready):
            try:
                outcomes += _ingest_part(part, places, locked)
            except LockWaitExpired as err:
                locked = err
                logger.warning("%d file(s) left in the inbox: %s", len(part), err)
                outcomes += [triage.failed(d.path, d.sha256, err.message) for d in part]
            finally:
                for dropped in part:
                    dropped.release()
            done += len(part)
            progress.files(done, total)
    if places.db.exists() and locked is None:
        outcomes.snapshot_problem = _after_files(places.db, outcomes, since)
    return outcomes


def _ingest_part(
    part: list[inbox.DroppedFile], places: Places, locked: LockWaitExpired | None
) -> list[FileOutcome]:
    logger = get_run_logger()
    if locked is not None:
        return [triage.failed(d.path, d.sha256, locked.message) for d in part]
    try:
        done = _ingest_group(part, places)
    except LockWaitExpired:
        raise
    except Exception as err:  # a group's failure must not stop the others
        # The files stay where they were dropped: nothing stored, nothing lost.
        if not isinstance(err, inbox.FileChanged):
            logger.exception("%d file(s) could not be stored", len(part))
        reason = err.message if isinstance(err, KqcError) else str(err)
        done = [triage.failed(d.path, d.sha256, reason) for d in part]
    # One record per group, a line per file: a thousand log records
    # through Prefect's API cost seconds.
    logger.info("\n".join(f"{o.file}: {o.status}" for o in done))
    return done
