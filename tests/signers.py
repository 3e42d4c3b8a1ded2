"""Console users for tests that record signed decisions: one call makes the
user (once) and signs them in with their password, as the console and the
CLI do before every signature."""

from __future__ import annotations

from pathlib import Path

from kqc.store.users import User, add_user, authenticate, find_user

PASSWORD = "a passphrase long enough to sign"


def signer(db: Path, name: str = "q.lead", role: str = "approver", full_name: str = "") -> User:
    """`name`, signed in: added with `role` first when the database has no such user."""
    if find_user(db, name) is None:
        add_user(db, name, full_name or name, role, PASSWORD)
    return authenticate(db, name, PASSWORD)


def dismiss_for_good(db: Path, flag_id: str, note: str) -> None:
    """Dismiss `flag_id` as q.lead and, where the finding needs a second
    person (critical, major), verify it as r.other: the flag ends dismissed."""
    from kqc.store import record_review

    done = record_review(db, flag_id, "dismiss", signer(db, "q.lead"), note)
    if done.awaiting_verification:
        record_review(db, flag_id, "verify", signer(db, "r.other"), None)
