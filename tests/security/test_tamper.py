"""Tampering with the database behind kqc's back, one kind at a time, each on
a fresh copy of a real DuckDB file written through the store: results,
flags, reviews, batches, thresholds, control-chart points, source files and
a quarantined file's errors list. `kqc verify` exits 1 and names the table
for each; it exits 0 on the untouched database (after amendments,
re-evaluation and reviews) and on one upgraded from the schema before the
ledger. A forger who recomputes every hash passes the plain check, and is
caught by a head kept from before (`--expect`, or the heads file)."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kqc.pipeline.evaluate import evaluate_pending
from kqc.store import FileRecord, Incoming, record_review, store_files, store_rejected, transaction
from kqc.store.chain import SOURCE_FILES, heads, heads_path, record_all, seal, verify, write_heads
from tests.cli.test_cli import kqc
from tests.signers import signer
from tests.store.test_store import register_frame, results_frame


def _kept(site: Path, name: str, data: bytes, folder: str = "archive", **extra) -> FileRecord:
    path = site / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return FileRecord(name, sha, "results", datetime.now(UTC), len(data), 0, str(path), **extra)


def _potency(batch: str) -> pl.DataFrame:
    """Mitragynine of two production samples: a control-chart point."""
    return results_frame(2, batch).with_columns(
        pl.lit("mitragynine").alias("analyte"),
        pl.lit("mg/g").alias("unit"),
        pl.lit("Mitragynine").alias("reported_analyte"),
        pl.lit("%").alias("reported_unit"),
        pl.Series("sample_id", ["M1", "M2"]),
        pl.Series("value", [12.0, 14.0]),
    )


def _open_flag(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT flag_id FROM flags WHERE status = 'open' ORDER BY flag_id LIMIT 1"
        ).fetchall()[0][0]


def _build(site: Path, *, errors_list: bool = True) -> Path:
    """Results and a register, evaluated; an amendment, evaluated again; two
    QA decisions; a rejected file (with its errors list's hash recorded)."""
    db = site / "kqc.duckdb"
    register = _kept(site, "register.csv", b"register B1")
    store_files(
        db,
        [
            Incoming(_kept(site, "r1.csv", b"results 1"), results_frame(3, "B1")),
            Incoming(_kept(site, "r2.csv", b"results 2"), results_frame(4, "B2")),
            Incoming(_kept(site, "r3.csv", b"results 3"), _potency("B1")),
            Incoming(register, register=register_frame("B1", 42.0)),
        ],
    )
    evaluate_pending(db)
    amended = results_frame(1, "B1").with_columns(pl.lit(0.9).alias("value"))
    store_files(db, [Incoming(_kept(site, "r1-amended.csv", b"results 1 amended"), amended)])
    evaluate_pending(db)
    record_review(db, _open_flag(db), "confirm", signer(db), None)
    record_review(db, _open_flag(db), "dismiss", signer(db), "blank was clean")
    errors = b"row,problem\n2,unknown analyte\n"
    listed = hashlib.sha256(errors).hexdigest() if errors_list else None
    bad = _kept(site, "bad.csv", b"garbage", "quarantine", errors_sha256=listed)
    (site / "quarantine" / "bad.csv.errors.csv").write_bytes(errors)
    store_rejected(db, file=bad)
    return db


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("tamper") / "site")


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built site for each test."""
    shutil.copytree(template.parent, tmp_path / "site")
    return tmp_path / "site" / template.name


def run_verify(db: Path, *extra: str):
    return kqc("verify", "--db", str(db), *extra, cwd=db.parent)


def broken(db: Path, *extra: str) -> list[str]:
    done = run_verify(db, *extra)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BROKEN ")]
    assert (done.returncode == 1) == bool(lines), done.stdout + done.stderr
    return lines


def tamper(db: Path, *sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        for statement in sql:
            con.execute(statement)


def test_the_untouched_database_is_intact(db):
    found = verify(db, db.parent / "archive", db.parent / "quarantine")
    assert found.breaks == []
    assert found.rows["flag_reviews"] == 2 and found.rows["results"] == 10
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM ledger").fetchall()}
        superseded = con.execute("SELECT count(*) FROM results WHERE superseded_by IS NOT NULL")
        assert superseded.fetchall()[0][0] >= 1  # amended results are kept, marked
    assert kinds >= {
        "results",
        "supersessions",
        "flags",
        "flag_reviews",
        "source_files",
        "batches",
        "batch_potency",
        "thresholds",
    }
    done = run_verify(db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "head ledger:" in done.stdout


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "UPDATE results SET value = value * 10 WHERE result_id = 1",
            "BROKEN results of file r1.csv",
        ),
        (
            "DELETE FROM results WHERE result_id = (SELECT max(result_id) FROM results)",
            "BROKEN results of file r1-amended.csv",
        ),
        (
            "INSERT INTO results SELECT * REPLACE (result_id + 100 AS result_id)"
            " FROM results WHERE result_id = 4",
            "BROKEN results of file r2.csv",
        ),
        (
            "UPDATE results SET superseded_by = NULL, superseded_at = NULL"
            " WHERE superseded_by IS NOT NULL",
            "BROKEN results superseded rows of file r1.csv",
        ),
        (
            "UPDATE flags SET status = 'dismissed'"
            " WHERE flag_id = (SELECT min(flag_id) FROM flags WHERE status = 'open')",
            "BROKEN flags flag_id ",
        ),
        ("DELETE FROM flags WHERE flag_id = (SELECT min(flag_id) FROM flags)", "BROKEN flags"),
        (
            "INSERT INTO flags SELECT * REPLACE ('forged' AS flag_id) FROM flags LIMIT 1",
            "BROKEN flags flag_id forged: not in the ledger",
        ),
        (
            "DELETE FROM flag_reviews WHERE review_id = 2",
            "BROKEN flag_reviews review_id 2: recorded in the ledger but no longer",
        ),
        (
            "DELETE FROM source_files WHERE file_id = (SELECT max(file_id) FROM source_files)",
            "BROKEN source_files file_id 6: recorded in the ledger but no longer",
        ),
        (
            "UPDATE batches SET label_claim_mg_per_serving = 60 WHERE batch_id = 'B1'",
            "BROKEN batches batch_id B1: content changed",
        ),
        (
            "DELETE FROM batches WHERE batch_id = 'B1'",
            "BROKEN batches batch_id B1: recorded in the ledger but no longer",
        ),
        (
            "UPDATE thresholds SET limit_value = limit_value * 100"
            " WHERE rule = 'heavy_metal' AND analyte = 'lead'",
            "BROKEN thresholds table: content changed",
        ),
        (
            "UPDATE ledger_items SET digest = repeat('0', 64)"
            " WHERE entry_id = (SELECT min(entry_id) FROM ledger WHERE kind = 'flags')",
            "BROKEN ledger_items entry_id ",
        ),
    ],
    ids=[
        "results-value-updated",
        "results-row-deleted",
        "results-row-inserted",
        "supersession-undone",
        "flag-status-updated",
        "flag-deleted",
        "flag-inserted",
        "last-review-deleted",
        "last-source-file-deleted",
        "batch-updated",
        "batch-deleted",
        "threshold-updated",
        "ledger-item-edited",
    ],
)
def test_each_tampering_is_named(db, sql, expected):
    tamper(db, sql)
    lines = broken(db)
    assert lines, "verify passed a tampered database"
    assert any(line.startswith(expected) for line in lines), lines


def test_a_potency_point_changed_by_hand(db):
    with duckdb.connect(str(db), read_only=True) as con:
        points = con.execute("SELECT count(*) FROM batch_potency").fetchall()[0][0]
    if not points:
        pytest.skip("these results give no control-chart point")
    tamper(db, "UPDATE batch_potency SET mean_value = mean_value + 1")
    assert any(line.startswith("BROKEN batch_potency batch_id ") for line in broken(db))


def test_an_edited_errors_list_in_quarantine(db):
    listed = db.parent / "quarantine" / "bad.csv.errors.csv"
    listed.write_bytes(listed.read_bytes().replace(b"unknown analyte", b"fine"))
    assert broken(db) == [
        f"BROKEN source_files file_id 6: errors file {listed} was modified (SHA-256 differs)"
    ]
    listed.unlink()
    assert broken(db) == [f"BROKEN source_files file_id 6: errors file {listed} is missing"]


def _kept_heads(db: Path) -> list[str]:
    done = run_verify(db)
    assert done.returncode == 0, done.stdout
    return [
        arg
        for line in done.stdout.splitlines()
        if line.startswith("head ")
        for arg in ("--expect", line.removeprefix("head "))
    ]


def test_a_consistent_rewrite_of_the_ledger_needs_a_kept_head(db):
    kept = _kept_heads(db)
    # A forger with kqc's own code: edit a result, then rebuild the whole
    # ledger from the edited tables.
    tamper(db, "UPDATE results SET value = 99 WHERE result_id = 1")
    tamper(db, "DELETE FROM ledger_items", "DELETE FROM ledger")
    with transaction(db) as con:
        record_all(con)
    assert broken(db) == []  # every hash agrees with every other
    lines = broken(db, *kept)
    assert lines and all(line.startswith("BROKEN ledger entry_id ") for line in lines), lines


def test_a_consistent_rewrite_of_source_files_needs_a_kept_head(db):
    kept = _kept_heads(db)
    tamper(
        db,
        "UPDATE source_files SET row_count = row_count + 1 WHERE file_id = 1",
        "UPDATE source_files SET prev_hash = NULL, row_hash = NULL",
    )
    with transaction(db) as con:
        seal(con, SOURCE_FILES)  # every row chained again, and recorded again
    assert broken(db) == []
    assert broken(db, *kept) == [
        "BROKEN source_files file_id 6: hash differs from the recorded head:"
        " the chain was rewritten"
    ]


def test_the_heads_file_is_checked_without_being_asked(db):
    path = write_heads(db)
    assert path == db.parent / "kqc.heads.json" == heads_path(db.parent / "kqc.snapshot.duckdb")
    recorded = json.loads(path.read_text())["heads"]
    assert recorded == heads(db)
    assert set(recorded) == {
        "source_files",
        "flag_reviews",
        "ledger",
        "signatures",
        "batch_dispositions",
    }
    done = run_verify(db)
    assert done.returncode == 0
    assert f"recorded heads still in their chains: {path}" in done.stdout
    # Cut the last review and every ledger entry written since: the tables
    # and the ledger agree again, but the kept head is gone.
    tamper(
        db,
        "DELETE FROM flag_reviews WHERE review_id = 2",
        "DELETE FROM ledger_items WHERE entry_id IN (SELECT entry_id FROM ledger"
        " WHERE entry_id >= (SELECT min(l.entry_id) FROM ledger l JOIN ledger_items i"
        " USING (entry_id) WHERE l.kind = 'flag_reviews' AND i.item_key = '2'))",
        "DELETE FROM ledger WHERE entry_id NOT IN (SELECT entry_id FROM ledger_items)",
        "DELETE FROM source_files WHERE file_id = 6",
    )
    lines = broken(db)
    assert any(
        line.startswith("BROKEN flag_reviews review_id 2: the recorded head is gone:")
        for line in lines
    ), lines
    assert any(line.startswith("BROKEN ledger entry_id ") for line in lines)
    # The flag the removed review decided on still shows the status it set.
    assert any(line.startswith("BROKEN flags flag_id ") for line in lines)


def test_a_database_upgraded_from_before_the_ledger(tmp_path):
    site = tmp_path / "site"
    db = _build(site, errors_list=False)
    # As the kqc before the ledger left it: the same rows, no ledger, no
    # errors_sha256, migration 10 not applied.
    tamper(
        db,
        "DROP TABLE ledger_items",
        "DROP TABLE ledger",
        "ALTER TABLE source_files DROP COLUMN errors_sha256",
        "DELETE FROM schema_migrations WHERE version = 10",
    )
    found = verify(db, site / "archive", site / "quarantine")
    assert [b.problem for b in found.breaks] == [
        "has no ledger yet (written by an older kqc): the next ingest adds it"
    ]
    with transaction(db):
        pass  # the upgrade records every row already stored
    assert verify(db, site / "archive", site / "quarantine").breaks == []
    evaluate_pending(db)
    record_review(db, _open_flag(db), "confirm", signer(db), None)
    assert broken(db) == []
    tamper(db, "UPDATE results SET reported_result = '0.01' WHERE result_id = 2")
    assert [line[:32] for line in broken(db)] == ["BROKEN results of file r1.csv (s"]


def test_results_digests_an_earlier_kqc_recorded_as_sha256_verify_like_with_like(
    tmp_path, monkeypatch
):
    """Digests of results were SHA-256 (written bare) before they were BLAKE3
    (written `blake3:`): a database holding them verifies intact, and a
    value changed by hand under one still shows."""
    from functools import partial

    from kqc.store import chain, writes

    monkeypatch.setattr(writes, "Digest", partial(chain.Digest, algorithm=chain.SHA256))
    db = _build(tmp_path / "site")
    with duckdb.connect(str(db), read_only=True) as con:
        recorded = con.execute(
            "SELECT i.digest FROM ledger_items i JOIN ledger l USING (entry_id)"
            " WHERE l.kind = 'results'"
        ).fetchall()
    assert recorded and all(len(d) == 64 and ":" not in d for (d,) in recorded)
    assert broken(db) == []
    tamper(db, "UPDATE results SET value = value * 10 WHERE result_id = 1")
    assert any(line.startswith("BROKEN results of file r1.csv") for line in broken(db))


def test_results_digests_are_written_as_blake3(db):
    with duckdb.connect(str(db), read_only=True) as con:
        recorded = con.execute(
            "SELECT i.digest FROM ledger_items i JOIN ledger l USING (entry_id)"
            " WHERE l.kind IN ('results', 'supersessions')"
        ).fetchall()
    assert recorded and all(d.startswith("blake3:") and len(d) == 71 for (d,) in recorded)
