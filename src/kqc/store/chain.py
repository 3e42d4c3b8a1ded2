"""The hash chains of source_files and flag_reviews in the database: sealing
rows as they are written, and checking the chains and the archived files
(`kqc verify`). Hashing itself is pure (kqc.core.chain)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from kqc.core.chain import GENESIS, Break, check_chain, row_hash
from kqc.store.connection import connect, frame, registered, run
from kqc.store.queries import require_database


@dataclass(frozen=True)
class Chained:
    table: str
    id_column: str
    columns: tuple[str, ...]  # hashed; fixed, so a later column never changes old hashes


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
)
FLAG_REVIEWS = Chained(
    "flag_reviews",
    "review_id",
    ("review_id", "flag_id", "decision", "reviewer", "note", "reviewed_at"),
)
CHAINS = (SOURCE_FILES, FLAG_REVIEWS)


def next_review_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next position in the flag_reviews chain (writers are serialized by
    DuckDB's single-writer lock, so max + 1 is unique)."""
    return int(run(con, "SELECT coalesce(max(review_id), 0) + 1 FROM flag_reviews")[0][0])


def _rows(con: duckdb.DuckDBPyConnection, chain: Chained, where: str = "") -> list[dict]:
    names = ", ".join((*chain.columns, "prev_hash", "row_hash"))
    return frame(
        con, f"SELECT {names} FROM {chain.table} {where} ORDER BY {chain.id_column}"
    ).to_dicts()


def seal(con: duckdb.DuckDBPyConnection, chain: Chained) -> int:
    """Chain the rows not yet chained, in id order, after the last chained
    row; call inside the transaction that wrote them. Rows stored before the
    chain existed are chained by the first write after the upgrade."""
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
        prev = row_hash({c: row[c] for c in (*chain.columns, "prev_hash")})
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
    return len(links)


def chain_breaks(con: duckdb.DuckDBPyConnection, chain: Chained) -> list[Break]:
    rows = [{c: r[c] for c in (*chain.columns, "prev_hash", "row_hash")} for r in _rows(con, chain)]
    return check_chain(chain.table, chain.id_column, rows)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_breaks(con: duckdb.DuckDBPyConnection, archive: Path, quarantine: Path) -> list[Break]:
    """Each kept file re-hashed. stored_as records where the file was put when
    it was processed; the folders may have moved since (a copy, a restore), so
    the file is looked up by its name in today's archive (ingested and
    duplicate files) or quarantine (rejected ones)."""
    breaks = []
    kept = run(
        con,
        "SELECT file_id, status, stored_as, sha256 FROM source_files"
        " WHERE stored_as IS NOT NULL ORDER BY file_id",
    )
    for file_id, status, stored_as, sha256 in kept:
        folder = quarantine if status == "rejected" else archive
        path = folder / Path(stored_as).name
        key = f"file_id {file_id}"
        if not path.is_file():
            breaks.append(Break("source_files", key, f"kept file {path} is missing"))
        elif _sha256(path) != sha256:
            breaks.append(
                Break("source_files", key, f"kept file {path} was modified (SHA-256 differs)")
            )
    return breaks


@dataclass(frozen=True)
class Verification:
    breaks: list[Break]
    rows: dict[str, int]  # rows checked per table
    files: int  # kept files re-hashed
    heads: dict[str, str]  # last row_hash per table: record it elsewhere to pin the chain


def verify(db: Path, archive: Path, quarantine: Path) -> Verification:
    """Recompute both chains and re-hash every kept file; read-only, so it
    runs on the live database or on a published snapshot."""
    require_database(db)
    with connect(db, read_only=True) as con:
        columns = {
            (t, c)
            for t, c in run(
                con, "SELECT table_name, column_name FROM duckdb_columns() WHERE internal = false"
            )
        }
        if (SOURCE_FILES.table, "row_hash") not in columns:
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
        heads: dict[str, str] = {}
        for chain in CHAINS:
            breaks.extend(chain_breaks(con, chain))
            rows[chain.table] = run(con, f"SELECT count(*) FROM {chain.table}")[0][0]
            head = run(
                con,
                f"SELECT row_hash FROM {chain.table} ORDER BY {chain.id_column} DESC LIMIT 1",
            )
            heads[chain.table] = (head[0][0] if head else None) or GENESIS
        breaks.extend(_file_breaks(con, archive, quarantine))
        files = run(con, "SELECT count(*) FROM source_files WHERE stored_as IS NOT NULL")[0][0]
    return Verification(breaks, rows, int(files), heads)
