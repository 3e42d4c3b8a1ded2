"""Writing dropped files: each group in one transaction, all of it or none of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from kqc.core.records import REGISTER_SCHEMA, RESULT_SCHEMA
from kqc.store.chain import CHAINS, seal
from kqc.store.connection import connect, registered, run
from kqc.store.digests import RESULTS, Chunk, Digest, canonical_frame, chunk_of, epoch_us
from kqc.store.errors import DatabaseLocked, StoreError
from kqc.store.ledger import BATCHES, record, record_rows, record_supersessions


@dataclass(frozen=True)
class FileRecord:
    file_name: str
    sha256: str
    kind: str | None
    received_at: datetime
    size_bytes: int
    error_count: int
    stored_as: str
    # SHA-256 of the <name>.errors.csv written beside a quarantined file, so
    # `kqc verify` can tell when that list was edited; None when none was.
    errors_sha256: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One file for `store_files`: its record, and its rows when it is to be
    ingested (`rejected` records a file refused by validation). `results` may
    be a frame or, for a file too large to hold, its validated chunks in file
    order; `problems_after` then says, once they are consumed, whether the
    file turned out bad (the whole group is rolled back and it is rejected)."""

    record: FileRecord
    results: pl.DataFrame | Iterable[pl.DataFrame] | None = None
    register: pl.DataFrame | None = None
    rejected: bool = False
    problems_after: Callable[[], bool] | None = None


class RejectedWhileStoring(StoreError):
    """A streamed file showed a problem only once all of it was read: nothing
    of the group it was stored with is kept."""


_RESULT_COLUMNS = [c for c in RESULT_SCHEMA]
_REGISTER_COLUMNS = [c for c in REGISTER_SCHEMA if c != "source_row"]


def ingested_sha256(path: Path, sha256: str) -> bool:
    """Whether a file with these bytes was ingested before (a quick read)."""
    if not path.exists():
        return False
    with connect(path) as con:
        return sha256 in _ingested_among(con, [sha256])


@dataclass(frozen=True)
class RecordedDrop:
    status: str
    rows: int
    kind: str | None
    stored_as: str


def known_files(
    path: Path, wanted: dict[str, list[str]]
) -> tuple[dict[str, RecordedDrop], set[str]]:
    """What the database knows of many files at once (one read-only
    connection): sha256 -> the row recording this very drop (the same bytes,
    recorded as filed at one of the places `wanted` says it would be filed
    now: only a run killed after storing a file but before filing it away
    leaves one), and the set of these bytes ingested before."""
    if not path.exists() or not wanted:
        return {}, set()
    with connect(path, read_only=True) as con:
        rows = run(
            con,
            "SELECT sha256, status, row_count, kind, stored_as FROM source_files"
            " WHERE list_contains(?, sha256) ORDER BY received_at",
            [list(wanted)],
        )
    found: dict[str, RecordedDrop] = {}
    ingested: set[str] = set()
    for sha256, status, count, kind, stored_as in rows:
        if status == "ingested":
            ingested.add(sha256)
        if sha256 not in found and stored_as in wanted[sha256]:
            found[sha256] = RecordedDrop(status, int(count or 0), kind, stored_as)
    return found, ingested


def _ingested_among(con: duckdb.DuckDBPyConnection, sha256s: list[str]) -> set[str]:
    rows = run(
        con,
        "SELECT DISTINCT sha256 FROM source_files"
        " WHERE status = 'ingested' AND list_contains(?, sha256)",
        [sha256s],
    )
    return {r[0] for r in rows}


def _insert_files(con: duckdb.DuckDBPyConnection, files: list[tuple[FileRecord, str, int]]) -> None:
    """source_files rows, in the order given (file_id follows it, and so does
    the hash chain)."""
    names = (
        "file_name, sha256, status, kind, received_at, row_count, error_count,"
        " stored_as, size_bytes, errors_sha256"
    )
    rows = [
        (
            f.file_name,
            f.sha256,
            status,
            f.kind,
            f.received_at,
            count,
            f.error_count,
            f.stored_as,
            f.size_bytes,
            f.errors_sha256,
        )
        for f, status, count in files
    ]
    if len(rows) == 1:
        run(
            con,
            f"INSERT INTO source_files ({names}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            list(rows[0]),
        )
        return
    incoming = pl.DataFrame(
        [(*row, order) for order, row in enumerate(rows)],
        schema={
            "file_name": pl.String,
            "sha256": pl.String,
            "status": pl.String,
            "kind": pl.String,
            "received_at": pl.Datetime("us", "UTC"),
            "row_count": pl.Int64,
            "error_count": pl.Int64,
            "stored_as": pl.String,
            "size_bytes": pl.Int64,
            "errors_sha256": pl.String,
            "ord": pl.Int64,
        },
        orient="row",
    )
    with registered(con, incoming_files=incoming):
        run(
            con,
            f"INSERT INTO source_files ({names}) SELECT {names} FROM incoming_files ORDER BY ord",
        )


def _insert_results(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, now: datetime) -> Chunk:
    """Rows of `frame` (RESULT_SCHEMA plus source_sha256), numbered in frame
    order with ids drawn from results_seq; returns them as the digest reads
    them (kqc.store.digests.RESULTS), which is also what DuckDB inserts from:
    the one conversion to Arrow serves both. Read by DuckDB's scan of the
    local table, not `registered`: a registered Arrow table stays alive until
    the transaction ends, so a streamed file's chunks would all be held at
    once (1.6 GB against 0.85 GB for 3,000,000 rows)."""
    names = ", ".join((*_RESULT_COLUMNS, "source_sha256"))
    first = _result_ids(con, frame.height)
    numbered = frame.select(
        (pl.int_range(frame.height, dtype=pl.Int64) + first).alias("result_id"),
        *_RESULT_COLUMNS,
        "source_sha256",
        pl.lit(epoch_us(now), pl.Int64).alias("loaded_at"),
    )
    # DuckDB inserts from the Polars frame itself (from the Arrow copy the
    # digest reads, the insert of ten million rows took 6 s longer), while
    # that copy is made beside it: both let go of the GIL.
    canonical = _converting().submit(lambda: chunk_of(canonical_frame(numbered, RESULTS), RESULTS))
    incoming_results = numbered  # noqa: F841
    try:
        con.execute(
            f"INSERT INTO results (result_id, {names}, loaded_at)"
            f" SELECT result_id, {names}, ? FROM incoming_results",
            [now],
        )
    finally:
        chunk = canonical.result()
    return chunk


_converter: ThreadPoolExecutor | None = None


def _converting() -> ThreadPoolExecutor:
    global _converter
    if _converter is None:
        _converter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kqc-digest")
    return _converter


def _result_ids(con: duckdb.DuckDBPyConnection, count: int) -> int:
    """The first of `count` consecutive ids taken from results_seq in one
    query. The column's default would call the sequence once per row inside
    the insert, which cost a third of a large file's insert time (0.65 s a
    million rows). One writer holds the database, so the ids taken are
    consecutive; should they ever not be, nothing is stored."""
    if count == 0:
        return 0
    first, last = run(
        con,
        "SELECT min(id), max(id) FROM (SELECT nextval('results_seq') AS id FROM range(?))",
        [count],
    )[0]
    if last - first + 1 != count:  # pragma: no cover - one writer holds the sequence
        raise StoreError(f"results_seq gave {count:,} ids that are not consecutive")
    return int(first)


# The identity of a reported result: a later file reporting the same one is an
# amendment. The canonical unit belongs to it as in the file-level uniqueness
# check (schemas/results.py): a lab may report mitragynine in mg/g and in
# mg/unit for one sample, and one does not amend the other. unit_no is NULL
# for a composite sample, and NULL matches NULL.
_AMENDMENT_KEY = ("lab_id", "sample_id", "analyte", "unit", "sample_type", "unit_no")
_PRUNED = 5_000  # beyond this many samples (or files) in a group, a plain join


def _literal_in(column: str, values: list[str]) -> tuple[str, list[str]]:
    """`AND column IN (?, ...)` for a short list: DuckDB prunes row groups by a
    literal list while scanning (0.01 s against 1.4 s at ten million rows);
    nothing for a long one."""
    if not 0 < len(values) <= _PRUNED:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in values)})", list(values)


def _supersede(con: duckdb.DuckDBPyConnection, order: list[str], samples: list[str]) -> None:
    """Mark the current results the group's files re-report as superseded,
    and queue their batches (a corrected batch_id moves a result, so the old
    batch changes too). `order` holds the group's result files (sha256) in the
    order they were dropped: for each key the last of them is current, and
    supersedes every earlier row, in the database or earlier in the group.
    Rows of one file never supersede each other: validation rejects a file
    that repeats a key, so a repeat is the lab's mistake to fix."""
    match = " AND ".join(f"old.{c} IS NOT DISTINCT FROM rep.{c}" for c in _AMENDMENT_KEY)
    same = " AND ".join(f"n.{c} IS NOT DISTINCT FROM l.{c}" for c in _AMENDMENT_KEY)
    keys = ", ".join(_AMENDMENT_KEY)
    in_files, file_args = _literal_in("r.source_sha256", order)
    new_samples, new_args = _literal_in("r.sample_id", samples)
    old_samples, old_args = _literal_in("old.sample_id", samples)
    group = pl.DataFrame({"sha256": order, "ord": list(range(len(order)))})
    with registered(con, group_files=group):
        run(
            con,
            "CREATE TEMP TABLE amended AS"
            " WITH new AS ("
            f"   SELECT {', '.join(f'r.{c}' for c in _AMENDMENT_KEY)}, r.result_id,"
            "    r.source_sha256, g.ord"
            "   FROM results r JOIN group_files g ON r.source_sha256 = g.sha256"
            f"   WHERE true{in_files}{new_samples}),"
            f" latest AS (SELECT {keys}, max(ord) AS ord FROM new GROUP BY ALL),"
            " rep AS ("
            f"   SELECT {', '.join(f'n.{c}' for c in _AMENDMENT_KEY)},"
            "    min(n.result_id) AS replacement, any_value(n.source_sha256) AS sha256"
            f"   FROM new n JOIN latest l ON {same} AND n.ord = l.ord GROUP BY ALL)"
            " SELECT old.result_id, old.batch_id, rep.replacement"
            f" FROM results old JOIN rep ON {match}"
            f" WHERE old.superseded_by IS NULL AND old.source_sha256 != rep.sha256{old_samples}",
            [*file_args, *new_args, *old_args],
        )
    now = datetime.now(UTC)
    try:
        run(
            con,
            "UPDATE results SET superseded_by = a.replacement, superseded_at = ?"
            " FROM amended a WHERE results.result_id = a.result_id",
            [now],
        )
        _enqueue(con, "SELECT batch_id FROM amended", now)
        touched = run(
            con,
            "SELECT DISTINCT source_sha256 FROM results"
            " WHERE result_id IN (SELECT result_id FROM amended) ORDER BY 1",
        )
        record_supersessions(con, [sha for (sha,) in touched])
    finally:
        run(con, "DROP TABLE amended")


def _upsert_batches(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    """Register rows (with source_sha256); a batch registered twice in one
    group keeps the later file's row. A batch registered before is updated
    in place, never deleted and inserted again: DuckDB takes each deleted key
    out of the index at commit (1.3 s for 40,000 batches)."""
    names = ", ".join(_REGISTER_COLUMNS)
    replaced = ", ".join(
        f"{c} = excluded.{c}"
        for c in (*_REGISTER_COLUMNS, "source_sha256", "updated_at")
        if c != "batch_id"
    )
    latest = frame.unique("batch_id", keep="last", maintain_order=True)
    with registered(con, incoming_batches=latest.select(*_REGISTER_COLUMNS, "source_sha256")):
        written = run(
            con,
            f"INSERT INTO batches ({names}, source_sha256, updated_at)"
            f" SELECT {names}, source_sha256, ? FROM incoming_batches"
            f" ON CONFLICT (batch_id) DO UPDATE SET {replaced} RETURNING batch_id",
            [datetime.now(UTC)],
        )
    record_rows(con, BATCHES, (batch_id for (batch_id,) in written))


def _queue(con: duckdb.DuckDBPyConnection, batch_ids: pl.Series) -> None:
    """Mark batches for re-evaluation, in the data's own transaction."""
    queued = pl.DataFrame({"batch_id": batch_ids.unique()})
    with registered(con, queued_batches=queued):
        _enqueue(con, "SELECT batch_id FROM queued_batches", datetime.now(UTC))


def _enqueue(con: duckdb.DuckDBPyConnection, batches: str, now: datetime) -> None:
    """Queue the batches the query `batches` names, one row each, stamped
    `now`. The queue has no key to keep rows unique (emptying a keyed queue
    cost seconds at commit: migration 0005), so a batch queued before is
    taken out first."""
    run(con, f"DELETE FROM evaluation_queue WHERE batch_id IN ({batches})")
    run(con, f"INSERT INTO evaluation_queue SELECT DISTINCT batch_id, ? FROM ({batches})", [now])


def _tagged(frame: pl.DataFrame, sha256: str) -> pl.DataFrame:
    return frame.with_columns(pl.lit(sha256, pl.String).alias("source_sha256"))


def _together(held: list[tuple[pl.DataFrame, str]]) -> pl.DataFrame:
    """The frames of many files as one, each row tagged with its file: one
    insert instead of one per file (a thousand small Arrow chunks insert far
    slower than one)."""
    frames = [frame for frame, _ in held]
    tags = pl.DataFrame(
        {"sha": [sha for _, sha in held], "n": [frame.height for frame in frames]},
        schema={"sha": pl.String, "n": pl.Int64},
    ).select(pl.col("sha").repeat_by("n").explode().alias("source_sha256"))
    return pl.concat(frames, how="vertical_relaxed", rechunk=True).hstack(tags)


def store_files(
    path: Path,
    files: list[Incoming],
    *,
    before_commit: Callable[[], None] | None = None,
) -> list[Literal["ingested", "duplicate", "rejected"]]:
    """Store a group of files in ONE transaction, all of them or none: each
    file's rows, its source_files row (in the order given), the amendments it
    makes and the batches it queues. A file whose bytes were ingested before
    (or earlier in the group) is recorded as a duplicate and stores nothing.
    Many small files cost one transaction instead of one each. `before_commit`
    lets a test inject a fault at the last moment."""
    statuses: list[Literal["ingested", "duplicate", "rejected"]] = []
    now = datetime.now(UTC)
    with connect(path) as con:
        run(con, "BEGIN TRANSACTION")
        try:
            seen = _ingested_among(con, [f.record.sha256 for f in files if not f.rejected])
            # Into a database with no results yet, one file amends nothing:
            # skip the search (it would join ten million rows with themselves).
            had_results = bool(run(con, "SELECT count(*) FROM (FROM results LIMIT 1)")[0][0])
            recorded: list[tuple[FileRecord, str, int]] = []
            held: list[tuple[pl.DataFrame, str]] = []  # frames stored together after the loop
            registers: list[pl.DataFrame] = []
            order: list[str] = []
            samples: list[pl.Series] = []
            batch_ids: list[pl.Series] = []
            digests: dict[str, str] = {}  # each file's results, for the ledger
            for f in files:
                sha = f.record.sha256
                if f.rejected:
                    recorded.append((f.record, "rejected", 0))
                    statuses.append("rejected")
                    continue
                if sha in seen:
                    recorded.append((replace(f.record, kind=None), "duplicate", 0))
                    statuses.append("duplicate")
                    continue
                seen.add(sha)
                rows = 0
                if isinstance(f.results, pl.DataFrame):
                    held.append((f.results, sha))
                    rows += f.results.height
                    order.append(sha)
                elif f.results is not None:
                    chunks = iter(f.results)  # streamed: stored chunk by chunk
                    digest = Digest(RESULTS)
                    # Each chunk is hashed on the converting thread while the
                    # next one is inserted (that thread then converts the
                    # next chunk: one at a time, in order, one chunk's copy
                    # held). Hashed here after each insert, the hashing
                    # waited on the run's path (sampled: some 0.6 CPU-s for
                    # ten million results; the wall time saved is not yet
                    # measured).
                    hashing: Future[None] | None = None
                    try:
                        for chunk in chunks:
                            stored = _insert_results(con, _tagged(chunk, sha), now)
                            if hashing is not None:
                                hashing.result()
                            hashing = _converting().submit(digest.update, stored)
                            rows += chunk.height
                            samples.append(chunk.get_column("sample_id").unique())
                            batch_ids.append(chunk.get_column("batch_id").unique())
                        if hashing is not None:
                            hashing.result()
                    finally:
                        if hashing is not None:
                            wait([hashing])  # a failed insert leaves no hashing behind
                        # however the loop ends: a failed insert also stops
                        # the thread preparing the next chunk
                        getattr(chunks, "close", lambda: None)()
                    if f.problems_after is not None and f.problems_after():
                        raise RejectedWhileStoring(f"{f.record.file_name} has problems")
                    order.append(sha)
                    if digest.rows:
                        digests[sha] = digest.hexdigest()
                if f.register is not None:
                    registers.append(_tagged(f.register, sha))
                    batch_ids.append(f.register.get_column("batch_id"))
                    rows += f.register.height
                recorded.append((f.record, "ingested", rows))
                statuses.append("ingested")
            if held:
                together = _together(held)
                stored = _insert_results(con, together, now)
                start = 0
                for one, sha in held:  # each file's rows lie together, in order
                    if one.height:
                        digest = Digest(RESULTS)
                        digest.update(stored, start, start + one.height)
                        digests[sha] = digest.hexdigest()
                    start += one.height
                samples.append(together.get_column("sample_id").unique())
                batch_ids.append(together.get_column("batch_id").unique())
            if len(order) > 1 or (order and had_results):
                _supersede(con, order, pl.concat(samples).unique().sort().to_list())
            if registers:
                _upsert_batches(con, pl.concat(registers, how="vertical_relaxed"))
            if batch_ids:
                _queue(con, pl.concat(batch_ids))
            record(con, "results", digests, now)
            _insert_files(con, recorded)
            _seal_all(con)
            if before_commit is not None:
                before_commit()
            run(con, "COMMIT")
        except BaseException as err:
            run(con, "ROLLBACK")
            if isinstance(err, duckdb.Error) and not isinstance(err, StoreError):
                raise _as_store_error(path, err) from err
            raise
    return statuses


def store_ingested(
    path: Path,
    *,
    file: FileRecord,
    results: pl.DataFrame | None,
    register: pl.DataFrame | None,
    before_commit: Callable[[], None] | None = None,
) -> Literal["ingested", "duplicate"]:
    """Store one file's rows in one transaction (`store_files` of one)."""
    (status,) = store_files(path, [Incoming(file, results, register)], before_commit=before_commit)
    assert status != "rejected"
    return status


def store_rejected(path: Path, *, file: FileRecord) -> None:
    """Record a file refused by validation (`store_files` of one)."""
    store_files(path, [Incoming(file, rejected=True)])


def _seal_all(con: duckdb.DuckDBPyConnection) -> None:
    """Chain the rows just written (and any an older kqc left unchained)."""
    for chain in CHAINS:
        seal(con, chain)


def _as_store_error(path: Path, err: duckdb.Error) -> StoreError:
    if "lock" in str(err).lower():
        return DatabaseLocked(path)
    first = str(err).splitlines()[0]
    return StoreError(
        f"the database {path} refused the write ({first}); the file stays in the inbox"
    )
