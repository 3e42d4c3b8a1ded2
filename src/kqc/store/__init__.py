"""The DuckDB store: the one module that knows where data lives.

Everything else asks this package to read or write; moving to another engine
(DuckLake, a catalog plus Parquet) is a change here, not a rewrite.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kqc.store.chain_heads import heads, write_heads
    from kqc.store.connection import connect, migrate, transaction
    from kqc.store.dossier import StoredDossier, read_dossier, read_dossier_rows
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

# Where each public name lives: a part loads on first use, so a read-only
# command (`kqc flags`, `kqc batch`) never pays for the writes that bring in
# polars; its start is most of its time.
_HOME = {
    "DatabaseLocked": "errors",
    "FileRecord": "writes",
    "FlagPage": "queries",
    "Incoming": "writes",
    "NotADatabase": "errors",
    "RecordedDrop": "writes",
    "RejectedWhileStoring": "writes",
    "Review": "reviews",
    "StoreError": "errors",
    "StoredDossier": "dossier",
    "all_batch_ids": "evaluation",
    "batch_statuses": "queries",
    "clear_queue": "evaluation",
    "connect": "connection",
    "evidence": "evaluation",
    "flag_page": "queries",
    "flags": "queries",
    "heads": "chain_heads",
    "ingested_sha256": "writes",
    "known_files": "writes",
    "merge_flags": "evaluation",
    "migrate": "connection",
    "potency_results": "evaluation",
    "queued_batch_ids": "evaluation",
    "read_dossier": "dossier",
    "read_dossier_rows": "dossier",
    "record_review": "reviews",
    "replace_thresholds": "evaluation",
    "save_potency": "evaluation",
    "store_files": "writes",
    "store_ingested": "writes",
    "store_rejected": "writes",
    "thresholds_version": "evaluation",
    "transaction": "connection",
    "write_heads": "chain_heads",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


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
    "StoredDossier",
    "all_batch_ids",
    "batch_statuses",
    "clear_queue",
    "connect",
    "evidence",
    "flag_page",
    "flags",
    "heads",
    "ingested_sha256",
    "known_files",
    "merge_flags",
    "migrate",
    "potency_results",
    "queued_batch_ids",
    "read_dossier",
    "read_dossier_rows",
    "record_review",
    "replace_thresholds",
    "save_potency",
    "store_files",
    "store_ingested",
    "store_rejected",
    "thresholds_version",
    "transaction",
    "write_heads",
]
