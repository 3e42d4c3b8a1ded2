"""What `kqc watch` decides between scans: which dropped files are complete.

A file counts as complete once its size and mtime have been seen unchanged
for the settle time. Each scan runs as a separate Prefect flow run (its own
process), so what was seen is kept in a small JSON file beside the database's
logs; a restarted watch reads it back and takes at once the files it had
already seen settle. The decision itself is a pure function of the
observations and the clock, tested without any file system.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kqc.config.settings import stable_seconds
from kqc.errors import UsageError
from kqc.process import durable

# Five seconds between scans: a dropped file is stored within seconds, and a
# scan of an idle inbox costs one short flow run.
DEFAULT_INTERVAL_SECONDS = 5.0
INTERVAL_ENV = "KQC_WATCH_INTERVAL"


def interval_seconds(given: float | None) -> float:
    """Seconds between scans: --interval, else $KQC_WATCH_INTERVAL, else 5."""
    seconds = given if given is not None else _env_seconds(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS)
    if not seconds >= 1:  # the scheduler's grain; also refuses nan
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


@dataclass(frozen=True)
class Seen:
    """A file as last observed: its size and mtime, and since when (wall
    clock, seconds) they have been observed unchanged."""

    size: int
    mtime_ns: int
    since: float


def observe(
    before: Mapping[str, Seen], now_stats: Mapping[str, tuple[int, int]], now: float
) -> dict[str, Seen]:
    """The observations after a scan that found `now_stats` (path -> size,
    mtime_ns). A file whose size or mtime changed starts its settle time
    again; a file no longer there is forgotten."""
    seen: dict[str, Seen] = {}
    for path, (size, mtime_ns) in now_stats.items():
        last = before.get(path)
        unchanged = last is not None and (last.size, last.mtime_ns) == (size, mtime_ns)
        seen[path] = last if unchanged and last is not None else Seen(size, mtime_ns, now)
    return seen


def settled(seen: Mapping[str, Seen], now: float, settle: float) -> list[str]:
    """The files seen unchanged for `settle` seconds, in path order. The last
    write (mtime) must also be that old: a clock that runs behind the file
    server's cannot make a fresh file look settled, and a file first seen
    just now waits its settle time even when its mtime is old (a copy that
    keeps the original's mtime may still be running)."""
    return sorted(
        path
        for path, s in seen.items()
        if now - s.since >= settle and now - s.mtime_ns / 1e9 >= settle
    )


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


def state_path(logs: Path, inbox: Path) -> Path:
    """Where one watched inbox's observations are kept."""
    return logs / f"watch-{inbox.name or 'inbox'}.json"


def load_seen(path: Path) -> dict[str, Seen]:
    """The observations saved by the last scan; none when there are none or
    the file cannot be read (every file then simply waits its settle time)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {p: Seen(int(v[0]), int(v[1]), float(v[2])) for p, v in raw.items()}
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        return {}


def save_seen(path: Path, seen: Mapping[str, Seen]) -> None:
    """Write the observations whole (beside, then renamed): a watch killed
    mid-write leaves the previous ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({p: [s.size, s.mtime_ns, s.since] for p, s in seen.items()})
    durable.write_atomic(path, data.encode("utf-8"), prefix=".watch-")


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
