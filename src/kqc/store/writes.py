"""Writing one dropped file: one transaction, all of it or none of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from kqc.core.records import REGISTER_SCHEMA, RESULT_SCHEMA
from kqc.store.chain import CHAINS, seal
from kqc.store.connection import connect, registered, run
from kqc.store.errors import DatabaseLocked, StoreError


@dataclass(frozen=True)
class FileRecord:
    file_name: str
    sha256: str
    kind: str | None
    received_at: datetime
    size_bytes: int
    error_count: int
    stored_as: str


_RESULT_COLUMNS = [c for c in RESULT_SCHEMA]
_REGISTER_COLUMNS = [c for c in REGISTER_SCHEMA if c != "source_row"]


def ingested_sha256(path: Path, sha256: str) -> bool:
    """Whether a file with these bytes was ingested before (a quick read)."""
    if not path.exists():
        return False
    with connect(path) as con:
        return _is_ingested(con, sha256)


@dataclass(frozen=True)
class RecordedDrop:
    status: str
    rows: int
    kind: str | None
    stored_as: str


def recorded_drop(path: Path, sha256: str, targets: list[str]) -> RecordedDrop | None:
    """The row that already records this very drop: the same bytes, recorded
    as filed at one of the places it would be filed now. Only a run killed
    after storing a file but before filing it away leaves one (a file dropped
    again gets a new place, its first copy occupying the old one)."""
    if not path.exists():
        return None
    with connect(path, read_only=True) as con:
        rows = run(
            con,
            "SELECT status, row_count, kind, stored_as FROM source_files"
            " WHERE sha256 = ? AND list_contains(?, stored_as) ORDER BY received_at LIMIT 1",
            [sha256, targets],
        )
    if not rows:
        return None
    status, count, kind, stored_as = rows[0]
    return RecordedDrop(status, int(count or 0), kind, stored_as)


def _is_ingested(con: duckdb.DuckDBPyConnection, sha256: str) -> bool:
    rows = run(
        con, "SELECT count(*) FROM source_files WHERE sha256 = ? AND status = 'ingested'", [sha256]
    )
    return bool(rows[0][0])


def _insert_file(con: duckdb.DuckDBPyConnection, file: FileRecord, status: str, rows: int) -> None:
    run(
        con,
        "INSERT INTO source_files (file_name, sha256, status, kind, received_at, row_count,"
        " error_count, stored_as, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            file.file_name,
            file.sha256,
            status,
            file.kind,
            file.received_at,
            rows,
            file.error_count,
            file.stored_as,
            file.size_bytes,
        ],
    )


def _insert_results(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, sha256: str) -> None:
    names = ", ".join(_RESULT_COLUMNS)
    with registered(con, incoming_results=frame.select(_RESULT_COLUMNS)):
        run(
            con,
            f"INSERT INTO results ({names}, source_sha256, loaded_at)"
            f" SELECT {names}, ?, ? FROM incoming_results",
            [sha256, datetime.now(UTC)],
        )


# The identity of a reported result: a later file reporting the same one is an
# amendment. The canonical unit belongs to it as in the file-level uniqueness
# check (schemas/results.py): a lab may report mitragynine in mg/g and in
# mg/unit for one sample, and one does not amend the other. unit_no is NULL
# for a composite sample, and NULL matches NULL.
_AMENDMENT_KEY = ("lab_id", "sample_id", "analyte", "unit", "sample_type", "unit_no")
_PRUNED_SAMPLES = 5_000  # beyond this many samples in one file, a plain join


def _supersede(con: duckdb.DuckDBPyConnection, sha256: str, samples: list[str]) -> None:
    """Mark the current results this file re-reports as superseded by its
    rows, and queue their batches (a corrected batch_id moves a result, so the
    old batch changes too). Rows of the same file never supersede each other:
    validation rejects a file that repeats a key, so a repeat is the lab's
    mistake to fix, never an amendment."""
    match = " AND ".join(f"old.{c} IS NOT DISTINCT FROM new.{c}" for c in _AMENDMENT_KEY)
    keys = ", ".join(_AMENDMENT_KEY)
    now = datetime.now(UTC)
    # The file's sample ids as bound values: DuckDB prunes a literal IN list
    # while scanning the results (0.01 s against 1.4 s at ten million rows).
    pruned = 0 < len(samples) <= _PRUNED_SAMPLES
    marks = ", ".join("?" for _ in samples)
    run(
        con,
        "CREATE TEMP TABLE amended AS"
        " SELECT old.result_id, old.batch_id, new.replacement"
        " FROM results old JOIN ("
        f"   SELECT {keys}, min(result_id) AS replacement FROM results"
        f"   WHERE source_sha256 = ?{f' AND sample_id IN ({marks})' if pruned else ''}"
        f"   GROUP BY {keys}) new ON {match}"
        " WHERE old.superseded_by IS NULL AND old.source_sha256 != ?"
        + (f" AND old.sample_id IN ({marks})" if pruned else ""),
        [sha256, *(samples if pruned else []), sha256, *(samples if pruned else [])],
    )
    try:
        run(
            con,
            "UPDATE results SET superseded_by = a.replacement, superseded_at = ?"
            " FROM amended a WHERE results.result_id = a.result_id",
            [now],
        )
        run(
            con,
            "INSERT INTO evaluation_queue SELECT DISTINCT batch_id, ? FROM amended"
            " ON CONFLICT (batch_id) DO UPDATE SET queued_at = excluded.queued_at",
            [now],
        )
    finally:
        run(con, "DROP TABLE amended")


def _upsert_batches(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, sha256: str) -> None:
    names = ", ".join(_REGISTER_COLUMNS)
    with registered(con, incoming_batches=frame.select(_REGISTER_COLUMNS)):
        run(con, "DELETE FROM batches WHERE batch_id IN (SELECT batch_id FROM incoming_batches)")
        run(
            con,
            f"INSERT INTO batches ({names}, source_sha256, updated_at)"
            f" SELECT {names}, ?, ? FROM incoming_batches",
            [sha256, datetime.now(UTC)],
        )


def _queue(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    """Mark the frame's batches for re-evaluation, in the data's own transaction."""
    with registered(con, queued_batches=frame.select(pl.col("batch_id").unique())):
        run(
            con,
            "INSERT INTO evaluation_queue SELECT batch_id, ? FROM queued_batches"
            " ON CONFLICT (batch_id) DO UPDATE SET queued_at = excluded.queued_at",
            [datetime.now(UTC)],
        )


def store_ingested(
    path: Path,
    *,
    file: FileRecord,
    results: pl.DataFrame | None,
    register: pl.DataFrame | None,
    before_commit: Callable[[], None] | None = None,
) -> Literal["ingested", "duplicate"]:
    """Store a file's rows in one transaction; a file whose bytes were already
    ingested is recorded as a duplicate and stores nothing. `before_commit`
    lets a test inject a fault at the last moment."""
    with connect(path) as con:
        run(con, "BEGIN TRANSACTION")
        try:
            if _is_ingested(con, file.sha256):
                _insert_file(con, file, "duplicate", 0)
                status: Literal["ingested", "duplicate"] = "duplicate"
            else:
                rows = 0
                if results is not None:
                    _insert_results(con, results, file.sha256)
                    samples = results.get_column("sample_id").unique().to_list()
                    _supersede(con, file.sha256, samples)
                    rows += results.height
                    _queue(con, results)
                if register is not None:
                    _upsert_batches(con, register, file.sha256)
                    rows += register.height
                    _queue(con, register)
                _insert_file(con, file, "ingested", rows)
                status = "ingested"
            _seal_all(con)
            if before_commit is not None:
                before_commit()
            run(con, "COMMIT")
        except BaseException as err:
            run(con, "ROLLBACK")
            if isinstance(err, duckdb.Error) and not isinstance(err, StoreError):
                raise _as_store_error(path, err) from err
            raise
    return status


def store_rejected(path: Path, *, file: FileRecord) -> None:
    with connect(path) as con:
        run(con, "BEGIN TRANSACTION")
        try:
            _insert_file(con, file, "rejected", 0)
            _seal_all(con)
            run(con, "COMMIT")
        except BaseException:
            run(con, "ROLLBACK")
            raise


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
