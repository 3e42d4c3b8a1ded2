"""What the tables hold now, kind by kind, as the ledger records it: what
`kqc verify` compares with the ledger's latest items, and what migration
0010 records once, when the ledger is added to a database."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from kqc.store.chain import CHAINS
from kqc.store.columns import has_table
from kqc.store.connection import run
from kqc.store.digests import RESULTS, SUPERSESSIONS, file_digests
from kqc.store.ledger import ROW_TABLES, THRESHOLDS, record, row_digests, thresholds_digest

# Each file-keyed kind of the ledger: the spec digested, and the rows it covers.
FILE_SPECS = {
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
        if has_table(con, chain.table)
    }
    return {
        **sealed,
        **{kind: file_digests(con, spec, where) for kind, (spec, where) in FILE_SPECS.items()},
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
