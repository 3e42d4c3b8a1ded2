"""A large long CSV prepared chunk by chunk in bounded memory (`Streamed`),
with the same rows and problems preparing it whole would give: each chunk
normalized and validated as it is read, the next one made in a thread while
the caller stores this one (`ahead`), problems capped at MAX_PROBLEMS, repeats
found across the whole file from a hash of each row's key, and the bytes
parsed checked against the hash the file was taken with.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import polars as pl

from kqc.core import fingerprint
from kqc.core.columns import Kind
from kqc.core.fingerprint import Hasher
from kqc.core.normalize import normalize
from kqc.core.notes import notes_start
from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable
from kqc.files import inbox
from kqc.pipeline.prepared import NO_RESULTS
from kqc.readers import stream
from kqc.readers.grid import no_rows_problem
from kqc.schemas.results import ResultsSchema
from kqc.schemas.validate import repeated, validate

# About 300,000 rows of a typical long file: large enough that Polars works
# at full speed, small enough that a chunk's frames stay a few hundred MB.
CHUNK_BYTES = 32 << 20
# A file with more problems than this is listed by its first ones, with a
# count of the rest: the errors file stays readable and memory bounded.
MAX_PROBLEMS = 10_000


@dataclass
class Streamed:
    """A large delimited file prepared chunk by chunk. `chunks` yields the
    validated rows (RESULT_SCHEMA) in file order, while no problem has been
    found; `problems` is complete once `chunks` is exhausted, and then holds
    exactly what `prepare` would give for the whole file (capped at
    MAX_PROBLEMS). The rows yielded must be discarded if it is not empty."""

    kind: Kind
    chunks: Iterator[pl.DataFrame]
    problems: list[Problem]
    rows: int = 0  # rows yielded so far
    # Columns holding values kqc does not read, in header order: complete,
    # as `problems` is, once `chunks` is exhausted.
    unused_columns: tuple[str, ...] = ()


def streamed(
    found: stream.Plan,
    path: Path,
    *,
    chunk_bytes: int,
    max_problems: int,
    taken_with: str | None,
) -> Streamed:
    """The results file `found` planned, prepared as its chunks are taken;
    given the fingerprint it was `taken_with`, a file that changed since
    raises inbox.FileChanged once its chunks are all read."""
    out = Streamed("results", iter(()), [])
    expected = _Expected(path, taken_with)
    chunks = _chunks(found, out, chunk_bytes, _Tally(max_problems), expected)
    out.chunks = ahead(chunks)
    return out


@dataclass(frozen=True)
class _Expected:
    """The hash the bytes being parsed must have: those that were stored are
    those that were hashed, or none of them are."""

    path: Path
    fingerprint: str | None

    def check(self, digest: Hasher | None) -> None:
        if digest is not None and self.fingerprint not in (None, digest.hexdigest()):
            raise inbox.FileChanged(self.path, "changed")


T = TypeVar("T")
_END = object()


def ahead(items: Generator[T, None, None]) -> Iterator[T]:
    """`items` in order, the next one made in a thread while the caller uses
    this one: a streamed file's next chunk is read, normalized and validated
    (Polars and Pandera, which release the GIL for their work) while DuckDB
    stores this one. At most one chunk waits. The generator runs to its end
    before this one ends, so whatever it records at its end (a Streamed's
    problems) is complete when the caller's loop finishes; a caller that stops
    early (a failed insert) stops it and closes it."""
    handoff: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def give(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for item in items:
                if not give((item, None)):
                    return
            give((_END, None))
        except BaseException as err:  # handed to the caller, raised in its thread
            give((_END, err))
        finally:
            items.close()

    maker = threading.Thread(target=make, name="kqc-prepare-ahead", daemon=True)
    maker.start()
    try:
        while True:
            item, err = handoff.get()
            if item is _END:
                if err is not None:
                    raise err
                return
            yield cast(T, item)
    finally:
        stop.set()
        maker.join()


class _Tally:
    """Problems by the stage that found them. As in `prepare`, a file that
    cannot be read row by row (a row wider than the header) is reported for
    that alone, then cells over the length limit, and only a file that reads
    cleanly for its values."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.rows_unread: set[Problem] = set()
        self.long_cells: dict[str, list[Problem]] = {}
        self.checked: set[Problem] = set()
        self.dropped = 0

    @property
    def unreadable(self) -> bool:
        return bool(self.rows_unread or self.long_cells)

    @property
    def any(self) -> bool:
        return self.unreadable or bool(self.checked)

    def add_unreadable(self, found: stream.Unreadable) -> None:
        if not found.long_cells:
            self._add(self.rows_unread, found.problems)
            return
        # `read_bytes` names the first 20 long cells of each column.
        for problem in found.problems:
            kept = self.long_cells.setdefault(problem.column, [])
            if len(kept) < 20:
                kept.append(problem)

    def add_checked(self, problems: list[Problem]) -> None:
        self._add(self.checked, problems)

    def _add(self, kept: set[Problem], problems: list[Problem]) -> None:
        kept.update(problems)
        if len(kept) > 2 * self.most:
            first = sorted(kept)[: self.most]
            self.dropped += len(kept) - len(first)
            kept.clear()
            kept.update(first)

    def final(self) -> list[Problem]:
        if self.rows_unread:
            chosen = self.rows_unread
        elif self.long_cells:
            chosen = {p for column in self.long_cells.values() for p in column}
        else:
            chosen = self.checked
        listed = sorted(chosen)
        dropped = self.dropped + max(0, len(listed) - self.most)
        if dropped:
            listed = [
                Problem(
                    0,
                    "",
                    "",
                    f"{dropped:,} more problems are not listed: fix the ones listed, then"
                    " look again",
                ),
                *listed[: self.most],
            ]
        return listed


_KEY = ResultsSchema.to_schema().unique or []


def _chunks(
    found: stream.Plan, out: Streamed, chunk_bytes: int, tally: _Tally, expected: _Expected
) -> Generator[pl.DataFrame, None, None]:
    digest = fingerprint.hasher() if expected.fingerprint is not None else None
    try:
        yield from _checked_chunks(found, out, chunk_bytes, tally, digest)
    except Exception as err:  # as in read_bytes: a reader bug rejects the file, never stops the run
        out.problems[:] = [not_read(err)]
        return
    expected.check(digest)


def not_read(err: Exception) -> Problem:
    return file_problem(f"the file could not be read ({type(err).__name__}: {err})")


def _checked_chunks(
    found: stream.Plan,
    out: Streamed,
    chunk_bytes: int,
    tally: _Tally,
    digest: Hasher | None = None,
) -> Iterator[pl.DataFrame]:
    records = 0  # rows read under the header
    kept = 0  # rows left after normalizing: none means the file holds no results
    keys: list[pl.Series] = []  # a hash of each row's result key, to find repeats
    read: list[stream.Span] = []  # the chunks whose rows were checked
    headers: dict[str, str] = {}
    # Rows naming no analyte and holding no result, read at the end of a
    # chunk: notes under the table when nothing follows them (left out, as
    # `read_bytes` leaves them out of a whole file), rows to be named in the
    # errors file when results follow (kqc.core.notes).
    held: list[RawTable] = []
    for span, data in stream.spans(found, chunk_bytes, digest):
        table = stream.table(found, span, data)
        if isinstance(table, stream.Unreadable):
            tally.add_unreadable(table)
            continue
        records += table.frame.height
        if tally.unreadable:
            continue  # the file is refused for how it reads: its values do not matter
        start = notes_start(table)
        if start > 0:
            for rows_without_results in held:
                tally.add_checked(_problems_of(rows_without_results))
            held.clear()
        if start < table.frame.height:
            held.append(table.with_frame(table.frame.slice(start)))
        if start == 0:
            continue
        normalized = normalize(table.with_frame(table.frame.head(start)))
        rows, headers = normalized.rows, normalized.headers
        if not set(normalized.unused_columns) <= set(out.unused_columns):
            found_unused = {*out.unused_columns, *normalized.unused_columns}
            out.unused_columns = tuple(h for h in table.headers if h in found_unused)
        # Repeats are checked across the whole file below, once every key is known.
        checked = validate(rows, "results", headers, repeats=False)
        tally.add_checked(normalized.problems + checked)
        kept += rows.height
        keys.append(_key_hashes(rows))
        read.append(span)
        if not tally.any:
            out.rows += rows.height
            yield rows
    if not read and not tally.unreadable:
        # No row of the file names an analyte or holds a result: nothing is
        # left out, as for a whole file, and every row is named.
        for rows_without_results in held:
            tally.add_checked(_problems_of(rows_without_results))
    if not tally.unreadable:
        tally.add_checked(_repeats(found, keys, read, headers))
    if records == 0 and not tally.unreadable:
        tally.add_unreadable(stream.Unreadable([no_rows_problem()], long_cells=False))
    problems = tally.final()
    if not problems and kept == 0:
        problems = [NO_RESULTS]
    out.problems[:] = problems


def _problems_of(table: RawTable) -> list[Problem]:
    """The problems of rows that name no analyte and hold no result: each is
    refused, so they give problems and never rows."""
    normalized = normalize(table)
    return normalized.problems + validate(normalized.rows, "results", normalized.headers)


def _key_hashes(rows: pl.DataFrame) -> pl.Series:
    """A 64-bit hash of each row's result key: 8 bytes a row, so ten million
    rows' keys take 80 MB. Rows that share one are checked exactly below."""
    return rows.select(_KEY).hash_rows(seed=_SEED)


_SEED = 20_261_129


def _repeats(
    found: stream.Plan,
    keys: list[pl.Series],
    read: list[stream.Span],
    headers: dict[str, str],
) -> list[Problem]:
    """The rows whose result key appears more than once in the file, as the
    schema names them: the few rows whose key hashes meet are read again and
    validated together (a hash shared by chance finds no repeat there)."""
    if not keys:
        return []
    hashes = pl.concat(keys)
    # Sorting finds the shared hashes in less memory than a hash table would.
    ordered = hashes.sort()
    shared = ordered.filter(ordered == ordered.shift(1)).unique()
    if shared.is_empty():
        return []
    frames = []
    for span, chunk in zip(read, keys, strict=True):
        positions = chunk.is_in(shared.implode()).arg_true()
        if positions.is_empty():
            continue
        table = stream.table(found, span, stream.read_span(found, span))
        if isinstance(table, stream.Unreadable):  # pragma: no cover - it read before
            continue
        frames.append(normalize(table).rows[positions])
    return repeated(pl.concat(frames), "results", headers)
