"""The progress bar `kqc ingest` shows on a terminal while it works: the
phase (reading, storing, judging, publishing), files done of those found, and
the rows read of a file being streamed. It is drawn on the person's stderr
(kqc.process.quiet: fd 2 goes to the log once Prefect is muted) and wiped
when the run ends, so the outcome lines print on a clean terminal. With
--json, or when stderr is not a terminal, nothing is shown at all.

The flow reports through kqc.process.progress; this module only draws.
Rich loads with the first report, not with the command.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kqc.process import progress, quiet

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


def wanted(as_json: bool) -> bool:
    """Shown only to a person: stderr is a terminal and the output is not JSON."""
    if as_json:
        return False
    try:
        return quiet.user_stderr().isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


@contextmanager
def shown_progress(enabled: bool, console: Console | None = None) -> Iterator[None]:
    """Show the run's progress until the block ends, when `enabled`; the bar
    is gone from the terminal when the block is left, however it is left."""
    if not enabled:
        yield
        return
    bar = _Bar(console)
    try:
        with progress.reporting(bar):
            yield
    finally:
        bar.close()


class _Bar:
    """A progress.Reporter drawing one Rich progress bar, started at the
    first report: a run handed to `kqc watch`, which reports nothing here,
    never draws one."""

    def __init__(self, console: Console | None) -> None:
        self._console = console
        self._lock = threading.Lock()  # the store's thread may report rows
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._closed = False

    def phase(self, name: str) -> None:
        self._update(description=name)

    def files(self, done: int, total: int) -> None:
        # A file's rows are shown while it is read, not after.
        self._update(completed=done, total=total, rows="")

    def rows(self, read: int) -> None:
        self._update(rows=f"{read:,} rows read")

    def _update(self, **fields: Any) -> None:
        with self._lock:
            if self._closed:
                return
            if self._progress is None:
                self._start(fields)  # drawn first with what this report says
                return
            assert self._task is not None
            self._progress.update(self._task, **fields)
            self._progress.refresh()

    def _start(self, fields: dict[str, Any]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        # Resolved now, not when the command began: Prefect is muted by now,
        # and fd 2 leads to the log.
        console = self._console or Console(file=quiet.user_stderr())
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[rows]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,  # wiped at the end: the outcomes follow on a clean line
            # Python's own streams are left alone: fd 2 is the log's, and
            # nothing of Prefect's may reach the terminal through the bar.
            redirect_stdout=False,
            redirect_stderr=False,
            refresh_per_second=4,
        )
        self._task = self._progress.add_task("", total=None, rows="")
        self._progress.update(self._task, **fields)
        self._progress.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._progress is not None:
                self._progress.stop()
