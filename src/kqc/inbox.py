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
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kqc import faults
from kqc.core.problems import Problem
from kqc.core.spreadsheet import neutralized
from kqc.limits_input import MAX_FILE_BYTES, STREAM_FROM_BYTES, UnreadBytes, limit

# Left alone until complete: Excel lock files, hidden files, downloads in
# progress, and our own errors reports.
_TEMPORARY = ("~$*", ".*", "*.part", "*.tmp", "*.crdownload", "*.partial", "*.errors.csv")


def is_temporary(path: Path) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in _TEMPORARY)


def discover(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> list[Path]:
    """Files to ingest under `paths` (files or folders, folders recursively),
    in a stable order, without temporary files, hidden folders or `exclude`."""
    excluded = {p.resolve() for p in exclude}
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_file():
            if not is_temporary(path):
                found[path] = None
            continue
        for root, dirs, files in os.walk(path):
            root_path = Path(root)
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".") and (root_path / d).resolve() not in excluded
            )
            for name in sorted(files):
                candidate = root_path / name
                if not is_temporary(candidate):
                    found[candidate] = None
    return list(found)


@dataclass(frozen=True)
class DroppedFile:
    path: Path
    data: bytes
    sha256: str

    @property
    def by_path(self) -> bool:
        """Too large to hold: its bytes were hashed as they streamed by, and a
        reader takes it from its path (streaming it, or refusing it)."""
        return isinstance(self.data, UnreadBytes)

    @property
    def size(self) -> int:
        """The file's size in bytes, also for a file too large to be read."""
        return self.data.size if isinstance(self.data, UnreadBytes) else len(self.data)


def read_complete(path: Path) -> DroppedFile | None:
    """The file's bytes and hash, or None while it is still being written
    (its size or mtime changed while we read it)."""
    before = path.stat()
    if before.st_size > min(STREAM_FROM_BYTES, limit(MAX_FILE_BYTES)):
        return _too_large(path, before)
    data = path.read_bytes()
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(
        data
    ) != after.st_size:
        return None
    return DroppedFile(path, data, hashlib.sha256(data).hexdigest())


def _too_large(path: Path, before: os.stat_result) -> DroppedFile | None:
    """A large file, hashed as it streams by and never held in memory here:
    a reader streams it from its path, or refuses it when it is over the
    limit, and it is quarantined like any rejection."""
    with path.open("rb") as handle:
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        return None
    return DroppedFile(path, UnreadBytes(after.st_size), sha256)


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


def move_into(source: Path, target: Path) -> Path:
    """Move `source` to `target` atomically; byte for byte, never overwriting."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if _same_file(source, target):  # linked by a run killed before the unlink
        source.unlink()
        return target
    try:
        os.link(source, target)  # fails if target exists: never overwrite
        faults.point("mid_move")
        source.unlink()
        return target
    except FileExistsError:
        raise
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
            raise
    # Another file system, or no hard links: copy beside the target, then rename.
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".incoming-", delete=False) as tmp:
        with source.open("rb") as src:
            shutil.copyfileobj(src, tmp)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, target)
    source.unlink()
    return target


def write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
        st = source.stat()
        if st.st_nlink < 2 or not folder.is_dir():
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
    before = path.stat()
    young = quiet_for - (time.time() - before.st_mtime)
    if young <= 0:
        return True
    time.sleep(young)
    after = path.stat()
    return (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
