"""What the QA report shows, gathered in a handful of bounded, aggregated
queries: the report must come out in seconds on a database of ten million
results, so charts cover the batches and products with open findings plus the
most recent ones, never everything, and every cut is counted so the report can
say how much it left out.

The database is opened read-only and closed at once (as in queries.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from kqc.store.connection import connect, frame, registered, run
from kqc.store.evaluation import JUDGED_RESULTS
from kqc.store.queries import require_database

# Rules whose limits read one result against a number: the contaminants chart.
CONTAMINANT_RULES = ("heavy_metal", "residual_solvent", "microbial")
# A flag is still to be acted on while open; confirmed ones still fail the batch.
_UNSETTLED = "('open', 'confirmed')"
_SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END"
# Production results the charts read (the columns the rules read).
_RESULT_COLUMNS = (
    "result_id, batch_id, sample_id, lab_id, analyte, value, unit, qualifier, bound,"
    " reported_result, reported_unit, lod, loq, sample_type, unit_no, test_portion_g,"
    " per_serving_of"
)


@dataclass(frozen=True)
class Caps:
    """How much each part of the report shows at most."""

    flags: int = 300
    statuses: int = 300
    flagged_batches: int = 12  # per chart: batches with an unsettled finding
    recent_batches: int = 6  # per chart: most recent batches without one
    flagged_products: int = 6  # control charts of products with a drift finding
    recent_products: int = 3
    points: int = 40  # batches per control chart, the most recent


@dataclass(frozen=True)
class Selection:
    """Which batches (or products) a chart shows, and how many it left out."""

    ids: list[str]
    flagged: list[str]
    total: int
    total_flagged: int

    @property
    def left_out(self) -> int:
        return self.total - len(self.ids)

    @property
    def flagged_left_out(self) -> int:
        return self.total_flagged - len(self.flagged)


@dataclass(frozen=True)
class ReportData:
    database: str
    generated_at: datetime
    status_counts: dict[str, int]
    statuses: pl.DataFrame
    flag_counts: dict[str, int]
    open_by_severity: dict[str, int]
    flags: pl.DataFrame
    thresholds: pl.DataFrame
    registers: pl.DataFrame
    uniformity: Selection
    uniformity_results: pl.DataFrame
    contaminants: Selection
    contaminant_results: pl.DataFrame
    control: Selection
    control_points: pl.DataFrame


def gather(db: Path, caps: Caps = Caps()) -> ReportData:
    require_database(db)
    with connect(db, read_only=True) as con:
        thresholds = frame(con, "SELECT * FROM thresholds ORDER BY rule, analyte, basis, profile")
        uniformity = _uniformity_batches(con, caps)
        contaminants = _contaminant_batches(con, caps, thresholds)
        control = _control_products(con, caps)
        charted = sorted({*uniformity.ids, *contaminants.ids})
        return ReportData(
            database=db.name,
            generated_at=datetime.now(UTC),
            status_counts=_status_counts(con),
            statuses=_statuses(con, caps.statuses),
            flag_counts=dict(run(con, "SELECT status, count(*) FROM flags GROUP BY status")),
            open_by_severity=dict(
                run(con, "SELECT severity, count(*) FROM flags WHERE status = 'open' GROUP BY 1")
            ),
            flags=_open_flags(con, caps.flags),
            thresholds=thresholds,
            registers=_registers(con, charted),
            uniformity=uniformity,
            uniformity_results=_results(
                con, uniformity.ids, "analyte = 'mitragynine' AND unit = 'mg/unit'"
            ),
            contaminants=contaminants,
            contaminant_results=_contaminant_results(con, contaminants.ids, thresholds),
            control=control,
            control_points=_control_points(con, control.ids, caps.points),
        )


def _status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = dict(run(con, "SELECT status, count(*) FROM batch_status GROUP BY status"))
    return {s: int(counts.get(s, 0)) for s in ("FAIL", "INCOMPLETE", "PASS")}


def _statuses(con: duckdb.DuckDBPyConnection, cap: int) -> pl.DataFrame:
    """Batches most in need first: FAIL, then INCOMPLETE, then PASS; the most
    recently made first within each."""
    return frame(
        con,
        "SELECT s.batch_id, b.product_id, b.product_name, b.manufactured_on, s.status,"
        " s.open_flags FROM batch_status s LEFT JOIN batches b USING (batch_id)"
        " ORDER BY CASE s.status WHEN 'FAIL' THEN 0 WHEN 'INCOMPLETE' THEN 1 ELSE 2 END,"
        " b.manufactured_on DESC NULLS FIRST, s.batch_id LIMIT ?",
        [cap],
    )


def _open_flags(con: duckdb.DuckDBPyConnection, cap: int) -> pl.DataFrame:
    """Open flags, most severe first (then the most recent)."""
    return frame(
        con,
        "SELECT f.flag_id, f.batch_id, b.product_name, f.rule, f.analyte, f.severity, f.status,"
        " f.observed, f.limit_value, f.unit, f.basis, f.profile, f.source, f.message,"
        " f.created_at FROM flags f LEFT JOIN batches b USING (batch_id)"
        f" WHERE f.status = 'open' ORDER BY {_SEVERITY_RANK.replace('severity', 'f.severity')},"
        " f.created_at DESC, f.batch_id, f.rule, f.analyte LIMIT ?",
        [cap],
    )


def _registers(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> pl.DataFrame:
    with registered(con, wanted_batches=_ids(batch_ids)):
        return frame(
            con, "SELECT * FROM batches WHERE batch_id IN (SELECT batch_id FROM wanted_batches)"
        )


def _results(
    con: duckdb.DuckDBPyConnection,
    batch_ids: list[str],
    condition: str,
    params: list[object] | None = None,
) -> pl.DataFrame:
    """Current production results of a few batches that meet `condition`
    (its `?` bound to `params`)."""
    with registered(con, wanted_batches=_ids(batch_ids)):
        return frame(
            con,
            f"SELECT {_RESULT_COLUMNS} FROM {JUDGED_RESULTS} WHERE superseded_by IS NULL"
            " AND sample_type = 'production'"
            f" AND batch_id IN (SELECT batch_id FROM wanted_batches) AND {condition}"
            " ORDER BY batch_id, analyte, result_id",
            params or [],
        )


def _contaminant_results(
    con: duckdb.DuckDBPyConnection, batch_ids: list[str], thresholds: pl.DataFrame
) -> pl.DataFrame:
    analytes: list[object] = list(_contaminant_analytes(thresholds)) or [""]
    marks = ", ".join("?" for _ in analytes)
    return _results(con, batch_ids, f"analyte IN ({marks})", analytes)


def _contaminant_analytes(thresholds: pl.DataFrame) -> list[str]:
    return sorted(
        set(
            thresholds.filter(
                pl.col("rule").is_in(CONTAMINANT_RULES)
                & pl.col("basis").is_in(["per_g", "per_day"])
                & pl.col("limit_value").is_not_null()
            )["analyte"].to_list()
        )
    )


def _select(
    con: duckdb.DuckDBPyConnection,
    candidates: str,
    caps: Caps,
    params: list[object] | None = None,
) -> Selection:
    """From `candidates` (SQL yielding id, flagged, made), the flagged ones and
    the most recent others, each up to its cap, counted before the cut."""
    # Two plain statements: DuckDB 2.0 ran whole-partition counts beside the
    # ranking forty times slower (3.3 s against 0.08 s over 100,000 batches),
    # and an ORDER BY over the window likewise; the few rows kept are sorted here.
    rows = run(
        con,
        f"WITH c AS ({candidates}),"
        " ranked AS (SELECT id, flagged, row_number() OVER (PARTITION BY flagged"
        "   ORDER BY made DESC NULLS LAST, id DESC) AS n FROM c)"
        " SELECT id, flagged, n FROM ranked"
        f" WHERE (flagged AND n <= {int(caps.flagged_batches)})"
        f" OR (NOT flagged AND n <= {int(caps.recent_batches)})",
        params,
    )
    [(total, total_flagged)] = run(
        con,
        f"WITH c AS ({candidates}) SELECT count(*), count(*) FILTER (WHERE flagged) FROM c",
        params,
    )
    rows.sort(key=lambda r: (not r[1], r[2]))
    return Selection(
        ids=[r[0] for r in rows],
        flagged=[r[0] for r in rows if r[1]],
        total=int(total),
        total_flagged=int(total_flagged),
    )


def _uniformity_batches(con: duckdb.DuckDBPyConnection, caps: Caps) -> Selection:
    """Batches with at least two per-unit mitragynine results (what the
    content-uniformity rule reads: no amount per serving of several units)."""
    return _select(
        con,
        "SELECT u.batch_id AS id, f.batch_id IS NOT NULL AS flagged, b.manufactured_on AS made"
        f" FROM (SELECT batch_id FROM {JUDGED_RESULTS} WHERE superseded_by IS NULL"
        "   AND analyte = 'mitragynine' AND unit = 'mg/unit' AND sample_type = 'production'"
        "   AND per_serving_of IS NULL"
        "   GROUP BY batch_id HAVING count(*) >= 2) u"
        " LEFT JOIN (SELECT DISTINCT batch_id FROM flags WHERE rule = 'content_uniformity'"
        f"   AND status IN {_UNSETTLED}) f USING (batch_id)"
        " LEFT JOIN batches b USING (batch_id)",
        caps,
    )


def _contaminant_batches(
    con: duckdb.DuckDBPyConnection, caps: Caps, thresholds: pl.DataFrame
) -> Selection:
    """Batches with a contaminant result; flagged when a contaminant limit
    failed, or could not be shown to hold (inconclusive)."""
    analytes = _contaminant_analytes(thresholds) or [""]
    # Bound values, not a registered frame: DuckDB prunes a literal IN list
    # while scanning ten million results (0.1 s against 2 s for a semi-join).
    marks = ", ".join("?" for _ in analytes)
    rules = ", ".join(f"'{r}'" for r in CONTAMINANT_RULES)
    return _select(
        con,
        "SELECT r.batch_id AS id, f.batch_id IS NOT NULL AS flagged,"
        " b.manufactured_on AS made"
        " FROM (SELECT batch_id FROM results WHERE superseded_by IS NULL"
        f"   AND sample_type = 'production' AND analyte IN ({marks}) GROUP BY batch_id) r"
        " LEFT JOIN (SELECT DISTINCT batch_id FROM flags"
        f"   WHERE status IN {_UNSETTLED} AND (rule IN ({rules}) OR (rule = 'inconclusive'"
        f"   AND analyte IN ({marks})) OR (rule = 'inconclusive' AND analyte IS NULL"
        # One finding for one cause (kqc.core.rules.causes) names no analyte
        # of its own: the judgements it blocks are listed in its evidence.
        "   AND list_has_any(json_extract_string(evidence, '$.blocked[*].analyte'),"
        "   ?::VARCHAR[])))) f USING (batch_id)"
        " LEFT JOIN batches b USING (batch_id)",
        caps,
        [*analytes, *analytes, analytes],
    )


def _control_products(con: duckdb.DuckDBPyConnection, caps: Caps) -> Selection:
    """Products with control-chart points; flagged when a batch of theirs
    has an unsettled potency_drift flag."""
    product_caps = Caps(flagged_batches=caps.flagged_products, recent_batches=caps.recent_products)
    return _select(
        con,
        "SELECT b.product_id AS id, bool_or(f.batch_id IS NOT NULL) AS flagged,"
        " max(b.manufactured_on) AS made"
        " FROM batch_potency p JOIN batches b USING (batch_id)"
        " LEFT JOIN (SELECT DISTINCT batch_id FROM flags WHERE rule = 'potency_drift'"
        f"   AND status IN {_UNSETTLED}) f USING (batch_id)"
        " GROUP BY b.product_id",
        product_caps,
    )


def _control_points(
    con: duckdb.DuckDBPyConnection, product_ids: list[str], per_product: int
) -> pl.DataFrame:
    """Each charted product's most recent batch means in the order made, with
    the control limits the potency_drift rule drew for each: mean and SD of
    every earlier batch of the product in the same unit (drift.py)."""
    with registered(con, wanted_products=_ids(product_ids, "product_id")):
        return frame(
            con,
            "WITH pts AS ("
            "  SELECT b.product_id, b.product_name, p.batch_id,"
            "   coalesce(b.manufactured_on, '') AS made, p.unit, p.mean_value, p.n"
            "  FROM batch_potency p JOIN batches b USING (batch_id)"
            "  WHERE b.product_id IN (SELECT product_id FROM wanted_products)),"
            " limits AS ("
            "  SELECT *, count(*) OVER earlier AS n_earlier,"
            "   avg(mean_value) OVER earlier AS centre,"
            "   stddev_samp(mean_value) OVER earlier AS sd,"
            "   row_number() OVER (PARTITION BY product_id ORDER BY made DESC, batch_id DESC)"
            "     AS recency"
            "  FROM pts WINDOW earlier AS (PARTITION BY product_id, unit ORDER BY made, batch_id"
            "   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))"
            " SELECT l.product_id, l.product_name, l.batch_id, l.made, l.unit, l.mean_value, l.n,"
            "  l.n_earlier, l.centre, l.sd, f.flag_id IS NOT NULL AS flagged"
            " FROM limits l LEFT JOIN (SELECT batch_id, any_value(flag_id) AS flag_id FROM flags"
            f"   WHERE rule = 'potency_drift' AND status IN {_UNSETTLED} GROUP BY batch_id) f"
            "  USING (batch_id)"
            " WHERE l.recency <= ? ORDER BY l.product_id, l.made, l.batch_id",
            [per_product],
        )


def _ids(ids: list[str], name: str = "batch_id") -> pl.DataFrame:
    return pl.DataFrame({name: ids}, schema={name: pl.String})
