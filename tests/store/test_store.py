"""The DuckDB store on real files: migrations, the documented schema, one
transaction per file, duplicates, locks and batch_status."""

import importlib
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

import kqc.store as package
from kqc.core.records import REGISTER_SCHEMA, RESULT_SCHEMA
from kqc.store import (
    DatabaseLocked,
    FileRecord,
    connect,
    ingested_sha256,
    migrate,
    save_potency,
    store_ingested,
    store_rejected,
    transaction,
)
from kqc.store.connection import _migration_files

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "CONTRACT.md"

# CONTRACT §5, "at least" columns, copied here so a rename fails this test.
CONTRACT_NAMES = {
    "source_files": ["file_name", "sha256", "status", "received_at", "row_count", "error_count"],
    "results": [
        "batch_id",
        "sample_id",
        "lab_id",
        "analyte",
        "value",
        "unit",
        "qualifier",
        "reported_result",
        "reported_unit",
        "lod",
        "loq",
        "sample_type",
        "unit_no",
        "source_sha256",
    ],
    "batches": [
        "batch_id",
        "product_id",
        "product_name",
        "form",
        "label_claim_mg_per_serving",
        "serving_size_g",
        "servings_per_day",
    ],
    "thresholds": ["rule", "analyte", "limit_value", "unit", "basis", "source", "version"],
    "flags": [
        "flag_id",
        "batch_id",
        "rule",
        "analyte",
        "severity",
        "observed",
        "limit_value",
        "unit",
        "status",
        "threshold_version",
        "created_at",
    ],
    "flag_reviews": ["flag_id", "decision", "reviewer", "note", "reviewed_at"],
    "batch_status": ["batch_id", "status", "open_flags"],
}


def record(sha: str = "a" * 64, name: str = "r.csv", kind: str = "results") -> FileRecord:
    return FileRecord(name, sha, kind, datetime.now(UTC), 100, 0, f"archive/{name}")


def results_frame(n: int = 3, batch: str = "B1") -> pl.DataFrame:
    rows = {c: [None] * n for c in RESULT_SCHEMA}
    rows.update(
        source_row=list(range(2, n + 2)),
        lab_id=["Acme"] * n,
        batch_id=[batch] * n,
        sample_id=[f"S{i}" for i in range(n)],
        sample_type=["production"] * n,
        analyte=["lead"] * n,
        value=[0.1 * (i + 1) for i in range(n)],
        unit=["ug/g"] * n,
        reported_analyte=["Pb"] * n,
        reported_result=[str(0.1 * (i + 1)) for i in range(n)],
        reported_unit=["ppm"] * n,
    )
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def register_frame(batch: str, claim: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source_row": [2],
            "batch_id": [batch],
            "product_id": ["P1"],
            "product_name": ["Caps"],
            "form": ["capsule"],
            "label_claim_mg_per_serving": [claim],
            "serving_size_g": [0.5],
            "servings_per_day": [6.0],
            "units_per_serving": [1],
            "manufacturer": [None],
            "manufactured_on": [None],
            "markets": ["UT"],
            "target_content_pct": [None],
        },
        schema=REGISTER_SCHEMA,
    )


def count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_migrations_apply_once(tmp_path):
    db = tmp_path / "k.duckdb"
    with connect(db) as con:
        applied = con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        assert applied == [(v,) for v in range(1, len(applied) + 1)] and len(applied) >= 4
        assert migrate(con) == []
    with connect(db) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(applied),)


def test_contract_names_exist_and_every_column_is_documented(tmp_path):
    db = tmp_path / "k.duckdb"
    with connect(db):
        pass
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns()"
            " WHERE schema_name = 'main' AND NOT internal"
        ).fetchall()
        relations = con.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main'"
            " UNION ALL SELECT view_name, comment FROM duckdb_views()"
            " WHERE schema_name = 'main' AND NOT internal"
        ).fetchall()
    present = {(t, c) for t, c, _ in columns}
    for table, names in CONTRACT_NAMES.items():
        for name in names:
            assert (table, name) in present, f"{table}.{name} missing"
    undocumented = [(t, c) for t, c, comment in columns if not (comment or "").strip()]
    assert undocumented == []
    assert [t for t, comment in relations if not comment] == []


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared/CONTRACT.md not beside the checkout")
def test_contract_table_of_names_matches_this_test():
    text = CONTRACT.read_text()
    for table in CONTRACT_NAMES:
        assert re.search(rf"`{table}`", text)


def test_store_then_duplicate(tmp_path):
    db = tmp_path / "k.duckdb"
    assert not ingested_sha256(db, "a" * 64)
    assert store_ingested(db, file=record(), results=results_frame(), register=None) == "ingested"
    assert ingested_sha256(db, "a" * 64)
    again = store_ingested(db, file=record(name="copy.csv"), results=results_frame(), register=None)
    assert again == "duplicate"
    assert count(db, "SELECT count(*) FROM results") == 3
    assert count(db, "SELECT count(*) FROM source_files WHERE status = 'duplicate'") == 1
    with duckdb.connect(str(db), read_only=True) as con:
        values = con.execute("SELECT value FROM results ORDER BY source_row").fetchall()
        assert values == [(pytest.approx(0.1),), (pytest.approx(0.2),), (pytest.approx(0.3),)]
        assert con.execute("SELECT DISTINCT source_sha256 FROM results").fetchall() == [("a" * 64,)]


def test_result_ids_follow_the_files_and_their_rows_and_the_sequence_keeps_up(tmp_path):
    db = tmp_path / "k.duckdb"
    store_ingested(db, file=record(), results=results_frame(3), register=None)
    chunks = [results_frame(2, batch="B2"), results_frame(4, batch="B3")]
    store_ingested(db, file=record("b" * 64, "big.csv"), results=iter(chunks), register=None)
    with duckdb.connect(str(db)) as con:
        rows = con.execute(
            "SELECT result_id, batch_id, source_row FROM results ORDER BY result_id"
        ).fetchall()
        assert rows == [
            (1, "B1", 2),
            (2, "B1", 3),
            (3, "B1", 4),
            (4, "B2", 2),
            (5, "B2", 3),
            (6, "B3", 2),
            (7, "B3", 3),
            (8, "B3", 4),
            (9, "B3", 5),
        ]
        # Whoever next takes an id from the column's sequence gets a new one.
        assert con.execute("SELECT nextval('results_seq')").fetchone() == (10,)


def test_fault_before_commit_leaves_nothing(tmp_path):
    db = tmp_path / "k.duckdb"

    def fault() -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        store_ingested(
            db, file=record(), results=results_frame(), register=None, before_commit=fault
        )
    assert count(db, "SELECT count(*) FROM results") == 0
    assert count(db, "SELECT count(*) FROM source_files") == 0


def test_rejected_files_are_recorded_without_rows(tmp_path):
    db = tmp_path / "k.duckdb"
    store_rejected(db, file=record(kind="results"))
    assert count(db, "SELECT count(*) FROM source_files WHERE status = 'rejected'") == 1
    assert count(db, "SELECT count(*) FROM results") == 0
    assert not ingested_sha256(db, "a" * 64)


def test_register_upsert_replaces_the_earlier_row(tmp_path):
    db = tmp_path / "k.duckdb"
    store_ingested(
        db, file=record("1" * 64, kind="register"), results=None, register=register_frame("B1", 7.0)
    )
    store_ingested(
        db, file=record("2" * 64, kind="register"), results=None, register=register_frame("B1", 9.0)
    )
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT batch_id, label_claim_mg_per_serving, source_sha256 FROM batches"
        ).fetchall()
    assert rows == [("B1", 9.0, "2" * 64)]


def test_the_queue_holds_each_batch_once_with_its_latest_change(tmp_path):
    db = tmp_path / "k.duckdb"
    store_ingested(db, file=record("1" * 64), results=results_frame(3, "B1"), register=None)
    queued = "SELECT batch_id, queued_at FROM evaluation_queue ORDER BY 1"
    with duckdb.connect(str(db), read_only=True) as con:
        [(_, first)] = con.execute(queued).fetchall()
    # A second file re-reports B1's results: its new rows and the rows they
    # amend queue B1 twice in one transaction; B2 is new.
    store_ingested(
        db,
        file=record("2" * 64, "again.csv"),
        results=results_frame(3, "B1"),
        register=register_frame("B2", 9.0),
    )
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(queued).fetchall()
        assert con.execute(
            "SELECT count(*) FROM results WHERE superseded_by IS NOT NULL"
        ).fetchone() == (3,)
    assert [b for b, _ in rows] == ["B1", "B2"]
    assert rows[0][1] > first


def test_a_keyed_queue_is_carried_over_by_migration_5(tmp_path):
    db = tmp_path / "k.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE schema_migrations ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        for version, name, sql in _migration_files():
            if version < 5:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
        con.execute(
            "INSERT INTO evaluation_queue VALUES ('B1', '2026-01-02'), ('B2', '2026-01-03')"
        )
        keyed = "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'evaluation_queue'"
        assert con.execute(keyed + " AND constraint_type = 'PRIMARY KEY'").fetchone() == (1,)
    with connect(db) as con:
        rows = con.execute(
            "SELECT batch_id, queued_at::DATE::VARCHAR FROM evaluation_queue ORDER BY 1"
        ).fetchall()
        assert rows == [("B1", "2026-01-02"), ("B2", "2026-01-03")]
        assert con.execute(keyed + " AND constraint_type = 'PRIMARY KEY'").fetchone() == (0,)
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() >= (5,)


def test_control_chart_points_are_replaced_and_a_vanished_one_removed(tmp_path):
    db = tmp_path / "k.duckdb"
    means = pl.DataFrame(
        {
            "batch_id": ["B1", "B2"],
            "unit": ["mg/g", "mg/g"],
            "mean_value": [12.0, 13.0],
            "n": [3, 3],
        }
    )
    with transaction(db) as con:
        save_potency(con, ["B1", "B2", "B3"], means)
        save_potency(con, ["B3"], means.head(0))  # nothing for B3: B1 and B2 stay
    with transaction(db) as con:
        save_potency(con, ["B1", "B2"], means.head(1).with_columns(mean_value=pl.lit(11.0)))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT batch_id, mean_value, n FROM batch_potency").fetchall()
    assert rows == [("B1", 11.0, 3)]


def test_a_reader_in_another_process_makes_the_writer_wait_then_fail(tmp_path, monkeypatch):
    monkeypatch.setenv("KQC_LOCK_WAIT", "1")  # the wait is measured in tests/faults
    db = tmp_path / "k.duckdb"
    with connect(db):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}, read_only=True);"
            " print('open', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(DatabaseLocked) as caught:
            store_ingested(db, file=record(), results=results_frame(), register=None)
        assert "open in another program" in caught.value.message
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert store_ingested(db, file=record(), results=results_frame(), register=None) == "ingested"


def _flag(con, flag_id: str, batch: str, rule: str, status: str) -> None:
    con.execute(
        "INSERT INTO flags (flag_id, batch_id, rule, severity, status, message, evidence_hash,"
        " created_at, updated_at) VALUES (?, ?, ?, 'major', ?, 'why', 'h', now(), now())",
        [flag_id, batch, rule, status],
    ).fetchall()


def test_batch_status_pass_fail_incomplete(tmp_path):
    db = tmp_path / "k.duckdb"
    frame = pl.concat([results_frame(1, b) for b in ("B1", "B2", "B3", "B4")])
    frame = frame.with_columns(pl.Series("sample_id", ["S1", "S2", "S3", "S4"]))
    store_ingested(db, file=record(), results=frame, register=None)
    with connect(db) as con:
        _flag(con, "f1", "B2", "heavy_metal", "open")
        _flag(con, "f2", "B3", "missing_panel", "open")
        _flag(con, "f3", "B3", "inconclusive", "confirmed")
        _flag(con, "f4", "B4", "heavy_metal", "dismissed")
        _flag(con, "f5", "B4", "missing_panel", "open")
        status = dict(
            (b, (s, n)) for b, s, n in con.execute("SELECT * FROM batch_status").fetchall()
        )
    assert status == {
        "B1": ("PASS", 0),
        "B2": ("FAIL", 1),
        "B3": ("INCOMPLETE", 2),
        "B4": ("INCOMPLETE", 1),
    }


def test_every_public_name_of_the_store_loads_from_where_it_is_said_to_live():
    """kqc.store loads its parts on first use from a map of where each name
    lives; `__all__` (for linters) and that map must name the same things."""
    assert sorted(package._HOME) == sorted(package.__all__)
    for name, home in package._HOME.items():
        module = importlib.import_module(f"kqc.store.{home}")
        assert getattr(package, name) is getattr(module, name)
