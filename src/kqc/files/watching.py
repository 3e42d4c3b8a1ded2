"""What `kqc watch` decides: which dropped files are complete, when to look
again, and the line it prints for each file.

A file counts as complete once its last write (its mtime) is the settle time
old; it is taken at the first sighting at which that holds. A file not yet
settled is looked at again when it will be. The decisions are pure functions
of the observations and the clock, tested without any file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from kqc.config.settings import stable_seconds
from kqc.errors import UsageError

# A full rescan every five seconds, besides the file-system events: the
# fallback for network shares (whose changes raise no event here) and for
# missed events. A rescan of an idle inbox is a folder listing, no flow run.
DEFAULT_INTERVAL_SECONDS = 5.0
INTERVAL_ENV = "KQC_WATCH_INTERVAL"


def interval_seconds(given: float | None) -> float:
    """Seconds between full rescans: --interval, else $KQC_WATCH_INTERVAL, else 5."""
    seconds = given if given is not None else _env_seconds(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS)
    if not seconds >= 1:  # also refuses nan
        raise UsageError(f"--interval {seconds:g} is too short: give at least 1 second")
    return seconds


def _env_seconds(env: str, default: float) -> float:
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise UsageError(
            f"{env}={text!r} is not a number of seconds: set it to e.g. {default:g}, or unset it"
        ) from None


def settle_seconds(given: float | None) -> float:
    """Seconds a file must stay unchanged: --settle, else $KQC_STABLE_SECONDS
    (the same setting `kqc ingest` honours), else 1."""
    seconds = given if given is not None else stable_seconds()
    if not seconds >= 0:
        raise UsageError(f"--settle {seconds:g} is not a number of seconds: give e.g. 2")
    return seconds


def ready(stats: Mapping[str, tuple[int, int]], now: float, settle: float) -> list[str]:
    """The files (path -> size, mtime_ns) whose last write is at least
    `settle` seconds old, in path order: taken on the first sighting at which
    they have settled, with no second look (a file still being written has a
    fresh mtime; one that changes while it is read is caught by the ingest,
    which stores only the bytes it hashed and leaves a changed file in the
    inbox to be read again)."""
    return sorted(path for path, (_, mtime_ns) in stats.items() if now - mtime_ns / 1e9 >= settle)


def next_due(stats: Mapping[str, tuple[int, int]], now: float, settle: float) -> float | None:
    """When the first file not yet settled will be (a wall-clock time), or
    None when every file has settled. A file written in the future by a
    clock ahead of ours is due `settle` seconds from now, then looked at
    again."""
    waiting = [mtime_ns / 1e9 + settle for _, mtime_ns in stats.values()]
    due = [min(when, now + settle) for when in waiting if when > now]
    return min(due) if due else None


def stat_all(paths: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """Size and mtime of each path that still exists (a link's own: never
    followed, as the ingest never follows one)."""
    stats: dict[str, tuple[int, int]] = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        stats[str(path)] = (st.st_size, st.st_mtime_ns)
    return stats


def outcome_line(
    file: str,
    status: str,
    rows: int,
    errors: int,
    reason: str | None,
    unused_columns: list[str] | None = None,
) -> str:
    """The one line the watch prints for a file; an ingested file's columns
    that hold values kqc does not read are named (the lab's text: the caller
    makes it printable, as it does the file name)."""
    if status == "ingested":
        named = ", ".join(f"'{c}'" for c in unused_columns or [])
        return f"{file}: ingested, {rows} rows" + (f" (columns not used: {named})" if named else "")
    if status == "duplicate":
        return f"{file}: already stored (same content), archived, 0 rows"
    if status == "rejected":
        return f"{file}: rejected, quarantined with {errors} problem(s), 0 rows"
    why = reason or "not stored"
    if "Errno 28" in why or "No space left" in why:
        why = f"the disk is full ({why})"
    return f"{file}: left in the inbox, 0 rows, tried again at the next scan: {why}"
