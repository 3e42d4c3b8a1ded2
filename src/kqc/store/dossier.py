"""One batch's dossier as stored: its register row and status, every result
with the file it came from, its flags and their reviews, and the evidence the
rules read (the same `evidence` the evaluation uses), so its statistics can be
computed as the rules compute them. The database is opened read-only and
closed at once."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from kqc.errors import UsageError
from kqc.store.connection import connect, run, small_frame
from kqc.store.evaluation import evidence
from kqc.store.queries import require_database

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


@dataclass(frozen=True)
class StoredDossier:
    batch_id: str
    register: dict | None  # the batches row; None when QA has not registered the batch
    status: str | None
    open_flags: int
    results: pl.DataFrame  # every result, with its source file
    flags: pl.DataFrame
    reviews: pl.DataFrame
    # What the rules read: current results, thresholds in force, the product's history.
    current: pl.DataFrame
    thresholds: pl.DataFrame
    history: pl.DataFrame


def _known_batches(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = run(con, "SELECT batch_id FROM batches UNION SELECT DISTINCT batch_id FROM results")
    return [r[0] for r in rows]


def _unknown(con: duckdb.DuckDBPyConnection, batch_id: str) -> UsageError:
    close = difflib.get_close_matches(batch_id, _known_batches(con), n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "list the flagged batches with `kqc flags`"
    )
    return UsageError(f"no batch '{batch_id}' in the database: {hint}")


def read_dossier(db: Path, batch_id: str) -> StoredDossier:
    """Everything stored about `batch_id`; an unknown id is a usage error that
    names the closest known ones."""
    require_database(db)
    with connect(db, read_only=True) as con:
        results = small_frame(con, _RESULTS_SQL, [batch_id])
        current, register, history = evidence(con, [batch_id], read=small_frame)
        if results.is_empty() and register.is_empty():
            raise _unknown(con, batch_id)
        status = run(
            con, "SELECT status, open_flags FROM batch_status WHERE batch_id = ?", [batch_id]
        )
        flags = small_frame(
            con,
            "SELECT flag_id, rule, analyte, severity, status, observed, limit_value, unit, basis,"
            " profile, message, source, threshold_version, created_at, updated_at"
            f" FROM flags WHERE batch_id = ? ORDER BY {_FLAG_ORDER}",
            [batch_id],
        )
        reviews = small_frame(
            con,
            "SELECT r.flag_id, f.rule, f.analyte, r.decision, r.reviewer, r.note, r.reviewed_at"
            " FROM flag_reviews r JOIN flags f USING (flag_id) WHERE f.batch_id = ?"
            " ORDER BY r.reviewed_at, r.flag_id",
            [batch_id],
        )
        thresholds = small_frame(con, "SELECT * FROM thresholds")
    found_status, open_flags = status[0] if status else (None, 0)
    return StoredDossier(
        batch_id=batch_id,
        register=register.row(0, named=True) if register.height else None,
        status=found_status,
        open_flags=int(open_flags),
        results=results,
        flags=flags,
        reviews=reviews,
        current=current,
        thresholds=thresholds,
        history=history,
    )
