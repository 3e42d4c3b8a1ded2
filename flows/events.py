"""The ingest run's events, sent to Prefect (kqc.pipeline.events says which):
an automation on the lab's Prefect server turns a critical finding into an
e-mail, a chat message or a webhook call.

Nothing here fails a run: the statuses before the evaluation that cannot be
read only leave out the status changes, and an event that cannot be sent is
logged.

Gathering the statuses and the events is no Prefect task: a task's
parameters and result are walked item by item by Prefect (to link states),
which for the statuses of 40,000 batches cost a second of the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from prefect import get_run_logger
from prefect.events import emit_event

from kqc.pipeline.events import EventSpec, run_events
from kqc.store.run_events import standing


def before_judging(db: Path) -> dict[str, str] | None:
    """Each batch's status before the evaluation (those that do not pass);
    None when it could not be read."""
    try:
        return standing(db)
    except Exception:
        get_run_logger().exception(
            "the batch statuses before evaluation could not be read; no status change is announced"
        )
        return None


def announce(
    db: Path, sha256s: list[str], before: Mapping[str, str] | None, since: datetime
) -> None:
    """Send the run's events, once its batches are judged."""
    logger = get_run_logger()
    try:
        specs = run_events(db, sha256s, before, since)
    except Exception:
        logger.exception("the run's events could not be gathered; none was sent")
        return
    sent = sum(emit(spec) for spec in specs)
    if sent < len(specs):
        logger.warning("%d of %d event(s) could not be sent", len(specs) - sent, len(specs))
    elif specs:
        logger.info("sent %d event(s)", sent)


def emit(spec: EventSpec) -> bool:
    """Send one event; False (and a log line) when it could not be."""
    try:
        emitted = emit_event(
            event=spec.event, resource=spec.resource, payload=spec.payload, related=spec.related
        )
    except Exception:  # too large, or refused before it was queued
        get_run_logger().exception(
            "event %s for %s could not be sent", spec.event, spec.resource["prefect.resource.id"]
        )
        return False
    # emit_event logs its own failures (in Prefect's log) and returns None.
    return emitted is not None
