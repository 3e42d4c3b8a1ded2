"""Signed decisions in the store and on the command line: the second person,
the roles, the binding of a signature to its record, and `kqc verify`
catching an edited signature or disposition."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from kqc.errors import UsageError
from kqc.store.chain import verify
from kqc.store.dispositions import record_disposition
from kqc.store.reviews import record_review
from kqc.store.users import authenticate
from tests.console.conftest import PASSWORD, USERS, flag_of, query

KQC = [sys.executable, "-m", "kqc"]


def _user(where, role: str):
    return authenticate(where.db, USERS[role], PASSWORD)


def _breaks(where) -> list[str]:
    found = verify(where.db, where.archive, where.quarantine)
    return [str(b) for b in found.breaks]


def _tamper(where, sql: str) -> None:
    with duckdb.connect(str(where.db)) as con:
        con.execute(sql)


def test_a_critical_dismissal_needs_another_approver(where):
    flag = flag_of(where, "B1", "heavy_metal", "critical")
    done = record_review(where.db, flag, "dismiss", _user(where, "approver"), "retest clean")
    assert done.awaiting_verification and done.status == "open"
    assert query(where, "SELECT status FROM flags WHERE flag_id = ?", [flag]) == [("open",)]
    with pytest.raises(UsageError, match=r"must be\s+another approver's"):
        record_review(where.db, flag, "verify", _user(where, "approver"), None)
    with pytest.raises(UsageError, match="only an approver may verify"):
        record_review(where.db, flag, "verify", _user(where, "reviewer"), None)
    record_review(where.db, flag, "verify", _user(where, "approver2"), None)
    assert query(where, "SELECT status FROM flags WHERE flag_id = ?", [flag]) == [("dismissed",)]
    assert query(
        where, "SELECT user_name, meaning, record_kind FROM signatures ORDER BY signature_id"
    ) == [
        (USERS["approver"], "dismissed the finding", "flag"),
        (USERS["approver2"], "verified the dismissal", "dismissal"),
    ]
    assert _breaks(where) == []


def test_a_dismissal_of_a_finding_that_changed_since_cannot_be_verified(where):
    flag = flag_of(where, "B1", "heavy_metal", "critical")
    record_review(where.db, flag, "dismiss", _user(where, "approver"), "retest clean")
    # New evidence, as new results bring: the record signed is not the one now.
    with duckdb.connect(str(where.db)) as con:
        con.execute("UPDATE flags SET evidence_hash = 'changed' WHERE flag_id = ?", [flag])
    with pytest.raises(UsageError, match="no dismissal waiting for verification"):
        record_review(where.db, flag, "verify", _user(where, "approver2"), None)


@pytest.mark.parametrize("role", ["technician", "regulator", "admin"])
def test_a_role_that_may_not_review_is_refused(where, role):
    flag = flag_of(where, "B1", "heavy_metal", "critical")
    with pytest.raises(UsageError, match="only a reviewer or an approver"):
        record_review(where.db, flag, "confirm", _user(where, role), None)
    assert query(where, "SELECT count(*) FROM signatures") == [(0,)]


def test_release_needs_pass_and_an_approver(where):
    with pytest.raises(UsageError, match="cannot be released"):
        record_disposition(where.db, "B1", "release", _user(where, "approver"), None)
    with pytest.raises(UsageError, match="only an approver disposes"):
        record_disposition(where.db, "B1", "hold", _user(where, "reviewer"), None)
    held = record_disposition(where.db, "B1", "hold", _user(where, "approver"), "retest due")
    rejected = record_disposition(where.db, "B1", "reject", _user(where, "approver2"), None)
    assert rejected.disposition_id == held.disposition_id + 1
    assert query(where, "SELECT decision, decided_by FROM batch_disposition") == [
        ("reject", USERS["approver2"])
    ]
    assert _breaks(where) == []


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("UPDATE signatures SET meaning = 'confirmed the finding'", "signatures"),
        ("UPDATE signatures SET full_name = 'Someone Else'", "signatures"),
        ("DELETE FROM signatures", "signatures"),
        ("UPDATE batch_dispositions SET decision = 'release'", "batch_dispositions"),
        ("DELETE FROM batch_dispositions", "batch_dispositions"),
    ],
)
def test_an_edited_signature_or_disposition_is_caught_by_verify(where, sql, table):
    record_disposition(where.db, "B1", "hold", _user(where, "approver"), "retest due")
    assert _breaks(where) == []
    _tamper(where, sql)
    assert any(b.startswith(table) for b in _breaks(where)), _breaks(where)


def _cli(where, *args: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*KQC, *args, "--db", str(where.db)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_signs_as_a_console_user_and_refuses_others(where):
    flag = flag_of(where, "B1", "heavy_metal", "critical")
    nobody = _cli(where, "review", flag, "--decision", "confirm", "--reviewer", "x.y", stdin="")
    assert nobody.returncode == 2 and "no console user 'x.y'" in nobody.stderr
    wrong = _cli(
        where, "review", flag, "--decision", "confirm", "--reviewer", USERS["reviewer"],
        stdin="not the password at all\n",
    )  # fmt: skip
    assert wrong.returncode == 1 and "the name or the password is wrong" in wrong.stderr
    assert query(where, "SELECT count(*) FROM signatures") == [(0,)]
    done = _cli(
        where, "review", flag, "--decision", "confirm", "--reviewer", USERS["reviewer"],
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()[:2]
    assert first.startswith(f"{flag} (B1, heavy_metal): confirmed by {USERS['reviewer']} at ")
    assert second.startswith("signed by ") and "signature 1" in second
    held = _cli(
        where, "dispose", "B1", "--decision", "hold", "--reviewer", USERS["approver"],
        "--note", "retest due", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert held.returncode == 0, held.stderr
    assert held.stdout.startswith(f"B1: put on hold by {USERS['approver']} at ")
    release = _cli(
        where, "dispose", "B1", "--decision", "release", "--reviewer", USERS["approver"],
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert release.returncode == 2 and "cannot be released" in release.stderr
    with duckdb.connect(str(where.db.with_name("kqc.snapshot.duckdb")), read_only=True) as con:
        assert con.execute("SELECT decision FROM batch_disposition").fetchall() == [("hold",)]
