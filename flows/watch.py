"""`kqc watch`: a Prefect deployment, served on an interval, whose every run
scans the inbox once and ingests the files that have settled.

Each run is a flow run of its own (a fresh process started by Prefect's
runner), so a file that breaks one run cannot stop the next: a bad file is
quarantined by the ingest flow, a file that could not be stored or filed away
(a full disk, a database held too long) stays in the inbox and is tried again
at the next scan, and a run that fails outright is recorded as failed in
Prefect while the runner goes on to the next one. What was seen between scans
is kept on disk (kqc.files.watching), so a restarted watch picks up where it was.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from uuid import UUID

from prefect import flow, get_client, get_run_logger, runtime
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelled
from prefect.types import DateTime

from kqc.errors import KqcError
from kqc.files import inbox, watching
from kqc.flows.ingest import Places, ingest_flow


def _say(line: str) -> None:
    # stdout is the watch's own (the runner's flow-run process inherits it):
    # one line per file for whoever watches the watch or keeps its output.
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{stamp} {line}", file=sys.stdout, flush=True)


def _skip_overdue_scans(logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Cancel the scans that fell due while this one ran. The runner starts
    one scan at a time, so a scan longer than the interval would otherwise
    leave a queue of late ones, each a process of its own that finds nothing
    this scan did not already take; the next scan on the schedule still runs."""
    deployment_id = runtime.deployment.id
    if not deployment_id:  # run outside the deployment (a test, by hand)
        return
    try:
        with get_client(sync_client=True) as client:
            overdue = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[UUID(deployment_id)]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                    expected_start_time=FlowRunFilterExpectedStartTime(
                        before_=cast(DateTime, datetime.now(UTC))
                    ),
                )
            )
            for run in overdue:
                if str(run.id) != runtime.flow_run.id:
                    client.set_flow_run_state(
                        run.id, Cancelled(message="skipped: a scan ran in its place"), force=True
                    )
        if overdue:
            logger.info("skipped %d overdue scan(s)", len(overdue))
    except Exception as err:  # only housekeeping: the next scans run either way
        logger.warning("overdue scans could not be skipped: %s", err)


@flow(name="kqc-watch", log_prints=False, validate_parameters=False)
def watch_inbox(
    inbox_dir: str, db: str, archive: str, quarantine: str, settle: float, state: str
) -> int:
    """Scan the inbox once; ingest what has settled. Returns how many files
    were taken."""
    logger = get_run_logger()
    places = Places(db=Path(db), archive=Path(archive), quarantine=Path(quarantine))
    now = time.time()
    found = inbox.discover([Path(inbox_dir)], exclude=[places.archive, places.quarantine])
    seen = watching.observe(watching.load_seen(Path(state)), watching.stat_all(found), now)
    ready = watching.settled(seen, now, settle)
    try:
        watching.save_seen(Path(state), seen)
    except OSError as err:  # a full disk: the files wait their settle time again
        logger.warning("the watch's observations could not be saved: %s", err)
    waiting = len(seen) - len(ready)
    if waiting:
        logger.info("%d file(s) not settled yet", waiting)
    try:
        outcomes = ingest_flow([Path(p) for p in ready], places) if ready else []
    except Exception as err:
        # The whole scan failed (another run kept the database past the wait,
        # say): every file stays in the inbox, the next scan tries again, and
        # Prefect records this run as failed.
        why = err.message if isinstance(err, KqcError) else f"{type(err).__name__}: {err}"
        _say(f"scan failed, {len(ready)} file(s) left in the inbox for the next scan: {why}")
        raise
    for o in outcomes:
        _say(
            watching.outcome_line(
                inbox.printable_name(o.file),
                o.status,
                o.rows,
                o.errors,
                o.reason,
                [inbox.printable_name(c) for c in o.unused_columns or []],
            )
        )
    _skip_overdue_scans(logger)
    return len(outcomes)


def deployment_name(inbox_dir: Path, db: Path) -> str:
    """One deployment per watched inbox and database, so two watches on one
    Prefect server never share (and overwrite) each other's parameters."""
    key = hashlib.sha256(f"{inbox_dir}\0{db}".encode()).hexdigest()[:8]
    return f"{db.stem}-{inbox_dir.name or 'inbox'}-{key}"


def serve_watch(
    inbox_dir: Path, places: Places, interval: float, settle: float, state: Path
) -> None:
    """Serve the watch deployment until SIGINT or SIGTERM (Prefect's runner
    stops on both, cancels a run in progress and pauses the schedule)."""
    watch_inbox.serve(
        name=deployment_name(inbox_dir, places.db),
        interval=timedelta(seconds=interval),
        parameters={
            "inbox_dir": str(inbox_dir),
            "db": str(places.db),
            "archive": str(places.archive),
            "quarantine": str(places.quarantine),
            "settle": settle,
            "state": str(state),
        },
        limit=1,  # one scan at a time; the ingest run lock guards the rest
        print_starting_message=False,
    )
