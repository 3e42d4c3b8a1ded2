"""Converting a live database, once, to the storage format DuckDB 1.0 reads
(kqc.store.storage): for a database an earlier kqc created in DuckDB 2's
format, whose snapshot otherwise takes the slow way on every publish.

DuckDB writes the converted copy itself (`COPY FROM DATABASE` into a file
attached with `STORAGE_VERSION 'v1.0.0'`: tables with their constraints,
views, sequences where they stood, every comment), while a connection that
writes holds the live file, so nothing can change it meanwhile. The copy is
read back whole and compared with the live file (every table's rows, every
view, column and comment, every sequence) before it replaces it.

The replacement is a rename in the same folder, made while this process
holds the lock DuckDB itself takes on the file (an `fcntl` write lock on the
whole file): any DuckDB that tries to open the live file meanwhile is told
it is in use, and kqc's own commands wait and retry (kqc.store.connection),
then open the converted file. The file's inode, size and modification time
are taken when DuckDB closes it and checked again under that lock: a writer
that slipped in between makes the conversion stop with the live file as it
was. The ingest run lock (kqc.process.runlock) is held throughout, so no ingest run
starts meanwhile either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kqc.config.settings import lock_wait_seconds
from kqc.process import runlock
from kqc.store.connection import connect, run
from kqc.store.errors import StoreError
from kqc.store.publish import first_line, fsync, pid_alive, read_every_table, write_with_duckdb
from kqc.store.queries import require_database
from kqc.store.storage import OLDEST_CLIENT, opens_in_oldest_client, storage_version

_MINE = "database_name = current_database() AND NOT internal"


@dataclass(frozen=True)
class Inventory:
    """Everything a conversion must carry over, as comparable values."""

    tables: tuple[tuple, ...]
    views: tuple[tuple, ...]
    columns: tuple[tuple, ...]
    sequences: tuple[tuple, ...]
    row_counts: tuple[tuple[str, int], ...]


def inventory(con: duckdb.DuckDBPyConnection) -> Inventory:
    tables = tuple(
        run(
            con,
            f"SELECT table_name, comment, sql FROM duckdb_tables() WHERE {_MINE} ORDER BY 1",
        )
    )
    # A view's SQL is DuckDB's own rendering of it, which a copy may
    # parenthesize differently: its columns, comment and rows are compared.
    views = tuple(
        run(con, f"SELECT view_name, comment FROM duckdb_views() WHERE {_MINE} ORDER BY 1")
    )
    counts = tuple(
        (name, run(con, f'SELECT count(*) FROM "{name}"')[0][0]) for name, *_ in tables + views
    )
    return Inventory(
        tables=tables,
        views=views,
        columns=tuple(
            run(
                con,
                "SELECT table_name, column_name, data_type, comment, column_default,"
                f" is_nullable FROM duckdb_columns() WHERE {_MINE} ORDER BY 1, 2",
            )
        ),
        sequences=tuple(
            run(
                con,
                "SELECT sequence_name, last_value, increment_by FROM duckdb_sequences()"
                " WHERE database_name = current_database() ORDER BY 1",
            )
        ),
        row_counts=counts,
    )


@dataclass(frozen=True)
class _Stamp:
    inode: int
    size: int
    mtime_ns: int


def _stamp(path: Path) -> _Stamp:
    found = path.stat()
    return _Stamp(found.st_ino, found.st_size, found.st_mtime_ns)


@contextlib.contextmanager
def _held_as_duckdb_holds_it(db: Path) -> Iterator[None]:
    """The write lock DuckDB takes on an open database file, taken by this
    process: no DuckDB anywhere opens `db` until the block ends."""
    fd = os.open(db, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            raise StoreError(
                f"{db} was opened by another program during its conversion: it is unchanged;"
                " close that program, then run kqc publish --convert-storage again"
            ) from err
        yield
    finally:
        os.close(fd)  # releases the lock


def _temp_for(db: Path) -> Path:
    return db.with_name(f".{db.name}.{os.getpid()}.{secrets.token_hex(4)}.convert.tmp")


def _remove_stale(db: Path) -> None:
    """The copies (and their logs) a conversion whose process died left behind."""
    prefix = f".{db.name}."
    for candidate in db.parent.glob(prefix + "*.convert.tmp*"):
        pid_text = candidate.name[len(prefix) :].split(".", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            candidate.unlink(missing_ok=True)


def _discard(temp: Path) -> None:
    for leftover in (temp, temp.with_name(temp.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _copy_checked(db: Path, temp: Path) -> _Stamp | None:
    """Write the converted copy of `db` to `temp` and check it against the
    live file; None when `db` needs no conversion."""
    with connect(db) as con:  # a writer: waits for any other holder, then holds the file
        if opens_in_oldest_client(storage_version(con)):
            return None
        run(con, "CHECKPOINT")  # whatever a write-ahead log held is in the file now
        expected = inventory(con)
        write_with_duckdb(con, temp, OLDEST_CLIENT)
    stamp = _stamp(db)  # as DuckDB left it on closing
    with duckdb.connect(str(temp), read_only=True) as copy:
        run(copy, "SET enable_progress_bar = false")
        read_every_table(copy)
        found = inventory(copy)
        version = storage_version(copy)
    if found != expected or not opens_in_oldest_client(version):
        raise StoreError(
            f"the converted copy of {db} did not match it: {db} is unchanged;"
            " report this with the DuckDB version kqc runs on"
        )
    return stamp


def convert_storage(db: Path) -> bool:
    """Rewrite the live database `db` in the storage format DuckDB 1.0 reads;
    False when it already is (nothing done)."""
    require_database(db)
    _remove_stale(db)
    temp = _temp_for(db)
    try:
        with runlock.ingest_run(db, lock_wait_seconds()):
            stamp = _copy_checked(db, temp)
            if stamp is None:
                return False
            os.chmod(temp, db.stat().st_mode & 0o7777)
            fsync(temp)
            with _held_as_duckdb_holds_it(db):
                wal = db.with_name(db.name + ".wal")
                if _stamp(db) != stamp or wal.exists():
                    raise StoreError(
                        f"{db} was written by another program during its conversion: it is"
                        " unchanged; run kqc publish --convert-storage again when it is idle"
                    )
                os.replace(temp, db)
            with contextlib.suppress(OSError):
                fsync(db.parent)
    except (OSError, duckdb.Error) as err:
        detail = getattr(err, "strerror", None) or first_line(err)
        raise StoreError(
            f"{db} could not be converted ({detail}): it is unchanged;"
            " check the free space and permissions of its folder, then try again"
        ) from err
    finally:
        _discard(temp)
    return True
