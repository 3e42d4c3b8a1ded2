"""The DuckDB store: the one module that knows where data lives.

Everything else asks this package to read or write; moving to another engine
(DuckLake, a catalog plus Parquet) is a change here, not a rewrite.
"""

from kqc.store.connection import connect, migrate, transaction
from kqc.store.errors import DatabaseLocked, NotADatabase, StoreError
from kqc.store.evaluation import (
    all_batch_ids,
    clear_queue,
    evidence,
    merge_flags,
    potency_results,
    queued_batch_ids,
    replace_thresholds,
    save_potency,
    thresholds_version,
)
from kqc.store.queries import FlagPage, batch_statuses, flag_page, flags
from kqc.store.reviews import Review, record_review
from kqc.store.writes import (
    FileRecord,
    Incoming,
    RecordedDrop,
    RejectedWhileStoring,
    ingested_sha256,
    known_files,
    store_files,
    store_ingested,
    store_rejected,
)

__all__ = [
    "DatabaseLocked",
    "FileRecord",
    "FlagPage",
    "Incoming",
    "NotADatabase",
    "RecordedDrop",
    "RejectedWhileStoring",
    "Review",
    "StoreError",
    "all_batch_ids",
    "batch_statuses",
    "clear_queue",
    "connect",
    "evidence",
    "flag_page",
    "flags",
    "ingested_sha256",
    "known_files",
    "merge_flags",
    "migrate",
    "potency_results",
    "queued_batch_ids",
    "record_review",
    "replace_thresholds",
    "save_potency",
    "store_files",
    "store_ingested",
    "store_rejected",
    "thresholds_version",
    "transaction",
]
