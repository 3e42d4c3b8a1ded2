"""One ingest run at a time per database, across processes.

Two `kqc ingest` (or `kqc watch`) processes on the same inbox would otherwise
both list the same files. The run holds an exclusive `flock` on a small file
beside the database for the whole run, from listing the inbox to publishing
the snapshot; a second run waits for it (with the same patience as for the
database itself) and then lists the inbox afresh, finding only what is left.
The kernel releases the lock when the process ends, however it ends, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kqc.errors import KqcError
from kqc.process import quiet

_log = logging.getLogger(__name__)


class RunLocked(KqcError):
    """Another ingest run kept the database for the whole wait (exit 1)."""


def lock_path(db: Path) -> Path:
    """`kqc.duckdb` -> `.kqc.ingest.lock` in the same folder (a dot file:
    listings and the inbox scan leave it alone)."""
    return db.with_name(f".{db.stem}.ingest.lock")


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode("ascii", "replace").strip()
    return f" (pid {text})" if text.isdigit() else ""


@contextmanager
def ingest_run(db: Path, wait: float) -> Iterator[None]:
    """Hold the run lock of `db` for the block; wait up to `wait` seconds for
    another run to finish, then raise RunLocked (nothing was touched)."""
    path = lock_path(db)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        delay = 0.05
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise RunLocked(
                        f"another kqc ingest{holder} kept {db} busy for {wait:g} s:"
                        " the files stay in the inbox; run kqc ingest again when it is done"
                    ) from None
                if not said:
                    line = (
                        f"another kqc ingest{holder} is running on {db}; waiting up to {wait:g} s"
                    )
                    _log.warning("%s", line)
                    print(f"kqc: {line}", file=quiet.user_stderr(), flush=True)
                    said = True
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 1.0)
        # Who holds it, for the message of a run that waits.
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
