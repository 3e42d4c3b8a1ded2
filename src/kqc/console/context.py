"""What every route of one console app shares: where the data lives, the
sessions, the templates, and the one lock its database calls take turns on.

Why a lock: DuckDB refuses, inside one process, a read-only connection
while a writable one to the same file is open (and the reverse), and the
console serves pages from several threads. Store calls are short (a page
reads a bounded few rows), so taking turns costs little.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
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
    db_lock: threading.Lock = field(default_factory=threading.Lock)

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`fn(*args)` on a worker thread, one store call at a time: the event
        loop keeps serving while DuckDB or argon2 work."""

        def locked() -> T:
            with self.db_lock:
                return fn(*args, **kwargs)

        return await run_in_threadpool(locked)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console
