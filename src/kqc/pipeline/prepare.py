"""One dropped file to validated rows or problems: read, normalize,
validate. Pure composition, no Prefect, so tests and benchmarks call it
directly and the flow calls it as one task.

`prepare` takes the file's bytes. `prepare_path` takes its path and streams a
large long CSV chunk by chunk in bounded memory (`Streamed`), with the same
rows and problems `prepare` would give; any other file it prepares whole."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar, cast

import polars as pl

from kqc.config.input_limits import (
    MAX_FILE_BYTES,
    MAX_STREAMED_FILE_BYTES,
    STREAM_FROM_BYTES,
    UnreadBytes,
    limit,
)
from kqc.core import columns as cols
from kqc.core import fingerprint
from kqc.core.columns import Kind
from kqc.core.fingerprint import Hasher
from kqc.core.normalize import Normalized, normalize
from kqc.core.notes import notes_start
from kqc.core.problems import Problem, file_problem, on_sheet, sheet_label
from kqc.core.records import RawTable, SheetTables
from kqc.files import inbox
from kqc.readers import is_delimited, read_bytes, stream, too_large
from kqc.readers.grid import no_rows_problem
from kqc.schemas.results import ResultsSchema
from kqc.schemas.validate import repeated, validate


@dataclass(frozen=True)
class Prepared:
    kind: Kind | None
    rows: pl.DataFrame
    problems: list[Problem]
    # Columns holding values kqc does not read: named in the file's outcome.
    unused_columns: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.problems and self.kind is not None


_NO_RESULTS = Problem(0, "", "", "the file holds no results: every row was empty or not tested")


def prepare(name: str, data: bytes) -> Prepared:
    table = read_bytes(name, data)
    if isinstance(table, list):
        return Prepared(None, pl.DataFrame(), sorted(table))
    if isinstance(table, SheetTables):
        return prepare_sheets(table)
    normalized = normalize(table)
    if normalized.kind is None:
        return Prepared(None, pl.DataFrame(), _naming_sheet(normalized.problems, table.sheet))
    schema_problems = validate(
        normalized.rows, normalized.kind, normalized.headers, normalized.cell_columns
    )
    prepared = finish(normalized, schema_problems)
    return replace(prepared, problems=_naming_sheet(prepared.problems, table.sheet))


def _naming_sheet(problems: list[Problem], sheet: str | None) -> list[Problem]:
    return on_sheet(problems, sheet)


def prepare_sheets(book: SheetTables) -> Prepared:
    """A workbook's tables, one a sheet, prepared as the one file they are:
    each normalized and validated with its own header, metadata and row
    numbers, every problem naming its sheet; the rows of all of them
    together, in sheet order. A result repeated on two sheets is a repeat
    within the file, as on one sheet; sheets of two kinds (results and a
    batch register) are refused, since a file is stored as one kind."""
    parts = [normalize(table) for table in book.tables]
    problems: list[Problem] = []
    for table, part in zip(book.tables, parts, strict=True):
        found = part.problems
        if part.kind is None:
            found = [_not_results_sheet(p) for p in found]
        else:
            found = found + validate(
                part.rows, part.kind, part.headers, part.cell_columns, repeats=False
            )
        problems += on_sheet(found, table.sheet, hidden=table.hidden_sheet)
    read = [(t, p) for t, p in zip(book.tables, parts, strict=True) if p.kind is not None]
    kinds = {part.kind for _, part in read}
    if len(kinds) > 1:
        problems.append(_two_kinds(read))
        return Prepared(None, pl.DataFrame(), sorted(problems))
    if not read:
        return Prepared(None, pl.DataFrame(), sorted(problems))
    kind = read[0][1].kind
    assert kind is not None
    problems += _repeated_across(read, kind)
    rows = pl.concat([part.rows for _, part in read], how="vertical")
    if not problems and rows.height == 0:
        problems = [_NO_RESULTS]
    unused = tuple(
        f"{column} ({sheet_label(table.sheet or '', hidden=table.hidden_sheet)})"
        for table, part in read
        for column in part.unused_columns
    )
    return Prepared(kind, rows, sorted(set(problems)), unused)


def _not_results_sheet(problem: Problem) -> Problem:
    """A sheet whose columns kqc does not know may hold no results at all (a
    calculation, a list): the lab may take it out rather than rename them."""
    return replace(
        problem,
        problem=f"{problem.problem}; if the sheet holds no results, delete it from the"
        " workbook and drop the file again",
    )


def _two_kinds(read: list[tuple[RawTable, Normalized]]) -> Problem:
    def sheets(kind: Kind) -> str:
        return ", ".join(
            sheet_label(t.sheet or "", hidden=t.hidden_sheet) for t, p in read if p.kind == kind
        )

    return file_problem(
        f"the workbook holds results ({sheets('results')}) and a batch register"
        f" ({sheets('register')}): a file is stored as one or the other; save the register"
        " as a workbook (or CSV) of its own, take it out of this one, and drop both files",
        column="(sheet)",
    )


# Rows of the k-th sheet are numbered (k + 1) * _SHEET_TAG + row while the
# sheets are checked together for repeats (a sheet has far fewer rows).
_SHEET_TAG = 1 << 32


def _repeated_across(read: list[tuple[RawTable, Normalized]], kind: Kind) -> list[Problem]:
    """Results: the rows whose key appears more than once among all the
    sheets' rows (on one sheet or on two), each named by its sheet and row.
    A register: the batches registered on more than one sheet (a batch
    registered twice on one sheet is the schema's to name)."""
    if kind == "register":
        return _registered_on_two_sheets(read)
    tagged = pl.concat(
        [
            part.rows.with_columns(pl.col("source_row") + (k + 1) * _SHEET_TAG)
            for k, (_, part) in enumerate(read)
        ],
        how="vertical",
    )
    found = []
    for p in repeated(tagged, kind, read[0][1].headers):
        table = read[p.row // _SHEET_TAG - 1][0]
        at_row = replace(p, row=p.row % _SHEET_TAG)
        found += on_sheet([at_row], table.sheet, hidden=table.hidden_sheet)
    return found


def _registered_on_two_sheets(read: list[tuple[RawTable, Normalized]]) -> list[Problem]:
    rows = pl.concat(
        [
            part.rows.select("source_row", "batch_id").with_columns(pl.lit(k).alias("sheet"))
            for k, (_, part) in enumerate(read)
        ],
        how="vertical",
    )
    twice = rows.filter(pl.col("sheet").n_unique().over("batch_id") > 1)
    found = []
    for row, batch, k in twice.iter_rows():
        table, part = read[k]
        problem = Problem(
            row,
            part.headers.get("batch_id", "batch_id"),
            batch,
            "the batch is registered on more than one sheet of the workbook: keep one row for it",
        )
        found += on_sheet([problem], table.sheet, hidden=table.hidden_sheet)
    return found


def finish(normalized: Normalized, schema_problems: list[Problem]) -> Prepared:
    """A normalized file and its schema's problems, as one outcome."""
    problems = sorted(set(normalized.problems) | set(schema_problems))
    if not problems and normalized.rows.height == 0:
        problems = [_NO_RESULTS]
    return Prepared(normalized.kind, normalized.rows, problems, normalized.unused_columns)


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


def prepare_path(
    name: str,
    path: Path,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    stream_from: int = STREAM_FROM_BYTES,
    max_problems: int = MAX_PROBLEMS,
    fingerprint: str | None = None,
) -> Prepared | Streamed:
    """`prepare` for a file on disk: a large long CSV is streamed in bounded
    memory; everything else (small files, XLSX, JSON, wide files, registers,
    UTF-16, a quoted cell spanning lines) is read whole, as before. Given the
    `fingerprint` the file was taken with (kqc.core.fingerprint), the bytes
    parsed are hashed as they are read: a file that changed since raises
    inbox.FileChanged (from the streamed chunks, once they are all read), so
    its rows are never stored."""
    size = path.stat().st_size
    if size < stream_from or size <= 0:
        return _whole(name, path, size, fingerprint)
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not is_delimited(name, head):
        return _whole(name, path, size, fingerprint)
    if size > limit(MAX_STREAMED_FILE_BYTES):
        return Prepared(None, pl.DataFrame(), [too_large(size, MAX_STREAMED_FILE_BYTES)])
    try:
        found = stream.plan(path)
    except Exception as err:  # as in read_bytes: a reader bug rejects the file, never stops the run
        return Prepared(None, pl.DataFrame(), [_not_read(err)])
    if isinstance(found, list):
        return Prepared(None, pl.DataFrame(), found)
    if found is None or cols.guess_kind(found.layout.header) != "results":
        return _whole(name, path, size, fingerprint)
    streamed = Streamed("results", iter(()), [])
    expected = _Expected(path, fingerprint)
    chunks = _chunks(found, streamed, chunk_bytes, _Tally(max_problems), expected)
    streamed.chunks = ahead(chunks)
    return streamed


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


def _whole(name: str, path: Path, size: int, expected: str | None) -> Prepared:
    # Over the limit, the file is refused by its size without being read.
    if size > limit(MAX_FILE_BYTES):
        return prepare(name, UnreadBytes(size))
    data = path.read_bytes()
    if expected is not None and fingerprint.of(data) != expected:
        raise inbox.FileChanged(path, "changed")
    return prepare(name, data)


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
        out.problems[:] = [_not_read(err)]
        return
    expected.check(digest)


def _not_read(err: Exception) -> Problem:
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
        problems = [_NO_RESULTS]
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
