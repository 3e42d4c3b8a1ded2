"""The hash chains of source_files and flag_reviews on a real DuckDB file:
every write seals its row, an edit, a removal or a hand-inserted row breaks
the chain at that row (and only there), a database from before the chain is
chained by its next write, and a kept file is re-hashed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import kqc.store.connection as connection
from kqc.core.chain import GENESIS, check_chain, row_hash
from kqc.store import FileRecord, connect, store_ingested, store_rejected
from kqc.store.chain import FLAG_REVIEWS, SOURCE_FILES, verify
from kqc.store.connection import run
from tests.store.test_store import results_frame


def drop(site: Path, name: str, data: bytes, folder: str = "archive") -> FileRecord:
    """A kept file as the ingest leaves it, and its source_files record."""
    path = site / folder / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return FileRecord(name, sha, "results", datetime.now(UTC), len(data), 0, str(path))


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    db = tmp_path / "kqc.duckdb"
    for i in range(3):
        file = drop(tmp_path, f"r{i}.csv", f"file {i}".encode())
        store_ingested(db, file=file, results=results_frame(batch=f"B{i}"), register=None)
    store_rejected(db, file=drop(tmp_path, "bad.csv", b"bad", "quarantine"))
    return db


def breaks(db: Path) -> list[str]:
    return [str(b) for b in verify(db, db.parent / "archive", db.parent / "quarantine").breaks]


def edit(db: Path, sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql)


def test_every_write_is_sealed_into_one_chain(stored):
    with duckdb.connect(str(stored), read_only=True) as con:
        rows = con.execute(
            "SELECT file_id, prev_hash, row_hash FROM source_files ORDER BY file_id"
        ).fetchall()
    assert len(rows) == 4
    assert rows[0][1] == GENESIS
    assert [r[1] for r in rows[1:]] == [r[2] for r in rows[:-1]]
    assert len({r[2] for r in rows}) == 4
    found = verify(stored, stored.parent / "archive", stored.parent / "quarantine")
    assert found.breaks == []
    assert found.files == 4
    assert found.heads["source_files"].row_hash == rows[-1][2]


def test_a_row_edited_by_hand_is_named_once(stored):
    edit(stored, "UPDATE source_files SET row_count = 99 WHERE file_id = 2")
    assert breaks(stored) == [
        "source_files file_id 2: content changed after it was written (hash differs)"
    ]


def test_a_removed_row_breaks_the_link_of_the_next(stored):
    edit(stored, "DELETE FROM source_files WHERE file_id = 2")
    assert breaks(stored) == [
        "source_files file_id 3: link to file_id 1 broken: a row between them was removed",
        "source_files file_id 2: recorded in the ledger but no longer in the table:"
        " deleted by hand",
    ]


def test_a_row_inserted_by_hand_is_not_in_the_chain(stored):
    edit(
        stored,
        "INSERT INTO source_files (file_name, sha256, status, received_at, row_count,"
        " error_count, size_bytes) VALUES ('forged.csv', 'x', 'rejected', now(), 0, 0, 1)",
    )
    assert len(breaks(stored)) == 1 and "not in the chain" in breaks(stored)[0]


def test_kept_files_modified_or_missing(stored):
    (stored.parent / "archive" / "r1.csv").write_bytes(b"file 1 with a changed result")
    (stored.parent / "quarantine" / "bad.csv").unlink()
    found = breaks(stored)
    assert len(found) == 2
    assert found[0].startswith("source_files file_id 2: kept file ")
    assert found[0].endswith("r1.csv was modified (SHA-256 differs)")
    assert found[1].startswith("source_files file_id 4: kept file ")
    assert found[1].endswith("bad.csv is missing")


def test_a_database_from_before_the_chain_is_chained_by_its_next_write(tmp_path, monkeypatch):
    db = tmp_path / "kqc.duckdb"
    every = connection._migration_files
    monkeypatch.setattr(connection, "_migration_files", lambda: [m for m in every() if m[0] < 4])
    old = drop(tmp_path, "old.csv", b"old")
    with connect(db) as con:  # what an older kqc wrote
        run(
            con,
            "INSERT INTO source_files (file_name, sha256, status, kind, received_at, row_count,"
            " error_count, stored_as, size_bytes) VALUES (?, ?, 'ingested', 'results', ?, 0, 0,"
            " ?, ?)",
            [old.file_name, old.sha256, old.received_at, old.stored_as, old.size_bytes],
        )
        run(
            con,
            "INSERT INTO flag_reviews VALUES ('f1', 'confirm', 'QA', NULL, ?), ('f2', 'dismiss',"
            " 'QA', 'retest', ?)",
            [datetime.now(UTC), datetime.now(UTC) - timedelta(hours=1)],
        )
    monkeypatch.setattr(connection, "_migration_files", every)
    with connect(db) as con:  # the upgrade numbers the old reviews, in order of recording
        assert run(con, "SELECT flag_id FROM flag_reviews ORDER BY review_id") == [("f2",), ("f1",)]
    assert len(breaks(db)) == 3  # upgraded, not chained yet: said so, not hidden
    store_rejected(db, file=drop(tmp_path, "new.csv", b"new", "quarantine"))
    assert breaks(db) == []


def test_check_chain_on_plain_rows():
    first = {"id": 1, "text": "a", "prev_hash": GENESIS}
    first["row_hash"] = row_hash(first)
    second = {"id": 2, "text": "b", "prev_hash": first["row_hash"]}
    second["row_hash"] = row_hash(second)
    assert check_chain("t", "id", [first, second]) == []
    # The same instant in another time zone hashes the same.
    utc = datetime(2026, 1, 1, 12, tzinfo=UTC)
    from zoneinfo import ZoneInfo

    berlin = utc.astimezone(ZoneInfo("Europe/Berlin"))
    assert row_hash({"at": utc}) == row_hash({"at": berlin})
    assert [str(b) for b in check_chain("t", "id", [second])] == [
        "t id 2: link to the start of the table broken: a row between them was removed"
    ]
    assert SOURCE_FILES.id_column == "file_id" and FLAG_REVIEWS.id_column == "review_id"
