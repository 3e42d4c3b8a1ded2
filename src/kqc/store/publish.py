"""The snapshot regulators open: a read-only copy of the database beside it,
`<stem>.snapshot.duckdb` next to `<stem>.duckdb`, replaced atomically.

The live file is locked while the pipeline writes; the snapshot never is. It
is built in a temporary file in the same folder, flushed to disk, made
read-only and renamed over the previous snapshot in one step. The build is a
byte copy of the live file taken while a read-only connection holds it (no
writer can change it meanwhile): 0.3 s for a 350 MB database, where DuckDB's
`COPY FROM DATABASE` takes 10-15 s. Only when the live file has a write-ahead
log (a writer died before its checkpoint) is the slow copy used, because the
file's bytes alone would miss what the log holds.

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

from kqc.store.connection import connect, run
from kqc.store.errors import StoreError
from kqc.store.queries import require_database

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


def _pid_alive(pid: int) -> bool:
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
        if _pid_alive(int(pid_text)):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


def _discard(temp: Path) -> None:
    for leftover in (temp, temp.with_name(temp.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wal(db: Path) -> Path:
    return db.with_name(db.name + ".wal")


def _copy_into(db: Path, temp: Path) -> None:
    """Copy the whole database into `temp` while one read-only connection
    holds the live file; it is only read, and released when the block ends."""
    with connect(db, read_only=True) as con:
        if not _wal(db).exists():
            shutil.copyfile(db, temp)
            return
        (live,) = run(con, "SELECT current_database()")[0]
        target = str(temp).replace("'", "''")
        try:
            # A large copy would otherwise draw DuckDB's progress bar on the terminal.
            run(con, "SET enable_progress_bar = false")
            # The live connection is read-only; the new file must not inherit that.
            run(con, f"ATTACH '{target}' AS {_ALIAS} (READ_WRITE)")
            run(con, f'COPY FROM DATABASE "{live}" TO {_ALIAS}')
            run(con, f"CHECKPOINT {_ALIAS}")
            run(con, f"DETACH {_ALIAS}")
        except duckdb.Error as err:
            raise StoreError(
                f"the snapshot of {db} could not be written ({str(err).splitlines()[0]}):"
                " check the free space and permissions of its folder, then run kqc publish again"
            ) from err


def publish(db: Path) -> Path:
    """Write the read-only snapshot of `db` beside it and return its path."""
    require_database(db)
    snapshot = snapshot_path(db)
    remove_stale_temps(snapshot)
    temp = _temp_path(snapshot)
    try:
        _copy_into(db, temp)
        _fsync(temp)
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
        _fsync(snapshot.parent)
    return snapshot
