"""What every route of one console app shares: where the data lives, the
sessions and the templates. Store calls run on worker threads; their
connections to the live file take turns in the store itself
(kqc.store.connection.take_turns, which make_app sets), so the console's
pages and the watch's runs in one process never open it side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from kqc.config.settings import Locations
from kqc.console.sessions import SessionStore
from kqc.console.views import Views

T = TypeVar("T")


@dataclass
class Console:
    where: Locations
    sessions: SessionStore
    views: Views

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`fn(*args)` on a worker thread: the event loop keeps serving while
        DuckDB or argon2 work."""
        return await run_in_threadpool(fn, *args, **kwargs)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console
