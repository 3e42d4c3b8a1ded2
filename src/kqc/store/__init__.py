"""The DuckDB store: the one module that knows where data lives.

Everything else asks this package to read or write; moving to another engine
(DuckLake, a catalog plus Parquet) is a change here, not a rewrite.
"""

from kqc.store.connection import connect, migrate
from kqc.store.errors import DatabaseLocked, NotADatabase, StoreError
from kqc.store.writes import FileRecord, ingested_sha256, store_ingested, store_rejected

__all__ = [
    "DatabaseLocked",
    "FileRecord",
    "NotADatabase",
    "StoreError",
    "connect",
    "ingested_sha256",
    "migrate",
    "store_ingested",
    "store_rejected",
]
