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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kqc.core.problems import Problem
from kqc.core.spreadsheet import neutralized

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


def read_complete(path: Path) -> DroppedFile | None:
    """The file's bytes and hash, or None while it is still being written
    (its size or mtime changed while we read it)."""
    before = path.stat()
    data = path.read_bytes()
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(
        data
    ) != after.st_size:
        return None
    return DroppedFile(path, data, hashlib.sha256(data).hexdigest())


def _free_name(folder: Path, name: str, sha256: str) -> Path:
    """`name` in `folder`, or name with a short hash when another file has it."""
    target = folder / name
    if not target.exists():
        return target
    stem, dot, ext = name.partition(".")
    return folder / f"{stem}__{sha256[:12]}{dot}{ext}"


def target_for(folder: Path, name: str, sha256: str) -> Path:
    return _free_name(folder, safe_name(name), sha256)


def safe_name(name: str) -> str:
    """A file name that cannot climb out of its folder or break a listing."""
    cleaned = "".join("_" if (c in "/\\\0" or ord(c) < 32) else c for c in name).strip()
    cleaned = cleaned.lstrip(".") or "unnamed"
    return cleaned[:200]


def move_into(source: Path, target: Path) -> Path:
    """Move `source` to `target` atomically; byte for byte, never overwriting."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)  # fails if target exists: never overwrite
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
