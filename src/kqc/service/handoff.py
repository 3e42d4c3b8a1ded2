"""`kqc ingest` handing its files to the watch that serves the database.

A running watch has Prefect's server up and kqc loaded; a one-shot ingest
would start both again (seconds) to do what the watch does in a fraction of
one. So the watch listens on a loopback port and writes where, with a secret
token, to `<logs>/watch-handoff.json` (readable by its user only). `kqc
ingest` reads that file, connects, sends the token, the database, archive
and quarantine it would use and the paths, and waits for the outcomes, which
it prints exactly as it would its own. The watch runs the request as an
ingest flow run of its own, between its scans (one run at a time).

The watch takes a request only for the very places it serves and with the
very settings it runs under (every KQC_* setting that shapes an ingest: the
thresholds and vocabulary files, the input limits, the events' limit ...):
a `KQC_THRESHOLDS=house.csv kqc ingest` must be judged by house.csv, not by
the file the watch was started with. Anything else, no watch, a stale file
or a watch that does not answer, and `kqc ingest` runs the files itself, as
before, checking its own settings then. No Prefect import here.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import queue
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "watch-handoff.json"
# A request is one JSON line; its paths are the inbox entries a person named.
_MAX_REQUEST = 16 << 20
# How long `kqc ingest` waits to be connected and heard; the run itself may
# take as long as it takes (a large file), so the answer is awaited unbounded.
_CONNECT_TIMEOUT = 2.0


# The settings that are the command's or the watch's own, not the ingest's:
# the database is compared as a place (Where), the lock wait is the waiting
# client's, and the timing is the watch's (it sets KQC_STABLE_SECONDS to its
# own --settle, and has waited for the files it takes to settle).
_NOT_THE_INGESTS = frozenset(
    {"KQC_DB", "KQC_LOCK_WAIT", "KQC_STABLE_SECONDS", "KQC_WATCH_INTERVAL", "KQC_WATCH_EVENTS"}
)
# Settings that name a file: compared as the absolute path each process
# reads (kqc.schemas.thresholds, kqc.config.house_vocabulary resolve them so).
_FILE_SETTINGS = frozenset({"KQC_THRESHOLDS", "KQC_VOCABULARY"})


def ingest_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The KQC_* settings an ingest runs under, as this process reads them
    (an empty value is unset, as every setting reads it)."""
    environ = os.environ if environ is None else environ
    found = {}
    for name, value in environ.items():
        if not name.startswith("KQC_") or name in _NOT_THE_INGESTS or not value.strip():
            continue
        if name in _FILE_SETTINGS:
            value = str(Path(value.strip()).expanduser().absolute())
        found[name] = value
    return found


@dataclass(frozen=True)
class Where:
    """The places one ingest uses: a request is served only for the watch's own."""

    db: str
    archive: str
    quarantine: str

    @classmethod
    def of(cls, db: Path, archive: Path, quarantine: Path) -> Where:
        return cls(str(db.resolve()), str(archive.resolve()), str(quarantine.resolve()))


@dataclass
class Request:
    """Files handed to the watch, and the answer once it has run them."""

    paths: list[Path]
    answer: dict[str, Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)


def handoff_path(logs: Path) -> Path:
    return logs / FILE_NAME


class Listener:
    """The watch's side: accepts requests on a loopback port, queues them
    for the watch's loop (which `wake`s), and answers each once run."""

    def __init__(self, logs: Path, where: Where, wake: Callable[[], None]) -> None:
        self._where = where
        self._settings = ingest_settings()
        self._wake = wake
        self._token = secrets.token_hex(32)
        self._file = handoff_path(logs)
        self.requests: queue.Queue[Request] = queue.Queue()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kqc-handoff", daemon=True)

    def __enter__(self) -> Listener:
        port = self._socket.getsockname()[1]
        content = {"port": port, "token": self._token, "pid": os.getpid(), **vars(self._where)}
        # Written readable by this user only, then renamed into place: the
        # token is what lets a process hand files to this watch.
        tmp = self._file.with_name(f".{self._file.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle)
        os.replace(tmp, self._file)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._socket.close()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self._file.read_text(encoding="utf-8")).get("pid") == os.getpid():
                self._file.unlink()
        # A request still queued is answered "not taken": its client runs it.
        while True:
            try:
                pending = self.requests.get_nowait()
            except queue.Empty:
                break
            pending.answer = {"refused": "the watch stopped"}
            pending.done.set()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(_CONNECT_TIMEOUT)
                message = json.loads(_read_line(conn))
                answer = self._take(message)
                conn.settimeout(None)
                conn.sendall((json.dumps(answer) + "\n").encode())
            except (OSError, ValueError):
                return

    def _take(self, message: dict[str, Any]) -> dict[str, Any]:
        token = str(message.get("token", ""))
        if not hmac.compare_digest(token, self._token):
            return {"refused": "wrong token"}
        asked = Where(
            str(message.get("db")), str(message.get("archive")), str(message.get("quarantine"))
        )
        if asked != self._where or self._closed.is_set():
            return {"refused": "another database"}
        if message.get("settings") != self._settings:
            return {"refused": "other settings"}
        request = Request([Path(p) for p in message.get("paths", [])])
        self.requests.put(request)
        self._wake()
        request.done.wait()
        return request.answer or {"refused": "not run"}


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        part = conn.recv(1 << 16)
        if not part:
            break
        data += part
        if len(data) > _MAX_REQUEST:
            raise ValueError("request too large")
    return data


def hand_over(logs: Path, where: Where, paths: list[Path]) -> dict[str, Any] | None:
    """`kqc ingest`'s side: the watch's answer for these paths, or None when
    no watch serves these places (the caller then ingests them itself)."""
    try:
        found = json.loads(handoff_path(logs).read_text(encoding="utf-8"))
        port = int(found["port"])
        token = str(found["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if Where(found.get("db"), found.get("archive"), found.get("quarantine")) != where:
        return None
    message = {
        "token": token,
        **vars(where),
        "settings": ingest_settings(),
        "paths": [str(p) for p in paths],
    }
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=_CONNECT_TIMEOUT) as conn:
            conn.sendall((json.dumps(message) + "\n").encode())
            conn.settimeout(None)
            answer = json.loads(_read_line(conn) or b"null")
    except (OSError, ValueError):
        return None
    if not isinstance(answer, dict) or "refused" in answer:
        return None
    return answer
