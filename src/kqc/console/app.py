"""The console's routes and the app `kqc serve` runs (`make_app`).

Every route but /signin, /health and /static is wrapped by
kqc.console.access.guarded, which checks the session and the role on the
server; security headers are set on every response by
kqc.console.headers.SecurityHeaders.

    app = make_app(locations(db))  # then: uvicorn.run(app, host=..., port=...)
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kqc.config.settings import Locations
from kqc.console import batch, decisions, findings, inbox, signin, users
from kqc.console.context import Console
from kqc.console.headers import SecurityHeaders
from kqc.console.sessions import SessionStore
from kqc.console.upload_script import upload_js
from kqc.console.views import TEMPLATES, make_views
from kqc.errors import KqcError
from kqc.store.connection import take_turns

STATIC = TEMPLATES.with_name("static")


async def health(request: Request) -> Response:
    """For a supervisor or a load balancer: no session, no database."""
    return PlainTextResponse("ok")


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """A database that cannot be read now (not created yet, held by another
    program): one sentence with the next step, and nothing half-shown."""
    console = request.app.state.console
    return console.views.response(
        "unavailable.html", 503, user=None, csrf="", flashes=[], message=str(exc)
    )


def make_app(
    where: Locations, *, secret: bytes | None = None, idle_minutes: float = 30
) -> Starlette:
    """The console for the database and folders in `where`. `secret` signs
    the session cookies (random per process when None: a restart signs
    everyone out); a session unused for `idle_minutes` ends."""
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/signin", signin.signin_page, methods=["GET"]),
        Route("/signin", signin.signin, methods=["POST"]),
        Route("/signout", signin.signout, methods=["POST"]),
        Route("/", findings.home, methods=["GET"]),
        Route("/findings", findings.findings, methods=["GET"]),
        Route("/batch/{batch_id}", batch.batch_page, methods=["GET"]),
        Route("/batch/{batch_id}/release-record", batch.release_record, methods=["GET"]),
        Route("/batch/{batch_id}/dispose", decisions.dispose, methods=["POST"]),
        Route("/flags/{flag_id}/review", decisions.review, methods=["POST"]),
        Route("/inbox", inbox.inbox_page, methods=["GET"]),
        Route("/inbox/upload", inbox.upload, methods=["POST"]),
        Route("/users", users.users_page, methods=["GET"]),
        Route("/users/add", users.add, methods=["POST"]),
        Route("/users/{name}/disable", users.disable, methods=["POST"]),
        Route("/users/{name}/reset-password", users.reset_password, methods=["POST"]),
        Route("/static/upload.js", upload_js, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={KqcError: store_unavailable},
    )
    # Pages are served from several threads, beside the watch under `kqc
    # serve`: this process's connections to the live file take their turns
    # in the store (kqc.store.connection.take_turns).
    take_turns(where.db)
    app.state.console = Console(where, SessionStore(secret, idle_minutes), make_views())
    return app
