"""Batch dispositions: an approver releases, rejects or puts a batch on hold,
signed; every disposition is a new row of `batch_dispositions`, hash-chained,
and the latest one of a batch stands (view `batch_disposition`).

A release is refused while the batch is not PASS: a batch with an open or
confirmed finding, or one whose dismissal still waits for a second person,
cannot be released. Reject and hold are always possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kqc.core import identity
from kqc.errors import UsageError
from kqc.store.chain import BATCH_DISPOSITIONS, seal
from kqc.store.connection import run, transaction
from kqc.store.queries import require_database
from kqc.store.signatures import batch_hash, sign
from kqc.store.users import User

DECISIONS = ("release", "reject", "hold")


@dataclass(frozen=True)
class Disposition:
    disposition_id: int
    batch_id: str
    decision: str
    decided_by: str
    decided_at: datetime
    signature_id: int


def record_disposition(
    db: Path, batch_id: str, decision: str, signer: User, note: str | None
) -> Disposition:
    """Append one signed disposition by `signer` (just signed in)."""
    if decision not in DECISIONS:
        raise UsageError(f"unknown decision '{decision}': use release, reject or hold")
    if not identity.may(signer.role, "dispose"):
        raise UsageError(f"{signer.name} is a {signer.role}: only an approver disposes of a batch")
    require_database(db)
    with transaction(db) as con:
        known = run(
            con,
            "SELECT count(*) FROM (SELECT batch_id FROM batches WHERE batch_id = ?"
            " UNION SELECT batch_id FROM batch_status WHERE batch_id = ?)",
            [batch_id, batch_id],
        )[0][0]
        if not known:
            raise UsageError(f"no batch {batch_id}: list the batches with `kqc flags`")
        if decision == "release":
            status = run(
                con,
                "SELECT coalesce(max(status), 'PASS'), coalesce(max(open_flags), 0)"
                " FROM batch_status WHERE batch_id = ?",
                [batch_id],
            )[0]
            if status[0] != "PASS":
                raise UsageError(
                    f"batch {batch_id} is {status[0]} ({status[1]} finding(s) open or confirmed):"
                    " it cannot be released; reject it or put it on hold"
                )
        signature = sign(con, signer, decision, "batch", batch_id, batch_hash(con, batch_id))
        (next_id,) = run(
            con, "SELECT coalesce(max(disposition_id), 0) + 1 FROM batch_dispositions"
        )[0]
        run(
            con,
            "INSERT INTO batch_dispositions (disposition_id, batch_id, decision, signature_id,"
            " note, decided_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                next_id,
                batch_id,
                decision,
                signature.signature_id,
                (note or "").strip() or None,
                signature.signed_at,
            ],
        )
        seal(con, BATCH_DISPOSITIONS)
    return Disposition(
        int(next_id),
        batch_id,
        decision,
        signer.name,
        signature.signed_at,
        signature.signature_id,
    )
