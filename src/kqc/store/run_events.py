"""What one ingest run's evaluation changed, as the run's events tell it: the
flags it raised or reopened, and the status of each batch it touched, with
whether the batch was known before the run began.

A flag is written by the evaluation only when it is new, its evidence
changed, or it had been resolved (kqc.store.evaluation.merge_flags); one
judged again unchanged keeps its `updated_at`. So the flags raised or
reopened by a run are those open and written since it began, and one created
before it began was reopened. Batch statuses before the evaluation are read
with `standing`; the shaping into events is kqc.pipeline.events.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from kqc.store.connection import connect, run
from kqc.store.queries import require_database
from kqc.store.run_summary import TOUCHED


class OpenedFlag(NamedTuple):
    """A flag a run raised (`reopened` false) or reopened, as stored."""

    flag_id: str
    batch_id: str
    rule: str
    analyte: str | None
    severity: str
    profile: str | None
    observed: float | None
    limit_value: float | None
    unit: str | None
    status: str
    message: str
    reopened: bool


class TouchedBatch(NamedTuple):
    """A batch a run touched, its status now, and whether it was in the
    database before the run began (a result, a register row or a flag)."""

    batch_id: str
    status: str
    known_before: bool


class RunFindings(NamedTuple):
    opened: list[OpenedFlag]
    touched: list[TouchedBatch]


_SEVERITY_ORDER = "CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END"
_STATUS_ORDER = "CASE s.status WHEN 'FAIL' THEN 0 WHEN 'INCOMPLETE' THEN 1 ELSE 2 END"


def standing(db: Path) -> dict[str, str]:
    """The status of every batch that does not pass now (FAIL or
    INCOMPLETE); a batch not named passes, or is not known."""
    require_database(db)
    with connect(db, read_only=True) as con:
        return dict(run(con, "SELECT batch_id, status FROM batch_status WHERE status != 'PASS'"))


def run_findings(db: Path, sha256s: list[str], since: datetime) -> RunFindings:
    """The flags raised or reopened since `since` (most severe first), and
    the batches touched by the run's files (`sha256s`) or its flags, failing
    first."""
    require_database(db)
    with connect(db, read_only=True) as con:
        opened = run(
            con,
            "SELECT flag_id, batch_id, rule, analyte, severity, profile, observed, limit_value,"
            " unit, status, message, created_at < ? AS reopened"
            " FROM flags WHERE status = 'open' AND updated_at >= ?"
            f" ORDER BY {_SEVERITY_ORDER}, batch_id, rule, analyte, flag_id",
            [since, since],
        )
        touched = run(
            con,
            TOUCHED + " SELECT t.batch_id, coalesce(s.status, 'PASS') AS batch_status,"
            " t.batch_id IN (SELECT batch_id FROM results WHERE loaded_at < ?)"
            " OR t.batch_id IN (SELECT batch_id FROM batches WHERE updated_at < ?)"
            " OR t.batch_id IN (SELECT batch_id FROM flags WHERE created_at < ?) AS known_before"
            " FROM touched t LEFT JOIN batch_status s USING (batch_id)"
            f" ORDER BY {_STATUS_ORDER}, t.batch_id",
            [sha256s, since, since, since, since],
        )
    return RunFindings(
        [OpenedFlag(*row) for row in opened], [TouchedBatch(*row) for row in touched]
    )
