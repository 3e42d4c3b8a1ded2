"""Looking at the inbox: which entries get an outcome now, and which are left
alone for the moment (lock files, hidden files, downloads and copies still
under way), each with the sentence that says why.

Links are never followed: a link to a folder is an entry of its own (refused
unread when it is read), never a folder to walk into.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

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
