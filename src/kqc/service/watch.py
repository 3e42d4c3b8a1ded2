"""`kqc watch`: one long-lived process that ingests what is dropped.

Prefect's server is started once (a local one with its UI, or the lab's own
with PREFECT_API_URL), kqc and its libraries are imported once, and each
batch of settled files is ingested in this process as a flow run of the
ingest flow: no new process per scan. Changes in the inbox arrive as
file-system events (watchfiles); a full rescan every `interval` seconds is
the fallback for network shares and missed events. A file is taken at the
first sighting at which its last write is the settle time old; one not yet
settled is looked at again when it will be. `kqc ingest` of files on the
same database is handed to this process (kqc.service.handoff) and run
between scans.

It stays up: a run that fails (a database held past the wait, a Prefect
server that went away) is said on its line, its files stay in the inbox and
the next run takes them; the local Prefect server, if it stops, is started
again on the same address before the next run. SIGTERM or Ctrl-C lets a run in progress finish and
print every outcome line, then stops with a last line. The first snapshot is
published before the first file is taken.

Prefect is imported only once the API it should talk to is known (it reads
PREFECT_API_URL at import), and after its output is muted (kqc.process.quiet).
"""

from __future__ import annotations

import _thread
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from kqc.config.settings import STABLE_ENV, Locations
from kqc.errors import KqcError
from kqc.files import inbox, watching
from kqc.process import quiet, signals
from kqc.service import handoff
from kqc.service.prefect_api import Api, prefect_api
from kqc.service.server_start import heartbeats_off

# "kqc watch" or "kqc serve": the command whose lines these are.
_NAME = ["kqc watch"]


def _say(line: str) -> None:
    print(f"{_NAME[0]}: {line}", file=sys.stdout, flush=True)


def _stamped(line: str) -> None:
    # One line per file for whoever watches the watch or keeps its output.
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{stamp} {line}", file=sys.stdout, flush=True)


class _Stop:
    """Set once SIGTERM or Ctrl-C arrives: the loop finishes what it is doing
    and returns. Before the service serves, the signal interrupts the start
    instead (KeyboardInterrupt in the main thread)."""

    def __init__(self, wake: threading.Event) -> None:
        self.event = threading.Event()
        self.serving = False
        self.wake = wake

    def listen(self) -> None:
        signals.hold()
        threading.Thread(target=self._take, name="kqc-signals", daemon=True).start()

    def _take(self) -> None:
        while True:
            signals.wait()
            if not self.serving:
                _thread.interrupt_main()
                continue
            self.event.set()
            self.wake.set()


# KQC_WATCH_EVENTS=off: no file-system events, the rescan alone (a share
# whose events are known to be wrong, or to test the fallback).
EVENTS_ENV = "KQC_WATCH_EVENTS"


# How long the events thread may take to watch before the loop goes on
# without it (its first scan and the rescans still find every file).
_EVENTS_READY_S = 10.0


@contextmanager
def _inbox_events(folder: Path, wake: threading.Event, stop: threading.Event) -> Iterator[None]:
    """Wake the loop on every change in `folder` (watchfiles, in a thread);
    without events (a file system that raises none) the rescan still runs.

    Entered only once the watcher is in place: a file dropped between the
    loop's first scan and a watcher not yet watching would raise no event and
    wait for the rescan, a minute by default. watchfiles yields on its first
    quiet timeout (or first change), which is after its watch was added."""
    ready = threading.Event()

    def listen() -> None:
        try:
            if os.environ.get(EVENTS_ENV, "").strip().lower() in ("0", "off", "false", "no"):
                return
            import watchfiles

            for changes in watchfiles.watch(
                folder,
                stop_event=stop,
                debounce=50,
                step=20,
                rust_timeout=200,
                yield_on_timeout=True,
            ):
                ready.set()
                if changes:
                    wake.set()
        except Exception as err:  # the rescan is the fallback
            _say(f"file-system events are not available ({err}); rescanning only")
        finally:
            ready.set()

    thread = threading.Thread(target=listen, name="kqc-inbox-events", daemon=True)
    thread.start()
    ready.wait(_EVENTS_READY_S)
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


class _Service:
    def __init__(
        self, where: Locations, every: float, settle: float, stop: _Stop, api: Api
    ) -> None:
        self.where = where
        self.api = api
        self.every = every
        self.settle = settle
        self.stop = stop
        self.wake = stop.wake
        self.runs = 0
        from kqc.flows.ingest import Places, ingest_flow

        self._ingest = ingest_flow
        self.places = Places(db=where.db, archive=where.archive, quarantine=where.quarantine)

    def first_snapshot(self) -> None:
        """The snapshot regulators read exists as soon as the watch serves."""
        from kqc import store
        from kqc.store.publish import publish

        try:
            with store.connect(self.where.db):
                pass  # created and migrated when new
            publish(self.where.db)
            store.write_heads(self.where.db)
        except Exception as err:
            why = err.message if isinstance(err, KqcError) else f"{type(err).__name__}: {err}"
            _say(f"the first snapshot could not be published: {why}")

    def ready_files(self) -> tuple[list[Path], float | None]:
        """The files settled now, and when the next one will be."""
        places = self.places
        found = inbox.discover([self.where.inbox], exclude=[places.archive, places.quarantine])
        stats = watching.stat_all(found)
        now = time.time()
        return [Path(p) for p in watching.ready(stats, now, self.settle)], watching.next_due(
            stats, now, self.settle
        )

    def ingest(self, paths: list[Path]) -> Any:
        self.runs += 1
        # No heartbeats on the watch's own server: the half second on average
        # that joining their thread costs was a quarter of a small file's run.
        with heartbeats_off(self.api.server is not None):
            return self._ingest(paths, self.places)

    def scan(self) -> float | None:
        revived = self.api.revive()
        if revived:
            _stamped(revived)
        if not self.api.up:
            return time.time() + self.every
        ready, due = self.ready_files()
        if ready:
            try:
                outcomes = self.ingest(ready)
            except Exception as err:
                why = err.message if isinstance(err, KqcError) else f"{type(err).__name__}: {err}"
                _stamped(
                    f"scan failed, {len(ready)} file(s) left in the inbox for the next scan: {why}"
                )
                return time.time() + self.every
            self._print(outcomes)
        return due

    def _print(self, outcomes: Any) -> None:
        for o in outcomes:
            _stamped(
                watching.outcome_line(
                    inbox.printable_name(o.file),
                    o.status,
                    o.rows,
                    o.errors,
                    o.reason,
                    [inbox.printable_name(c) for c in o.unused_columns or []],
                )
            )
        problem = getattr(outcomes, "snapshot_problem", None)
        if problem:
            _stamped(f"the snapshot was not published, the last good one is kept: {problem}")

    def serve_request(self, request: handoff.Request) -> None:
        try:
            run = self.ingest(request.paths)
            request.answer = {
                "outcomes": [o.as_dict() for o in run],
                "left": [[str(x.path), x.reason] for x in run.left],
                "snapshot_problem": run.snapshot_problem,
            }
            self._print(run)
        except Exception as err:
            why = err.message if isinstance(err, KqcError) else f"{type(err).__name__}: {err}"
            code = err.exit_code if isinstance(err, KqcError) else 1
            request.answer = {"error": why, "exit_code": code}
        finally:
            request.done.set()

    def loop(self, listener: handoff.Listener) -> None:
        next_rescan = 0.0
        due: float | None = None
        while not self.stop.event.is_set():
            self.wake.clear()
            while not listener.requests.empty() and not self.stop.event.is_set():
                self.serve_request(listener.requests.get_nowait())
            now = time.time()
            due = self.scan()
            next_rescan = now + self.every
            if self.stop.event.is_set():
                break
            wait_until = next_rescan if due is None else min(due, next_rescan)
            self.wake.wait(max(0.0, wait_until - time.time()))


def _drain_prefect(timeout_s: float = 10.0) -> None:
    """Let Prefect's event and log workers send what they hold while the local
    server still answers. Left to interpreter exit, they would drain after the
    server stopped, and wait for it: a stopped watch that does not end."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        with suppress(Exception):  # a server already gone: nothing to send to
            worker.drain_all(timeout=timeout_s)


def ui_address(api: str) -> str:
    """Where Prefect's UI is: the lab's PREFECT_UI_URL, else the API's host."""
    configured = os.environ.get("PREFECT_UI_URL", "").strip()
    if configured:
        return configured
    return api[: -len("/api")] if api.endswith("/api") else api


# Started once the watch is ready to serve, stopped before it ends; yields
# the lines that say where it is (the QA console of `kqc serve`).
Extra = Callable[[], AbstractContextManager[list[str]]]


def run(
    where: Locations,
    interval: float | None,
    settle: float | None,
    *,
    name: str = "kqc watch",
    extra: Extra | None = None,
) -> int:
    """Watch `where.inbox` until stopped, with `extra` running beside it; the
    exit code (0 stopped by a signal once serving, 130 interrupted while
    starting)."""
    _NAME[0] = name
    every = watching.interval_seconds(interval)
    settle_for = watching.settle_seconds(settle)
    where.inbox.mkdir(parents=True, exist_ok=True)
    quiet.mute_prefect(where.logs / "kqc.log")
    # The ingest flow's own completeness check then agrees with the watch's.
    os.environ[STABLE_ENV] = repr(settle_for)

    wake = threading.Event()
    stop = _Stop(wake)
    stop.listen()  # before any thread starts: each inherits the blocked signals
    code = 0
    try:
        _say(
            f"watching {where.inbox} (a file is taken once unchanged for {settle_for:g} s;"
            f" full rescan every {every:g} s); Ctrl-C stops"
        )
        with prefect_api(where.logs, ui=True) as api:
            service = _Service(where, every, settle_for, stop, api)
            service.first_snapshot()
            stop_events = threading.Event()
            target = handoff.Where.of(where.db, where.archive, where.quarantine)
            with (
                handoff.Listener(where.logs, target, service.wake.set) as listener,
                _inbox_events(where.inbox, service.wake, stop_events),
                extra() if extra is not None else nullcontext([]) as extra_lines,
            ):
                stop.serving = True
                for line in extra_lines:
                    _say(line)
                _say(f"Prefect UI: {ui_address(api.url)} (each ingest is a kqc-ingest flow run)")
                _say("serving")
                service.loop(listener)
                _drain_prefect()
    except KeyboardInterrupt:
        code = 130
    finally:
        _say("stopped")
    return code
