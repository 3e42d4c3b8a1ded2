"""The register's target content T in the database (migration 0012) on real
DuckDB files: a database written before it verifies after the upgrade (the
ledger digests of its batches rows are unchanged), a declared T is stored
and sealed, a hand edit of it is found; and through the real `kqc` command,
a register's T decides content uniformity and the columns kqc does not read
are named in the outcome."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kqc.core.records import REGISTER_SCHEMA
from kqc.store import FileRecord, connect, store_ingested
from kqc.store.chain import BATCHES, record_rows, verify
from kqc.store.connection import run

OLD_COLUMNS = (
    "batch_id",
    "product_id",
    "product_name",
    "form",
    "label_claim_mg_per_serving",
    "serving_size_g",
    "servings_per_day",
    "units_per_serving",
    "manufacturer",
    "manufactured_on",
    "markets",
    "source_sha256",
    "updated_at",
)


def old_digest_sql() -> str:
    """The row text a kqc before migration 0012 digested, written out here as
    it was, so the test does not lean on the code it checks."""
    fields = []
    for c in OLD_COLUMNS:
        text = f"epoch_us({c})::VARCHAR" if c == "updated_at" else f"{c}::VARCHAR"
        fields.append(f"CASE WHEN {c} IS NULL THEN '~' ELSE strlen({text}) || ':' || {text} END")
    return f"concat_ws('|', {', '.join(fields)})"


def has_target_column(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'batches'"
            " AND column_name = 'target_content_pct'"
        ).fetchone()[0]
    )


def old_database(db: Path) -> None:
    """A database as the kqc before migration 0012 left it: every migration
    but that one applied, a register row written and recorded in the ledger."""
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL)"
        )
        con.execute("INSERT INTO schema_migrations VALUES (12, 'not yet', now())")
    with connect(db) as con:
        assert not has_target_column(con)
        run(
            con,
            "INSERT INTO batches (batch_id, product_id, product_name, form,"
            " label_claim_mg_per_serving, serving_size_g, servings_per_day, units_per_serving,"
            " manufacturer, manufactured_on, markets, source_sha256, updated_at)"
            " VALUES ('B-OLD', 'P1', 'Caps', 'capsule', 100, 0.5, 4, 1, NULL, '2026-01-05',"
            " NULL, ?, ?)",
            ["a" * 64, datetime(2026, 1, 6, tzinfo=UTC)],
        )
        record_rows(con, BATCHES, ["B-OLD"])
        run(con, "DELETE FROM schema_migrations WHERE version = 12")


def ledger_digest(db: Path, key: str) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT i.digest FROM ledger_items i JOIN ledger l USING (entry_id)"
            " WHERE l.kind = 'batches' AND i.item_key = ? ORDER BY i.entry_id DESC LIMIT 1",
            [key],
        ).fetchone()[0]


def breaks(db: Path) -> list[str]:
    return [str(b) for b in verify(db, db.parent / "archive", db.parent / "quarantine").breaks]


def edit(db: Path, sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql)


def register_frame(batch: str, target: float | None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source_row": [2],
            "batch_id": [batch],
            "product_id": ["P1"],
            "product_name": ["Caps"],
            "form": ["capsule"],
            "label_claim_mg_per_serving": [100.0],
            "serving_size_g": [0.5],
            "servings_per_day": [4.0],
            "units_per_serving": [1],
            "manufacturer": [None],
            "manufactured_on": ["2026-02-01"],
            "markets": [None],
            "target_content_pct": [target],
        },
        schema=REGISTER_SCHEMA,
    )


def store_register(db: Path, name: str, frame: pl.DataFrame) -> None:
    data = name.encode()
    path = db.parent / "archive" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    record = FileRecord(name, sha, "register", datetime.now(UTC), len(data), 0, str(path))
    store_ingested(db, file=record, results=None, register=frame)


@pytest.fixture
def upgraded(tmp_path: Path) -> Path:
    db = tmp_path / "kqc.duckdb"
    old_database(db)
    with duckdb.connect(str(db), read_only=True) as con:
        text = con.execute(
            f"SELECT {old_digest_sql()} FROM batches WHERE batch_id = 'B-OLD'"
        ).fetchone()[0]
    assert ledger_digest(db, "B-OLD") == hashlib.sha256(text.encode()).hexdigest()
    with connect(db) as con:  # the upgrade: migration 0012 adds the column
        assert has_target_column(con)
        assert run(con, "SELECT target_content_pct FROM batches") == [(None,)]
    return db


def test_a_database_from_before_the_target_verifies_after_the_upgrade(upgraded):
    assert breaks(upgraded) == []
    done = subprocess.run(
        [sys.executable, "-m", "kqc", "verify", "--db", str(upgraded)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "KQC_DB"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


def test_a_declared_target_is_stored_and_sealed(upgraded):
    store_register(upgraded, "reg1.csv", register_frame("B-NEW", 105.0))
    with duckdb.connect(str(upgraded), read_only=True) as con:
        assert con.execute(
            "SELECT batch_id, target_content_pct FROM batches ORDER BY 1"
        ).fetchall() == [("B-NEW", 105.0), ("B-OLD", None)]
    assert breaks(upgraded) == []
    # A row with T is digested with it: the digest is not the one without it.
    with duckdb.connect(str(upgraded), read_only=True) as con:
        text = con.execute(
            f"SELECT {old_digest_sql()} FROM batches WHERE batch_id = 'B-NEW'"
        ).fetchone()[0]
    assert ledger_digest(upgraded, "B-NEW") != hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("sql", "batch"),
    [
        ("UPDATE batches SET target_content_pct = 110 WHERE batch_id = 'B-NEW'", "B-NEW"),
        ("UPDATE batches SET target_content_pct = NULL WHERE batch_id = 'B-NEW'", "B-NEW"),
        # An old row given a T by hand: set, it is digested, and the digest differs.
        ("UPDATE batches SET target_content_pct = 105 WHERE batch_id = 'B-OLD'", "B-OLD"),
    ],
)
def test_a_target_edited_by_hand_is_found(upgraded, sql, batch):
    store_register(upgraded, "reg1.csv", register_frame("B-NEW", 105.0))
    edit(upgraded, sql)
    found = breaks(upgraded)
    assert len(found) == 1, found
    assert "batches" in found[0] and batch in found[0]


def test_a_later_register_row_without_t_clears_it(upgraded):
    store_register(upgraded, "reg1.csv", register_frame("B-NEW", 105.0))
    store_register(upgraded, "reg2.csv", register_frame("B-NEW", None))
    with duckdb.connect(str(upgraded), read_only=True) as con:
        assert con.execute(
            "SELECT target_content_pct FROM batches WHERE batch_id = 'B-NEW'"
        ).fetchone() == (None,)
    assert breaks(upgraded) == []


# --- through the command ------------------------------------------------------

REGISTER = (
    "Batch,Product ID,Product Name,Form,Label claim (mg/serving),Capsules per serving,"
    "Serving size (g),Servings per day,Target %,Lot Notes,QA Initials\n"
    "BT,P1,Caps,capsule,100,1,0.5,4,105,overage lot,JK\n"
    "BN,P1,Caps,capsule,100,1,0.5,4,,,MB\n"
)
# Ten capsules of 100 mg claimed: 2 at 95.75, 6 at 104, 2 at 112.25 % of claim
# (mean 104, s = 2 x 8.25 / 3 = 5.5). T 105: M 104, AV = 2.4 x 5.5 = 13.2, a
# pass; T 100: M 101.5, AV = 2.5 + 13.2 = 15.7 > L1 15.
CAPSULES = [95.75] * 2 + [104.0] * 6 + [112.25] * 2


def results_file() -> str:
    lines = ["Lab,Batch,Sample,Capsule,Analyte,Result,Unit,Reviewer Comment"]
    for batch in ("BT", "BN"):
        for i, value in enumerate(CAPSULES, start=1):
            lines.append(f"Acme,{batch},{batch}-CU,{i},Mitragynine,{value},mg/capsule,")
    lines[1] += "re-run on column 2"  # the one value of the column
    return "\n".join(lines) + "\n"


def kqc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    done = subprocess.run(
        [sys.executable, "-m", "kqc", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def test_ingest_judges_by_the_declared_target_and_names_unused_columns(tmp_path):
    (tmp_path / "register.csv").write_text(REGISTER)
    (tmp_path / "cu.csv").write_text(results_file())
    done = kqc("ingest", "register.csv", "cu.csv", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    by_file = {o["file"]: o for o in map(json.loads, done.stdout.splitlines())}
    assert by_file["register.csv"]["status"] == "ingested"
    assert by_file["register.csv"]["unused_columns"] == ["Lot Notes", "QA Initials"]
    assert by_file["cu.csv"]["unused_columns"] == ["Reviewer Comment"]
    db = tmp_path / "kqc.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "SELECT batch_id, target_content_pct FROM batches ORDER BY 1"
        ).fetchall() == [("BN", None), ("BT", 105.0)]
        flags = con.execute(
            "SELECT batch_id, observed, evidence FROM flags WHERE rule = 'content_uniformity'"
        ).fetchall()
    # BT passes at M 104 (AV 13.2); BN, with no T, fails at M 101.5 (AV 15.7).
    assert [(b, round(o, 1)) for b, o, _ in flags] == [("BN", 15.7)]
    evidence = json.loads(flags[0][2])
    assert "T" not in evidence and evidence["M"] == 101.5  # T = 100 goes unwritten
    assert kqc("verify", cwd=tmp_path).returncode == 0

    # As a person reads it: the columns are named beside the file.
    (tmp_path / "register2.csv").write_text(REGISTER.replace("overage lot", "second look"))
    shown = kqc("ingest", "register2.csv", cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert (
        "register2.csv ingested 2 rows (columns not used: 'Lot Notes', 'QA Initials')"
        in shown.stdout
    )
