"""Who may sign in and what each role may do: the rules behind console users,
pure functions with no storage.

Roles (CONTRACT §6): a `technician` drops and uploads files and sees the
inbox and its rejections; a `reviewer` confirms or dismisses findings; an
`approver` verifies another person's dismissal and disposes of batches; a
`regulator` reads everything and changes nothing; an `admin` manages users.
Every role reads what the console shows.

Passwords (21 CFR 11.300, password controls; NIST SP 800-63B-4 §3.1.1.2:
a password that is the only factor has at least 15 characters and is checked
against context-specific words such as the user name): at least 15
characters, not containing the user's own name, kept only
as an argon2id hash (RFC 9106) by a maintained library, argon2-cffi, with its
default cost. A password never comes from a command-line argument: an
argument is visible to every user of the machine in the process list.

Lockout: after MAX_FAILED_SIGN_INS wrong passwords in a row an account is
locked for LOCKOUT_MINUTES; a right password before that resets the count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kqc.errors import UsageError

ROLES = ("technician", "reviewer", "approver", "regulator", "admin")

# What each role may do beyond reading. Checked on the server for every
# route and every command; the console's menus only follow it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "technician": frozenset({"upload"}),
    "reviewer": frozenset({"review"}),
    "approver": frozenset({"review", "verify", "dispose"}),
    "regulator": frozenset(),
    "admin": frozenset({"manage_users"}),
}

MIN_PASSWORD_LENGTH = 15
MAX_PASSWORD_LENGTH = 1024  # hashing has a cost: a megabyte "password" is refused
MAX_FAILED_SIGN_INS = 5
LOCKOUT_MINUTES = 15

# A user name: what a person types at sign-in and in `--reviewer`.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown role '{role}': use one of {', '.join(ROLES)}")
    return role


def may(role: str, action: str) -> bool:
    """Whether `role` may do `action` (upload, review, verify, dispose, manage_users)."""
    return action in PERMISSIONS.get(role, frozenset())


def check_name(name: str) -> str:
    """A user name as stored: lower case letters, digits, '.', '_' or '-', 2 to 64
    characters, starting with a letter or digit."""
    cleaned = name.strip().lower()
    if not _NAME.fullmatch(cleaned):
        raise UsageError(
            f"'{name}' cannot be a user name: use 2 to 64 lower-case letters, digits,"
            " '.', '_' or '-', starting with a letter or digit (e.g. a.nguyen)"
        )
    return cleaned


def check_full_name(full_name: str) -> str:
    """The name a signature shows (21 CFR 11.50: the printed name of the signer)."""
    cleaned = " ".join(full_name.split())
    if not cleaned or len(cleaned) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in full_name):
        raise UsageError("a full name is needed, as it will appear on signatures (--full-name)")
    return cleaned


def check_password(password: str, name: str) -> str:
    """A password that meets the rules, else the one sentence saying which."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsageError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    if name.lower() in password.lower():
        raise UsageError("a password may not contain the user name")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether `password` is the one behind `stored_hash`; never raises for a
    wrong or damaged hash (a damaged one matches nothing)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return bool(_HASHER.verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker settings than today's."""
    try:
        return bool(_HASHER.check_needs_rehash(stored_hash))
    except InvalidHashError:
        return True


@dataclass(frozen=True)
class Attempts:
    """Failed sign-ins in a row, and until when the account is locked."""

    failed: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime) -> Attempts:
        failed = self.failed + 1
        if failed >= MAX_FAILED_SIGN_INS:
            return Attempts(failed, now + timedelta(minutes=LOCKOUT_MINUTES))
        return Attempts(failed, None)
