"""Prefect's embedded server, started while kqc loads.

Without PREFECT_API_URL, a flow run starts Prefect's temporary server on its
first API call: the process imports the server's code (2-3 s), launches it as
a subprocess, then sleeps until it answers, about six seconds on two cores.
Prefect's settings take nearly two seconds to load, and kqc's own modules
(polars, pandera, DuckDB, the readers and rules) most of a second more. So
`kqc ingest` launches the server's process first of all, before any of
Prefect is imported, then loads Prefect's settings, the server's code and
kqc's modules while it boots, and joins before the run starts.

This reaches into Prefect's SubprocessASGIServer, the class the flow's client
uses (one instance per process): its launch command is repeated here, and a
test checks it against Prefect's own. Should any of it fail, nothing is lost:
the flow run starts the server itself, as it would have anyway. A lab's own
server named only in a Prefect profile is known once the settings load; the
process launched early is then stopped unused.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kqc.service.prefect_api import free_port, stop_server

_log = logging.getLogger(__name__)


@dataclass
class ServerStart:
    """A start in progress; `wait` before the flow runs."""

    embedded: bool = False  # the run uses Prefect's embedded server, not the lab's own
    early_pid: int | None = None  # the server's process, when launched before Prefect loaded
    thread: threading.Thread | None = None

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()


def _wanted() -> bool:
    """The flow would start the embedded server (no server of the lab's own)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    return not PREFECT_API_URL.value() and bool(PREFECT_SERVER_EPHEMERAL_ENABLED.value())


def _start(early: subprocess.Popen[bytes] | None) -> None:
    """In its own thread: load Prefect's server code while kqc's modules load
    in the main thread, then have Prefect take the early process over."""
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
# tests/service/test_server_start.py checks that this is still its command.
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


def _launch() -> subprocess.Popen[bytes]:
    """Launch the server as SubprocessASGIServer would, before any of Prefect
    is imported: Prefect's settings take 1.8 s to load and its server code
    2.3 s more, and the server's own boot (5-6 s in its process) need not
    wait for either."""
    port = free_port()  # Prefect picks from 8000-8999; any free port serves
    process = subprocess.Popen(_uvicorn_args(port), env=_server_env())
    # Until Prefect takes it over (and stops it at exit itself), nothing else
    # would: a kqc that failed before then must not leave a server behind.
    atexit.register(stop_server, process, wait_s=5)
    return process


def _uvicorn_args(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(_prefect_folder().parent),
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


def _prefect_folder() -> Path:
    """Where Prefect is installed (prefect.__module_path__), found without
    running its package."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("prefect")
    return Path(next(iter(spec.submodule_search_locations)))


def _server_env() -> dict[str, str]:
    """Prefect adds its current settings to the server's environment. Before
    Prefect is loaded, none was set in this process: the server reads the
    same environment, profile and files itself."""
    return {**os.environ, **_SERVER_ENV}


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


_OFF = ("0", "false", "no", "off", "f", "n")


def _may_be_wanted() -> bool:
    """What the environment alone says of `_wanted`, before Prefect loads: a
    lab's server named there, or the embedded mode switched off there, means
    no early launch. Set in a Prefect profile instead, they are read once
    Prefect has loaded, and the process launched is stopped unused."""
    if os.environ.get("PREFECT_API_URL", "").strip():
        return False
    switches = ("PREFECT_SERVER_EPHEMERAL_ENABLED", "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE")
    return all(os.environ.get(k, "").strip().lower() not in _OFF for k in switches)


def start_embedded_server() -> ServerStart:
    """Begin starting Prefect's embedded server when a flow run would: its
    process is launched first of all, then Prefect's settings are read."""
    early: subprocess.Popen[bytes] | None = None
    if _may_be_wanted():
        try:
            early = _launch()
        except Exception:  # Prefect's own start launches it instead
            _log.debug("embedded server not launched early", exc_info=True)
    if not _wanted():
        if early is not None:
            stop_server(early, wait_s=5)
        return ServerStart()
    started = ServerStart(embedded=True, early_pid=early.pid if early is not None else None)
    started.thread = threading.Thread(
        target=_start, args=(early,), name="kqc-prefect-server", daemon=True
    )
    started.thread.start()
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
