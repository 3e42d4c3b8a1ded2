"""The signed decisions: a review of a finding (`/flags/{id}/review`) and a
batch disposition (`/batch/{id}/dispose`). Each asks for the signed-in
user's own password again and is signed as that user only: the name comes
from the session, never from the form, so no one signs with another's
password (21 CFR 11.200(a)(1): both components, the user name and the
password; 11.300: the password checked, wrong ones counted toward the
lockout). The store records the decision and its signature, with its
meaning, in one transaction (kqc.store.reviews, kqc.store.dispositions);
then the snapshot for regulators is renewed, as `kqc review` renews it, so
it never reports a decision later than the database does."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from kqc.console.access import Viewer, forbidden, guarded
from kqc.core.identity import may
from kqc.errors import UsageError
from kqc.store.console_queries import flag_batch
from kqc.store.dispositions import DECISIONS as DISPOSITIONS
from kqc.store.dispositions import record_disposition
from kqc.store.reviews import DECISIONS as REVIEWS
from kqc.store.reviews import record_review
from kqc.store.signatures import MEANINGS
from kqc.store.users import SignInRefused, User, authenticate

MAX_NOTE = 2000  # characters: a reason, not a report


def _renew_snapshot(db: Path) -> str:
    """Renew the snapshot and the heads beside it; "" when done, else why not."""
    from kqc.store.publish import renew_snapshot

    reason = renew_snapshot(db)
    if reason is None:
        return ""
    return (
        f"; the snapshot for regulators could not be renewed ({reason}):"
        " run kqc publish once that is fixed"
    )


async def _signer(viewer: Viewer) -> User | str:
    """The signed-in user, signed in again with the password just given;
    else the sentence saying why not."""
    password = viewer.field("password")
    if not password:
        return "give your password to sign: nothing was signed"
    try:
        signer = await viewer.console.call(
            authenticate, viewer.console.where.db, viewer.user.name, password
        )
    except SignInRefused as refused:
        return f"not signed: {refused}"
    if signer.user_id != viewer.user.user_id:  # cannot happen: the name is the session's
        return "not signed: the signature must be your own"
    return signer


def _note(viewer: Viewer) -> str | None:
    return viewer.field("note").strip()[:MAX_NOTE] or None


@guarded("review")
async def review(request: Request, viewer: Viewer) -> Response:
    flag_id = request.path_params["flag_id"]
    decision = viewer.field("decision")
    if decision == "verify" and not may(viewer.user.role, "verify"):
        return forbidden(viewer, f"a {viewer.user.role} may not verify a dismissal")
    db = viewer.console.where.db
    batch_id = await viewer.console.call(flag_batch, db, flag_id)
    if batch_id is None:
        return viewer.page("not_found.html", 404, message=f"no finding {flag_id}")
    back = f"/batch/{quote(batch_id, safe='')}#flag-{flag_id}"
    if decision not in REVIEWS:
        return viewer.back(back, "choose confirm, dismiss or verify: nothing was signed", "error")
    signer = await _signer(viewer)
    if isinstance(signer, str):
        return viewer.back(back, signer, "error")
    try:
        done = await viewer.console.call(
            record_review, db, flag_id, decision, signer, _note(viewer)
        )
    except UsageError as refused:
        return viewer.back(back, f"not signed: {refused}", "error")
    said = f"signed by {signer.full_name}: {MEANINGS[decision]} ({flag_id})"
    if done.awaiting_verification:
        said += "; it stays open until another approver verifies the dismissal"
    stale = await viewer.console.call(_renew_snapshot, db)
    return viewer.back(back, said + stale, "error" if stale else "ok")


@guarded("dispose")
async def dispose(request: Request, viewer: Viewer) -> Response:
    batch_id = request.path_params["batch_id"]
    back = f"/batch/{quote(batch_id, safe='')}#disposition"
    decision = viewer.field("decision")
    if decision not in DISPOSITIONS:
        return viewer.back(back, "choose release, reject or hold: nothing was signed", "error")
    signer = await _signer(viewer)
    if isinstance(signer, str):
        return viewer.back(back, signer, "error")
    try:
        await viewer.console.call(
            record_disposition, viewer.console.where.db, batch_id, decision, signer, _note(viewer)
        )
    except UsageError as refused:
        return viewer.back(back, f"not signed: {refused}", "error")
    stale = await viewer.console.call(_renew_snapshot, viewer.console.where.db)
    said = f"signed by {signer.full_name}: {MEANINGS[decision]} ({batch_id}){stale}"
    return viewer.back(back, said, "error" if stale else "ok")
