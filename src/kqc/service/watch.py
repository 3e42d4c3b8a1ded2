"""The `kqc watch` process: settings, a Prefect API, the served deployment,
and a clean stop on Ctrl-C or SIGTERM with a last line saying so.

Prefect is imported only once the API it should talk to is known (it reads
PREFECT_API_URL at import), and after its output is muted (kqc.process.quiet).
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from kqc.config.settings import STABLE_ENV, Locations
from kqc.files import watching
from kqc.process import quiet


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Until Prefect's runner installs its own handler, SIGTERM stops the watch
    # as Ctrl-C does: through the same clean-up.
    raise KeyboardInterrupt


def _as_sigterm(signum: int, frame: FrameType | None) -> None:
    # Ctrl-C takes the runner's SIGTERM path (cancel the scan in progress,
    # pause the schedule, return). Left to asyncio, a Ctrl-C that lands while
    # a scan runs cancels a task Prefect recovers from, and the watch goes on;
    # an inherited "ignore SIGINT" (a script's background job) is overridden
    # too, since Ctrl-C stopping the watch is its promise.
    os.kill(os.getpid(), signal.SIGTERM)


def _say(line: str) -> None:
    print(f"kqc watch: {line}", file=sys.stdout, flush=True)


def run(where: Locations, interval: float | None, settle: float | None) -> int:
    """Watch `where.inbox` until stopped; the exit code (0 stopped by a
    signal once serving, 130 interrupted while starting)."""
    every = watching.interval_seconds(interval)
    settle_for = watching.settle_seconds(settle)
    where.inbox.mkdir(parents=True, exist_ok=True)
    quiet.mute_prefect(where.logs / "kqc.log")
    # The ingest flow's own completeness check then agrees with the watch's.
    os.environ[STABLE_ENV] = repr(settle_for)
    # The runner looks for due runs this often (Prefect's default is 10 s).
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", str(max(1, int(every))))
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _as_sigterm)
    code = 0
    try:
        _say(
            f"watching {where.inbox} every {every:g} s (a file is taken once unchanged for"
            f" {settle_for:g} s); Ctrl-C stops"
        )
        from kqc.service.prefect_api import prefect_api

        with prefect_api(where.logs) as api:
            from kqc.flows.ingest import Places
            from kqc.flows.watch import serve_watch

            _say(f"serving the Prefect deployment kqc-watch on {api}")
            places = Places(db=where.db, archive=where.archive, quarantine=where.quarantine)
            state = watching.state_path(where.logs, where.inbox)
            serve_watch(where.inbox, places, every, settle_for, state)
    except KeyboardInterrupt:
        code = 130
    finally:
        _say("stopped")
    return code
