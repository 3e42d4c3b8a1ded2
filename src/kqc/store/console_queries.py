"""The read questions of the QA console that the rest of the store does not
already answer: what waits for a decision, a filtered page of findings with
their latest review, a batch's reviews, signatures and dispositions, and the
files the inbox took.

Every query is bounded: filters are pushed into SQL and each list stops at
a LIMIT, so a page costs the same on a database of ten million results as on
a small one (the console must answer within 300 ms of server time). The
database is opened read-only and closed at once, so the watch can write
between two pages.

Whether a signature still counts (21 CFR 11.70: a signature is bound to its
record) is decided here, by comparing the hash it signed with the record's
hash now, computed as kqc.store.signatures computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kqc.store.columns import has_table
from kqc.store.connection import connect, rows, run, small_frame
from kqc.store.evaluation import JUDGED_RESULTS
from kqc.store.queries import require_database
from kqc.store.reviews import pending_dismissals
from kqc.store.signatures import batch_hash, flag_hashes

if TYPE_CHECKING:
    import polars as pl

Row = dict[str, Any]

# Open first, most severe first: the order of `kqc flags` (flags as `f`).
_STATUS_RANK = (
    "CASE f.status WHEN 'open' THEN 0 WHEN 'confirmed' THEN 1 WHEN 'dismissed' THEN 2 ELSE 3 END"
)
_SEVERITY_RANK = "CASE f.severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END"
# A finding's cause: what an inconclusive finding says is missing (one cause,
# one finding: kqc.core.rules.causes), else the rule that found it.
_CAUSE = "coalesce(json_extract_string(f.evidence, '$.cause'), f.rule)"
_WANTED = "(SELECT unnest(?::VARCHAR[]))"

# The batch_status view (migration 0002) over the batches QA registered or
# the rules found something about, instead of every batch with a current
# result: the view's DISTINCT over ten million results is most of a page's
# time. A batch with results and neither is not registered, and always has a
# finding saying so (kqc.core.rules.causes, no_register), so none is missed.
_BATCH_STATUS = """
WITH known AS (SELECT batch_id FROM batches UNION SELECT batch_id FROM flags),
counted AS (
    SELECT batch_id, count(*) AS open_flags,
        count(*) FILTER (WHERE rule NOT IN ('missing_panel', 'inconclusive')) AS findings
    FROM flags WHERE status IN ('open', 'confirmed') GROUP BY batch_id
)
SELECT known.batch_id,
    CASE WHEN coalesce(counted.findings, 0) > 0 THEN 'FAIL'
        WHEN coalesce(counted.open_flags, 0) > 0 THEN 'INCOMPLETE' ELSE 'PASS' END AS status,
    coalesce(counted.open_flags, 0) AS open_flags
FROM known LEFT JOIN counted USING (batch_id)
"""

STATUSES = ("open", "confirmed", "dismissed", "resolved")
SEVERITIES = ("critical", "major", "minor")


@dataclass(frozen=True)
class FindingFilters:
    """What the findings page narrows to; None is no filter. Dates are the
    day (UTC) the finding was first raised, both ends included."""

    status: str | None = None
    rule: str | None = None
    product: str | None = None
    severity: str | None = None
    lab: str | None = None
    batch: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class FilterChoices:
    """The values the findings filters offer (a bounded few of each)."""

    rules: list[str]
    products: list[str]


@dataclass(frozen=True)
class FindingPage:
    """A page of findings, each with its latest review, and how many match."""

    rows: list[Row]
    total: int
    limit: int
    choices: FilterChoices


@dataclass(frozen=True)
class DecisionQueue:
    """What needs a decision: open findings and batches not yet disposed of
    (or on hold), the first of each, and how many there are in all."""

    findings: list[Row]
    findings_total: int
    batches: list[Row]
    batches_total: int


@dataclass(frozen=True)
class ChartFrames:
    """What the report's charts read, for one batch: its current production
    results as the rules judge them, its register row, the thresholds."""

    results: pl.DataFrame
    registers: pl.DataFrame
    thresholds: pl.DataFrame


@dataclass(frozen=True)
class BatchRecord:
    """What the batch page and its release record add to the dossier."""

    reviews: list[Row]  # every review of the batch's findings, with its signature
    signatures: list[Row]  # every signature on the batch or its findings, with `counts`
    dispositions: list[Row]  # every disposition, oldest first
    awaiting_verification: dict[str, Row] = field(default_factory=dict)  # flag_id -> dismissal
    charts: ChartFrames | None = None  # what the charts read, when asked for


def _with_reviews(con: duckdb.DuckDBPyConnection, found: list[Row]) -> list[Row]:
    """Each finding with its latest review (who, when, why, signed or not)
    and whether its dismissal waits for verification."""
    ids = [r["flag_id"] for r in found]
    if not ids:
        return found
    latest = {
        r["flag_id"]: r
        for r in rows(
            con,
            "SELECT r.flag_id, r.decision, r.reviewer, r.note, r.reviewed_at, r.signature_id,"
            " s.full_name AS reviewer_full_name FROM flag_reviews r"
            " LEFT JOIN signatures s USING (signature_id) WHERE r.flag_id IN " + _WANTED + ""
            " QUALIFY row_number() OVER (PARTITION BY r.flag_id ORDER BY r.review_id DESC) = 1",
            [ids],
        )
    }
    verified = {
        r["record_id"]: r
        for r in rows(
            con,
            "SELECT record_id, user_name, full_name, signed_at FROM signatures"
            " WHERE record_kind = 'dismissal' AND record_id IN " + _WANTED + ""
            " QUALIFY row_number() OVER (PARTITION BY record_id ORDER BY signature_id DESC) = 1",
            [ids],
        )
    }
    waiting = pending_dismissals(con, ids)
    for r in found:
        r["review"] = latest.get(r["flag_id"])
        r["verification"] = verified.get(r["flag_id"])
        r["awaiting_verification"] = r["flag_id"] in waiting
    return found


def _finding_where(filters: FindingFilters) -> tuple[str, list[object]]:
    where: list[str] = []
    params: list[object] = []
    for column, value in (
        ("f.status", filters.status),
        ("f.rule", filters.rule),
        ("b.product_id", filters.product),
        ("f.severity", filters.severity),
        ("f.batch_id", filters.batch),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.lab is not None:
        # A semi-join on the flag's batch: the fastest form over ten million results.
        where.append(
            "EXISTS (SELECT 1 FROM results r WHERE r.batch_id = f.batch_id AND r.lab_id = ?"
            " AND r.superseded_by IS NULL)"
        )
        params.append(filters.lab)
    if filters.since is not None:
        where.append("f.created_at >= ?")
        params.append(datetime.combine(filters.since, time.min, tzinfo=UTC))
    if filters.until is not None:
        where.append("f.created_at < ?")
        params.append(datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC))
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


_FINDING_COLUMNS = (
    "f.flag_id, f.batch_id, b.product_id, b.product_name, f.rule, f.analyte, f.severity,"
    f" f.status, f.observed, f.limit_value, f.unit, f.message, f.created_at, {_CAUSE} AS cause"
)


def finding_page(db: Path, filters: FindingFilters, limit: int = 200) -> FindingPage:
    """Findings matching `filters`, grouped by batch (the batch with the most
    pressing finding first) and by cause, open first and most severe first
    within; the first `limit`, each with its latest review."""
    require_database(db)
    clause, params = _finding_where(filters)
    with connect(db, read_only=True) as con:
        found = rows(
            con,
            f"WITH m AS (SELECT {_FINDING_COLUMNS}, {_STATUS_RANK} * 3 + {_SEVERITY_RANK} AS rank"
            f"   FROM flags f LEFT JOIN batches b USING (batch_id) {clause})"
            " SELECT *, count(*) OVER () AS total FROM m"
            " ORDER BY min(rank) OVER (PARTITION BY batch_id), batch_id,"
            "   min(rank) OVER (PARTITION BY batch_id, cause), cause, rank, rule, analyte, flag_id"
            " LIMIT ?",
            [*params, int(limit)],
        )
        total = int(found[0]["total"]) if found else 0
        return FindingPage(_with_reviews(con, found), total, int(limit), _filter_choices(con))


def _filter_choices(con: duckdb.DuckDBPyConnection, cap: int = 200) -> FilterChoices:
    """Rules and products to choose from, at most `cap` of each (labs are
    typed: listing them would read every result)."""
    rules = run(con, f"SELECT DISTINCT rule FROM flags ORDER BY 1 LIMIT {int(cap)}")
    products = run(con, f"SELECT DISTINCT product_id FROM batches ORDER BY 1 LIMIT {int(cap)}")
    return FilterChoices([r[0] for r in rules], [r[0] for r in products])


def decision_queue(db: Path, limit: int = 50) -> DecisionQueue:
    """Open findings (most severe first) and batches awaiting a disposition
    (none yet, or on hold): ready to release first, then failing, then
    incomplete."""
    require_database(db)
    with connect(db, read_only=True) as con:
        found = rows(
            con,
            f"SELECT {_FINDING_COLUMNS}, count(*) OVER () AS total"
            " FROM flags f LEFT JOIN batches b USING (batch_id) WHERE f.status = 'open'"
            f" ORDER BY {_SEVERITY_RANK}, f.created_at, f.batch_id, f.rule, f.analyte LIMIT ?",
            [int(limit)],
        )
        disposed = has_table(con, "batch_dispositions")
        decision = "d.decision" if disposed else "NULL::VARCHAR"
        join = "LEFT JOIN batch_disposition d USING (batch_id)" if disposed else ""
        batches = rows(
            con,
            f"WITH s AS ({_BATCH_STATUS}) SELECT s.batch_id, b.product_id, b.product_name,"
            f" s.status, s.open_flags, {decision} AS disposition, count(*) OVER () AS total"
            f" FROM s LEFT JOIN batches b USING (batch_id) {join}"
            f" WHERE {decision} IS NULL OR {decision} = 'hold'"
            " ORDER BY CASE s.status WHEN 'PASS' THEN 0 WHEN 'FAIL' THEN 1 ELSE 2 END, s.batch_id"
            " LIMIT ?",
            [int(limit)],
        )
        findings = _with_reviews(con, found)
    return DecisionQueue(
        findings,
        int(found[0]["total"]) if found else 0,
        batches,
        int(batches[0]["total"]) if batches else 0,
    )


def batch_record(db: Path, batch_id: str, *, charts: bool = False) -> BatchRecord:
    """Every review, signature and disposition of one batch; each signature
    marked `counts` False when the record it signed has changed since. With
    `charts`, also what the report's charts read (one connection for both)."""
    require_database(db)
    with connect(db, read_only=True) as con:
        reviews = rows(
            con,
            "SELECT r.review_id, r.flag_id, f.rule, f.analyte, f.severity, r.decision, r.reviewer,"
            " r.note, r.reviewed_at, r.signature_id, s.full_name AS reviewer_full_name,"
            " s.meaning FROM flag_reviews r JOIN flags f USING (flag_id)"
            " LEFT JOIN signatures s USING (signature_id) WHERE f.batch_id = ?"
            " ORDER BY r.review_id",
            [batch_id],
        )
        signatures = rows(
            con,
            "SELECT s.signature_id, s.user_id, s.user_name, s.full_name, s.meaning, s.signed_at,"
            " s.record_kind, s.record_id, s.record_hash, f.rule, f.analyte"
            " FROM signatures s LEFT JOIN flags f ON f.flag_id = s.record_id"
            "   AND s.record_kind IN ('flag', 'dismissal')"
            " WHERE (s.record_kind = 'batch' AND s.record_id = ?)"
            "   OR (s.record_kind IN ('flag', 'dismissal')"
            "     AND s.record_id IN (SELECT flag_id FROM flags WHERE batch_id = ?))"
            " ORDER BY s.signature_id",
            [batch_id, batch_id],
        )
        dispositions = rows(
            con,
            "SELECT d.disposition_id, d.decision, d.note, d.decided_at, d.signature_id,"
            " s.user_name AS decided_by, s.full_name AS decided_by_full_name"
            " FROM batch_dispositions d JOIN signatures s USING (signature_id)"
            " WHERE d.batch_id = ? ORDER BY d.disposition_id",
            [batch_id],
        )
        flag_ids = sorted({s["record_id"] for s in signatures if s["record_kind"] != "batch"})
        now = flag_hashes(con, flag_ids)
        batch_now = batch_hash(con, batch_id) if signatures else ""
        for s in signatures:
            current = batch_now if s["record_kind"] == "batch" else now.get(s["record_id"])
            s["counts"] = current == s["record_hash"]
        ids = [r[0] for r in run(con, "SELECT flag_id FROM flags WHERE batch_id = ?", [batch_id])]
        waiting = pending_dismissals(con, ids)
        frames = _chart_frames(con, batch_id) if charts else None
    return BatchRecord(reviews, signatures, dispositions, waiting, frames)


def flag_batch(db: Path, flag_id: str) -> str | None:
    """The batch a finding belongs to (None when there is no such finding)."""
    require_database(db)
    with connect(db, read_only=True) as con:
        found = run(con, "SELECT batch_id FROM flags WHERE flag_id = ?", [flag_id])
    return str(found[0][0]) if found else None


def recent_files(db: Path, limit: int = 100) -> list[Row]:
    """The files the inbox took, newest first: ingested, duplicate or rejected."""
    if not db.exists():
        return []
    with connect(db, read_only=True) as con:
        return rows(
            con,
            "SELECT file_id, file_name, status, kind, received_at, row_count, error_count,"
            " stored_as, size_bytes FROM source_files ORDER BY file_id DESC LIMIT ?",
            [int(limit)],
        )


def _chart_frames(con: duckdb.DuckDBPyConnection, batch_id: str) -> ChartFrames:
    """One batch's chart inputs as frames (kqc.report.points reads frames)."""
    return ChartFrames(
        small_frame(
            con,
            f"SELECT * FROM {JUDGED_RESULTS} WHERE batch_id = ? AND superseded_by IS NULL"
            " AND sample_type = 'production' ORDER BY result_id",
            [batch_id],
        ),
        small_frame(con, "SELECT * FROM batches WHERE batch_id = ?", [batch_id]),
        small_frame(con, "SELECT * FROM thresholds", []),
    )
