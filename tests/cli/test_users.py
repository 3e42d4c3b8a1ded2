"""`kqc users`: console users with roles, passwords from a prompt or stdin
only, kept as argon2id hashes outside the database and its snapshot, and
locked after five wrong passwords."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kqc.core import identity
from kqc.store import users as user_store

KQC = [sys.executable, "-m", "kqc"]
PASSWORD = "correct horse battery staple"


def kqc(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    done = subprocess.run(
        [*KQC, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def test_a_user_is_added_with_a_role_and_listed(tmp_path):
    done = kqc(
        "users", "add", "a.nguyen", "--role", "reviewer", "--full-name", "An Nguyen",
        cwd=tmp_path, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = kqc("users", "list", cwd=tmp_path)
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0][:4] == ["user_id", "name", "full_name", "role"]
    assert rows[1][:4] == ["1", "a.nguyen", "An Nguyen", "reviewer"]
    assert rows[1][5] == ""  # enabled


def test_the_password_is_never_an_argument(tmp_path):
    done = kqc(
        "users", "add", "a.nguyen", "--role", "reviewer", "--password", PASSWORD, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "No such option" in done.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["x", "--role", "reviewer"], "cannot be a user name"),
        (["a.nguyen", "--role", "boss"], "unknown role 'boss'"),
    ],
)
def test_a_bad_name_or_role_is_refused_in_one_sentence(tmp_path, args, said):
    done = kqc("users", "add", *args, cwd=tmp_path, stdin=PASSWORD + "\n")
    assert done.returncode == 2
    assert said in done.stderr
    assert not (tmp_path / "kqc.duckdb").exists() or not user_store.list_users(
        tmp_path / "kqc.duckdb"
    )


@pytest.mark.parametrize(
    ("password", "said"),
    [("short pass", "at least 15 characters"), ("xa.nguyen-is-my-password", "user name")],
)
def test_a_weak_password_is_refused(tmp_path, password, said):
    done = kqc("users", "add", "a.nguyen", "--role", "reviewer", cwd=tmp_path, stdin=password)
    assert done.returncode == 2
    assert said in done.stderr


def test_a_taken_name_is_refused(tmp_path):
    assert (
        kqc("users", "add", "qa1", "--role", "reviewer", cwd=tmp_path, stdin=PASSWORD).returncode
        == 0
    )
    again = kqc("users", "add", "QA1", "--role", "approver", cwd=tmp_path, stdin=PASSWORD)
    assert again.returncode == 2
    assert "already a user 'qa1'" in again.stderr


def test_no_password_or_hash_is_in_the_database_or_its_snapshot(tmp_path):
    assert (
        kqc("users", "add", "qa1", "--role", "approver", cwd=tmp_path, stdin=PASSWORD).returncode
        == 0
    )
    assert kqc("publish", cwd=tmp_path).returncode == 0
    for name in ("kqc.duckdb", "kqc.snapshot.duckdb"):
        data = (tmp_path / name).read_bytes()
        assert PASSWORD.encode() not in data
        assert b"$argon2" not in data
    with duckdb.connect(str(tmp_path / "kqc.snapshot.duckdb"), read_only=True) as con:
        assert con.execute("SELECT name, role FROM users").fetchall() == [("qa1", "approver")]
    credentials = tmp_path / "kqc.credentials.sqlite"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert b"$argon2id$" in credentials.read_bytes()


def test_five_wrong_passwords_lock_the_account_and_a_reset_lifts_it(tmp_path):
    db = tmp_path / "kqc.duckdb"
    user_store.add_user(db, "qa1", "Q. A. One", "reviewer", PASSWORD)
    assert user_store.authenticate(db, "qa1", PASSWORD).name == "qa1"
    for _ in range(identity.MAX_FAILED_SIGN_INS):
        with pytest.raises(user_store.SignInRefused, match="wrong"):
            user_store.authenticate(db, "qa1", "not the password at all")
    with pytest.raises(user_store.SignInRefused, match="locked"):
        user_store.authenticate(db, "qa1", PASSWORD)
    done = kqc("users", "reset-password", "qa1", cwd=tmp_path, stdin="a brand new passphrase\n")
    assert done.returncode == 0, done.stderr
    assert user_store.authenticate(db, "qa1", "a brand new passphrase").name == "qa1"
    with pytest.raises(user_store.SignInRefused):
        user_store.authenticate(db, "qa1", PASSWORD)


def test_a_right_password_before_the_lock_resets_the_count(tmp_path):
    db = tmp_path / "kqc.duckdb"
    user_store.add_user(db, "qa1", "Q. A. One", "reviewer", PASSWORD)
    for _ in range(identity.MAX_FAILED_SIGN_INS - 1):
        with pytest.raises(user_store.SignInRefused):
            user_store.authenticate(db, "qa1", "not the password at all")
    user_store.authenticate(db, "qa1", PASSWORD)
    with pytest.raises(user_store.SignInRefused, match="wrong"):
        user_store.authenticate(db, "qa1", "not the password at all")
    assert user_store.authenticate(db, "qa1", PASSWORD).name == "qa1"


def test_an_unknown_name_is_refused_as_a_wrong_password_is(tmp_path):
    db = tmp_path / "kqc.duckdb"
    user_store.add_user(db, "qa1", "Q. A. One", "reviewer", PASSWORD)
    with pytest.raises(user_store.SignInRefused) as unknown:
        user_store.authenticate(db, "nobody", PASSWORD)
    with pytest.raises(user_store.SignInRefused) as wrong:
        user_store.authenticate(db, "qa1", "not the password at all")
    assert unknown.value.message == wrong.value.message


def test_a_disabled_user_cannot_sign_in(tmp_path):
    db = tmp_path / "kqc.duckdb"
    user_store.add_user(db, "qa1", "Q. A. One", "reviewer", PASSWORD)
    done = kqc("users", "disable", "qa1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with pytest.raises(user_store.SignInRefused, match="disabled"):
        user_store.authenticate(db, "qa1", PASSWORD)
    assert kqc("users", "disable", "nobody", cwd=tmp_path).returncode == 2
