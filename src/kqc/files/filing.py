"""Filing a dropped file away: the bytes that were read put in archive/ or
quarantine/ (moved when the inbox entry is still them, written whole
otherwise, never over another file), the inbox entry taken away only when it
is still the file read, a move a killed run left half done finished, and the
errors report written beside a quarantined file.

Files are moved, never rewritten: what lands in archive/ or quarantine/ is the
dropped file byte for byte. Everything that appears in a folder appears whole
(written beside, then os.replace), so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from kqc.core import fingerprint
from kqc.core.problems import Problem
from kqc.core.spreadsheet import neutralized
from kqc.files.dropped import DroppedFile, FileChanged, Identity, blocks_of, identity_now
from kqc.process import durable, faults

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
    for block in blocks_of(dropped.fd):
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
