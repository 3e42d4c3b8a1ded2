"""One dropped file to validated rows or problems: read, normalize,
validate. Pure composition, no Prefect, so tests and benchmarks call it
directly and the flow calls it as one task.

`prepare` takes the file's bytes. `prepare_path` takes its path and streams a
large long CSV chunk by chunk in bounded memory (`Streamed`), with the same
rows and problems `prepare` would give; any other file it prepares whole.

What preparing a file gives (`Prepared`) is kqc.pipeline.prepared and the
streamed path for a large file (`Streamed`, `ahead`) kqc.pipeline.prepare_stream;
the rest of kqc imports them from here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
from kqc.core.normalize import Normalized, normalize
from kqc.core.problems import Problem, file_problem, on_sheet, sheet_label
from kqc.core.records import RawTable, SheetTables
from kqc.files import inbox
from kqc.pipeline.prepare_stream import (
    CHUNK_BYTES,
    MAX_PROBLEMS,
    Streamed,
    ahead,
    not_read,
    streamed,
)
from kqc.pipeline.prepared import NO_RESULTS, Prepared, finish
from kqc.readers import is_delimited, read_bytes, stream, too_large
from kqc.schemas.validate import repeated, validate

__all__ = [
    "CHUNK_BYTES",
    "MAX_PROBLEMS",
    "Prepared",
    "Streamed",
    "ahead",
    "finish",
    "prepare",
    "prepare_path",
    "prepare_sheets",
]


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
        problems = [NO_RESULTS]
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
        return Prepared(None, pl.DataFrame(), [not_read(err)])
    if isinstance(found, list):
        return Prepared(None, pl.DataFrame(), found)
    if found is None or cols.guess_kind(found.layout.header) != "results":
        return _whole(name, path, size, fingerprint)
    return streamed(
        found, path, chunk_bytes=chunk_bytes, max_problems=max_problems, taken_with=fingerprint
    )


def _whole(name: str, path: Path, size: int, expected: str | None) -> Prepared:
    # Over the limit, the file is refused by its size without being read.
    if size > limit(MAX_FILE_BYTES):
        return prepare(name, UnreadBytes(size))
    data = path.read_bytes()
    if expected is not None and fingerprint.of(data) != expected:
        raise inbox.FileChanged(path, "changed")
    return prepare(name, data)
