"""Which tables and columns a database has: a column added by a later
migration is missing from a database not yet migrated, which `kqc verify`
reads as it is, so what is hashed and read of a table depends on it."""

from __future__ import annotations

import duckdb

from kqc.store.connection import run


def has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(
        run(
            con,
            "SELECT count(*) FROM duckdb_columns() WHERE NOT internal"
            " AND table_name = ? AND column_name = ?",
            [table, column],
        )[0][0]
    )


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the database has `table` (a read-only connection does not migrate)."""
    return bool(
        run(
            con,
            "SELECT count(*) FROM duckdb_tables() WHERE NOT internal AND table_name = ?",
            [table],
        )[0][0]
    )
