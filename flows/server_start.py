"""Prefect's embedded server, started while kqc loads.

Without PREFECT_API_URL, a flow run starts Prefect's temporary server on its
first API call: the process imports the server's code (2-3 s), launches it as
a subprocess, then sleeps until it answers, about seven seconds on two cores.
kqc's own modules (polars, pandera, DuckDB, the readers and rules) take most
of a second more to import. So `kqc ingest` launches the server's process as
soon as Prefect's settings are loaded, loads the server's code in the parent
and kqc's modules while it boots, and joins before the run starts.

This reaches into Prefect's SubprocessASGIServer, the class the flow's client
uses (one instance per process): its launch command is repeated here, and a
test checks it against Prefect's own. Should any of it fail, nothing is lost:
the flow run starts the server itself, as it would have anyway.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from kqc.prefect_api import free_port, stop_server

_log = logging.getLogger(__name__)

# Launching waits for nothing but a free port; the bound is for a stuck thread.
_LAUNCH_WAIT_SECONDS = 120.0


@dataclass
class ServerStart:
    """A start in progress; `wait` before the flow runs."""

    embedded: bool = False  # the run uses Prefect's embedded server, not the lab's own
    launched: threading.Event = field(default_factory=threading.Event)
    early_pid: int | None = None  # the server's process, when launched before Prefect loaded
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
        early: subprocess.Popen[bytes] | None = _launch()
    except Exception:  # Prefect's own start below launches it instead
        _log.debug("embedded server not launched early", exc_info=True)
        early = None
    started.early_pid = early.pid if early is not None else None
    # The server boots in its own process from here on; kqc's modules load
    # in the main thread while this one loads Prefect's.
    started.launched.set()
    try:
        # Prefect's logging first, as `from prefect import flow` sets it up:
        # the server's "Starting temporary server" line belongs in kqc.log.
        import prefect.main  # noqa: F401
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
    except Exception:  # a Prefect without this class: the flow starts its own
        _log.debug("embedded server not started ahead of the flow", exc_info=True)
        if early is not None:
            early.kill()
        return
    if early is not None:
        _adopt(server, early)
    try:
        server.start()
    except Exception:  # the flow's own start tries again and reports the error
        _log.debug("embedded server did not start ahead of the flow", exc_info=True)


# What SubprocessASGIServer launches (prefect/server/api/server.py, 3.9):
# tests/flows/test_server_start.py checks that this is still its command.
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


def _launch() -> subprocess.Popen[bytes]:
    """Launch the server as SubprocessASGIServer would, with nothing of Prefect
    loaded but its settings (1.3 s): the class itself lives beside the
    server's whole code, 2.3 s more to import, and the server's own boot in
    its process (5-6 s) need not wait for that."""
    port = free_port()  # Prefect picks from 8000-8999; any free port serves
    process = subprocess.Popen(_uvicorn_args(port), env=_server_env())
    # Until Prefect takes it over (and stops it at exit itself), nothing else
    # would: a kqc that failed before then must not leave a server behind.
    atexit.register(stop_server, process, wait_s=5)
    return process


def _uvicorn_args(port: int) -> list[str]:
    import prefect

    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def _server_env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    settings = get_current_settings().to_environment_variables(exclude_unset=True)
    return {**os.environ, **_SERVER_ENV, **settings}


def _adopt(server: Any, early: subprocess.Popen[bytes]) -> None:
    """Have `server.start()` take the process launched early as the first one
    it launches: Prefect then logs, waits for health, retries on another port
    if this one was taken meanwhile (exit code 3) and stops it at exit, as
    for its own. A process that died already is not taken."""
    if early.poll() is not None:
        return
    args = [str(a) for a in cast(list[str], early.args)]
    server.port = int(args[args.index("--port") + 1])
    launch_own = server._run_uvicorn_command
    waiting = [early]

    def the_early_one_first() -> subprocess.Popen[bytes]:
        return waiting.pop() if waiting else cast(subprocess.Popen[bytes], launch_own())

    server._run_uvicorn_command = the_early_one_first


def start_embedded_server() -> ServerStart:
    """Begin starting Prefect's embedded server when a flow run would. Returns
    once the server's process is launched (or its launch failed)."""
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
