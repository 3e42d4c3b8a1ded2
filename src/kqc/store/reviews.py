"""QA decisions on flags: appended to flag_reviews (never changed), and the
flag's status set to the latest decision, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kqc.errors import UsageError
from kqc.store.chain import CHAINS, next_review_id, seal
from kqc.store.connection import run, transaction
from kqc.store.ledger import FLAGS, record_rows
from kqc.store.queries import require_database

DECISIONS = {"confirm": "confirmed", "dismiss": "dismissed"}


@dataclass(frozen=True)
class Review:
    flag_id: str
    batch_id: str
    rule: str
    decision: str
    status: str
    reviewer: str
    reviewed_at: datetime


def record_review(db: Path, flag_id: str, decision: str, reviewer: str, note: str | None) -> Review:
    """Append one decision. A dismissal needs a reason (the flag stops counting
    against the batch, so the record must say why); a resolved flag has no
    finding left to decide on."""
    if decision not in DECISIONS:
        raise UsageError(f"unknown decision '{decision}': use confirm or dismiss")
    if not reviewer.strip():
        raise UsageError("a review needs the reviewer's name: pass --reviewer")
    if decision == "dismiss" and not (note or "").strip():
        raise UsageError('a dismissal needs a reason: pass --note "why the finding does not hold"')
    require_database(db)
    now = datetime.now(UTC)
    with transaction(db) as con:
        found = run(con, "SELECT batch_id, rule, status FROM flags WHERE flag_id = ?", [flag_id])
        if not found:
            raise UsageError(f"no flag {flag_id}: list the flags with `kqc flags`")
        batch_id, rule, status = found[0]
        if status == "resolved":
            raise UsageError(
                f"flag {flag_id} is resolved (newer results no longer show it): nothing to review"
            )
        run(
            con,
            "INSERT INTO flag_reviews (review_id, flag_id, decision, reviewer, note, reviewed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                next_review_id(con),
                flag_id,
                decision,
                reviewer.strip(),
                (note or "").strip() or None,
                now,
            ],
        )
        # The decision joins the chain in its own transaction (and any rows an
        # older kqc left unchained with it).
        for chain in CHAINS:
            seal(con, chain)
        run(
            con,
            "UPDATE flags SET status = ?, updated_at = ? WHERE flag_id = ?",
            [DECISIONS[decision], now, flag_id],
        )
        record_rows(con, FLAGS, [flag_id])
    return Review(flag_id, batch_id, rule, decision, DECISIONS[decision], reviewer.strip(), now)
