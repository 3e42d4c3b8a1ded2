"""How far an ingest run has come, told to whoever shows it.

The flow says which phase it is in (reading, storing, judging, publishing),
how many of the files it found are done, and how many rows of a streamed
file it has read. Nobody listens by default: every call is then one global
lookup and a test for None, so the flow calls it freely. A display (the
terminal's progress bar, kqc.cli.progress) installs a reporter for the
length of one command with `reporting`.

A reporter that fails is dropped and the run goes on: what is shown must
never decide what is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sized
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

_log = logging.getLogger(__name__)

PHASES = ("reading", "storing", "judging", "publishing")


class Reporter(Protocol):
    def phase(self, name: str) -> None:
        """The run entered phase `name` (one of PHASES)."""

    def files(self, done: int, total: int) -> None:
        """`done` of the `total` files found have their outcome."""

    def rows(self, read: int) -> None:
        """`read` rows of the file being streamed have been read so far."""


_reporter: Reporter | None = None
_phase: str | None = None  # the phase last told: a phase entered again is not told twice


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Tell `reporter` how the run goes until the block ends; the reporter
    installed before (if any) is put back after."""
    global _reporter, _phase
    previous = _reporter, _phase
    _reporter, _phase = reporter, None
    try:
        yield reporter
    finally:
        _reporter, _phase = previous


def active() -> bool:
    """Someone listens: worth preparing what only a reporter would read."""
    return _reporter is not None


def phase(name: str) -> None:
    global _phase
    if _reporter is not None and name != _phase:
        _phase = name
        _tell("phase", name)


def files(done: int, total: int) -> None:
    if _reporter is not None:
        _tell("files", done, total)


def rows(read: int) -> None:
    if _reporter is not None:
        _tell("rows", read)


def _tell(method: str, *args: object) -> None:
    global _reporter
    reporter = _reporter
    try:
        getattr(reporter, method)(*args)
    except Exception:
        _log.exception("the progress display failed; the run goes on without it")
        _reporter = None


S = TypeVar("S", bound=Sized)


class CountingRows(Generic[S]):
    """`chunks` as they are, each one's rows added to the rows read (`rows`).
    `close` closes `chunks`, started or not: a streamed file's reader stops
    the thread preparing its next chunk when the store closes what it stops
    reading."""

    def __init__(self, chunks: Iterator[S]) -> None:
        self._chunks = chunks
        self._read = 0
        rows(0)

    def __iter__(self) -> CountingRows[S]:
        return self

    def __next__(self) -> S:
        chunk = next(self._chunks)
        self._read += len(chunk)
        rows(self._read)
        return chunk

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
