"""`kqc verify` as an auditor runs it, on private copies of the demo database:
intact (exit 0, the chain heads printed), then a row edited by hand, a row
removed, a review edited and an archived file modified, each named on one
line (exit 1); a head printed by one run pins the chain for the next
(`--expect`); no Prefect on the way."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.cli.test_cli import kqc
from tests.conftest import copy_demo
from tests.signers import PASSWORD, signer


def verify(db: Path, *extra: str):
    return kqc("verify", "--db", str(db), *extra, cwd=db.parent)


def broken_lines(done) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("BROKEN ")]


def tamper(db: Path, sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql)


def test_intact_demo_then_each_kind_of_tampering(demo_folder, tmp_path):
    db = copy_demo(demo_folder, tmp_path)
    done = verify(db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("intact: 10 source_files rows")
    assert "10 kept files re-hashed" in done.stdout
    assert "head source_files:10:" in done.stdout
    assert "head ledger:" in done.stdout

    # A QA decision joins its own chain.
    flag_id = (
        duckdb.connect(str(db), read_only=True)
        .execute("SELECT flag_id FROM flags ORDER BY flag_id LIMIT 1")
        .fetchone()[0]
    )
    reviewed = kqc(
        "review",
        flag_id,
        "--decision",
        "confirm",
        "--reviewer",
        signer(db).name,
        "--db",
        str(db),
        cwd=tmp_path,
        stdin=PASSWORD,
    )
    assert reviewed.returncode == 0, reviewed.stderr
    assert "1 flag_reviews rows" in verify(db).stdout

    tamper(db, "UPDATE source_files SET row_count = row_count + 1 WHERE file_id = 3")
    tamper(db, "DELETE FROM source_files WHERE file_id = 6")
    tamper(db, "UPDATE flag_reviews SET reviewer = 'someone else'")
    archived = sorted((db.parent / "archive").iterdir())[0]
    archived.write_bytes(archived.read_bytes().replace(b"1", b"2", 1))

    done = verify(db)
    assert done.returncode == 1
    lines = broken_lines(done)
    assert len(lines) == 5, done.stdout
    assert "source_files file_id 3: content changed" in lines[0]
    assert "source_files file_id 7: link to file_id 5 broken" in lines[1]
    assert "flag_reviews review_id 1: content changed" in lines[2]
    assert "source_files file_id 6: recorded in the ledger but no longer in the table" in lines[3]
    assert archived.name in lines[4] and "was modified" in lines[4]
    assert "5 break(s)" in done.stderr


def test_a_missing_archived_file_and_the_archive_option(demo_folder, tmp_path):
    db = copy_demo(demo_folder, tmp_path)
    moved = tmp_path / "elsewhere"
    (db.parent / "archive").rename(moved)
    # Default archive/ beside the database: every archived file is missing.
    done = verify(db)
    assert done.returncode == 1
    assert all("is missing" in line for line in broken_lines(done))
    assert len(broken_lines(done)) == len(list(moved.iterdir()))
    # Pointed at where the archive now lies: intact.
    assert verify(db, "--archive", str(moved)).returncode == 0


def test_verify_never_imports_prefect(demo_folder, tmp_path):
    db = copy_demo(demo_folder, tmp_path)
    done = kqc("verify", "--db", str(db), cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0
    assert "prefect" not in done.stderr


def test_a_printed_head_is_expected_by_a_later_run(demo_folder, tmp_path):
    db = copy_demo(demo_folder, tmp_path)
    heads = [
        line.split(" ", 1)[1] for line in verify(db).stdout.splitlines() if line.startswith("head ")
    ]
    assert [h.split(":")[0] for h in heads] == [
        "source_files",
        "flag_reviews",
        "ledger",
        "signatures",
        "batch_dispositions",
    ]
    expected = [arg for head in heads for arg in ("--expect", head)]
    done = verify(db, *expected)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("recorded heads still in their chains") == 5
    # The last file's row and its ledger entries removed together: plain verify
    # still sees the row's ledger entry gone, and the kept head sees the cut.
    tamper(db, "DELETE FROM source_files WHERE file_id = 10")
    done = verify(db, *expected)
    assert done.returncode == 1
    assert any("file_id 10: the recorded head is gone" in line for line in broken_lines(done))
    bad = verify(db, "--expect", "not-a-head")
    assert bad.returncode == 2 and "neither a head" in bad.stderr
