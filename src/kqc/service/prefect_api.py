"""A Prefect API for `kqc watch`, lasting as long as the watch.

With PREFECT_API_URL set (a lab's own server) that one is used. Without it,
the watch starts `prefect server start` itself, with its UI, on a free
loopback port and with its own SQLite file in the logs folder (so it never
contends with the embedded servers of `kqc ingest` runs for Prefect's default
database), and stops it when the watch stops. Prefect's embedded server would
serve the flow runs too, but not the UI an operator opens, and it ends with
the first process that started it.

No Prefect import here: Prefect reads PREFECT_API_URL when it is imported, so
the server must be up before that.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kqc.errors import KqcError
from kqc.process import signals

API_ENV = "PREFECT_API_URL"
# The server's first start creates its database; under load it takes tens of
# seconds, and nothing is lost by waiting.
START_TIMEOUT_SECONDS = 180.0


_SERVER_COMMAND = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]


class ServerFailed(KqcError):
    """The local Prefect server did not start (exit 1)."""


def free_port() -> int:
    """A loopback port nothing listens on, as the system chooses one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the server's process: be sent SIGTERM when the watch ends, however it
    ends (Linux), so a killed watch leaves no server behind; and take the
    signals the watch blocks in itself (the mask is inherited)."""
    with contextlib.suppress(Exception):
        signals.unblock_in_child()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_server(process: subprocess.Popen[bytes], *, wait_s: float) -> None:
    """Ask a server process to stop, and kill it if it has not within wait_s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def prefect_api(logs: Path, *, ui: bool = False) -> Iterator[str]:
    """The API URL to use, starting (and at the end stopping) a local server
    when none is configured, with Prefect's UI when `ui`. Sets
    PREFECT_API_URL for this process and the flow runs it starts."""
    configured = os.environ.get(API_ENV, "").strip()
    if configured:
        yield configured
        return
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        # A scan every few seconds is a flow run every few seconds: runs older
        # than a week are deleted so the server's database does not grow for
        # ever (the lasting record of every file is in the kqc database).
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(7 * 24 * 3600),
        **os.environ,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{logs / 'watch-prefect.db'}",
        "PREFECT_UI_ENABLED": "true" if ui else "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    with (logs / "watch-prefect-server.log").open("ab") as log:
        server = subprocess.Popen(
            [*_SERVER_COMMAND, "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C at the terminal reaches the watch, not it
            preexec_fn=_die_with_parent,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise ServerFailed(f"the local Prefect server did not start; see {log.name}")
            time.sleep(0.25)
        os.environ[API_ENV] = url
        yield url
    finally:
        os.environ.pop(API_ENV, None)
        stop_server(server, wait_s=10)
