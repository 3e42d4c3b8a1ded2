"""Opening the DuckDB file: only for as long as a write takes, migrated on
open, and every DuckDB error turned into a StoreError with a next step.

DuckDB lets one process write and refuses a writer while any other process
holds the file, even read-only. So the pipeline never keeps it open between
writes: a person can open it read-only between runs. When someone holds it
anyway, opening for a write waits and retries with backoff, says so once, and
gives up after $KQC_LOCK_WAIT seconds with DatabaseLocked: the caller leaves
its file in the inbox. Only the open is retried, never half a transaction.

A new file is created in the storage format every DuckDB from 1.0 on reads
(kqc.store.storage), so the snapshot a regulator gets opens in their DuckDB.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kqc.config.settings import lock_wait_seconds
from kqc.process import quiet
from kqc.store.errors import DatabaseLocked, NotADatabase, StoreError
from kqc.store.storage import NEW_FILE_CONFIG

if TYPE_CHECKING:  # the read-only commands start without polars (a quarter second)
    import polars as pl

_log = logging.getLogger(__name__)

_MIGRATIONS = "migrations"
# The migration that adds the ledger, which must record every row already
# stored in the same transaction (kqc.store.contents.record_all): a database
# upgraded then verifies intact, and none is left with rows the ledger lacks.
_LEDGER_MIGRATION = 10
_MIGRATION_TABLE_COMMENTS = (
    ("TABLE schema_migrations", "Schema changes applied to this database, one row each, in order."),
    ("COLUMN schema_migrations.version", "Number of the migration file (NNNN_name.sql)."),
    ("COLUMN schema_migrations.name", "File name of the migration."),
    ("COLUMN schema_migrations.applied_at", "When it was applied (UTC)."),
)


def run(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> list[tuple]:
    """Execute and drain the result: DuckDB 2 refuses the next statement on a
    connection whose previous result was not fetched."""
    return (
        con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    )


def rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> list[dict[str, Any]]:
    """A query's rows as dicts of column name to value (DuckDB's own Python
    values: those a frame of the same query holds)."""
    found = con.execute(sql, params) if params is not None else con.execute(sql)
    names = [column[0] for column in found.description]
    return [dict(zip(names, row, strict=True)) for row in found.fetchall()]


def frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> pl.DataFrame:
    """A query's rows as a Polars frame (through Arrow, one copy, on DuckDB's
    threads): the way for results that may be millions of rows."""
    return con.sql(sql, params=params).pl()


def small_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> pl.DataFrame:
    """A few thousand rows at most as a Polars frame, through the Arrow stream
    interface: no pyarrow import, 70 ms of a read-only command's start, but
    2.5x slower than `frame` at millions of rows."""
    import polars as pl

    return pl.DataFrame(con.sql(sql, params=params))


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **tables: pl.DataFrame) -> Iterator[None]:
    """Frames visible to SQL under the given names for the block, then gone."""
    for name, table in tables.items():
        con.register(name, table.to_arrow())
    try:
        yield
    finally:
        for name in tables:
            con.unregister(name)


class LockWaitExpired(DatabaseLocked):
    """The live file stayed held by another process for the whole wait."""

    def __init__(self, path: Path, holder: str, waited: float) -> None:
        super().__init__(path)
        self.message = (
            f"the database {path} stayed open in another program{holder} for {waited:g} s:"
            " close it (regulators should open the published snapshot instead),"
            " then run kqc again"
        )
        self.args = (self.message,)


def _holder(err: BaseException | None) -> str:
    """' (pid N)' when DuckDB named the process holding the file."""
    found = re.search(r"\(PID (\d+)\)", str(err or ""))
    return f" (pid {found.group(1)})" if found else ""


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    # A new file is created in the storage format every DuckDB from 1.0 on
    # reads (kqc.store.storage); a file keeps its format for life.
    config: dict[str, str | bool | int | float | list[str]] = (
        {} if read_only or path.exists() else dict(NEW_FILE_CONFIG)
    )
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise DatabaseLocked(path) from err
        raise NotADatabase(path, str(err).splitlines()[0]) from err
    except duckdb.Error as err:
        raise NotADatabase(path, str(err).splitlines()[0]) from err
    # Times come back in UTC, as every listing labels them; DuckDB's default
    # is the machine's zone. (The setting needs ICU, loaded once connected.)
    with suppress(duckdb.Error):
        run(con, "SET TimeZone = 'UTC'")
    return con


# A reader waits this long at most for a writer's transaction to end (a
# watch's run, a console page of `kqc serve`, a review): those last well under
# a second, so a command that reads does not fail because one was under way;
# a program that keeps the file open still fails it, soon, with one sentence.
_READ_WAIT_SECONDS = 5.0


def _open_for_read(path: Path) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + min(_READ_WAIT_SECONDS, lock_wait_seconds())
    delay = 0.02
    while True:
        try:
            return _open(path, read_only=True)
        except DatabaseLocked:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)


def _open_for_write(path: Path) -> duckdb.DuckDBPyConnection:
    """Open for writing, waiting with backoff while another process holds the
    file (a SQL client left open, a review in progress)."""
    wait = lock_wait_seconds()
    deadline = time.monotonic() + wait
    delay = 0.05
    said = False
    while True:
        try:
            return _open(path, read_only=False)
        except DatabaseLocked as err:
            holder = _holder(err.__cause__)
            if time.monotonic() >= deadline:
                raise LockWaitExpired(path, holder, wait) from err
            if not said:
                line = f"database held by another process{holder}; waiting up to {wait:g} s"
                _log.warning("%s: %s", path, line)
                print(f"kqc: {path}: {line}", file=quiet.user_stderr(), flush=True)
                said = True
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    with _one_at_a_time(path):
        con = _open_for_read(path) if read_only else _open_for_write(path)
        try:
            if not read_only:
                migrate(con)
            yield con
        finally:
            con.close()


# One process that writes and reads the live file from several threads (`kqc
# serve`: the watch's runs and the console's pages). DuckDB refuses, inside
# one process, a read-only connection beside a writable one to the same file
# (and the reverse), and two writers in one process would both take the next
# id of a chain. So there, every connection to that file takes its turn. Each
# is short (a page reads a bounded few rows, a small file's run writes in
# well under a second); a large file's transaction makes the pages wait.
_SHARED: list[Path] = []
_TURN = threading.RLock()


def take_turns(db: Path) -> None:
    """From now on, this process's connections to `db` take turns."""
    _SHARED[:] = [db.resolve()]


@contextmanager
def _one_at_a_time(path: Path) -> Iterator[None]:
    if _SHARED and path.resolve() == _SHARED[0]:
        with _TURN:
            yield
    else:
        yield


def _migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("kqc.store") / _MIGRATIONS
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply each numbered migration once, each in its own transaction."""
    run(
        con,
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
    )
    for target, text in _MIGRATION_TABLE_COMMENTS:
        run(con, f"COMMENT ON {target} IS '{text}'")
    done = {row[0] for row in run(con, "SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in _migration_files():
        if version in done:
            continue
        run(con, "BEGIN TRANSACTION")
        try:
            run(con, sql)
            if version == _LEDGER_MIGRATION:
                from kqc.store.contents import record_all  # it reads the tables through here

                record_all(con)
            run(
                con,
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, name, datetime.now(UTC)],
            )
            run(con, "COMMIT")
        except duckdb.Error as err:
            run(con, "ROLLBACK")
            raise StoreError(
                f"migration {name} failed ({err}): the database was left as it was"
            ) from err
        applied.append(version)
    return applied


@contextmanager
def transaction(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection inside one transaction: committed when the block
    ends, rolled back (nothing written) when it raises."""
    with connect(path) as con:
        run(con, "BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            run(con, "ROLLBACK")
            raise
        run(con, "COMMIT")
