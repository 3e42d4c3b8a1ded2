"""Reading a dropped file once it is complete, through one descriptor:
regular files only (a link, a pipe or a device is refused unread), small
files held in memory, large ones hashed as they stream by with the
descriptor kept open, and the identity each was read with, so a file that
changes afterwards is noticed and nothing of it is stored.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kqc.config.input_limits import MAX_FILE_BYTES, STREAM_FROM_BYTES, UnreadBytes, limit
from kqc.core import fingerprint
from kqc.errors import KqcError
from kqc.files.names import printable_name


@dataclass(frozen=True)
class Identity:
    """Which file an inbox entry is, and which version of it: a file replaced,
    appended to or rewritten since it was read no longer has the identity it
    was read with."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def identity_now(path: Path) -> Identity | None:
    """The identity of the entry at `path` now (never following a link), or
    None when nothing is there."""
    try:
        return Identity.of(os.lstat(path))
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Refused:
    """An inbox entry that is not a regular file: never opened for reading,
    left where it is, with the sentence that says why."""

    path: Path
    reason: str


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def refusal(kind: str) -> str:
    # The link's target is never read or quoted: it may name any file on the machine.
    return (
        f"{kind}, not a regular file: kqc reads only files dropped as they are and never"
        " follows a link, so it is left where it is; drop a copy of the file itself"
    )


class FileChanged(KqcError):
    """The file in the inbox is no longer the one that was read: nothing of it
    is stored, and what is there now is read again by the next run."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(
            f"{printable_name(path.name)} {what} while kqc read it: nothing of it was"
            " stored, and the file in the inbox is read again as it now is"
        )


@dataclass(frozen=True)
class DroppedFile:
    """A file as it was read: its bytes (or, too large to hold, an open
    descriptor on the very file that was hashed), their hash and the file's
    identity at that moment. What is parsed, stored and archived is these
    bytes, whatever happens to the inbox entry meanwhile."""

    path: Path
    data: bytes
    sha256: str
    identity: Identity | None = None
    shared: bool = False  # it had other hard links: archived as a copy of its own
    fd: int | None = None  # a large file's descriptor, held until it is filed
    # A large file's BLAKE3 hash, taken in the same reading as its SHA-256:
    # what the reader that parses it again checks its bytes against
    # (kqc.core.fingerprint says why not the SHA-256).
    fingerprint: str | None = None

    @property
    def by_path(self) -> bool:
        """Too large to hold: its bytes were hashed as they streamed by, and a
        reader takes it from `source` (streaming it, or refusing it)."""
        return isinstance(self.data, UnreadBytes)

    @property
    def size(self) -> int:
        """The file's size in bytes, also for a file too large to be read."""
        return self.data.size if isinstance(self.data, UnreadBytes) else len(self.data)

    @property
    def source(self) -> Path:
        """Where a reader opens a file too large to hold: the descriptor that
        was hashed (on Linux, /proc/self/fd/N opens that very file, not
        whatever the inbox name points at now), else its path."""
        if self.fd is not None and _PROC_FD.is_dir():
            return _PROC_FD / str(self.fd)
        return self.path

    def still_as_read(self) -> str | None:
        """What changed since the file was read ("was replaced", "was
        deleted", "changed"), or None when the inbox entry is still it."""
        now = identity_now(self.path)
        if now is None:
            return "was deleted"
        if self.identity is None or now == self.identity:
            if self.fd is not None and Identity.of(os.fstat(self.fd)) != self.identity:
                return "changed"
            return None
        if (now.device, now.inode) != (self.identity.device, self.identity.inode):
            return "was replaced"
        return "changed"

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)


_PROC_FD = Path("/proc/self/fd")
# Opened without following a link and without blocking on a pipe: a FIFO
# dropped in the inbox must not hang the run, a link must not be read.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def read_complete(path: Path) -> DroppedFile | Refused | None:
    """The file's bytes, hash and identity, read through one descriptor; a
    refusal when it is not a regular file (a link, a pipe, a device: never
    opened for reading); None while it is still being written (its size or
    mtime changed while we read it) or when it went away."""
    try:
        seen = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = _not_regular(seen.st_mode)
    if kind is not None:
        return Refused(path, refusal(kind))
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:  # it became a link since the look
            return Refused(path, refusal("a symbolic link"))
        raise
    keep = False
    try:
        before = os.fstat(fd)
        kind = _not_regular(before.st_mode)
        if kind is not None:
            return Refused(path, refusal(kind))
        if (before.st_dev, before.st_ino) != (seen.st_dev, seen.st_ino):
            return None  # replaced between the look and the open: the next run reads it
        if before.st_size > min(STREAM_FROM_BYTES, limit(MAX_FILE_BYTES)):
            dropped = _too_large(path, fd, before)
            keep = dropped is not None
            return dropped
        data = _read_at_most(fd, before.st_size + 1)
        after = os.fstat(fd)
        if Identity.of(before) != Identity.of(after) or len(data) != after.st_size:
            return None
        return DroppedFile(
            path,
            data,
            hashlib.sha256(data).hexdigest(),
            Identity.of(after),
            shared=after.st_nlink > 1,
        )
    finally:
        if not keep:
            os.close(fd)


def _read_at_most(fd: int, most: int) -> bytes:
    parts = []
    left = most
    while left > 0:
        part = os.read(fd, min(left, 1 << 24))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def blocks_of(fd: int) -> Iterator[bytes]:
    """The file's bytes from its start, a MiB at a time, read at an offset
    (pread) so no other reader of the descriptor moves them."""
    offset = 0
    while block := os.pread(fd, 1 << 20, offset):
        offset += len(block)
        yield block


def _too_large(path: Path, fd: int, before: os.stat_result) -> DroppedFile | None:
    """A large file, hashed as it streams by and never held in memory here:
    the descriptor stays open, so a reader streams (or refuses) the very file
    that was hashed, and it is filed from it."""
    digest = hashlib.sha256()
    second = fingerprint.hasher()
    offset = 0
    for block in blocks_of(fd):
        digest.update(block)
        second.update(block)
        offset += len(block)
    after = os.fstat(fd)
    if Identity.of(before) != Identity.of(after) or offset != after.st_size:
        return None
    return DroppedFile(
        path,
        UnreadBytes(after.st_size),
        digest.hexdigest(),
        Identity.of(after),
        shared=after.st_nlink > 1,
        fd=fd,
        fingerprint=second.hexdigest(),
    )


def settled(path: Path, quiet_for: float) -> bool:
    """Whether `path` has not changed for `quiet_for` seconds (waiting out the
    rest of that time when it changed more recently): a writer that pauses
    between appends is not mistaken for a finished one."""
    before = os.lstat(path)
    young = quiet_for - (time.time() - before.st_mtime)
    if young <= 0:
        return True
    time.sleep(young)
    after = os.lstat(path)
    return (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
