"""Prefect's embedded server, started while kqc loads.

Without PREFECT_API_URL, a flow run starts Prefect's temporary server on its
first API call: the process imports the server's code, launches it as a
subprocess, then sleeps until it answers, about seven seconds on two cores.
kqc's own modules (polars, pandera, DuckDB, the readers and rules) take most
of a second more to import, and nothing stops them loading on the other core
during that wait. So `kqc ingest` launches the server first, imports the flow
while it boots, and joins before the run starts.

This reaches into Prefect's SubprocessASGIServer, the class the flow's client
uses (one instance per process). Should that ever fail, nothing is lost: the
flow run starts the server itself, as it would have anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_log = logging.getLogger(__name__)

# The server's import takes seconds; launching it after the import is quick.
_LAUNCH_WAIT_SECONDS = 120.0


@dataclass
class ServerStart:
    """A start in progress; `wait` before the flow runs."""

    embedded: bool = False  # the run uses Prefect's embedded server, not the lab's own
    launched: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()


def _wanted() -> bool:
    """The flow would start the embedded server (no server of the lab's own)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    return not PREFECT_API_URL.value() and bool(PREFECT_SERVER_EPHEMERAL_ENABLED.value())


def _start(started: ServerStart) -> None:
    try:
        # Prefect's logging first, as `from prefect import flow` sets it up:
        # the server's "Starting temporary server" line belongs in kqc.log.
        import prefect.main  # noqa: F401
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
    except Exception:  # a Prefect without this class: the flow starts its own
        _log.debug("embedded server not started ahead of the flow", exc_info=True)
        started.launched.set()
        return
    started.launched.set()  # Popen follows at once; its boot is the wait worth overlapping
    try:
        server.start()
    except Exception:  # the flow's own start tries again and reports the error
        _log.debug("embedded server did not start ahead of the flow", exc_info=True)


def start_embedded_server() -> ServerStart:
    """Begin starting Prefect's embedded server when a flow run would. Returns
    once the server's code is loaded (the next imports then run beside the
    server's boot, not against its import for the interpreter)."""
    if not _wanted():
        return ServerStart()
    started = ServerStart(embedded=True)
    started.thread = threading.Thread(
        target=_start, args=(started,), name="kqc-prefect-server", daemon=True
    )
    started.thread.start()
    started.launched.wait(_LAUNCH_WAIT_SECONDS)
    return started


@contextmanager
def heartbeats_only_where_read(started: ServerStart) -> Iterator[None]:
    """No flow-run heartbeats on the embedded server. They let a lasting
    server tell a crashed run from a slow one; the embedded server ends with
    this process, so none would ever be read, and stopping the heartbeat
    thread costs up to a second at the end of every run (it sleeps in
    one-second steps). On the lab's own server they are kept."""
    if not started.embedded:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
