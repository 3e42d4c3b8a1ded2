"""Signing in and out. Sign-in checks the name and password with
kqc.store.users.authenticate (which counts wrong passwords and locks the
account after five: 21 CFR 11.300(d), attempts at unauthorized use) and
then starts a new session with a new id: the id a browser had before
signing in never carries a user.

The cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
page sends it), Path=/, Secure when the console is reached over https.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kqc.console.access import Viewer, csrf_refused, guarded, safe_next, signed_in
from kqc.console.context import console_of
from kqc.console.forms import read_form
from kqc.console.sessions import COOKIE, Session, SessionStore, csrf_matches
from kqc.store.users import SignInRefused, authenticate


def set_cookie(response: Response, request: Request, store: SessionStore, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        store.cookie_value(session),
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )


def _form_page(
    request: Request, session: Session, message: str = "", name: str = "", status_code: int = 200
) -> Response:
    console = console_of(request)
    response = console.views.response(
        "signin.html",
        status_code,
        user=None,
        csrf=session.csrf,
        flashes=[("error", message)] if message else session.take_flashes(),
        name=name,
        next=safe_next(request.query_params.get("next")),
    )
    set_cookie(response, request, console.sessions, session)
    return response


async def signin_page(request: Request) -> Response:
    """The sign-in form; a browser already signed in goes to its decisions."""
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    store = console_of(request).sessions
    session = store.find(request.cookies.get(COOKIE)) or store.new()
    return _form_page(request, session)


async def signin(request: Request) -> Response:
    console = console_of(request)
    store = console.sessions
    session = store.find(request.cookies.get(COOKIE))
    form = await read_form(request)
    if session is None or form is None or not csrf_matches(session, form.get("csrf")):
        return csrf_refused()
    name, password = form.get("name"), form.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        return _form_page(
            request, session, "give your user name and your password", status_code=400
        )
    try:
        user = await console.call(authenticate, console.where.db, name, password)
    except SignInRefused as refused:
        return _form_page(request, session, str(refused), name=name, status_code=401)
    fresh = store.rotate(session, user)
    given = form.get("next")
    target = safe_next(given if isinstance(given, str) else None)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, store, fresh)
    return response


@guarded(page=False)
async def signout(request: Request, viewer: Viewer) -> Response:
    """The session ends on the server: its cookie no longer opens anything."""
    store = viewer.console.sessions
    store.end(viewer.session)
    anonymous = store.new()
    anonymous.flash("signed out")
    response = RedirectResponse("/signin", status_code=303)
    set_cookie(response, request, store, anonymous)
    return response
