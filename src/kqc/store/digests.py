"""The digests of many results: each file's rows (or which of them are
superseded) as canonical column streams, hashed column by column on Arrow
buffers, because a per-row serialization costs ten times more. The ledger
records them; `kqc verify` computes them again from the tables."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import blake3
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from kqc.store.connection import run

# A digest covers the columns of a spec in a fixed order, each as its own
# streams of bytes: a number column as its 8-byte little-endian values (NULL
# as 0) and a byte per row saying which are NULL; a text column as each
# value's length in bytes (NULL as 2**32 - 1) and the values' bytes end to
# end. Every stream is one BLAKE3 hash whatever the chunks it is fed in, and
# the digest is the BLAKE3 of the row count and the streams' digests: a
# change, a swap of two rows, a row added or removed anywhere changes it.
# Read from Arrow buffers, a million results cost some 0.08 s to hash where a
# text serialization of each row costs 3 s. BLAKE3 rather than SHA-256
# because the streams of ten million results are some 2.6 GB: 2.5 s of
# SHA-256 on one core, 0.8 s of BLAKE3 (a cryptographic hash as well).
# A digest is written `blake3:<hex>`; one written bare (64 hex digits) is a
# SHA-256 digest an earlier kqc recorded, which verify computes that way.


class Spec(NamedTuple):
    """The columns a digest covers, in order: 'i' integer, 'f' float, 's'
    text, 't' a timestamp (as microseconds since 1970, which a query gives
    with epoch_us)."""

    columns: tuple[tuple[str, str], ...]


RESULTS = Spec(
    (
        ("result_id", "i"),
        ("batch_id", "s"),
        ("sample_id", "s"),
        ("lab_id", "s"),
        ("analyte", "s"),
        ("value", "f"),
        ("unit", "s"),
        ("qualifier", "s"),
        ("bound", "f"),
        ("reported_result", "s"),
        ("reported_unit", "s"),
        ("reported_analyte", "s"),
        ("lod", "f"),
        ("loq", "f"),
        ("sample_type", "s"),
        ("unit_no", "s"),
        ("test_portion_g", "f"),
        ("spike_level", "f"),
        ("dilution", "f"),
        ("method", "s"),
        ("analyzed_at", "s"),
        ("analyst", "s"),
        ("instrument", "s"),
        ("accreditation", "s"),
        ("source_row", "i"),
        ("loaded_at", "t"),
    )
)
SUPERSESSIONS = Spec((("result_id", "i"), ("superseded_by", "i"), ("superseded_at", "t")))
_NULL_LENGTH = 2**32 - 1
_DTYPES = {"i": pl.Int64, "t": pl.Int64, "f": pl.Float64}


def canonical_frame(rows: pl.DataFrame, spec: Spec) -> pl.DataFrame:
    """The columns the digest reads from `rows`, in their stored types: a
    text as itself and its `__n_` lengths, a number as its `__m_` NULL
    marks and `__v_` filled values. Nothing else: each column here is
    copied once more on its way to Arrow (a file's 64-character hash on
    every row alone is 640 MB at ten million rows)."""
    exprs: list[pl.Expr] = []
    for name, kind in spec.columns:
        col = pl.col(name)
        if kind == "s":
            text = col.cast(pl.String)
            exprs += [
                text.alias(name),
                text.str.len_bytes().fill_null(_NULL_LENGTH).cast(pl.UInt32).alias(f"__n_{name}"),
            ]
        else:
            number = col.cast(_DTYPES[kind])
            exprs += [
                number.is_null().cast(pl.UInt8).alias(f"__m_{name}"),
                number.fill_null(0).alias(f"__v_{name}"),
            ]
    return rows.select(*exprs)


class _Piece(NamedTuple):
    """One Arrow chunk of a stream: `data` cut by row, either a fixed `width`
    a row or by `offsets` (a text's values); its rows are `first` onwards."""

    data: memoryview
    width: int
    offsets: memoryview | None
    first: int
    length: int  # rows

    def rows(self, start: int, stop: int) -> memoryview:
        if self.offsets is None:
            return self.data[start * self.width : stop * self.width]
        return self.data[self.offsets[start] : self.offsets[stop]]


class _Stream(NamedTuple):
    """One stream of a digest in one chunk of rows, as the Arrow chunks it
    lies in: read in place, never combined first (combining the chunks of
    ten million results cost some 9 s of copying, more than the hashing)."""

    pieces: list[_Piece]

    def rows(self, start: int, stop: int) -> list[memoryview]:
        found = []
        for piece in self.pieces:
            low, high = max(start, piece.first), min(stop, piece.first + piece.length)
            if low < high:
                found.append(piece.rows(low - piece.first, high - piece.first))
        return found


def _chunks(column: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def _stream(
    column: pa.ChunkedArray | pa.Array, piece: Callable[[pa.Array, int], _Piece]
) -> _Stream:
    pieces, first = [], 0
    for array in _chunks(column):
        if len(array):
            pieces.append(piece(array, first))
            first += len(array)
    return _Stream(pieces)


def _fixed(array: pa.Array, first: int = 0) -> _Piece:
    width = array.type.bit_width // 8
    data = memoryview(array.buffers()[1])  # type: ignore[arg-type]
    cut = data[array.offset * width : (array.offset + len(array)) * width]
    return _Piece(cut, width, None, first, len(array))


def text_piece(array: pa.Array, first: int = 0) -> _Piece:
    """A text column's bytes, cut by its offsets (DuckDB gives 32-bit ones,
    Polars 64-bit)."""
    if array.type not in (pa.string(), pa.large_string()):
        array = array.cast(pa.large_string())
    buffers = array.buffers()
    raw = memoryview(buffers[1])  # type: ignore[arg-type]
    cut = raw.cast("i") if array.type == pa.string() else raw.cast("q")
    offsets = cut[array.offset : array.offset + len(array) + 1]
    if array.null_count:
        # Arrow lets a NULL keep the bytes of the value it replaced (Polars
        # does, after a `when`): they are no part of the content, so such an
        # array is rebuilt without them (a check that costs one pass).
        valid = pc.sum(pc.binary_length(array)).as_py() or 0
        if valid != offsets[len(array)] - offsets[0]:
            return text_piece(pc.fill_null(array, ""), first)
    data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
    return _Piece(data, 0, offsets, first, len(array))


class Chunk(NamedTuple):
    """Canonical rows as Arrow (what DuckDB inserts from, too) and the
    streams the digest reads from them."""

    table: pa.Table | pa.RecordBatch
    streams: list[_Stream]


def chunk_of(canonical: pl.DataFrame | pa.Table | pa.RecordBatch, spec: Spec) -> Chunk:
    """The streams of canonical rows: a frame from `canonical_frame`, or
    Arrow from a query of `canonical_sql`."""
    if isinstance(canonical, pl.DataFrame):
        table: pa.Table | pa.RecordBatch = canonical.to_arrow(compat_level=pl.CompatLevel.oldest())
    else:
        table = canonical
    streams: list[_Stream] = []
    for name, kind in spec.columns:
        if kind == "s":
            streams.append(_stream(table.column(f"__n_{name}"), _fixed))
            streams.append(_stream(table.column(name), text_piece))
        else:
            streams.append(_stream(table.column(f"__m_{name}"), _fixed))
            streams.append(_stream(table.column(f"__v_{name}"), _fixed))
    return Chunk(table, streams)


_THREADED = 50_000  # rows from which a chunk's streams are hashed on two threads
_hashing: ThreadPoolExecutor | None = None


def _feed_all(digest: Any, views: list[memoryview]) -> None:
    for view in views:
        digest.update(view)


def _hash_all(pairs: list[tuple[Any, list[memoryview]]]) -> None:
    """Feed each stream its bytes; hashlib and BLAKE3 let go of the GIL on
    large buffers, so two threads hash a large chunk in a little over half
    the time."""
    global _hashing
    if sum(len(view) for _, views in pairs for view in views) < _THREADED * 64:
        for digest, views in pairs:
            _feed_all(digest, views)
        return
    if _hashing is None:
        _hashing = ThreadPoolExecutor(2, thread_name_prefix="kqc-digest")
    list(_hashing.map(lambda pair: _feed_all(*pair), pairs))


BLAKE3 = "blake3"
SHA256 = "sha256"  # how digests were written before BLAKE3: read, never written
_TAG = BLAKE3 + ":"


def algorithm_of(digest: str) -> str:
    """The hash a recorded digest was computed with."""
    return BLAKE3 if digest.startswith(_TAG) else SHA256


def _hasher(algorithm: str) -> Any:
    return blake3.blake3() if algorithm == BLAKE3 else hashlib.sha256()


@dataclass
class Digest:
    """The digest of rows fed in order, a chunk or a slice of one at a time."""

    spec: Spec
    algorithm: str = BLAKE3
    rows: int = 0
    _streams: list = field(default_factory=list)

    def update(self, chunk: Chunk, start: int = 0, stop: int | None = None) -> None:
        stop = chunk.table.num_rows if stop is None else stop
        if not self._streams:
            self._streams = [_hasher(self.algorithm) for _ in chunk.streams]
        _hash_all(
            [
                (digest, stream.rows(start, stop))
                for digest, stream in zip(self._streams, chunk.streams, strict=True)
            ]
        )
        self.rows += stop - start

    def hexdigest(self) -> str:
        top = _hasher(self.algorithm)
        top.update(b"%d\n" % self.rows)
        for digest in self._streams:
            top.update(digest.digest())
        return (_TAG if self.algorithm == BLAKE3 else "") + top.hexdigest()


def epoch_us(instant: datetime) -> int:
    """Microseconds since 1970 UTC: how a digest holds a timestamp."""
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def canonical_sql(spec: Spec) -> str:
    """The select list that gives, from a table, the columns `canonical_frame`
    gives from a frame (verify reads them straight into Arrow)."""
    parts = []
    for name, kind in spec.columns:
        if kind == "s":
            parts += [f"coalesce(strlen({name}), {_NULL_LENGTH})::UINTEGER AS __n_{name}", name]
            continue
        value = f"epoch_us({name})" if kind == "t" else name
        zero = "0::DOUBLE" if kind == "f" else "0::BIGINT"
        parts += [
            f"({value} IS NULL)::UTINYINT AS __m_{name}",
            f"coalesce({value}, {zero}) AS __v_{name}",
        ]
    return ", ".join(parts)


_STEP = 1_000_000  # result ids read at a time by verify


def file_digests(
    con: duckdb.DuckDBPyConnection,
    spec: Spec,
    where: str = "true",
    params: list | None = None,
    algorithm: str = BLAKE3,
) -> dict[str, str]:
    """The digest of each file's results (by source_sha256) that `where`
    keeps, in result_id order; read a million ids at a time, straight into
    Arrow."""
    bounds = run(con, f"SELECT min(result_id), max(result_id) FROM results WHERE {where}", params)
    low, high = bounds[0]
    digests: dict[str, Digest] = {}
    if low is None:
        return {}
    for start in range(int(low), int(high) + 1, _STEP):
        table = con.sql(
            f"SELECT source_sha256, result_id AS __order, {canonical_sql(spec)} FROM results"
            f" WHERE result_id >= ? AND result_id < ? AND ({where})",
            params=[start, start + _STEP, *(params or [])],
        ).to_arrow_table()
        order = table.column("__order")
        if len(order) > 1 and not pc.all(pc.less(order[:-1], order[1:])).as_py():
            table = table.sort_by("__order")  # a parallel scan may return them out of order
        for batch in table.to_batches():
            _feed(digests, spec, batch, algorithm)
    return {sha: d.hexdigest() for sha, d in digests.items()}


def _feed(digests: dict[str, Digest], spec: Spec, batch: pa.RecordBatch, algorithm: str) -> None:
    """Each run of one file's rows in `batch` into that file's digest."""
    n = batch.num_rows
    if n == 0:
        return
    files = batch.column("source_sha256")
    changes = pc.indices_nonzero(pc.not_equal(files[1:], files[:-1])).to_pylist()
    starts = [0, *(i + 1 for i in changes)]
    chunk = chunk_of(batch, spec)
    for at, stop in zip(starts, [*starts[1:], n], strict=True):
        digests.setdefault(files[at].as_py(), Digest(spec, algorithm)).update(chunk, at, stop)
