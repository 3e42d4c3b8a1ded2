"""Console sessions: kept on the server, in memory, keyed by a random id that
the browser holds in a signed cookie.

Why on the server: signing out, an idle timeout or a disabled user ends the
session at once, which a self-contained cookie cannot promise. Why signed:
the cookie carries the id with an HMAC-SHA256 over a per-process secret, so
a guessed or altered id is refused before any lookup. A restart forgets every
session (the secret is new): people sign in again.

A session exists before sign-in too (anonymous, with its own CSRF token) so
the sign-in form is protected like every other; signing in replaces it with
a new id (no session fixation). Each session has one CSRF token, compared in
constant time.

21 CFR 11.200(a)(1): signatures in one continuous session still need the
password each time here (the console asks for it on every signed decision);
the idle timeout ends a session left alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kqc.store.users import User

COOKIE = "kqc_session"
# Anonymous sessions are made for every visit to the sign-in page: bounded,
# so a flood of visits cannot fill the memory (the oldest go first).
MAX_SESSIONS = 10_000


@dataclass
class Session:
    """One browser's session: who signed in (None before sign-in), its CSRF
    token, when it was last used (monotonic seconds) and messages to show
    on the next page."""

    session_id: str
    csrf: str
    user: User | None
    last_seen: float
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    user_checked_at: float | None = None  # when the user was last read from the database

    def flash(self, text: str, kind: str = "ok") -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        shown, self.flashes = self.flashes, []
        return shown


class SessionStore:
    """Sessions of this process, safe to use from the threads that serve pages."""

    def __init__(
        self,
        secret: bytes | None = None,
        idle_minutes: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.idle_seconds = idle_minutes * 60
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _sign(self, session_id: str) -> str:
        return hmac.new(self._secret, session_id.encode("ascii"), hashlib.sha256).hexdigest()

    def cookie_value(self, session: Session) -> str:
        return f"{session.session_id}.{self._sign(session.session_id)}"

    def new(self, user: User | None = None) -> Session:
        """A fresh session with a new random id and CSRF token."""
        session = Session(secrets.token_hex(32), secrets.token_urlsafe(32), user, self.clock())
        with self._lock:
            self._sessions[session.session_id] = session
            while len(self._sessions) > MAX_SESSIONS:
                # The oldest not signed in goes first: a flood of sign-in page
                # visits does not push out the people who signed in.
                anonymous = next((k for k, v in self._sessions.items() if v.user is None), None)
                del self._sessions[anonymous or next(iter(self._sessions))]
        return session

    def find(self, cookie: str | None) -> Session | None:
        """The live session a cookie names, touched; None for a missing,
        forged, ended or idle one (an idle one is ended here)."""
        if not cookie or cookie.count(".") != 1:
            return None
        session_id, mac = cookie.split(".")
        if len(session_id) != 64 or not hmac.compare_digest(mac, self._sign(session_id)):
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.session_id, None)

    def end_user(self, user_id: int) -> None:
        """End every session of a user (disabled, or given a new password)."""
        with self._lock:
            for key in [
                k for k, s in self._sessions.items() if s.user and s.user.user_id == user_id
            ]:
                del self._sessions[key]

    def rotate(self, old: Session | None, user: User) -> Session:
        """Sign-in: the old session ends and a new one, with a new id and CSRF
        token, carries the user."""
        if old is not None:
            self.end(old)
        fresh = self.new(user)
        fresh.user_checked_at = fresh.last_seen  # just read, with the password
        return fresh


def csrf_matches(session: Session, given: object) -> bool:
    """Whether a form's token is this session's (constant-time compare)."""
    return isinstance(given, str) and hmac.compare_digest(
        given.encode("utf-8"), session.csrf.encode("utf-8")
    )
