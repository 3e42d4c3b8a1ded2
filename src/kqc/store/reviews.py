"""QA decisions on flags, each signed by the console user who made it:
appended to flag_reviews (never changed) with its signature, and the flag's
status set to what the decision leaves, in one transaction.

Second person: the dismissal of a `critical` or `major` finding counts only
once an approver other than the one who dismissed it verifies it (`verify`,
a signature on the dismissal). Until then the flag stays open and its batch
keeps its status. A verification is bound to the finding as dismissed: when
new results changed it meanwhile, the dismissal no longer stands and there
is nothing to verify.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from kqc.core import identity
from kqc.errors import UsageError
from kqc.store.chain import CHAINS, next_review_id, seal
from kqc.store.connection import rows, run, transaction
from kqc.store.ledger import FLAGS, record_rows
from kqc.store.queries import require_database
from kqc.store.signatures import Signature, flag_hash, flag_hashes, sign
from kqc.store.users import User

DECISIONS = {"confirm": "confirmed", "dismiss": "dismissed", "verify": "dismissed"}
# Findings whose dismissal needs a second person: taking back a severe
# finding is a decision one person should not make alone (the second-person
# verification of SENAITE, LabWare and STARLIMS review screens).
SECOND_PERSON = frozenset({"critical", "major"})


@dataclass(frozen=True)
class Review:
    flag_id: str
    batch_id: str
    rule: str
    decision: str
    status: str
    reviewer: str
    reviewed_at: datetime
    signature_id: int
    # A dismissal that waits for an approver's verification (the flag stays open).
    awaiting_verification: bool = False


def _check(decision: str, signer: User, note: str | None) -> None:
    if decision not in DECISIONS:
        raise UsageError(f"unknown decision '{decision}': use confirm, dismiss or verify")
    needed = "verify" if decision == "verify" else "review"
    if not identity.may(signer.role, needed):
        who = "an approver" if needed == "verify" else "a reviewer or an approver"
        raise UsageError(f"{signer.name} is a {signer.role}: only {who} may {decision} a finding")
    if decision == "dismiss" and not (note or "").strip():
        raise UsageError('a dismissal needs a reason: pass --note "why the finding does not hold"')


_SECOND_PERSON_SQL = ", ".join(f"'{s}'" for s in sorted(SECOND_PERSON))


def pending_dismissals(
    con: duckdb.DuckDBPyConnection, flag_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """flag_id -> its dismissal that waits for a second person, for each of
    `flag_ids` that has one: the flag is an open critical or major finding,
    its latest decision is a signed dismissal of the finding as it stands now,
    not verified since. Each row: the dismissal's reviewer, note, reviewed_at,
    and its signature's user_id, full_name, record_hash and signature_id."""
    if not flag_ids:
        return {}
    found = rows(
        con,
        "WITH latest AS (SELECT r.flag_id, r.decision, r.reviewer, r.note, r.reviewed_at,"
        "   r.signature_id FROM flag_reviews r"
        "   WHERE r.flag_id IN (SELECT unnest(?::VARCHAR[]))"
        "   QUALIFY row_number() OVER (PARTITION BY r.flag_id ORDER BY r.review_id DESC) = 1)"
        " SELECT l.flag_id, l.reviewer, l.note, l.reviewed_at, s.user_id, s.full_name,"
        "   s.record_hash, s.signature_id"
        " FROM latest l JOIN flags f USING (flag_id) JOIN signatures s USING (signature_id)"
        " WHERE l.decision = 'dismiss' AND f.status = 'open'"
        f"   AND f.severity IN ({_SECOND_PERSON_SQL})"
        "   AND NOT EXISTS (SELECT 1 FROM signatures v WHERE v.record_kind = 'dismissal'"
        "     AND v.record_id = l.flag_id AND v.signature_id > s.signature_id"
        "     AND v.record_hash = s.record_hash)",
        [list(flag_ids)],
    )
    now = flag_hashes(con, [r["flag_id"] for r in found])
    return {r["flag_id"]: r for r in found if now.get(r["flag_id"]) == r["record_hash"]}


def record_review(db: Path, flag_id: str, decision: str, signer: User, note: str | None) -> Review:
    """Append one signed decision by `signer` (a user who has just signed in
    with their password). A dismissal needs a reason; a resolved flag has no
    finding left to decide on; a verification needs a pending dismissal by
    someone else."""
    _check(decision, signer, note)
    require_database(db)
    with transaction(db) as con:
        found = run(
            con, "SELECT batch_id, rule, status, severity FROM flags WHERE flag_id = ?", [flag_id]
        )
        if not found:
            raise UsageError(f"no flag {flag_id}: list the flags with `kqc flags`")
        batch_id, rule, status, severity = found[0]
        if status == "resolved":
            raise UsageError(
                f"flag {flag_id} is resolved (newer results no longer show it): nothing to review"
            )
        current = flag_hash(con, flag_id)
        if decision == "verify":
            if severity not in SECOND_PERSON or status != "open":
                raise UsageError(
                    f"flag {flag_id} is {severity} and {status}: only the dismissal of an open"
                    " critical or major finding waits for verification"
                )
            signature, new_status = _verify(con, flag_id, signer, current), "dismissed"
            awaiting = False
        else:
            signature = sign(con, signer, decision, "flag", flag_id, current)
            run(
                con,
                "INSERT INTO flag_reviews (review_id, flag_id, decision, reviewer, note,"
                " reviewed_at, signature_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    next_review_id(con),
                    flag_id,
                    decision,
                    signer.name,
                    (note or "").strip() or None,
                    signature.signed_at,
                    signature.signature_id,
                ],
            )
            awaiting = decision == "dismiss" and severity in SECOND_PERSON
            new_status = "open" if awaiting else DECISIONS[decision]
        # The decision joins the chains in its own transaction (and any rows
        # an older kqc left unchained with it).
        for chain in CHAINS:
            seal(con, chain)
        run(
            con,
            "UPDATE flags SET status = ?, updated_at = ? WHERE flag_id = ?",
            [new_status, signature.signed_at, flag_id],
        )
        record_rows(con, FLAGS, [flag_id])
    return Review(
        flag_id,
        batch_id,
        rule,
        decision,
        new_status,
        signer.name,
        signature.signed_at,
        signature.signature_id,
        awaiting,
    )


def _verify(con: duckdb.DuckDBPyConnection, flag_id: str, signer: User, current: str) -> Signature:
    pending = pending_dismissals(con, [flag_id]).get(flag_id)
    if pending is None:
        raise UsageError(
            f"flag {flag_id} has no dismissal waiting for verification: only a signed"
            " dismissal of a critical or major finding, unchanged since, is verified"
        )
    if pending["user_id"] == signer.user_id:
        raise UsageError(
            f"{signer.name} dismissed flag {flag_id}: the verification must be another approver's"
        )
    return sign(con, signer, "verify", "dismissal", flag_id, current)
