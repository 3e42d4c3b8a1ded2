"""The file side of ingestion: finding dropped files, reading them only once
they are complete, and moving them atomically to archive/ or quarantine/.

Files are moved, never rewritten: what lands in archive/ or quarantine/ is the
dropped file byte for byte. Everything that appears in a folder appears whole
(written beside, then os.replace), so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fnmatch
import hashlib
import io
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kqc.config.input_limits import MAX_FILE_BYTES, STREAM_FROM_BYTES, UnreadBytes, limit
from kqc.core import fingerprint
from kqc.core.problems import Problem
from kqc.core.spreadsheet import neutralized
from kqc.errors import KqcError
from kqc.process import durable, faults

# Left alone until complete: Excel and LibreOffice lock files, hidden files,
# downloads and copies in progress. A file named like kqc's own errors report
# is no exception: kqc never writes into the inbox, so such a file was dropped
# and gets an outcome like any other.
_TEMPORARY = (
    ("~$*", "an Excel lock file: the workbook is open in Excel"),
    (".~lock.*#", "a LibreOffice lock file: the workbook is open in LibreOffice"),
    (".*", "a hidden file (its name starts with a dot): rename it without the dot to have it read"),
    ("*.part", "a download or copy still under way (.part)"),
    ("*.tmp", "a temporary file (.tmp)"),
    ("*.crdownload", "a download still under way (.crdownload)"),
    ("*.partial", "a download or copy still under way (.partial)"),
)


def temporary_reason(path: Path) -> str | None:
    """Why kqc leaves this file alone for now, or None when it is to be read."""
    for pattern, reason in _TEMPORARY:
        if fnmatch.fnmatch(path.name, pattern):
            return reason
    return None


@dataclass(frozen=True)
class LeftAlone:
    """An inbox entry kqc does not read now, and the sentence that says why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Survey:
    """What a look at the inbox found: the entries that each get an outcome
    (regular files, and links, pipes or devices, which are refused unread),
    and the ones left alone for now with their reasons."""

    entries: list[Path]
    left: list[LeftAlone]


def survey(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> Survey:
    """Entries to ingest under `paths` (files or folders, folders recursively,
    links never followed), in a stable order, without `exclude`; temporary
    and hidden entries are listed apart with the reason they are left."""
    excluded = {p.resolve() for p in exclude}
    found: dict[Path, None] = {}
    left: list[LeftAlone] = []

    def consider(candidate: Path) -> None:
        reason = temporary_reason(candidate)
        if reason is None:
            found[candidate] = None
        else:
            left.append(LeftAlone(candidate, reason))

    for path in paths:
        if not _is_real_folder(path):
            consider(path)
            continue
        for root, dirs, files in os.walk(path):
            root_path = Path(root)
            kept = []
            for d in sorted(dirs):
                sub = root_path / d
                if sub.resolve() in excluded:
                    continue
                if os.path.islink(sub):  # os.walk lists a link to a folder among the folders
                    found[sub] = None
                elif d.startswith("."):
                    left.append(LeftAlone(sub, "a hidden folder: its files are not read"))
                else:
                    kept.append(d)
            dirs[:] = kept
            for name in sorted(files):
                consider(root_path / name)
    return Survey(list(found), left)


def discover(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> list[Path]:
    """The entries `survey` finds to ingest."""
    return survey(paths, exclude=exclude).entries


def _is_real_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


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


def _blocks(fd: int) -> Iterator[bytes]:
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
    for block in _blocks(fd):
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


# A folder entry holds at most 255 bytes (NAME_MAX on Linux and macOS). A
# stored name leaves room for the `__<hash>-<n>` that tells files of one name
# apart and for the `.errors.csv` beside a quarantined file.
_NAME_BYTES = 255 - len("__") - 12 - len("-999") - len(".errors.csv")
_KEPT_SUFFIX = 16  # an extension longer than this is not one worth keeping


def printable_name(name: str) -> str:
    """The name as dropped, every character shown: bytes that are not UTF-8
    as \\xff, control and invisible characters as \\n, \\x1b, \\u009b or
    \\u202e, a backslash as two. Faithful (the original bytes can be read
    back from it) and safe to store in the database, print and put in JSON."""
    shown = []
    for char in name:
        if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
            shown.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char == "\\":
            shown.append("\\\\")
        elif char.isprintable():
            shown.append(char)
        elif ord(char) < 0x80:  # \n, \t, \x1b, \x7f
            shown.append(char.encode("unicode_escape").decode("ascii"))
        else:  # \u202e; never \x, which stands for a byte that was not UTF-8
            shown.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    return "".join(shown)


def safe_name(name: str) -> str:
    """A file name that cannot climb out of its folder, hide itself, break a
    listing or a terminal, or exceed what a folder entry holds."""
    cleaned = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in name).strip()
    cleaned = cleaned.lstrip(".").strip() or "unnamed"
    if len(cleaned.encode("utf-8")) <= _NAME_BYTES:
        return cleaned
    stem, dot, ext = cleaned.rpartition(".")
    if not dot or not stem or len(ext) > _KEPT_SUFFIX:
        stem, dot, ext = cleaned, "", ""
    room = _NAME_BYTES - len(f"{dot}{ext}".encode())
    shortened = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return f"{shortened}{dot}{ext}"


def _free_name(folder: Path, name: str, sha256: str, taken: set[Path]) -> Path:
    """`name` in `folder`, or name with a short hash when another file has it
    (and a counter when the same content was dropped under that name before)."""
    stem, dot, ext = name.partition(".")
    candidates = [name, f"{stem}__{sha256[:12]}{dot}{ext}"]
    candidates += [f"{stem}__{sha256[:12]}-{n}{dot}{ext}" for n in range(2, 1000)]
    for candidate in candidates:
        target = folder / candidate
        if target not in taken and not target.exists():
            return target
    raise FileExistsError(f"{folder / name} and 998 variants of it exist already")


def target_for(folder: Path, name: str, sha256: str, taken: set[Path] | None = None) -> Path:
    """A free place for the file in `folder`, avoiding `taken` (places
    promised to other files of the same run but not yet filled)."""
    return _free_name(folder, safe_name(name), sha256, taken or set())


_NO_LINKS = (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK)


def file_into(dropped: DroppedFile, target: Path) -> Path:
    """Put the bytes that were read at `target`, never overwriting, and take
    the inbox entry away when it still is them. The entry is moved (a hard
    link, then the unlink) when it is still the very file that was read and
    has no other name; otherwise the bytes that were read are written there
    (from memory, or from the descriptor that was hashed), and an entry that
    changed meanwhile stays in the inbox, to be read again as it is now."""
    target.parent.mkdir(parents=True, exist_ok=True)
    unchanged = dropped.still_as_read() is None
    if unchanged and _same_file(dropped.path, target):  # linked by a run killed before the unlink
        dropped.path.unlink()
        return _kept_alone(dropped, target)
    if unchanged and not dropped.shared and _linked(dropped, target):
        faults.point("mid_move")
        if identity_now(dropped.path) == dropped.identity:
            dropped.path.unlink()
        return _kept_alone(dropped, target)
    _write_new(target, _bytes_read(dropped))
    if unchanged and identity_now(dropped.path) == dropped.identity:
        # The same file, only shared with another name: archived as a copy of
        # its own, so a write through the other name cannot change it.
        dropped.path.unlink()
    return target


def _linked(dropped: DroppedFile, target: Path) -> bool:
    """Hard-link the inbox entry at `target`; False (and nothing left at
    `target`) when it cannot be linked or is no longer the file read."""
    try:
        os.link(dropped.path, target, follow_symlinks=False)  # fails if target exists
    except FileExistsError:
        raise
    except FileNotFoundError:
        return False
    except OSError as err:
        if err.errno not in _NO_LINKS:
            raise
        return False
    if Identity.of(os.lstat(target)) != dropped.identity:
        target.unlink()  # another file took the inbox name between the look and the link
        return False
    return True


def _kept_alone(dropped: DroppedFile, target: Path) -> Path:
    """The archived file has no other name: one linked to it since it was
    read is cut off by giving the archive a copy of its own."""
    if os.lstat(target).st_nlink > 1:
        copy = _write_temp(target.parent, _bytes_read(dropped))
        os.replace(copy, target)
    return target


def _bytes_read(dropped: DroppedFile) -> Iterable[bytes]:
    """The bytes that were hashed: from memory, or again from the very file
    through its descriptor, checked against the hash as they go by."""
    if not dropped.by_path:
        yield dropped.data
        return
    if dropped.fd is None:  # pragma: no cover - a large file always keeps its descriptor
        raise FileChanged(dropped.path, "could not be read again")
    digest = fingerprint.hasher() if dropped.fingerprint else hashlib.sha256()
    for block in _blocks(dropped.fd):
        digest.update(block)
        yield block
    if digest.hexdigest() not in (dropped.fingerprint, dropped.sha256):
        raise FileChanged(dropped.path, "changed after it was stored")


def _write_temp(folder: Path, blocks: Iterable[bytes]) -> str:
    return durable.temp_copy(folder, blocks, prefix=".incoming-")


def _write_new(target: Path, blocks: Iterable[bytes]) -> None:
    """Write `target` whole (beside it, then into place), never over a file."""
    tmp = _write_temp(target.parent, blocks)
    try:
        os.link(tmp, target)  # fails if target exists: never overwrite
    except FileExistsError:
        os.unlink(tmp)
        raise
    except OSError as err:
        if err.errno not in _NO_LINKS:
            os.unlink(tmp)
            raise
        os.replace(tmp, target)  # no hard links here: the name was free a moment ago
        return
    os.unlink(tmp)


def write_atomic(target: Path, data: bytes) -> None:
    durable.write_atomic(target, data, prefix=".incoming-")


def errors_csv(problems: list[Problem]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["row", "column", "value", "problem"])
    for p in problems:
        # A technician opens errors.csv in a spreadsheet: a lab's cell must
        # not run as a formula there.
        writer.writerow([p.row, neutralized(p.column), neutralized(p.value), p.problem])
    return buffer.getvalue().encode("utf-8-sig")


def errors_path(quarantined: Path) -> Path:
    return quarantined.with_name(quarantined.name + ".errors.csv")


def _same_file(source: Path, target: Path) -> bool:
    try:
        return os.path.samefile(source, target)
    except OSError:
        return False


def linked_into(source: Path, folder: Path) -> Path | None:
    """The entry of `folder` that already is `source`: a run killed between
    the hard link and the unlink of move_into left the file in both places,
    and the rerun finishes that move instead of filing a second copy. Only a
    file with more than one link is looked for, so a normal run never scans."""
    try:
        st = os.lstat(source)
        if st.st_nlink < 2 or not stat.S_ISREG(st.st_mode) or not folder.is_dir():
            return None
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.inode() == st.st_ino and entry.stat().st_dev == st.st_dev:
                    return Path(entry.path)
    except FileNotFoundError:
        return None
    return None


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
