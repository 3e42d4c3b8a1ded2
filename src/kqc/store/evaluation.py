"""What the rules read and what they write: thresholds in force, the evidence
of a set of batches, and flags merged in place (never duplicated; a review
stands while the evidence is unchanged)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import duckdb
import polars as pl

from kqc.store.connection import frame, run

_THRESHOLD_COLUMNS = (
    "rule",
    "analyte",
    "limit_value",
    "unit",
    "basis",
    "fails_when",
    "forms",
    "profile",
    "severity",
    "source",
    "confirmed",
    "note",
)
_FLAG_VALUES = (
    "batch_id",
    "rule",
    "analyte",
    "severity",
    "observed",
    "limit_value",
    "unit",
    "basis",
    "profile",
    "source",
    "threshold_version",
    "message",
    "evidence",
)


def thresholds_version(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = run(con, "SELECT DISTINCT version FROM thresholds")
    return rows[0][0] if len(rows) == 1 else None


def replace_thresholds(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, version: str) -> None:
    incoming = frame.select(_THRESHOLD_COLUMNS).with_columns(pl.lit(version).alias("version"))
    con.register("incoming_thresholds", incoming.to_arrow())
    try:
        run(con, "DELETE FROM thresholds")
        names = ", ".join((*_THRESHOLD_COLUMNS, "version"))
        run(con, f"INSERT INTO thresholds ({names}) SELECT {names} FROM incoming_thresholds")
    finally:
        con.unregister("incoming_thresholds")


def all_batch_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = run(
        con,
        "SELECT batch_id FROM batches UNION SELECT DISTINCT batch_id FROM results"
        " WHERE superseded_by IS NULL ORDER BY 1",
    )
    return [r[0] for r in rows]


def _ids_table(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> None:
    con.register(
        "wanted_batches",
        pl.DataFrame({"batch_id": batch_ids}, schema={"batch_id": pl.String}).to_arrow(),
    )


def evidence(
    con: duckdb.DuckDBPyConnection, batch_ids: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(current results, register rows, product history) for `batch_ids`.
    History is every production mitragynine result of the same products, with
    the date each batch was made, for control charts."""
    _ids_table(con, batch_ids)
    try:
        results = frame(
            con,
            "SELECT * FROM results WHERE superseded_by IS NULL"
            " AND batch_id IN (SELECT batch_id FROM wanted_batches)",
        )
        register = frame(
            con, "SELECT * FROM batches WHERE batch_id IN (SELECT batch_id FROM wanted_batches)"
        )
        history = frame(
            con,
            "SELECT b.product_id, r.batch_id, coalesce(b.manufactured_on, '') AS made, r.analyte,"
            " r.sample_type, r.unit, r.value, r.qualifier, r.bound, r.loq, r.lod"
            " FROM results r JOIN batches b USING (batch_id)"
            " WHERE r.superseded_by IS NULL AND r.analyte = 'mitragynine'"
            " AND r.sample_type = 'production' AND b.product_id IN ("
            "  SELECT product_id FROM batches"
            "  WHERE batch_id IN (SELECT batch_id FROM wanted_batches))",
        )
    finally:
        con.unregister("wanted_batches")
    return results, register, history


def _hash(frame: pl.DataFrame) -> pl.Series:
    parts = frame.select(
        pl.concat_str(
            [
                pl.col(c).cast(pl.String).fill_null("")
                for c in ("observed", "limit_value", "evidence")
            ],
            separator="|",
        )
    ).to_series()
    return pl.Series("evidence_hash", [hashlib.sha256(p.encode()).hexdigest() for p in parts])


def merge_flags(con: duckdb.DuckDBPyConnection, batch_ids: list[str], flags: pl.DataFrame) -> None:
    """Write the findings for `batch_ids`: new ones open; a known one keeps its
    status while its evidence is unchanged, and reopens when it changed; a
    finding that no longer holds becomes resolved."""
    now = datetime.now(UTC)
    incoming = flags.with_columns(_hash(flags))
    _ids_table(con, batch_ids)
    con.register("incoming_flags", incoming.to_arrow())
    try:
        run(
            con,
            "UPDATE flags SET status = 'resolved', updated_at = ?"
            " WHERE batch_id IN (SELECT batch_id FROM wanted_batches) AND status != 'resolved'"
            " AND flag_id NOT IN (SELECT flag_id FROM incoming_flags)",
            [now],
        )
        values = ", ".join(_FLAG_VALUES)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _FLAG_VALUES)
        run(
            con,
            f"INSERT INTO flags (flag_id, {values}, evidence_hash, status, created_at, updated_at)"
            f" SELECT flag_id, {values}, evidence_hash, 'open', ?, ? FROM incoming_flags"
            f" ON CONFLICT (flag_id) DO UPDATE SET {updates},"
            " status = CASE WHEN flags.evidence_hash = excluded.evidence_hash"
            "   AND flags.status != 'resolved' THEN flags.status ELSE 'open' END,"
            " evidence_hash = excluded.evidence_hash, updated_at = excluded.updated_at",
            [now, now],
        )
    finally:
        con.unregister("incoming_flags")
        con.unregister("wanted_batches")


def queued_batch_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Queued batches, and the later batches of their products: a batch's
    control chart is drawn from the batches made before it, so data for an
    earlier batch that arrives late changes the later batches' verdicts."""
    rows = run(
        con,
        "WITH q AS (SELECT batch_id FROM evaluation_queue),"
        " made AS (SELECT batch_id, product_id, coalesce(manufactured_on, '') AS made"
        "          FROM batches)"
        " SELECT batch_id FROM q"
        " UNION SELECT later.batch_id FROM q JOIN made early USING (batch_id)"
        " JOIN made later ON later.product_id = early.product_id"
        "   AND (later.made, later.batch_id) > (early.made, early.batch_id)"
        " ORDER BY 1",
    )
    return [r[0] for r in rows]


def clear_queue(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> None:
    _ids_table(con, batch_ids)
    try:
        run(
            con,
            "DELETE FROM evaluation_queue WHERE batch_id IN (SELECT batch_id FROM wanted_batches)",
        )
    finally:
        con.unregister("wanted_batches")
