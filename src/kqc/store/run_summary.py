"""What one ingest run changed, for the record a run leaves in Prefect: the
batches it touched, each with its status, and the flags the run raised,
reopened or resolved.

A batch is touched when a file of the run brought its results or its register
row, or when the run changed one of its flags (a thresholds change or a late
batch can change the verdict of a batch no file of the run named). The query
is in the store; the shaping into table rows and a short summary is pure.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from kqc.store.connection import connect, frame
from kqc.store.queries import require_database

# A run that re-judges thousands of batches still leaves a table a person can
# scroll; the summary says how many rows were left out.
MAX_ROWS = 1_000

COLUMNS = (
    "batch_id",
    "product_id",
    "batch_status",
    "open_flags",
    "flag_id",
    "rule",
    "analyte",
    "observed",
    "limit_value",
    "unit",
    "severity",
    "flag_status",
)

_SEVERITY_ORDER = "CASE c.severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END"
_STATUS_ORDER = "CASE s.status WHEN 'FAIL' THEN 0 WHEN 'INCOMPLETE' THEN 1 ELSE 2 END"

# The batches a run touched (see above) as the table `touched`, beside
# `changed`, the flags written since the run began. Parameters: the hashes
# of the run's files, then when the run began. Shared with the run's events
# (kqc.store.run_events), which speak of the same batches.
TOUCHED = (
    "WITH run_files AS (SELECT unnest(?::VARCHAR[]) AS sha256),"
    " changed AS (SELECT * FROM flags WHERE updated_at >= ?),"
    " touched AS ("
    "   SELECT DISTINCT batch_id FROM results"
    "   WHERE source_sha256 IN (SELECT sha256 FROM run_files)"
    "   UNION SELECT batch_id FROM batches"
    "   WHERE source_sha256 IN (SELECT sha256 FROM run_files)"
    "   UNION SELECT batch_id FROM changed)"
)


def run_changes(db: Path, sha256s: list[str], since: datetime) -> pl.DataFrame:
    """One row per flag raised, reopened or resolved since `since` on a
    touched batch, and one row (no flag) per touched batch without such a
    flag; failing batches first, most severe flags first."""
    require_database(db)
    with connect(db, read_only=True) as con:
        return frame(
            con,
            TOUCHED + " SELECT t.batch_id, b.product_id,"
            " coalesce(s.status, 'PASS') AS batch_status,"
            "  coalesce(s.open_flags, 0) AS open_flags, c.flag_id, c.rule, c.analyte,"
            "  c.observed, c.limit_value, c.unit, c.severity, c.status AS flag_status"
            " FROM touched t LEFT JOIN batch_status s USING (batch_id)"
            " LEFT JOIN batches b USING (batch_id) LEFT JOIN changed c USING (batch_id)"
            f" ORDER BY {_STATUS_ORDER}, t.batch_id, c.flag_id IS NULL, {_SEVERITY_ORDER},"
            "  c.rule, c.analyte, c.flag_id",
            [sha256s, since],
        )


def table_rows(changes: pl.DataFrame, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """The rows of the run's table, in the order of COLUMNS; at most `limit`."""
    return [
        {column: row[column] for column in COLUMNS}
        for row in changes.head(limit).iter_rows(named=True)
    ]


def summary_markdown(
    changes: pl.DataFrame,
    file_statuses: list[str],
    snapshot: Path | None,
    limit: int = MAX_ROWS,
) -> str:
    """A few lines for a person: files by status, batches by status, flags by
    severity, where the snapshot is."""
    files = Counter(file_statuses)
    batches = changes.unique("batch_id")
    by_status = Counter(batches["batch_status"].to_list())
    raised = changes.filter(pl.col("flag_status") == "open")
    by_severity = Counter(raised["severity"].to_list())
    resolved = changes.filter(pl.col("flag_status") == "resolved").height

    def listing(counts: Counter[str], order: tuple[str, ...]) -> str:
        parts = [f"{counts[key]} {key}" for key in order if counts[key]]
        return ", ".join(parts) if parts else "none"

    lines = [
        "# kqc ingest run",
        "",
        f"- Files: {sum(files.values())} "
        f"({listing(files, ('ingested', 'duplicate', 'rejected', 'failed'))})",
        f"- Batches touched: {batches.height} "
        f"({listing(by_status, ('FAIL', 'INCOMPLETE', 'PASS'))})",
        f"- Flags raised or reopened: {raised.height} "
        f"({listing(by_severity, ('critical', 'major', 'minor'))}); resolved: {resolved}",
        f"- Snapshot for regulators: {snapshot if snapshot is not None else 'not written'}",
    ]
    if changes.height > limit:
        lines.append(
            f"- The table shows the first {limit} of {changes.height} rows; "
            "`kqc flags` lists them all."
        )
    return "\n".join(lines) + "\n"
