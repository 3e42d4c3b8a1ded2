"""What the rules read and what they write: thresholds in force, the evidence
of a set of batches, and flags merged in place (never duplicated; a review
stands while the evidence is unchanged)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

import duckdb

from kqc.core.units import PER_SERVING_UNIT
from kqc.store.connection import frame, registered, run

# Polars loads with the first frame made, not with this module: the
# dossier's polars-free reader shares the evidence queries below.
if TYPE_CHECKING:
    import polars as pl

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


# The results as the rules judge them. Every amount stored in mg/unit is per
# dosage unit, and the rules multiply it by the register's units_per_serving
# for a serving; an amount the lab reported per serving of a product served
# as several units would so count twice. Here it is brought to one unit (with
# its limits and spike level), and `per_serving_of` says by how many units it
# was divided (NULL for every other result): such a result is of several
# units together, which content uniformity leaves out. The stored row keeps
# the lab's figure.
_SCALED = ("value", "bound", "lod", "loq", "spike_level")
JUDGED_RESULTS = (
    "(SELECT r.* REPLACE ("
    + ", ".join(f"r.{c} / coalesce(s.units, 1) AS {c}" for c in _SCALED)
    + "), s.units AS per_serving_of"
    " FROM results r LEFT JOIN (SELECT batch_id, units_per_serving::DOUBLE AS units"
    " FROM batches WHERE units_per_serving > 1) s ON s.batch_id = r.batch_id"
    f" AND r.unit = 'mg/unit' AND regexp_matches(lower(r.reported_unit), '{PER_SERVING_UNIT}'))"
)


def thresholds_version(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = run(con, "SELECT DISTINCT version FROM thresholds")
    return rows[0][0] if len(rows) == 1 else None


def replace_thresholds(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, version: str) -> None:
    import polars as pl

    incoming = frame.select(_THRESHOLD_COLUMNS).with_columns(pl.lit(version).alias("version"))
    names = ", ".join((*_THRESHOLD_COLUMNS, "version"))
    with registered(con, incoming_thresholds=incoming):
        run(con, "DELETE FROM thresholds")
        run(con, f"INSERT INTO thresholds ({names}) SELECT {names} FROM incoming_thresholds")
    from kqc.store.ledger import record_thresholds

    record_thresholds(con)


def all_batch_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = run(
        con,
        "SELECT batch_id FROM batches UNION SELECT DISTINCT batch_id FROM results"
        " WHERE superseded_by IS NULL ORDER BY 1",
    )
    return [r[0] for r in rows]


def _span(batch_ids: list[str]) -> list[object]:
    """The lowest and highest of `batch_ids`, for `batch_id BETWEEN ? AND ?`
    beside the exact list: it changes no answer, and lets DuckDB skip row
    groups by their min/max (results arrive batch by batch, so a range of
    ids sits in few of them)."""
    return [min(batch_ids), max(batch_ids)] if batch_ids else ["", ""]


def _wanted(batch_ids: list[str]) -> pl.DataFrame:
    """The batch ids as a one-column frame, registered as `wanted_batches`."""
    import polars as pl

    return pl.DataFrame({"batch_id": batch_ids}, schema={"batch_id": pl.String})


def potency_results(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> pl.DataFrame:
    """The current production mitragynine results of `batch_ids` (for their means)."""
    with registered(con, wanted_batches=_wanted(batch_ids)):
        return frame(
            con,
            "SELECT batch_id, analyte, sample_type, unit, value, qualifier, bound, loq, lod"
            f" FROM {JUDGED_RESULTS} WHERE superseded_by IS NULL AND analyte = 'mitragynine'"
            " AND sample_type = 'production' AND batch_id BETWEEN ? AND ?"
            " AND batch_id IN (SELECT batch_id FROM wanted_batches)",
            _span(batch_ids),
        )


def save_potency(con: duckdb.DuckDBPyConnection, batch_ids: list[str], means: pl.DataFrame) -> None:
    """Replace the control-chart points of `batch_ids` with `means`
    (a batch without mitragynine results has none). A point that stays is
    updated in place: DuckDB takes each deleted key out of the index at
    commit, which cost 1.6 s when every batch of 40,000 was re-evaluated."""
    with registered(con, wanted_batches=_wanted(batch_ids), incoming_potency=means):
        removed = run(
            con,
            "DELETE FROM batch_potency WHERE batch_id IN (SELECT batch_id FROM wanted_batches)"
            " AND batch_id NOT IN (SELECT batch_id FROM incoming_potency) RETURNING batch_id",
        )
        written = run(
            con,
            "INSERT INTO batch_potency SELECT batch_id, unit, mean_value, n, ?"
            " FROM incoming_potency ON CONFLICT (batch_id) DO UPDATE SET unit = excluded.unit,"
            " mean_value = excluded.mean_value, n = excluded.n, updated_at = excluded.updated_at"
            " RETURNING batch_id",
            [datetime.now(UTC)],
        )
    from kqc.store.ledger import POTENCY, record, record_rows

    # What this write changed, for the ledger: the points written, and those
    # it removed (recorded as removed, so a point deleted by hand still shows).
    record(con, POTENCY.name, {batch_id: None for (batch_id,) in removed})
    record_rows(con, POTENCY, (batch_id for (batch_id,) in written))


class Query(NamedTuple):
    """A statement and its parameters."""

    sql: str
    params: list[object]


class EvidenceQueries(NamedTuple):
    """The queries behind `evidence`, for a reader of its own (the dossier
    reads one batch's evidence as plain rows, without polars)."""

    results: Query
    register: Query
    history: Query


def evidence_queries(batch_ids: list[str], columns: Sequence[str] | None = None) -> EvidenceQueries:
    """The current results, register rows and product history of `batch_ids`
    (see `evidence`). The results come back in no set order: a reader puts
    them in the order they were stored, by result_id, as `evidence` does."""
    chosen = "*" if columns is None else ", ".join(columns)
    # The ids as one list parameter: as fast as a registered table at
    # thousands of ids, and nothing to convert through pyarrow.
    wanted = "(SELECT unnest(?::VARCHAR[]))"
    return EvidenceQueries(
        Query(
            f"SELECT {chosen} FROM {JUDGED_RESULTS} WHERE superseded_by IS NULL"
            f" AND batch_id BETWEEN ? AND ? AND batch_id IN {wanted}",
            [*_span(batch_ids), batch_ids],
        ),
        Query(f"SELECT * FROM batches WHERE batch_id IN {wanted}", [batch_ids]),
        Query(
            "SELECT b.product_id, p.batch_id, coalesce(b.manufactured_on, '') AS made,"
            " p.unit, p.mean_value"
            " FROM batch_potency p JOIN batches b USING (batch_id)"
            f" WHERE b.product_id IN (SELECT product_id FROM batches WHERE batch_id IN {wanted})",
            [batch_ids],
        ),
    )


def evidence(
    con: duckdb.DuckDBPyConnection,
    batch_ids: list[str],
    columns: Sequence[str] | None = None,
    *,
    read: Callable[[duckdb.DuckDBPyConnection, str, list[object]], pl.DataFrame] = frame,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(current results, register rows, product history) for `batch_ids`.
    Results keep only `columns` when given (the rules read fifteen of the
    twenty-eight: a full re-evaluation holds a fraction of the bytes).
    History is one control-chart point per batch of the same products
    (batch_potency), with the date each batch was made: a few rows per
    product, however many results the database holds. `read` is
    `small_frame` for one batch's dossier (no pyarrow to import)."""
    queries = evidence_queries(batch_ids, columns)
    results = read(con, *queries.results)
    # In the order they were stored: a scan joined to the wanted ids comes
    # back in an order that changes from run to run with DuckDB's
    # threads, and the rules list result ids (and quote the first) in the
    # order they are given; an unchanged finding must keep its evidence.
    if not results.get_column("result_id").is_sorted():
        results = results.sort("result_id", maintain_order=True)
    register = read(con, *queries.register)
    history = read(con, *queries.history)
    return results, register, history


def _hash(frame: pl.DataFrame) -> pl.Series:
    import polars as pl

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
    """Write the findings for `batch_ids`: new ones open; a known one is left
    untouched (its review stands) while its evidence is unchanged, and is
    reopened when it changed or had been resolved; a finding that no longer
    holds becomes resolved. Unchanged flags are not rewritten, so the cost
    follows the changes, not the size of the flags table."""
    now = datetime.now(UTC)
    incoming = flags.with_columns(_hash(flags))
    with registered(con, wanted_batches=_wanted(batch_ids), incoming_flags=incoming):
        # Each statement returns the flags it wrote: the ledger records those,
        # as they are left, and only those (a flag no statement touched keeps
        # the digest it was recorded with).
        # Found first, then updated by key: the same UPDATE with RETURNING
        # took 0.8 s a chunk of 5,000 batches (7 s for 40,000) where this
        # takes a few milliseconds.
        gone = frame(
            con,
            "SELECT flag_id FROM flags"
            " WHERE batch_id IN (SELECT batch_id FROM wanted_batches) AND status != 'resolved'"
            " AND flag_id NOT IN (SELECT flag_id FROM incoming_flags)",
        )
        written = [(flag_id,) for flag_id in gone.get_column("flag_id").to_list()]
        if written:
            with registered(con, resolved_flags=gone):
                run(
                    con,
                    "UPDATE flags SET status = 'resolved', updated_at = ?"
                    " WHERE flag_id IN (SELECT flag_id FROM resolved_flags)",
                    [now],
                )
        changed = frame(
            con,
            "SELECT f.flag_id, f.created_at FROM flags f JOIN incoming_flags i USING (flag_id)"
            " WHERE f.evidence_hash != i.evidence_hash OR f.status = 'resolved'",
        )
        with registered(con, changed_flags=changed):
            run(con, "DELETE FROM flags WHERE flag_id IN (SELECT flag_id FROM changed_flags)")
            # Same finding, new wording or thresholds version: refresh in place,
            # keeping the review (only rows that differ are written).
            refreshed = ("severity", "unit", "basis", "source", "threshold_version", "message")
            written += run(
                con,
                f"UPDATE flags SET {', '.join(f'{c} = i.{c}' for c in refreshed)}"
                " FROM incoming_flags i WHERE flags.flag_id = i.flag_id AND ("
                + " OR ".join(f"flags.{c} IS DISTINCT FROM i.{c}" for c in refreshed)
                + ") RETURNING flags.flag_id",
            )
            values = ", ".join(_FLAG_VALUES)
            written += run(
                con,
                f"INSERT INTO flags (flag_id, {values}, evidence_hash, status, created_at,"
                f" updated_at) SELECT i.flag_id, {', '.join(f'i.{c}' for c in _FLAG_VALUES)},"
                " i.evidence_hash, 'open', coalesce(c.created_at, ?), ?"
                " FROM incoming_flags i LEFT JOIN changed_flags c USING (flag_id)"
                " WHERE i.flag_id NOT IN (SELECT flag_id FROM flags) RETURNING flag_id",
                [now, now],
            )
    from kqc.store.ledger import FLAGS, record_rows

    record_rows(con, FLAGS, (flag_id for (flag_id,) in written))


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
    with registered(con, wanted_batches=_wanted(batch_ids)):
        run(
            con,
            "DELETE FROM evaluation_queue WHERE batch_id IN (SELECT batch_id FROM wanted_batches)",
        )
