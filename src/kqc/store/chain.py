"""The hash chains of source_files and flag_reviews: each row sealed, in id
order, after the last one, as it is written, and recorded in the ledger.
Hashing of single rows is pure (kqc.core.chain).

The rest of the tamper evidence lives beside this module: the digests of
many results (kqc.store.digests), the ledger (kqc.store.ledger), what the
tables hold now (kqc.store.contents), the heads (kqc.store.chain_heads) and
`kqc verify` (kqc.store.verification).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from kqc.core.chain import GENESIS, Break, check_chain, row_hash
from kqc.store.columns import has_column, has_table
from kqc.store.connection import frame, registered, run
from kqc.store.ledger import has_ledger, record

if TYPE_CHECKING:
    from kqc.store.chain_heads import BadExpectation, heads, heads_path, write_heads
    from kqc.store.contents import record_all
    from kqc.store.digests import SHA256, Digest
    from kqc.store.ledger import BATCHES, record_rows
    from kqc.store.verification import verify


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
    ("signature_id",),
)
SIGNATURES = Chained(
    "signatures",
    "signature_id",
    (
        "signature_id",
        "user_id",
        "user_name",
        "full_name",
        "meaning",
        "signed_at",
        "record_kind",
        "record_id",
        "record_hash",
    ),
)
BATCH_DISPOSITIONS = Chained(
    "batch_dispositions",
    "disposition_id",
    ("disposition_id", "batch_id", "decision", "signature_id", "note", "decided_at"),
)
LEDGER = Chained(
    "ledger",
    "entry_id",
    ("entry_id", "kind", "recorded_at", "item_count", "items_sha256"),
)
# The tables whose rows kqc seals as it writes them, and every chain with a
# head to keep. Signatures and dispositions came later (migration 15): a
# database without them has nothing there to seal or check.
CHAINS = (SOURCE_FILES, FLAG_REVIEWS, SIGNATURES, BATCH_DISPOSITIONS)
HEADS = (SOURCE_FILES, FLAG_REVIEWS, LEDGER, SIGNATURES, BATCH_DISPOSITIONS)


def next_review_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next position in the flag_reviews chain (writers are serialized by
    DuckDB's single-writer lock, so max + 1 is unique)."""
    return int(run(con, "SELECT coalesce(max(review_id), 0) + 1 FROM flag_reviews")[0][0])


def _hashed(chain: Chained, row: Mapping[str, object]) -> dict[str, object]:
    """The columns of `row` its hash covers (an optional one only when set)."""
    kept = {c: row[c] for c in chain.columns}
    kept.update({c: row[c] for c in chain.optional if row.get(c) is not None})
    kept["prev_hash"] = row["prev_hash"]
    if "row_hash" in row:
        kept["row_hash"] = row["row_hash"]
    return kept


def _rows(con: duckdb.DuckDBPyConnection, chain: Chained, where: str = "") -> list[dict]:
    present = tuple(c for c in chain.optional if has_column(con, chain.table, c))
    names = ", ".join((*chain.columns, *present, "prev_hash", "row_hash"))
    return frame(
        con, f"SELECT {names} FROM {chain.table} {where} ORDER BY {chain.id_column}"
    ).to_dicts()


def seal(con: duckdb.DuckDBPyConnection, chain: Chained) -> int:
    """Chain the rows not yet chained, in id order, after the last chained
    row, and record them in the ledger; call inside the transaction that
    wrote them. Rows stored before the chain existed are chained by the first
    write after the upgrade."""
    if not has_table(con, chain.table):
        return 0
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
    if has_ledger(con):
        record(con, chain.table, {str(i): h for i, _, h in links})
    return len(links)


def chain_breaks(con: duckdb.DuckDBPyConnection, chain: Chained) -> list[Break]:
    if not has_table(con, chain.table):
        return []
    return check_chain(chain.table, chain.id_column, (_hashed(chain, r) for r in _rows(con, chain)))


# Names that moved to the modules split from this one and are still imported
# from here; each loads on first use, for each of those modules imports this
# one.
_MOVED = {
    "BATCHES": "ledger",
    "BadExpectation": "chain_heads",
    "Digest": "digests",
    "SHA256": "digests",
    "heads": "chain_heads",
    "heads_path": "chain_heads",
    "record_all": "contents",
    "record_rows": "ledger",
    "verify": "verification",
    "write_heads": "chain_heads",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kqc.store.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BATCHES",
    "CHAINS",
    "FLAG_REVIEWS",
    "HEADS",
    "LEDGER",
    "SHA256",
    "SOURCE_FILES",
    "BadExpectation",
    "Chained",
    "Digest",
    "chain_breaks",
    "heads",
    "heads_path",
    "next_review_id",
    "record_all",
    "record_rows",
    "seal",
    "verify",
    "write_heads",
]
