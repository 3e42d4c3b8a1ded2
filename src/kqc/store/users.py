"""Console users: their names and roles in the database (`users`, published
with the snapshot), their password hashes and failed sign-ins apart, in
`<db stem>.credentials.sqlite` beside it.

Why apart: the snapshot regulators receive is a copy of the database file, so
whatever the file holds, they hold; a password hash has no place there
(CONTRACT §6). SQLite, because the console, the watch and every command
check passwords at the same time and a failed sign-in is a write: SQLite
takes many small writers without holding the DuckDB file's lock. The file is
created readable by its owner only (0600).

The rules (roles, password length, lockout) are kqc.core.identity's; this
module keeps what they decide.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kqc.core import identity
from kqc.errors import KqcError, UsageError
from kqc.store.columns import has_table
from kqc.store.connection import connect, run, transaction
from kqc.store.queries import require_database

CREDENTIALS_SUFFIX = ".credentials.sqlite"
# Verified against when the name is unknown, so a wrong name costs the same
# time as a wrong password and sign-in timing does not tell which names exist.
_NO_SUCH_USER = identity.hash_password("no user has this password, ever")


class SignInRefused(KqcError):
    """A name and password that do not sign in (exit 1): the message says no
    more than it may (never whether the name exists)."""


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    full_name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


_COLUMNS = "user_id, name, full_name, role, created_at, disabled_at"


def credentials_path(db: Path) -> Path:
    """`kqc.duckdb` -> `kqc.credentials.sqlite`, in the same folder."""
    return db.with_name(db.stem + CREDENTIALS_SUFFIX)


@contextlib.contextmanager
def _credentials(db: Path) -> Iterator[sqlite3.Connection]:
    path = credentials_path(db)
    if not path.exists():
        # Created 0600 before SQLite opens it: never readable by others.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(
            "CREATE TABLE IF NOT EXISTS credentials (user_id INTEGER PRIMARY KEY,"
            " password_hash TEXT NOT NULL, failed INTEGER NOT NULL DEFAULT 0,"
            " locked_until TEXT, changed_at TEXT NOT NULL)"
        )
        yield con
    finally:
        con.close()


def _user(row: tuple[object, ...]) -> User:
    user_id, name, full_name, role, created_at, disabled_at = row
    return User(
        int(user_id),  # type: ignore[call-overload]
        str(name),
        str(full_name),
        str(role),
        created_at,  # type: ignore[arg-type]
        disabled_at,  # type: ignore[arg-type]
    )


def list_users(db: Path) -> list[User]:
    require_database(db)
    with connect(db, read_only=True) as con:
        if not has_table(con, "users"):
            return []
        return [_user(r) for r in run(con, f"SELECT {_COLUMNS} FROM users ORDER BY user_id")]


def find_user(db: Path, name: str) -> User | None:
    require_database(db)
    with connect(db, read_only=True) as con:
        if not has_table(con, "users"):
            return None
        rows = run(con, f"SELECT {_COLUMNS} FROM users WHERE name = ?", [name.strip().lower()])
    return _user(rows[0]) if rows else None


def add_user(db: Path, name: str, full_name: str, role: str, password: str) -> User:
    """A new enabled user. The name is refused when taken (also by a disabled
    user: a name that signed once names that person for good)."""
    name = identity.check_name(name)
    full_name = identity.check_full_name(full_name)
    identity.check_role(role)
    identity.check_password(password, name)
    hashed = identity.hash_password(password)
    now = datetime.now(UTC)
    with transaction(db) as con:
        if run(con, "SELECT 1 FROM users WHERE name = ?", [name]):
            raise UsageError(f"there is already a user '{name}': pick another name")
        (next_id,) = run(con, "SELECT coalesce(max(user_id), 0) + 1 FROM users")[0]
        run(
            con,
            f"INSERT INTO users ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",
            [next_id, name, full_name, role, now],
        )
        # Kept before the user row commits: a user never exists without a
        # password (a crash between leaves a hash for an id no one has).
        _store_hash(db, int(next_id), hashed, now)
    return User(int(next_id), name, full_name, role, now, None)


def _store_hash(db: Path, user_id: int, hashed: str, now: datetime) -> None:
    with _credentials(db) as con:
        con.execute(
            "INSERT INTO credentials (user_id, password_hash, failed, locked_until, changed_at)"
            " VALUES (?, ?, 0, NULL, ?) ON CONFLICT (user_id) DO UPDATE SET"
            " password_hash = excluded.password_hash, failed = 0, locked_until = NULL,"
            " changed_at = excluded.changed_at",
            (user_id, hashed, now.isoformat()),
        )


def _existing(db: Path, name: str) -> User:
    user = find_user(db, name)
    if user is None:
        raise UsageError(f"no user '{name}': list them with `kqc users list`")
    return user


def disable_user(db: Path, name: str) -> User:
    """The user can no longer sign in or sign; their past signatures stand."""
    user = _existing(db, name)
    if not user.enabled:
        return user
    now = datetime.now(UTC)
    with transaction(db) as con:
        run(con, "UPDATE users SET disabled_at = ? WHERE user_id = ?", [now, user.user_id])
    return User(user.user_id, user.name, user.full_name, user.role, user.created_at, now)


def set_password(db: Path, name: str, password: str) -> User:
    """A new password for an existing user, which also lifts a lockout."""
    user = _existing(db, name)
    identity.check_password(password, user.name)
    _store_hash(db, user.user_id, identity.hash_password(password), datetime.now(UTC))
    return user


def authenticate(db: Path, name: str, password: str) -> User:
    """The enabled user with this name and password, else SignInRefused.
    Every wrong password counts toward the lockout; a right one while the
    account is locked is refused too (the lock is what it says)."""
    refused = SignInRefused("the name or the password is wrong")
    try:
        user = find_user(db, name)
    except KqcError:
        user = None
    now = datetime.now(UTC)
    with _credentials(db) as con:
        row = None
        if user is not None:
            row = con.execute(
                "SELECT password_hash, failed, locked_until FROM credentials WHERE user_id = ?",
                (user.user_id,),
            ).fetchone()
        if user is None or row is None:
            identity.password_matches(_NO_SUCH_USER, password)
            raise refused
        stored, failed, locked_until = row
        attempts = identity.Attempts(
            int(failed), datetime.fromisoformat(locked_until) if locked_until else None
        )
        if attempts.locked(now):
            raise SignInRefused(
                f"the account '{user.name}' is locked after {identity.MAX_FAILED_SIGN_INS}"
                " wrong passwords; try again later, or ask an admin to reset the password"
            )
        if not identity.password_matches(str(stored), password):
            after = attempts.after_failure(now)
            con.execute(
                "UPDATE credentials SET failed = ?, locked_until = ? WHERE user_id = ?",
                (
                    after.failed,
                    after.locked_until.isoformat() if after.locked_until else None,
                    user.user_id,
                ),
            )
            raise refused
        if not user.enabled:
            raise SignInRefused(f"the user '{user.name}' is disabled")
        if attempts.failed or attempts.locked_until:
            con.execute(
                "UPDATE credentials SET failed = 0, locked_until = NULL WHERE user_id = ?",
                (user.user_id,),
            )
        if identity.needs_rehash(str(stored)):
            _store_hash(db, user.user_id, identity.hash_password(password), now)
    return user
