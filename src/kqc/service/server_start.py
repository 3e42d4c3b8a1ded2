"""Prefect's embedded server, started while kqc loads.

Without PREFECT_API_URL, a flow run starts Prefect's temporary server on its
first API call: the process imports the server's code (a second and a half
of CPU on two idle cores, several seconds on a busy machine, none of it
needed by the run itself), launches it as a subprocess, then sleeps until it
answers, about four seconds more. So `kqc ingest` launches that same process first of
all, before any of Prefect is imported, loads Prefect and kqc's modules
while it boots, and once it answers points this process's Prefect at it
(PREFECT_API_URL): the flow run then talks to it as to any server, and the
server's code is never loaded here.

The launch command is Prefect's own (SubprocessASGIServer's, repeated here; a
test checks it against Prefect's), and so is the handling: a port taken
meanwhile (exit code 3) means another port, the wait is bounded by
PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, and the server is stopped
at exit. Should the process fail otherwise, nothing is lost: the flow run
starts Prefect's server itself, as it would have anyway. A lab's own server
named only in a Prefect profile is known once the settings load; the process
launched early is then stopped unused.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from kqc.service.prefect_api import API_ENV, _die_with_parent, free_port, stop_server

_log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_UI_ENV = "PREFECT_UI_URL"


@dataclass
class ServerStart:
    """A start in progress; `wait` before the flow runs."""

    embedded: bool = False  # the run uses Prefect's embedded server, not the lab's own
    early_pid: int | None = None  # the server's process, when launched before Prefect loaded
    process: subprocess.Popen[bytes] | None = None
    api_url: str | None = None  # set by `wait` once the early server answers

    def wait(self) -> None:
        """Wait until the early server answers and point Prefect at it; when
        it cannot be had, leave the start to the flow run."""
        if self.process is None or self.api_url is not None:
            return
        process, self.process = self.process, None
        try:
            self.api_url = _take_over(process)
        except Exception:  # the flow's own start tries again and reports the error
            _log.debug("embedded server did not start ahead of the flow", exc_info=True)
            if API_ENV not in os.environ:  # failed before Prefect was pointed at it
                stop_server(process, wait_s=5)


def _wanted() -> bool:
    """The flow would start the embedded server (no server of the lab's own)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    return not PREFECT_API_URL.value() and bool(PREFECT_SERVER_EPHEMERAL_ENABLED.value())


# What SubprocessASGIServer launches (prefect/server/api/server.py, 3.9):
# tests/service/test_server_start.py checks that this is still its command.
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


def _launch() -> subprocess.Popen[bytes]:
    """Launch the server as SubprocessASGIServer would, before any of Prefect
    is imported: Prefect takes seconds to load, and the server's own boot
    (about four seconds in its process) need not wait for it."""
    port = free_port()  # Prefect picks from 8000-8999; any free port serves
    # Killed with this process however it ends (a kill -9 runs no atexit
    # hook). The death signal follows the launching thread: launch from the
    # thread that runs the flow.
    process = subprocess.Popen(_uvicorn_args(port), env=_server_env(), preexec_fn=_die_with_parent)
    # And stopped at exit, taken over or not: a kqc that failed before the
    # take-over must not leave a server behind either.
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


def _take_over(process: subprocess.Popen[bytes]) -> str | None:
    """The API URL of the server launched early, once it answers, with this
    process's Prefect pointed at it; None when it died (the flow run then
    starts Prefect's own). Logged as Prefect logs its own start and stop."""
    # Prefect's logging first, as `from prefect import flow` sets it up: the
    # server's "Starting temporary server" line belongs in kqc.log.
    import prefect.main  # noqa: F401
    from prefect.context import refresh_global_settings_context
    from prefect.logging import get_logger
    from prefect.settings import get_current_settings

    logger = get_logger()  # "prefect", as SubprocessASGIServer logs
    logger.info(
        f"Starting temporary server on {_address(process)}\nSee "
        "https://www.prefect.io/docs/v3/concepts/server#how-to-guides "
        "for more information on running a dedicated Prefect server."
    )
    answering = _answering(process)
    if answering is None:
        return None
    address = _address(answering)
    threading.Thread(target=_warm, args=(f"{address}/api",), daemon=True).start()

    def stop() -> None:
        logger.info(f"Stopping temporary server on {address}")
        stop_server(answering, wait_s=5)

    # Prefect drains its event and log workers at thread shutdown, before any
    # atexit hook runs: what they still hold reaches the server.
    atexit.register(stop)
    if get_current_settings().ui_url is None:
        # Inferred from the API URL otherwise: the run would log a link to a
        # UI the embedded server does not serve, as it never did before.
        os.environ[_UI_ENV] = ""
    api_url = f"{address}/api"
    os.environ[API_ENV] = api_url
    refresh_global_settings_context()  # the loaded settings read the URL from here on
    return api_url


def _address(process: subprocess.Popen[bytes]) -> str:
    args = [str(a) for a in cast(list[str], process.args)]
    return f"http://127.0.0.1:{args[args.index('--port') + 1]}"


def _answering(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes] | None:
    """The server process once it answers, as SubprocessASGIServer waits for
    its own: relaunched on another port when that one was taken meanwhile
    (exit code 3), for at most PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.
    None when it died otherwise; a server that never answered is stopped."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    deadline = time.monotonic() + float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    while not _answers(f"{_address(process)}/api"):
        code = process.poll()
        if code == 3:
            process = _launch()
        elif code is not None:
            _log.debug("embedded server exited with code %s before it answered", code)
            return None
        elif time.monotonic() > deadline:
            stop_server(process, wait_s=5)
            raise TimeoutError("the embedded server did not answer in time")
        time.sleep(_POLL_SECONDS)
    return process


def _answers(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


# The server's first requests build its routes and its database session,
# half a second of its time: asked for here, in the background, as soon as it
# answers, they are built while this process checks the thresholds and
# prepares the flow run (0.2 s sooner to the flow's first line). Both only read.
_WARM_UP = (("/admin/version", None), ("/flows/filter", b'{"limit": 1}'))


def _warm(api_url: str) -> None:
    for path, body in _WARM_UP:
        request = urllib.request.Request(
            f"{api_url}{path}", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except OSError:  # nothing lost: the run's own requests build them
            return


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
    return ServerStart(
        embedded=True, early_pid=early.pid if early is not None else None, process=early
    )


@contextmanager
def heartbeats_only_where_read(started: ServerStart) -> Iterator[None]:
    """No flow-run heartbeats on the embedded server. They let a lasting
    server tell a crashed run from a slow one; the embedded server ends with
    this process, so none would ever be read, and stopping the heartbeat
    thread costs up to a second at the end of every run (it sleeps in
    one-second steps). On the lab's own server they are kept."""
    with heartbeats_off(started.embedded):
        yield


@contextmanager
def heartbeats_off(off: bool) -> Iterator[None]:
    """Flow runs started inside send no heartbeats when `off`: on a server
    kqc started for itself (the embedded one, the watch's local one), which
    stops with the process that runs the flows, so it never sees a run go
    silent; joining the heartbeat thread costs every run up to a second."""
    if not off:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
