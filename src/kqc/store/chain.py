"""Tamper evidence in the database: the hash chains of source_files and
flag_reviews, the ledger that records every write to every table kqc keeps,
and the check of all of it (`kqc verify`). Hashing of single rows is pure
(kqc.core.chain); the digests of millions of results are computed here,
column by column on Arrow buffers, because a per-row serialization costs
ten times more.

What the ledger holds, per kind of item:

| kind | key | digest |
| --- | --- | --- |
| source_files, flag_reviews | file_id, review_id | the row's row_hash |
| results | the file's sha256 | its stored rows, every column that never changes |
| supersessions | the file's sha256 | its rows' superseded_by and superseded_at |
| flags, batches, batch_potency | flag_id, batch_id | the whole row |
| thresholds | 'thresholds' | the whole table |

The latest item of each key is what the table must hold now; a key the
tables hold that the ledger lacks was added by hand; a key recorded with a
digest that the tables lack was removed by hand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import blake3
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from kqc.core.chain import (
    GENESIS,
    Break,
    Expected,
    Head,
    check_chain,
    items_digest,
    parse_expected,
    row_hash,
)
from kqc.process import durable
from kqc.store.connection import connect, frame, registered, run
from kqc.store.queries import require_database


@dataclass(frozen=True)
class Chained:
    table: str
    id_column: str
    columns: tuple[str, ...]  # hashed; fixed, so a later column never changes old hashes
    # Hashed only when not NULL: a column added later leaves the rows written
    # before it (NULL there) with the hashes they had.
    optional: tuple[str, ...] = ()


SOURCE_FILES = Chained(
    "source_files",
    "file_id",
    (
        "file_id",
        "file_name",
        "sha256",
        "status",
        "kind",
        "received_at",
        "row_count",
        "error_count",
        "stored_as",
        "size_bytes",
    ),
    ("errors_sha256",),
)
FLAG_REVIEWS = Chained(
    "flag_reviews",
    "review_id",
    ("review_id", "flag_id", "decision", "reviewer", "note", "reviewed_at"),
)
LEDGER = Chained(
    "ledger",
    "entry_id",
    ("entry_id", "kind", "recorded_at", "item_count", "items_sha256"),
)
CHAINS = (SOURCE_FILES, FLAG_REVIEWS)  # the tables whose rows kqc seals as it writes them
HEADS = (SOURCE_FILES, FLAG_REVIEWS, LEDGER)  # every chain, with a head to keep


def next_review_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next position in the flag_reviews chain (writers are serialized by
    DuckDB's single-writer lock, so max + 1 is unique)."""
    return int(run(con, "SELECT coalesce(max(review_id), 0) + 1 FROM flag_reviews")[0][0])


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(
        run(
            con,
            "SELECT count(*) FROM duckdb_columns() WHERE NOT internal"
            " AND table_name = ? AND column_name = ?",
            [table, column],
        )[0][0]
    )


def _hashed(chain: Chained, row: Mapping[str, object]) -> dict[str, object]:
    """The columns of `row` its hash covers (an optional one only when set)."""
    kept = {c: row[c] for c in chain.columns}
    kept.update({c: row[c] for c in chain.optional if row.get(c) is not None})
    kept["prev_hash"] = row["prev_hash"]
    if "row_hash" in row:
        kept["row_hash"] = row["row_hash"]
    return kept


def _rows(con: duckdb.DuckDBPyConnection, chain: Chained, where: str = "") -> list[dict]:
    present = tuple(c for c in chain.optional if _has_column(con, chain.table, c))
    names = ", ".join((*chain.columns, *present, "prev_hash", "row_hash"))
    return frame(
        con, f"SELECT {names} FROM {chain.table} {where} ORDER BY {chain.id_column}"
    ).to_dicts()


def seal(con: duckdb.DuckDBPyConnection, chain: Chained) -> int:
    """Chain the rows not yet chained, in id order, after the last chained
    row, and record them in the ledger; call inside the transaction that
    wrote them. Rows stored before the chain existed are chained by the first
    write after the upgrade."""
    pending = _rows(con, chain, "WHERE row_hash IS NULL")
    if not pending:
        return 0
    last = run(
        con,
        f"SELECT row_hash FROM {chain.table} WHERE row_hash IS NOT NULL"
        f" ORDER BY {chain.id_column} DESC LIMIT 1",
    )
    prev = last[0][0] if last else GENESIS
    links = []
    for row in pending:
        row["prev_hash"] = prev
        row.pop("row_hash", None)
        prev = row_hash(_hashed(chain, row))
        links.append((row[chain.id_column], row["prev_hash"], prev))
    sealed = pl.DataFrame(
        links, schema={"id": pl.Int64, "prev_hash": pl.String, "row_hash": pl.String}, orient="row"
    )
    with registered(con, sealed_rows=sealed):
        run(
            con,
            f"UPDATE {chain.table} SET prev_hash = s.prev_hash, row_hash = s.row_hash"
            f" FROM sealed_rows s WHERE {chain.table}.{chain.id_column} = s.id",
        )
    if _has_ledger(con):
        record(con, chain.table, {str(i): h for i, _, h in links})
    return len(links)


def chain_breaks(con: duckdb.DuckDBPyConnection, chain: Chained) -> list[Break]:
    return check_chain(chain.table, chain.id_column, (_hashed(chain, r) for r in _rows(con, chain)))


# --- Digests of many rows -------------------------------------------------
#
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
    """`rows` with the spec's columns in their stored types, plus the columns
    the digest reads (`__n_` lengths of a text, `__m_` NULL marks and `__v_`
    filled values of a number)."""
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
                number.alias(name),
                number.is_null().cast(pl.UInt8).alias(f"__m_{name}"),
                number.fill_null(0).alias(f"__v_{name}"),
            ]
    others = [c for c in rows.columns if c not in dict(spec.columns)]
    return rows.select(*others, *exprs)


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


def _text(array: pa.Array, first: int = 0) -> _Piece:
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
            return _text(pc.fill_null(array, ""), first)
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
            streams.append(_stream(table.column(name), _text))
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


# --- Row digests: flags, batches, potency, thresholds ----------------------


class Table(NamedTuple):
    """A table recorded row by row: its key and the columns digested (fixed,
    so a column added later does not change old digests), timestamps
    among them. An `optional` column, added later, is digested only where
    it is set: a row written before it (NULL there) keeps its digest."""

    name: str
    key: str
    columns: tuple[str, ...]
    timestamps: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


FLAGS = Table(
    "flags",
    "flag_id",
    (
        "flag_id",
        "batch_id",
        "rule",
        "analyte",
        "severity",
        "observed",
        "limit_value",
        "unit",
        "basis",
        "profile",
        "source",
        "status",
        "threshold_version",
        "message",
        "evidence",
        "evidence_hash",
        "created_at",
        "updated_at",
    ),
    ("created_at", "updated_at"),
)
BATCHES = Table(
    "batches",
    "batch_id",
    (
        "batch_id",
        "product_id",
        "product_name",
        "form",
        "label_claim_mg_per_serving",
        "serving_size_g",
        "servings_per_day",
        "units_per_serving",
        "manufacturer",
        "manufactured_on",
        "markets",
        "source_sha256",
        "updated_at",
    ),
    ("updated_at",),
    ("target_content_pct",),  # migration 0012
)
POTENCY = Table(
    "batch_potency",
    "batch_id",
    ("batch_id", "unit", "mean_value", "n", "updated_at"),
    ("updated_at",),
)
THRESHOLDS = Table(
    "thresholds",
    "",  # recorded as one item: the whole table
    (
        "rule",
        "analyte",
        "limit_value",
        "unit",
        "basis",
        "fails_when",
        "forms",
        "profile",
        "severity",
        "source",
        "confirmed",
        "note",
        "version",
    ),
)
ROW_TABLES = (FLAGS, BATCHES, POTENCY)


def _row_text(table: Table, optional: tuple[str, ...] = ()) -> str:
    """SQL for a row's canonical text: every column as its length in bytes,
    ':' and its text, NULL as '~', joined by '|', so no two different rows
    read alike. Then each of the `optional` columns that is set, as its
    name, '=' and the same length and text (concat_ws skips a NULL one, so
    a row without it reads as it did before the column was added).
    Computed by DuckDB, vectorized, as is its SHA-256."""
    fields = []
    for c in table.columns:
        text = f"epoch_us({c})::VARCHAR" if c in table.timestamps else f"{c}::VARCHAR"
        fields.append(f"CASE WHEN {c} IS NULL THEN '~' ELSE strlen({text}) || ':' || {text} END")
    for c in optional:
        text = f"{c}::VARCHAR"
        set_text = f"'{c}=' || strlen({text}) || ':' || {text}"
        fields.append(f"CASE WHEN {c} IS NOT NULL THEN {set_text} END")
    return f"concat_ws('|', {', '.join(fields)})"


def _optional_present(con: duckdb.DuckDBPyConnection, table: Table) -> tuple[str, ...]:
    """The optional columns of `table` this database has (a database not yet
    migrated, read by `kqc verify`, may lack them)."""
    return tuple(c for c in table.optional if _has_column(con, table.name, c))


def row_digests(
    con: duckdb.DuckDBPyConnection, table: Table, where: str = "true", params: list | None = None
) -> dict[str, str]:
    """key -> SHA-256 of the row, for the rows of `table` that `where` keeps.
    DuckDB writes the texts; each is hashed from the Arrow buffer it lies in,
    without a Python string (a quarter of a million flags in some 0.3 s)."""
    text = _row_text(table, _optional_present(con, table))
    found = con.sql(
        f"SELECT {table.key}::VARCHAR AS key, {text} AS text FROM {table.name} WHERE {where}",
        params=params,
    ).to_arrow_table()
    digests: dict[str, str] = {}
    for batch in found.to_batches():
        texts = _text(batch.column("text"))
        keys = batch.column("key").to_pylist()
        sha256 = hashlib.sha256
        for i, key in enumerate(keys):
            digests[key] = sha256(texts.rows(i, i + 1)).hexdigest()
    return digests


def keyed_digests(
    con: duckdb.DuckDBPyConnection, table: Table, keys: Iterable[str]
) -> dict[str, str | None]:
    """The digests of the rows of `table` with these keys; None for a key
    no longer there (kqc removed it)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found: dict[str, str | None] = dict.fromkeys(wanted)
    keyed = pl.DataFrame({"key": wanted}, schema={"key": pl.String})
    with registered(con, ledger_keys=keyed):
        found.update(
            row_digests(con, table, f"{table.key}::VARCHAR IN (SELECT key FROM ledger_keys)")
        )
    return found


def thresholds_digest(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """{'thresholds': digest of the whole table} (its rows' texts sorted, for
    the table has no order of its own), or {} when it is empty."""
    found = run(
        con,
        "SELECT sha256(string_agg(text || chr(10), '' ORDER BY text)), count(*)"
        f" FROM (SELECT {_row_text(THRESHOLDS)} AS text FROM thresholds)",
    )
    digest, rows = found[0]
    return {"thresholds": digest} if rows else {}


# --- The ledger ----------------------------------------------------------


def _has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    return _has_column(con, "ledger", "row_hash")


def record(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    items: Mapping[str, str | None],
    now: datetime | None = None,
) -> None:
    """Append one ledger entry: these items (key -> digest, None for a row
    removed by kqc), chained after the last entry. Call inside the
    transaction that wrote them."""
    if not items:
        return
    last = run(con, "SELECT entry_id, row_hash FROM ledger ORDER BY entry_id DESC LIMIT 1")
    entry_id, prev = (int(last[0][0]) + 1, last[0][1]) if last else (1, GENESIS)
    entry: dict[str, object] = {
        "entry_id": entry_id,
        "kind": kind,
        "recorded_at": now or datetime.now(UTC),
        "item_count": len(items),
        "items_sha256": items_digest(items),
        "prev_hash": prev,
    }
    entry["row_hash"] = row_hash(entry)
    run(
        con,
        "INSERT INTO ledger (entry_id, kind, recorded_at, item_count, items_sha256, prev_hash,"
        " row_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        list(entry.values()),
    )
    rows = pl.DataFrame(
        {"item_key": list(items), "digest": list(items.values())},
        schema={"item_key": pl.String, "digest": pl.String},
    )
    with registered(con, ledger_rows=rows):
        run(
            con,
            "INSERT INTO ledger_items SELECT ?, item_key, digest FROM ledger_rows",
            [entry_id],
        )


def record_rows(con: duckdb.DuckDBPyConnection, table: Table, keys: Iterable[str]) -> None:
    """Record the rows of `table` with these keys as they are now."""
    record(con, table.name, keyed_digests(con, table, keys))


def record_thresholds(con: duckdb.DuckDBPyConnection) -> None:
    record(con, THRESHOLDS.name, thresholds_digest(con))


def record_supersessions(con: duckdb.DuckDBPyConnection, files: list[str]) -> None:
    """Record which rows of these files (sha256) are superseded, as they are now."""
    if not files:
        return
    digests: dict[str, str | None] = dict.fromkeys(files)
    digests.update(
        file_digests(
            con,
            SUPERSESSIONS,
            "superseded_by IS NOT NULL AND list_contains(?, source_sha256)",
            [files],
        )
    )
    record(con, "supersessions", digests)


# Each file-keyed kind of the ledger: the spec digested, and the rows it covers.
_FILE_SPECS = {
    "results": (RESULTS, "true"),
    "supersessions": (SUPERSESSIONS, "superseded_by IS NOT NULL"),
}


def current(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """kind -> key -> digest of everything the tables hold now."""
    sealed = {
        chain.table: {
            str(i): h
            for i, h in run(
                con,
                f"SELECT {chain.id_column}, row_hash FROM {chain.table} WHERE row_hash IS NOT NULL",
            )
        }
        for chain in CHAINS
    }
    return {
        **sealed,
        **{kind: file_digests(con, spec, where) for kind, (spec, where) in _FILE_SPECS.items()},
        **{table.name: row_digests(con, table) for table in ROW_TABLES},
        THRESHOLDS.name: thresholds_digest(con),
    }


def record_all(con: duckdb.DuckDBPyConnection) -> None:
    """Record every row stored now, one entry per kind: run once, when the
    ledger is added to a database (migration 0010), so the rows an older kqc
    wrote are covered from then on."""
    now = datetime.now(UTC)
    for kind, items in current(con).items():
        record(con, kind, items, now)


def _latest(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str | None]]:
    found: dict[str, dict[str, str | None]] = {}
    for kind, key, digest in run(
        con,
        "SELECT l.kind, i.item_key, i.digest FROM ledger_items i JOIN ledger l USING (entry_id)"
        " QUALIFY row_number() OVER (PARTITION BY l.kind, i.item_key ORDER BY i.entry_id DESC) = 1",
    ):
        found.setdefault(kind, {})[key] = digest
    return found


def _ledger_breaks(con: duckdb.DuckDBPyConnection) -> list[Break]:
    """The ledger's own chain, and each entry's items against its items_sha256."""
    breaks = chain_breaks(con, LEDGER)
    items: dict[int, dict[str, str | None]] = {}
    for entry_id, key, digest in run(con, "SELECT entry_id, item_key, digest FROM ledger_items"):
        items.setdefault(int(entry_id), {})[key] = digest
    entries = run(con, "SELECT entry_id, item_count, items_sha256 FROM ledger ORDER BY entry_id")
    for entry_id, count, digest in entries:
        held = items.pop(int(entry_id), {})
        if len(held) != count or items_digest(held) != digest:
            breaks.append(
                Break(
                    "ledger_items",
                    f"entry_id {entry_id}",
                    "items changed, removed or added after they were recorded"
                    " (they no longer match the entry's items_sha256)",
                )
            )
    for entry_id in sorted(items):
        breaks.append(
            Break(
                "ledger_items",
                f"entry_id {entry_id}",
                "items belong to no ledger entry: added by hand, or their entry was removed",
            )
        )
    return breaks


_WHAT = {
    "source_files": ("source_files", "file_id"),
    "flag_reviews": ("flag_reviews", "review_id"),
    "results": ("results", "of file"),
    "supersessions": ("results", "superseded rows of file"),
    "flags": ("flags", "flag_id"),
    "batches": ("batches", "batch_id"),
    "batch_potency": ("batch_potency", "batch_id"),
    "thresholds": ("thresholds", "table"),
}


def _content_breaks(con: duckdb.DuckDBPyConnection) -> list[Break]:
    """Every table against the latest digests the ledger holds for it."""
    names = dict(run(con, "SELECT sha256, any_value(file_name) FROM source_files GROUP BY 1"))
    latest = _latest(con)
    held_now = current(con)
    _in_recorded_algorithm(con, held_now, latest)
    breaks: list[Break] = []
    for kind, now in held_now.items():
        table, label = _WHAT[kind]
        recorded = latest.get(kind, {})
        for key in sorted(set(now) | {k for k, d in recorded.items() if d is not None}):
            if kind in ("results", "supersessions"):
                where = f"{label} {names.get(key, '?')} (sha256 {key[:12]})"
            elif kind == "thresholds":
                where = "table"
            else:
                where = f"{label} {key}"
            held, expected = now.get(key), recorded.get(key)
            if held == expected:
                continue
            if held is None:
                problem = "recorded in the ledger but no longer in the table: deleted by hand"
            elif expected is None:
                problem = "not in the ledger: inserted by hand, or written around kqc"
            else:
                problem = "content changed after kqc wrote it (differs from the ledger)"
            breaks.append(Break(table, where, problem))
    return breaks


def _in_recorded_algorithm(
    con: duckdb.DuckDBPyConnection,
    held_now: dict[str, dict[str, str]],
    latest: dict[str, dict[str, str | None]],
) -> None:
    """The files whose digests an earlier kqc recorded as SHA-256, digested
    again that way, so that they are compared like with like."""
    for kind, (spec, where) in _FILE_SPECS.items():
        legacy = sorted(
            key
            for key, digest in latest.get(kind, {}).items()
            if digest is not None and algorithm_of(digest) == SHA256
        )
        if legacy:
            held_now[kind].update(
                file_digests(
                    con,
                    spec,
                    f"({where}) AND list_contains(?, source_sha256)",
                    [legacy],
                    algorithm=SHA256,
                )
            )


# --- Kept files ------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _errors_name(name: str) -> str:
    # As kqc.files.inbox.errors_path names it beside the quarantined file (the
    # store does not import the inbox: they are layers of their own).
    return name + ".errors.csv"


def _file_breaks(con: duckdb.DuckDBPyConnection, archive: Path, quarantine: Path) -> list[Break]:
    """Each kept file re-hashed, and the errors.csv beside a quarantined one
    when its hash was recorded. stored_as records where the file was put when
    it was processed; the folders may have moved since (a copy, a restore), so
    the file is looked up by its name in today's archive (ingested and
    duplicate files) or quarantine (rejected ones)."""
    breaks = []
    errors = "errors_sha256" if _has_column(con, "source_files", "errors_sha256") else "NULL"
    kept = run(
        con,
        f"SELECT file_id, status, stored_as, sha256, {errors} FROM source_files"
        " WHERE stored_as IS NOT NULL ORDER BY file_id",
    )
    for file_id, status, stored_as, sha256, errors_sha256 in kept:
        folder = quarantine if status == "rejected" else archive
        path = folder / Path(stored_as).name
        key = f"file_id {file_id}"
        if not path.is_file():
            breaks.append(Break("source_files", key, f"kept file {path} is missing"))
        elif _sha256(path) != sha256:
            breaks.append(
                Break("source_files", key, f"kept file {path} was modified (SHA-256 differs)")
            )
        if errors_sha256 is not None:
            listed = folder / _errors_name(Path(stored_as).name)
            if not listed.is_file():
                breaks.append(Break("source_files", key, f"errors file {listed} is missing"))
            elif _sha256(listed) != errors_sha256:
                breaks.append(
                    Break(
                        "source_files", key, f"errors file {listed} was modified (SHA-256 differs)"
                    )
                )
    return breaks


# --- Heads -------------------------------------------------------------------

HEADS_SUFFIX = ".heads.json"
_SNAPSHOT_STEM = ".snapshot"  # kqc.store.publish: <stem>.snapshot.duckdb


def heads_path(db: Path) -> Path:
    """`kqc.duckdb` (or its snapshot `kqc.snapshot.duckdb`) -> `kqc.heads.json`
    in the same folder, beside the snapshot."""
    stem = db.stem.removesuffix(_SNAPSHOT_STEM)
    return db.with_name(stem + HEADS_SUFFIX)


def _heads(con: duckdb.DuckDBPyConnection) -> dict[str, Head]:
    found = {}
    for chain in HEADS:
        if not _has_column(con, chain.table, "row_hash"):
            continue
        last = run(
            con,
            f"SELECT {chain.id_column}, row_hash FROM {chain.table}"
            f" ORDER BY {chain.id_column} DESC LIMIT 1",
        )
        row_id, value = last[0] if last else (0, GENESIS)
        found[chain.table] = Head(chain.table, int(row_id), value or GENESIS)
    return found


def heads(db: Path) -> dict[str, dict[str, object]]:
    """Each chain's head, {table: {"id": last id, "row_hash": its hash}}: for a
    Prefect artifact, or to keep anywhere the database's writers cannot reach."""
    require_database(db)
    with connect(db, read_only=True) as con:
        return {t: {"id": h.row_id, "row_hash": h.row_hash} for t, h in _heads(con).items()}


def write_heads(db: Path) -> Path:
    """Write the heads to `<stem>.heads.json` beside the snapshot, atomically
    (a reader never sees half a file); returns its path. `kqc verify` checks
    the database against it while it is there."""
    target = heads_path(db)
    content = {
        "database": db.name,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "heads": heads(db),
    }
    data = (json.dumps(content, indent=2) + "\n").encode()
    durable.write_atomic(target, data, prefix=f".{target.name}.")
    return target


class BadExpectation(ValueError):
    """An --expect that is neither a head nor a readable heads file."""


def read_expected(text: str) -> list[Expected]:
    """The heads an --expect names: one head as verify prints it
    (`TABLE:ID:HASH`), `TABLE=HASH`, a bare hash, or a heads file."""
    one = parse_expected(text)
    if one is not None:
        return [one]
    path = Path(text)
    if not path.is_file():
        raise BadExpectation(
            f"--expect {text} is neither a head (TABLE:ID:HASH, TABLE=HASH, a 64-digit hash)"
            " nor a heads file"
        )
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["heads"]
        return [
            Expected(table, int(head["id"]), str(head["row_hash"]), f"{path} ({table})")
            for table, head in recorded.items()
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise BadExpectation(f"heads file {path} could not be read ({err})") from err


def _expectation_breaks(con: duckdb.DuckDBPyConnection, expected: list[Expected]) -> list[Break]:
    """Each recorded head still in its chain at its place: rows only ever
    join a chain's end, so a head kept earlier stays there unless the chain
    was cut back (its end removed) or rebuilt (every hash recomputed)."""
    chains = {chain.table: chain for chain in HEADS}
    breaks = []
    for head in expected:
        where = f"--expect {head.given}"
        if head.table is not None and head.table not in chains:
            breaks.append(Break("expect", where, f"names no chain: use one of {', '.join(chains)}"))
            continue
        if head.row_hash == GENESIS and head.row_id in (0, None):
            continue  # an empty chain: anything has grown from it
        if head.row_id is not None and head.table is not None:
            chain = chains[head.table]
            found = run(
                con,
                f"SELECT row_hash FROM {chain.table} WHERE {chain.id_column} = ?",
                [head.row_id],
            )
            if not found:
                breaks.append(
                    Break(
                        chain.table,
                        f"{chain.id_column} {head.row_id}",
                        "the recorded head is gone: rows were removed from the chain's end",
                    )
                )
            elif found[0][0] != head.row_hash:
                breaks.append(
                    Break(
                        chain.table,
                        f"{chain.id_column} {head.row_id}",
                        "hash differs from the recorded head: the chain was rewritten",
                    )
                )
            continue
        tables = [chains[head.table]] if head.table else list(chains.values())
        if not any(
            run(con, f"SELECT count(*) FROM {c.table} WHERE row_hash = ?", [head.row_hash])[0][0]
            for c in tables
            if _has_column(con, c.table, "row_hash")
        ):
            breaks.append(
                Break(
                    head.table or "chains",
                    where,
                    "the recorded head is in no chain: the chain was cut back or rewritten",
                )
            )
    return breaks


@dataclass(frozen=True)
class Verification:
    breaks: list[Break]
    rows: dict[str, int]  # rows checked per table
    files: int  # kept files re-hashed
    heads: dict[str, Head]  # each chain's last row: record it elsewhere to pin the chain
    checked_against: list[str] = field(default_factory=list)  # --expect heads, heads files


def verify(
    db: Path, archive: Path, quarantine: Path, expected: list[str] | None = None
) -> Verification:
    """Recompute every chain, every table against the ledger, re-hash every
    kept file, and check the heads recorded earlier (`expected`, else the
    heads file beside the snapshot when there is one); read-only, so it runs
    on the live database or on a published snapshot."""
    require_database(db)
    heads_file = heads_path(db)
    wanted = [e for text in expected or [] for e in read_expected(text)]
    sources = list(expected or [])
    if not expected and heads_file.is_file():
        wanted = read_expected(str(heads_file))
        sources = [str(heads_file)]
    with connect(db, read_only=True) as con:
        if not _has_column(con, SOURCE_FILES.table, "row_hash"):
            return Verification(
                [
                    Break(
                        "database",
                        str(db),
                        "has no hash chain yet (written by an older kqc): the next ingest adds it",
                    )
                ],
                {},
                0,
                {},
            )
        breaks: list[Break] = []
        rows: dict[str, int] = {}
        for chain in CHAINS:
            breaks.extend(chain_breaks(con, chain))
        if _has_ledger(con):
            breaks.extend(_ledger_breaks(con))
            breaks.extend(_content_breaks(con))
        else:
            breaks.append(
                Break(
                    "database",
                    str(db),
                    "has no ledger yet (written by an older kqc): the next ingest adds it",
                )
            )
        counted = [c.table for c in CHAINS]
        if _has_ledger(con):
            counted += ["results", "flags", "batches", "ledger"]
        for table in counted:
            rows[table] = int(run(con, f"SELECT count(*) FROM {table}")[0][0])
        breaks.extend(_file_breaks(con, archive, quarantine))
        breaks.extend(_expectation_breaks(con, wanted))
        files = run(con, "SELECT count(*) FROM source_files WHERE stored_as IS NOT NULL")[0][0]
        found_heads = _heads(con)
    return Verification(breaks, rows, int(files), found_heads, sources)
