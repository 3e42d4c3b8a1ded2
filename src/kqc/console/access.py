"""Who may do what, checked on the server for every route: a route is
wrapped by `guarded`, which finds the session, reads the user again from the
database (a user disabled meanwhile is signed out at once), checks the role
for the route's action (kqc.core.identity.may) and, for a POST, the form's
CSRF token. The menus only follow these checks; they never replace them.

No session: a page (GET) answers 303 to /signin, anything else 401. A role
without the permission: a 403 page. A POST without its session's CSRF token:
403, before anything is changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from kqc.console.context import Console, console_of
from kqc.console.forms import read_form
from kqc.console.sessions import COOKIE, Session, csrf_matches
from kqc.core.identity import may
from kqc.store.users import User, find_user


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request, their session and (for a POST
    whose token was checked) the form."""

    console: Console
    session: Session
    user: User
    form: FormData | None = None

    def page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """A page with the header's user, role, links and messages."""
        return self.console.views.response(
            template,
            status_code,
            user=self.user,
            csrf=self.session.csrf,
            flashes=self.session.take_flashes(),
            **context,
        )

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def back(self, path: str, message: str, kind: str = "ok") -> RedirectResponse:
        """After a POST: a message for the next page, and that page (303)."""
        self.session.flash(message, kind)
        return RedirectResponse(path, status_code=303)


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def safe_next(path: str | None) -> str:
    """A page to return to after sign-in: a path of this site only."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def unsigned(request: Request, *, page: bool) -> Response:
    if page and request.method == "GET":
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(wanted, safe='')}", status_code=303)
    return PlainTextResponse("sign in first: no session", status_code=401)


def forbidden(viewer: Viewer, what: str) -> HTMLResponse:
    return viewer.page("forbidden.html", 403, what=what)


def csrf_refused() -> PlainTextResponse:
    return PlainTextResponse(
        "refused: the form's security token is missing or wrong; reload the page and try again",
        status_code=403,
    )


# How long a session trusts its user as read from the database before
# reading it again: a user disabled by `kqc users disable` is signed out
# within this time (at once when an admin disables them here, and every
# signature checks the password, which a disabled user no longer has).
USER_RECHECK_SECONDS = 5.0


async def signed_in(request: Request) -> tuple[Session, User] | None:
    """The request's session and its user as the database has them (read
    again at most every USER_RECHECK_SECONDS: opening the database is a
    good part of a page's time)."""
    console = console_of(request)
    store = console.sessions
    session = store.find(request.cookies.get(COOKIE))
    if session is None or session.user is None:
        return None
    now = store.clock()
    checked = session.user_checked_at
    if checked is not None and 0 <= now - checked < USER_RECHECK_SECONDS:
        return session, session.user
    current = await console.call(find_user, console.where.db, session.user.name)
    if current is None or not current.enabled or current.user_id != session.user.user_id:
        console.sessions.end(session)
        return None
    session.user, session.user_checked_at = current, now
    return session, current


def guarded(
    need: str | None = None, *, page: bool = True, form: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a route: it runs only for a signed-in user whose role may `need`
    (None: every signed-in role). `page`: a GET that redirects to sign-in
    when there is no session. `form`: a POST's form is read and its CSRF
    token checked here (False for the upload, which streams and checks it
    itself)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            found = await signed_in(request)
            if found is None:
                return unsigned(request, page=page)
            session, user = found
            viewer = Viewer(console_of(request), session, user)
            if need is not None and not may(user.role, need):
                return forbidden(viewer, f"a {user.role} may not {need.replace('_', ' ')}")
            if request.method == "POST" and form:
                data = await read_form(request)
                if data is None or not csrf_matches(session, data.get("csrf")):
                    return csrf_refused()
                viewer = Viewer(viewer.console, session, user, data)
            return await handler(request, viewer)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap
