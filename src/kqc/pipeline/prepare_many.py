"""Many small files prepared at once, with exactly the outcome `prepare`
gives each of them.

Normalizing and validating cost about the same for 50 rows as for 50,000:
most of the time is a fixed number of Polars queries per call. So the files
of one layout (the same header, metadata block and decimal mark: a lab's
nightly export) are normalized as one table, every row tagged with its file,
and split again; normalizing works row by row, so each file gets the rows
and problems it would get alone (a problem about the header is the same for
every file of the layout). Then the rows of every results file that read
cleanly are validated together, once; a file whose
rows fail there (or that a failure cannot be placed in) is validated again
on its own, which gives its problems exactly as `prepare` would. A key
repeated across two files fails the shared check but not the file's own, as
it should: a later file re-reporting a result is an amendment, not an error.
A workbook of several sheets is prepared on its own (`prepare_sheets`): its
sheets' layouts are its own, and it is one file however many tables it holds.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

import pandera.polars as pa
import polars as pl

from kqc.core import columns as cols
from kqc.core.normalize import Normalized, normalize, unused_columns
from kqc.core.problems import Problem
from kqc.core.records import RawTable, SheetTables
from kqc.pipeline.prepare import Prepared, finish, prepare_sheets
from kqc.readers import read_bytes
from kqc.schemas.results import ResultsSchema
from kqc.schemas.validate import validate


def prepare_many(files: list[tuple[str, bytes]]) -> list[Prepared]:
    """`[prepare(name, data) for name, data in files]`, validated together."""
    read = _normalized([read_bytes(name, data) for name, data in files])
    screened = [i for i, r in enumerate(read) if isinstance(r, Normalized) and r.kind == "results"]
    failing = _failing([read[i].rows for i in screened])  # type: ignore[union-attr]
    outcome: list[Prepared] = []
    for i, item in enumerate(read):
        if isinstance(item, Prepared):
            outcome.append(item)
            continue
        checked_together = i in screened and screened.index(i) not in failing
        outcome.append(finish(item, [] if checked_together else _own_problems(item)))
    return outcome


# Row numbers of the k-th file of a layout are tagged (k + 1) * _TAG + row while its
# rows are normalized with the others' (a sheet has far fewer rows than this).
_TAG = 1 << 32


def _normalized(
    tables: list[RawTable | SheetTables | list[Problem]],
) -> list[Prepared | Normalized]:
    done: dict[int, Normalized] = {}
    layouts: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, table in enumerate(tables):
        if isinstance(table, RawTable):
            if cols.guess_kind(table.headers) == "results":
                layouts[_layout(table)].append(i)
            else:
                done[i] = normalize(table)
    for members in layouts.values():
        group = [tables[i] for i in members]
        done.update(zip(members, _normalize_together(group), strict=True))  # type: ignore[arg-type]
    read: list[Prepared | Normalized] = []
    for i, table in enumerate(tables):
        if isinstance(table, list):
            read.append(Prepared(None, pl.DataFrame(), sorted(table)))
        elif isinstance(table, SheetTables):
            read.append(prepare_sheets(table))
        elif done[i].kind is None:
            read.append(Prepared(None, pl.DataFrame(), done[i].problems))
        else:
            read.append(done[i])
    return read


def _layout(table: RawTable) -> tuple[object, ...]:
    return (
        tuple(table.frame.columns),
        tuple(sorted(table.metadata.items())),
        table.decimal_comma,
        table.header_row,
    )


def _normalize_together(tables: list[RawTable]) -> list[Normalized]:
    if len(tables) == 1:
        return [normalize(tables[0])]
    first = tables[0]
    tagged = pl.concat(
        [
            t.frame.with_columns(pl.col("source_row").cast(pl.Int64) + (k + 1) * _TAG)
            for k, t in enumerate(tables)
        ],
        how="vertical",
    )
    together = normalize(first.with_frame(tagged))
    rows = together.rows.with_columns(
        (pl.col("source_row") // _TAG - 1).alias("_file"), pl.col("source_row") % _TAG
    )
    by_file = {
        k: part.drop("_file")
        for (k,), part in rows.partition_by("_file", as_dict=True, maintain_order=True).items()
    }
    problems: dict[int, list[Problem]] = defaultdict(list)
    shared: list[Problem] = []
    for p in together.problems:
        if p.row >= _TAG:
            problems[p.row // _TAG - 1].append(Problem(p.row % _TAG, p.column, p.value, p.problem))
        else:
            shared.append(p)  # about the header: every file of the layout has it
    empty = together.rows.clear()
    return [
        Normalized(
            together.kind,
            by_file.get(k, empty),
            sorted(shared + problems[k]),
            together.headers,
            None,
            unused_columns(tables[k], "results"),  # each file's own cells
        )
        for k in range(len(tables))
    ]


def _own_problems(item: Normalized) -> list[Problem]:
    assert item.kind is not None
    return validate(item.rows, item.kind, item.headers, item.cell_columns)


def _failing(frames: list[pl.DataFrame]) -> set[int]:
    """Positions in `frames` of the files with a row failing the schema when
    all are validated together; every file when a failure names no row."""
    if not frames:
        return set()
    if len(frames) == 1:
        return {0}  # nothing to share: validate it on its own
    starts = []
    total = 0
    for frame in frames:
        starts.append(total)
        total += frame.height
    try:
        ResultsSchema.validate(pl.concat(frames, how="vertical"), lazy=True)
    except pa.errors.SchemaErrors as errors:
        indexes = errors.failure_cases.get_column("index").to_list()
        if any(index is None for index in indexes):
            return set(range(len(frames)))
        return {bisect.bisect_right(starts, index) - 1 for index in indexes}
    return set()
