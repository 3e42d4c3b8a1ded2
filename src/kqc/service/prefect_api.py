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
from dataclasses import dataclass
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


class LocalServer:
    """`prefect server start` on one loopback port, for as long as the watch
    lasts; started again on the same port when it stops on its own (killed
    for memory, or by hand), since Prefect in this process keeps the URL it
    read at import."""

    def __init__(self, logs: Path, *, ui: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.log_path = logs / "watch-prefect-server.log"
        self.env = {
            # A scan every few seconds is a flow run every few seconds: runs
            # older than a week are deleted so the server's database does not
            # grow for ever (the lasting record of every file is in the kqc
            # database).
            "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
            "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(7 * 24 * 3600),
            **os.environ,
            "PREFECT_API_DATABASE_CONNECTION_URL": (
                f"sqlite+aiosqlite:///{logs / 'watch-prefect.db'}"
            ),
            "PREFECT_UI_ENABLED": "true" if ui else "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = START_TIMEOUT_SECONDS) -> None:
        """Launch the server and wait until it answers (ServerFailed if not)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*_SERVER_COMMAND, "--port", str(self.port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C at the terminal reaches the watch, not it
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout_s
        while not _healthy(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                stop_server(self.process, wait_s=5)
                raise ServerFailed(
                    f"the local Prefect server did not start; see {self.log_path.name}"
                )
            time.sleep(0.25)

    def revive(self) -> str | None:
        """Start the server again if it has stopped; a sentence saying what
        happened, or None when it is running."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        try:
            self.start()
        except ServerFailed:
            return (
                f"the local Prefect server stopped (exit {code}) and did not start again"
                f" (see {self.log_path.name}); files wait in the inbox, the next scan tries again"
            )
        return f"the local Prefect server stopped (exit {code}); started again at {self.url}"

    @property
    def up(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process, wait_s=10)


@dataclass(frozen=True)
class Api:
    """The API the watch's flow runs use, and the local server behind it
    (None for a lab's own server, which kqc does not start or restart)."""

    url: str
    server: LocalServer | None = None

    def revive(self) -> str | None:
        return self.server.revive() if self.server is not None else None

    @property
    def up(self) -> bool:
        """False only while the local server is down (a lab's own server is
        taken as up: a run that cannot reach it fails and is retried)."""
        return self.server is None or self.server.up


@contextlib.contextmanager
def prefect_api(logs: Path, *, ui: bool = False) -> Iterator[Api]:
    """The API to use, starting (and at the end stopping) a local server when
    none is configured, with Prefect's UI when `ui`. Sets PREFECT_API_URL for
    this process and the flow runs it starts."""
    configured = os.environ.get(API_ENV, "").strip()
    if configured:
        yield Api(configured)
        return
    logs.mkdir(parents=True, exist_ok=True)
    server = LocalServer(logs, ui=ui)
    try:
        server.start()
        os.environ[API_ENV] = server.url
        yield Api(server.url, server)
    finally:
        os.environ.pop(API_ENV, None)
        server.stop()
