"""Read-only questions QA asks; the database is opened read-only and closed
at once, so the pipeline can write between two questions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kqc.store.connection import connect, frame, run, small_frame
from kqc.store.errors import StoreError

if TYPE_CHECKING:
    import polars as pl

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
        return small_frame(
            con,
            "SELECT s.batch_id, b.product_id, b.product_name, s.status, s.open_flags"
            " FROM batch_status s LEFT JOIN batches b USING (batch_id)"
            " ORDER BY CASE s.status WHEN 'FAIL' THEN 0 WHEN 'INCOMPLETE' THEN 1 ELSE 2 END,"
            " s.batch_id",
        )


def _flag_filters(
    status: str | None, batch: str | None, rule: str | None, product: str | None
) -> tuple[str, list[object]]:
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
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def _flags_sql(clause: str, page: str = "") -> str:
    return (
        "SELECT f.flag_id, f.batch_id, b.product_id, f.rule, f.analyte, f.severity, f.status,"
        " f.observed, f.limit_value, f.unit, f.basis, f.profile, f.message, f.source,"
        " f.threshold_version, f.created_at, f.updated_at"
        f" FROM flags f LEFT JOIN batches b USING (batch_id) {clause}"
        f" ORDER BY {_STATUS_ORDER}, {_SEVERITY_ORDER}, f.batch_id, f.rule, f.analyte{page}"
    )


def flags(
    db: Path,
    *,
    status: str | None = None,
    batch: str | None = None,
    rule: str | None = None,
    product: str | None = None,
) -> pl.DataFrame:
    """Every flag matching the filters, open first and most severe first,
    typed as stored: what json, csv and the exports write."""
    require_database(db)
    clause, params = _flag_filters(status, batch, rule, product)
    with connect(db, read_only=True) as con:
        return frame(con, _flags_sql(clause), params)


@dataclass(frozen=True)
class FlagPage:
    """A terminal's page of flags as plain rows, not a frame: `kqc flags`
    prints it without importing polars, a third of the command's time."""

    columns: list[str]
    rows: list[tuple[Any, ...]]  # the first `limit` flags in order (all when no limit)
    total: int  # flags matching the filters
    open: int  # of which open


def flag_page(
    db: Path,
    *,
    status: str | None = None,
    batch: str | None = None,
    rule: str | None = None,
    product: str | None = None,
    limit: int | None = None,
) -> FlagPage:
    """Flags, open first and most severe first; every filter optional. With
    `limit`, only that many rows are read (a terminal page of a database with
    tens of thousands of flags), and the counts come from one aggregate."""
    require_database(db)
    clause, params = _flag_filters(status, batch, rule, product)
    page = "" if limit is None else f" LIMIT {int(limit)}"
    with connect(db, read_only=True) as con:
        found = con.execute(_flags_sql(clause, page), params)
        columns = [d[0] for d in found.description]
        rows = found.fetchall()
        if limit is None or len(rows) < limit:
            status_at = columns.index("status")
            total, open_count = len(rows), sum(r[status_at] == "open" for r in rows)
        else:
            ((total, open_count),) = run(
                con,
                "SELECT count(*), count(*) FILTER (WHERE f.status = 'open')"
                f" FROM flags f LEFT JOIN batches b USING (batch_id) {clause}",
                params,
            )
    return FlagPage(columns, rows, int(total), int(open_count))
