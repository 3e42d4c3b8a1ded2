"""The snapshot regulators open: a read-only copy of the database beside it,
`<stem>.snapshot.duckdb` next to `<stem>.duckdb`, replaced atomically, in
the storage format every DuckDB client from 1.0 on opens (kqc.store.storage).

The live file is locked while the pipeline writes; the snapshot never is. It
is built in a temporary file in the same folder, read back whole, flushed to
disk, made read-only and renamed over the previous snapshot in one step.

The build is a byte copy of the live file taken while a read-only connection
holds it (no writer can change it meanwhile): 0.7 s for a 10-million-row,
25-column database of 890 MB, where DuckDB's `COPY FROM DATABASE` takes 14 s
(a quarter of a 55 s ingest of that size). kqc creates its databases in the
1.0 format, so the byte copy is already one a 1.x client opens. DuckDB
writes the copy itself, in the 1.0 format (`write_with_duckdb`), in two
cases only: when the live file has a write-ahead log (a writer died before
its checkpoint), because the file's bytes alone would miss what the log
holds; and when the live file is in a newer format (a database an earlier
kqc created with DuckDB 2's default), which a byte copy would carry along
and DuckDB 1.x would refuse. The second case is said (`needs_conversion`)
with the way out: converting the live file once (kqc.store.convert).

A byte copy carries any damage of the live file with it, so the copy is
never trusted unread: every column of every table is hashed (a query that
reads each value; a count or a min/max DuckDB answers from its metadata
without touching the data) and every view is run, 0.8 s for the same
database; the copy's own storage version is checked too. A copy that does
not read back leaves the previous snapshot as it was, byte for byte: a
publish is never a downgrade.

A reader that holds the previous snapshot open keeps reading its own
consistent file (the rename does not touch it); the next reader opens the new
one. There is never a moment without a complete snapshot at that name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from pathlib import Path

import duckdb

from kqc.errors import KqcError
from kqc.store.connection import connect, run
from kqc.store.errors import NotADatabase, StoreError
from kqc.store.queries import require_database
from kqc.store.storage import (
    OLDEST_CLIENT,
    conversion_note,
    opens_in_oldest_client,
    storage_version,
)

SNAPSHOT_SUFFIX = ".snapshot.duckdb"
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH  # 0444
_ALIAS = "kqc_snapshot_build"


def snapshot_path(db: Path) -> Path:
    """`kqc.duckdb` -> `kqc.snapshot.duckdb`, in the same folder."""
    return db.with_name(db.stem + SNAPSHOT_SUFFIX)


def _temp_prefix(snapshot: Path) -> str:
    # A dot file: the inbox and directory listings leave it alone.
    return f".{snapshot.name}."


def _temp_path(snapshot: Path) -> Path:
    # The pid in the name tells a crashed build's leftover from one under way;
    # the token keeps two builds of one process apart.
    token = secrets.token_hex(4)
    return snapshot.with_name(f"{_temp_prefix(snapshot)}{os.getpid()}.{token}.tmp")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temps(snapshot: Path) -> list[Path]:
    """Delete the temporary files (and their WAL) left by a build whose process
    died; a build still running in another process is left alone."""
    removed = []
    prefix = _temp_prefix(snapshot)
    for candidate in snapshot.parent.glob(prefix + "*"):
        pid_text = candidate.name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit():
            continue
        if pid_alive(int(pid_text)):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


def _discard(temp: Path) -> None:
    for leftover in (temp, temp.with_name(temp.name + ".wal")):
        leftover.unlink(missing_ok=True)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wal(db: Path) -> Path:
    return db.with_name(db.name + ".wal")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_every_table(con: duckdb.DuckDBPyConnection, database: str | None = None) -> None:
    """Read every value of every table of `database` (the connection's own by
    default) and run every view; DuckDB checks each block's checksum as it
    reads it, so damage anywhere in the data raises duckdb.Error here."""
    where = "database_name = " + ("current_database()" if database is None else "?")
    params = [] if database is None else [database]
    prefix = "" if database is None else _quoted(database) + "."
    tables = con.execute(
        f"SELECT schema_name, table_name FROM duckdb_tables() WHERE {where} AND NOT internal",
        params,
    ).fetchall()
    for schema, table in tables:
        columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns()"
                f" WHERE {where} AND schema_name = ? AND table_name = ? ORDER BY column_index",
                [*params, schema, table],
            ).fetchall()
        ]
        # hash() needs every value; count(c), min(c) and max(c) do not (DuckDB
        # answers them from the row groups' statistics, unread).
        hashed = ", ".join(f"bit_xor(hash({_quoted(c)}))" for c in columns) or "count(*)"
        con.execute(f"SELECT {hashed} FROM {prefix}{_quoted(schema)}.{_quoted(table)}").fetchall()
    views = con.execute(
        f"SELECT schema_name, view_name FROM duckdb_views() WHERE {where} AND NOT internal",
        params,
    ).fetchall()
    for schema, view in views:
        # A view reads tables already read whole: running it proves it binds
        # and executes, without paying for its whole result.
        con.execute(f"SELECT * FROM {prefix}{_quoted(schema)}.{_quoted(view)} LIMIT 1").fetchall()


def write_with_duckdb(
    con: duckdb.DuckDBPyConnection, temp: Path, version: str = OLDEST_CLIENT
) -> None:
    """Write the connection's database into the new file `temp` with DuckDB
    itself (what the write-ahead log holds included), in the storage format
    of DuckDB `version` (by default the oldest client kqc serves)."""
    (live,) = run(con, "SELECT current_database()")[0]
    target = str(temp).replace("'", "''")
    # Without STORAGE_VERSION a new file would take DuckDB's newest format.
    options = f"READ_WRITE, STORAGE_VERSION '{version}'"
    # A large copy would otherwise draw DuckDB's progress bar on the terminal.
    run(con, "SET enable_progress_bar = false")
    # The live connection is read-only; the new file must not inherit that.
    run(con, f"ATTACH '{target}' AS {_ALIAS} ({options})")
    try:
        run(con, f"COPY FROM DATABASE {_quoted(live)} TO {_ALIAS}")
        run(con, f"CHECKPOINT {_ALIAS}")
    finally:
        run(con, f"DETACH {_ALIAS}")


def first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _unreadable(db: Path, snapshot: Path, detail: str) -> StoreError:
    kept = (
        f"the last good snapshot {snapshot} is kept"
        if snapshot.exists()
        else "no snapshot was written"
    )
    return StoreError(
        f"the live database {db} could not be read ({detail}): {kept};"
        f" restore {db} from a backup or from that snapshot, then run kqc publish again"
    )


def _copy_into(db: Path, temp: Path, snapshot: Path) -> None:
    """Copy the whole database into `temp` while one read-only connection
    holds the live file; it is only read, and released when the block ends."""
    try:
        with connect(db, read_only=True) as con:
            version = storage_version(con)
            readable = opens_in_oldest_client(version)
            if readable and not _wal(db).exists():
                shutil.copyfile(db, temp)
                return
            try:
                write_with_duckdb(con, temp)
            except duckdb.Error as err:
                # Reading or writing? The live file, read whole, tells.
                try:
                    read_every_table(con)
                except duckdb.Error as damage:
                    raise _unreadable(db, snapshot, first_line(damage)) from err
                raise StoreError(
                    f"the snapshot of {db} could not be written ({first_line(err)}):"
                    " check the free space and permissions of its folder,"
                    " then run kqc publish again"
                ) from err
    except NotADatabase as err:  # not even its catalog opens
        raise _unreadable(db, snapshot, err.detail) from err


def _check_copy(db: Path, temp: Path, snapshot: Path) -> None:
    """Open the copy read-only, as a regulator will, and read all of it; a
    copy that does not read back means the live file it came from is damaged."""
    try:
        with duckdb.connect(str(temp), read_only=True) as con:
            con.execute("SET enable_progress_bar = false")  # a long read draws one
            read_every_table(con)
            version = storage_version(con)
    except duckdb.Error as err:
        raise _unreadable(db, snapshot, first_line(err)) from err
    if not opens_in_oldest_client(version):  # DuckDB ignored the format it was asked for
        raise StoreError(
            f"the snapshot of {db} came out in DuckDB's {version} format, which DuckDB"
            f" {OLDEST_CLIENT.lstrip('v')} cannot open: the last good snapshot is kept;"
            " report this with the DuckDB version kqc runs on"
        )


def publish(db: Path) -> Path:
    """Write the read-only snapshot of `db` beside it and return its path."""
    require_database(db)
    snapshot = snapshot_path(db)
    remove_stale_temps(snapshot)
    temp = _temp_path(snapshot)
    try:
        _copy_into(db, temp, snapshot)
        _check_copy(db, temp, snapshot)
        fsync(temp)
        os.chmod(temp, _READ_ONLY)
        os.replace(temp, snapshot)
    except OSError as err:
        _discard(temp)
        raise StoreError(
            f"the snapshot {snapshot} could not be written ({err.strerror or err}):"
            " check that path and the free space of its folder, then run kqc publish again"
        ) from err
    except BaseException:
        _discard(temp)
        raise
    # The rename itself is durable once the folder's entry is on disk.
    with contextlib.suppress(OSError):  # some file systems refuse fsync on a folder
        fsync(snapshot.parent)
    return snapshot


def needs_conversion(db: Path) -> str | None:
    """What `kqc publish` says when the live database `db` is in a storage
    format DuckDB 1.x cannot open (its snapshot then takes the slow way);
    None when the byte copy serves."""
    with connect(db, read_only=True) as con:
        version = storage_version(con)
    return None if opens_in_oldest_client(version) else conversion_note(str(db), version)


def renew_snapshot(db: Path) -> str | None:
    """Publish the snapshot and write the chain heads beside it, after a
    decision was committed (a review, a disposition), so the snapshot never
    reports a decision later than the database does. None when done; else
    why not, in words: the decision stays recorded either way."""
    from kqc.store.chain_heads import write_heads

    try:
        publish(db)
        write_heads(db)
    except Exception as err:  # any failure here leaves the decision standing
        return err.message if isinstance(err, KqcError) else f"{type(err).__name__}: {err}"
    return None
