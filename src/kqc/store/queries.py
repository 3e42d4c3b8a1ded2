"""Read-only questions QA asks; the database is opened read-only and closed
at once, so the pipeline can write between two questions."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kqc.store.connection import connect, frame
from kqc.store.errors import StoreError

# Open first, most severe first (flags are selected as `f`).
_SEVERITY_ORDER = "CASE f.severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END"
_STATUS_ORDER = (
    "CASE f.status WHEN 'open' THEN 0 WHEN 'confirmed' THEN 1 WHEN 'dismissed' THEN 2 ELSE 3 END"
)


def require_database(db: Path) -> None:
    if not db.exists():
        raise StoreError(f"no database at {db}: run `kqc ingest` first, or pass --db / set KQC_DB")


def batch_statuses(db: Path) -> pl.DataFrame:
    require_database(db)
    with connect(db, read_only=True) as con:
        return frame(
            con,
            "SELECT s.batch_id, b.product_id, b.product_name, s.status, s.open_flags"
            " FROM batch_status s LEFT JOIN batches b USING (batch_id)"
            " ORDER BY CASE s.status WHEN 'FAIL' THEN 0 WHEN 'INCOMPLETE' THEN 1 ELSE 2 END,"
            " s.batch_id",
        )


def flags(
    db: Path,
    *,
    status: str | None = None,
    batch: str | None = None,
    rule: str | None = None,
    product: str | None = None,
) -> pl.DataFrame:
    """Flags, open first and most severe first; every filter optional."""
    require_database(db)
    where: list[str] = []
    params: list[object] = []
    for column, value in (
        ("f.status", status),
        ("f.batch_id", batch),
        ("f.rule", rule),
        ("b.product_id", product),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with connect(db, read_only=True) as con:
        return frame(
            con,
            "SELECT f.flag_id, f.batch_id, b.product_id, f.rule, f.analyte, f.severity, f.status,"
            " f.observed, f.limit_value, f.unit, f.basis, f.profile, f.message, f.source,"
            " f.threshold_version, f.created_at, f.updated_at"
            f" FROM flags f LEFT JOIN batches b USING (batch_id) {clause}"
            f" ORDER BY {_STATUS_ORDER}, {_SEVERITY_ORDER}, f.batch_id, f.rule, f.analyte",
            params,
        )
