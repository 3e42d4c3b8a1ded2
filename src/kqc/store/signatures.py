"""Electronic signatures: one append-only, hash-chained row per signed
decision, bound to the record as signed by its hash (21 CFR 11.50, 11.70).

A signature is made inside the transaction that records the decision it
signs, by a user who has just given their password (kqc.store.users
.authenticate): the caller passes that user. The record's hash is taken
here from the database as it stands in that transaction, so what is
signed is what is stored.

Record hashes:
- a finding (`flag`, and a `dismissal` verified): the flag's id, batch,
  rule, analyte, severity, observed value, limit, unit, thresholds version
  and evidence hash. New results that change the evidence reopen the flag
  with a new evidence hash: signatures made before no longer match it.
- a batch (`batch`): its status and every current result and finding (with
  its status), in a fixed order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from kqc.core.chain import row_hash
from kqc.errors import UsageError
from kqc.store.chain import SIGNATURES, seal
from kqc.store.connection import run
from kqc.store.users import User

_FLAG_FIELDS = (
    "flag_id",
    "batch_id",
    "rule",
    "analyte",
    "severity",
    "observed",
    "limit_value",
    "unit",
    "threshold_version",
    "evidence_hash",
)

# What each signature means, in words the record keeps (21 CFR 11.50(a)(3)).
MEANINGS = {
    "confirm": "confirmed the finding",
    "dismiss": "dismissed the finding",
    "verify": "verified the dismissal",
    "release": "released the batch",
    "reject": "rejected the batch",
    "hold": "put the batch on hold",
}


@dataclass(frozen=True)
class Signature:
    signature_id: int
    user_id: int
    user_name: str
    full_name: str
    meaning: str
    signed_at: datetime
    record_kind: str
    record_id: str
    record_hash: str


def flag_hashes(con: duckdb.DuckDBPyConnection, flag_ids: Sequence[str]) -> dict[str, str]:
    """flag_id -> the hash of each finding as it stands now, in one query
    (a flag that does not exist is left out)."""
    if not flag_ids:
        return {}
    found = run(
        con,
        f"SELECT {', '.join(_FLAG_FIELDS)} FROM flags"
        " WHERE flag_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(flag_ids)],
    )
    return {str(r[0]): row_hash(dict(zip(_FLAG_FIELDS, r, strict=True))) for r in found}


def flag_hash(con: duckdb.DuckDBPyConnection, flag_id: str) -> str:
    """The hash of the finding as it stands now (UsageError if there is none)."""
    found = flag_hashes(con, [flag_id]).get(flag_id)
    if found is None:
        raise UsageError(f"no flag {flag_id}: list the flags with `kqc flags`")
    return found


def batch_hash(con: duckdb.DuckDBPyConnection, batch_id: str) -> str:
    """The hash of the batch as it stands now: its status, its current
    results and its findings with their statuses."""
    (status,) = run(
        con, "SELECT coalesce(max(status), 'PASS') FROM batch_status WHERE batch_id = ?", [batch_id]
    )[0]
    (results,) = run(
        con,
        "SELECT coalesce(string_agg(concat_ws('|', sample_id, lab_id, analyte, value, unit,"
        " qualifier, reported_result, reported_unit, sample_type, unit_no, source_sha256),"
        " chr(10) ORDER BY sample_id, lab_id, analyte, sample_type, unit_no, result_id), '')"
        " FROM results WHERE batch_id = ? AND superseded_by IS NULL",
        [batch_id],
    )[0]
    (findings,) = run(
        con,
        "SELECT coalesce(string_agg(concat_ws('|', flag_id, status, evidence_hash), chr(10)"
        " ORDER BY flag_id), '') FROM flags WHERE batch_id = ?",
        [batch_id],
    )[0]
    return row_hash(
        {"batch_id": batch_id, "status": status, "results": results, "findings": findings}
    )


def sign(
    con: duckdb.DuckDBPyConnection,
    signer: User,
    decision: str,
    record_kind: str,
    record_id: str,
    record_hash: str,
) -> Signature:
    """Append and chain one signature; call inside the decision's transaction."""
    if not signer.enabled:
        raise UsageError(f"the user '{signer.name}' is disabled and cannot sign")
    now = datetime.now(UTC)
    (next_id,) = run(con, "SELECT coalesce(max(signature_id), 0) + 1 FROM signatures")[0]
    signature = Signature(
        int(next_id),
        signer.user_id,
        signer.name,
        signer.full_name,
        MEANINGS[decision],
        now,
        record_kind,
        record_id,
        record_hash,
    )
    run(
        con,
        "INSERT INTO signatures (signature_id, user_id, user_name, full_name, meaning,"
        " signed_at, record_kind, record_id, record_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            signature.signature_id,
            signature.user_id,
            signature.user_name,
            signature.full_name,
            signature.meaning,
            signature.signed_at,
            signature.record_kind,
            signature.record_id,
            signature.record_hash,
        ],
    )
    seal(con, SIGNATURES)
    return signature
