"""One batch's dossier as stored: its register row and status, every result
with the file it came from, its flags and their reviews, and the evidence the
rules read (the queries `evidence` runs), so its statistics can be computed
as the rules compute them. The database is opened read-only and closed at
once.

Two readers run the same queries: `read_dossier` gives Polars frames typed
as stored (what an export writes), `read_dossier_rows` plain rows (what a
terminal or json shows, read without loading polars: a third of the
command's time)."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import duckdb

from kqc.errors import UsageError
from kqc.store.connection import connect, rows, run, small_frame
from kqc.store.evaluation import evidence, evidence_queries
from kqc.store.queries import require_database

if TYPE_CHECKING:
    import polars as pl

Rows = list[dict[str, Any]]
Table = TypeVar("Table", "pl.DataFrame", Rows)
Connection = duckdb.DuckDBPyConnection

# Open first, most severe first: the order of `kqc flags`.
_FLAG_ORDER = (
    "CASE status WHEN 'open' THEN 0 WHEN 'confirmed' THEN 1 WHEN 'dismissed' THEN 2 ELSE 3 END,"
    " CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END, rule, analyte"
)

# Every result of the batch, amended ones too (marked by superseded_by), each
# with the reported text beside the canonical value and the file it came from.
_RESULTS_SQL = """
WITH r AS (SELECT * FROM results WHERE batch_id = ?),
-- the few results that replaced one of this batch's (joined to the whole
-- table, the lookup scanned ten million rows for a handful)
n AS (
    SELECT result_id, source_sha256 FROM results
    WHERE result_id IN (SELECT superseded_by FROM r WHERE superseded_by IS NOT NULL)
),
f AS (
    SELECT sha256, min(file_name) AS file_name FROM source_files
    WHERE status = 'ingested' AND sha256 IN (SELECT source_sha256 FROM r)
    GROUP BY sha256
)
SELECT r.result_id, r.sample_id, r.sample_type, r.unit_no, r.analyte, r.reported_analyte,
    r.reported_result, r.reported_unit, r.value, r.qualifier, r.bound, r.unit, r.lod, r.loq,
    r.test_portion_g, r.lab_id, r.method, r.analyzed_at, r.accreditation,
    f.file_name AS source_file, r.source_row, r.source_sha256, r.superseded_by,
    r.superseded_at, nf.file_name AS superseded_by_file
FROM r
LEFT JOIN n ON n.result_id = r.superseded_by
LEFT JOIN source_files nf ON nf.sha256 = n.source_sha256 AND nf.status = 'ingested'
LEFT JOIN f ON f.sha256 = r.source_sha256
ORDER BY r.superseded_by IS NOT NULL, r.sample_type != 'production', r.analyte, r.sample_id,
    try_cast(r.unit_no AS INTEGER), r.unit_no, r.result_id
"""
_FLAGS_SQL = (
    "SELECT flag_id, rule, analyte, severity, status, observed, limit_value, unit, basis,"
    " profile, message, source, threshold_version, created_at, updated_at"
    f" FROM flags WHERE batch_id = ? ORDER BY {_FLAG_ORDER}"
)
_REVIEWS_SQL = (
    "SELECT r.flag_id, f.rule, f.analyte, r.decision, r.reviewer, r.note, r.reviewed_at"
    " FROM flag_reviews r JOIN flags f USING (flag_id) WHERE f.batch_id = ?"
    " ORDER BY r.reviewed_at, r.flag_id"
)


@dataclass(frozen=True)
class StoredDossier(Generic[Table]):
    batch_id: str
    register: dict | None  # the batches row; None when QA has not registered the batch
    status: str | None
    open_flags: int
    results: Table  # every result, with its source file
    flags: Table
    reviews: Table
    # What the rules read: current results, thresholds in force, the product's history.
    current: Table
    thresholds: Table
    history: Table


def read_dossier(db: Path, batch_id: str) -> StoredDossier[pl.DataFrame]:
    """Everything stored about `batch_id` as frames; an unknown id is a usage
    error that names the closest known ones."""
    return _read(db, batch_id, small_frame, _evidence_frames)


def read_dossier_rows(db: Path, batch_id: str) -> StoredDossier[Rows]:
    """read_dossier as plain rows, each a dict as a frame's to_dicts() gives
    it, read without polars."""
    return _read(db, batch_id, rows, _evidence_rows)


def _read(
    db: Path,
    batch_id: str,
    read: Callable[[Connection, str, list[object]], Table],
    read_evidence: Callable[[Connection, str], tuple[Table, dict | None, Table]],
) -> StoredDossier[Table]:
    require_database(db)
    with connect(db, read_only=True) as con:
        results = read(con, _RESULTS_SQL, [batch_id])
        current, register, history = read_evidence(con, batch_id)
        if len(results) == 0 and register is None:
            raise _unknown(con, batch_id)
        status = run(
            con, "SELECT status, open_flags FROM batch_status WHERE batch_id = ?", [batch_id]
        )
        flags = read(con, _FLAGS_SQL, [batch_id])
        reviews = read(con, _REVIEWS_SQL, [batch_id])
        thresholds = read(con, "SELECT * FROM thresholds", [])
    found_status, open_flags = status[0] if status else (None, 0)
    return StoredDossier(
        batch_id=batch_id,
        register=register,
        status=found_status,
        open_flags=int(open_flags),
        results=results,
        flags=flags,
        reviews=reviews,
        current=current,
        thresholds=thresholds,
        history=history,
    )


def _evidence_frames(
    con: Connection, batch_id: str
) -> tuple[pl.DataFrame, dict | None, pl.DataFrame]:
    current, register, history = evidence(con, [batch_id], read=small_frame)
    return current, register.row(0, named=True) if register.height else None, history


def _evidence_rows(con: Connection, batch_id: str) -> tuple[Rows, dict | None, Rows]:
    """`evidence` of one batch as rows, in the same order."""
    queries = evidence_queries([batch_id])
    current = rows(con, *queries.results)
    ids = [r["result_id"] for r in current]
    if any(a > b for a, b in itertools.pairwise(ids)):
        current.sort(key=lambda r: r["result_id"])  # stable, as evidence sorts
    register = rows(con, *queries.register)
    history = rows(con, *queries.history)
    return current, register[0] if register else None, history


def _known_batches(con: Connection) -> list[str]:
    found = run(con, "SELECT batch_id FROM batches UNION SELECT DISTINCT batch_id FROM results")
    return [r[0] for r in found]


def _unknown(con: Connection, batch_id: str) -> UsageError:
    close = difflib.get_close_matches(batch_id, _known_batches(con), n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "list the flagged batches with `kqc flags`"
    )
    return UsageError(f"no batch '{batch_id}' in the database: {hint}")
