"""`kqc serve`: the live watch of the inbox and the QA console in one
long-lived process.

The console (kqc.console) is served by uvicorn in a thread of the watch's
process, so a file uploaded in the browser lands in the inbox the watch is
watching and is taken within seconds, and a decision signed in the console
is in the database the watch writes. Both reach the database only for the
moment they read or write; every CLI command works beside them.

The console listens on 127.0.0.1 by default: another host is a choice the
operator makes with --host (behind a TLS proxy; the session cookie is marked
Secure when the proxy says the request came over https).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from kqc.config.settings import Locations
from kqc.errors import UsageError
from kqc.service import watch

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_START_TIMEOUT_SECONDS = 60.0


def console_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@contextmanager
def console(where: Locations, host: str, port: int) -> Iterator[list[str]]:
    """The console served on host:port for as long as the block lasts; yields
    the line that says where. A port already taken stops the start with one
    sentence (exit 2)."""
    import uvicorn

    from kqc.console.app import make_app

    config = uvicorn.Config(
        make_app(where),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=_serve, args=(server,), name="kqc-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise UsageError(
                f"the console cannot listen on {host}:{port} (taken, or not an address of this"
                " machine): pass another --port or --host"
            )
        time.sleep(0.05)
    try:
        yield [f"console: {console_url(host, port)} (sign in; kqc users add creates users)"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _check_port(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise UsageError(f"--host {host} is not an address: {err.strerror or err}") from err
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            raise UsageError(
                f"the console cannot listen on {host}:{port} ({err.strerror or err}):"
                " pass another --port or --host"
            ) from err


def _serve(server: object) -> None:
    # A bind that fails makes uvicorn exit its thread (SystemExit): the start
    # above sees the thread gone and says so.
    with suppress(SystemExit):
        server.run()  # type: ignore[attr-defined]


def run(
    where: Locations,
    host: str,
    port: int,
    interval: float | None,
    settle: float | None,
) -> int:
    """Serve the console beside the watch until stopped; the watch's exit code."""
    _check_port(host, port)  # before Prefect's server is started for nothing
    return watch.run(
        where,
        interval,
        settle,
        name="kqc serve",
        extra=lambda: console(where, host, port),
    )
