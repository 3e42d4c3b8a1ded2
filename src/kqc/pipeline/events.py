"""The events an ingest run announces once its batches are judged, so that a
lab can wire e-mail, chat or a webhook to them (Prefect automations):

- `kqc.flag.opened` for every flag the run raised or reopened (a flag judged
  again unchanged is not announced again);
- `kqc.batch.status` for every batch the run touched whose status changed,
  with the status before (None for a batch the run brought) and after;
- `kqc.events.withheld` once, when a run has more of either than
  $KQC_MAX_EVENTS (100): the first ones are sent, most severe (failing)
  first, and this event counts the rest by severity, so a whole export of
  bad data raises one alert for its remainder instead of a hundred thousand.

Each event's resource is the batch (`kqc.batch.<batch_id>`), labelled so an
automation can match on it (`kqc.severity`, `kqc.rule`, `kqc.status` ...).
The lab's text (batch ids, analytes) is carried as stored: an event is data
for a machine, never printed here. Shaping only; sending is the flow's
(kqc.flows.events).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from kqc.config.settings import MAX_EVENTS_ENV, max_events
from kqc.store.run_events import OpenedFlag, RunFindings, TouchedBatch, run_findings

FLAG_OPENED = "kqc.flag.opened"
BATCH_STATUS = "kqc.batch.status"
WITHHELD = "kqc.events.withheld"
_SEVERITIES = ("critical", "major", "minor")


@dataclass(frozen=True)
class EventSpec:
    """One event to send: its name, primary resource, payload and related
    resources, as Prefect's `emit_event` takes them."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any]
    related: list[dict[str, str]] = field(default_factory=list)


class StatusChange(NamedTuple):
    batch_id: str
    before: str | None  # None: the batch was not in the database before the run
    after: str


def batch_resource(batch_id: str, **labels: str | None) -> dict[str, str]:
    """The batch as an event's resource; a label without a value is left out
    (every label of a resource is a string)."""
    resource = {"prefect.resource.id": f"kqc.batch.{batch_id}", "prefect.resource.name": batch_id}
    resource.update({f"kqc.{name}": value for name, value in labels.items() if value is not None})
    return resource


def flag_opened(flag: OpenedFlag) -> EventSpec:
    return EventSpec(
        FLAG_OPENED,
        batch_resource(
            flag.batch_id,
            severity=flag.severity,
            rule=flag.rule,
            analyte=flag.analyte,
            profile=flag.profile,
        ),
        {
            "batch": flag.batch_id,
            "rule": flag.rule,
            "analyte": flag.analyte,
            "severity": flag.severity,
            "profile": flag.profile,
            "flag_id": flag.flag_id,
            "observed": flag.observed,
            "limit": flag.limit_value,
            "unit": flag.unit,
            "status": flag.status,
            "reopened": flag.reopened,
            "message": flag.message,
        },
        [
            {
                "prefect.resource.id": f"kqc.flag.{flag.flag_id}",
                "prefect.resource.role": "flag",
                "prefect.resource.name": flag.flag_id,
            }
        ],
    )


def status_changes(
    touched: list[TouchedBatch], standing: Mapping[str, str]
) -> Iterator[StatusChange]:
    """The touched batches whose status is not what it was before the
    evaluation: `standing` names each batch that did not pass then."""
    for batch in touched:
        if batch.batch_id in standing:
            before: str | None = standing[batch.batch_id]
        else:
            before = "PASS" if batch.known_before else None
        if before != batch.status:
            yield StatusChange(batch.batch_id, before, batch.status)


def batch_status(change: StatusChange) -> EventSpec:
    return EventSpec(
        BATCH_STATUS,
        batch_resource(change.batch_id, status=change.after),
        {"batch": change.batch_id, "before": change.before, "after": change.after},
    )


def withheld(flags: list[OpenedFlag], changes: list[StatusChange], most: int) -> EventSpec | None:
    """The one event that counts the findings and status changes past the
    first `most` of each, or None when none was held back. Its resource
    carries the most severe severity held back, so an automation that
    alerts on critical findings can match it too."""
    held_flags, held_changes = flags[most:], changes[most:]
    if not held_flags and not held_changes:
        return None
    by_severity = {s: sum(f.severity == s for f in held_flags) for s in _SEVERITIES}
    worst = next((s for s in _SEVERITIES if by_severity[s]), None)
    counts = ", ".join(f"{n:,} {s}" for s, n in by_severity.items() if n)
    told = [f"{len(flags) - len(held_flags):,} of {len(flags):,} findings"]
    if held_changes:
        told.append(f"{len(changes) - len(held_changes):,} of {len(changes):,} status changes")
    message = (
        f"{' and '.join(told)} were sent one by one (at most {most:,} of each, {MAX_EVENTS_ENV})"
        + (f"; the other {len(held_flags):,} findings ({counts})" if held_flags else "")
        + " are listed by kqc flags"
    )
    resource = {"prefect.resource.id": "kqc.events", "prefect.resource.name": "kqc findings"}
    if worst is not None:
        resource["kqc.severity"] = worst
    return EventSpec(
        WITHHELD,
        resource,
        {
            "findings": len(flags),
            "findings_sent": len(flags) - len(held_flags),
            "findings_withheld": by_severity,
            "status_changes": len(changes),
            "status_changes_sent": len(changes) - len(held_changes),
            "limit": most,
            "message": message,
        },
    )


def events_of(
    findings: RunFindings, standing: Mapping[str, str] | None, most: int | None = None
) -> list[EventSpec]:
    """Every flag raised or reopened, most severe first, then every change
    of a batch's status, failing batches first: at most `most` of each
    ($KQC_MAX_EVENTS by default), and then one event counting the rest.
    Without `standing` (the statuses before could not be read) no status
    change is told."""
    most = max_events() if most is None else most
    changes = [] if standing is None else list(status_changes(findings.touched, standing))
    events = [flag_opened(flag) for flag in findings.opened[:most]]
    events += [batch_status(c) for c in changes[:most]]
    rest = withheld(findings.opened, changes, most)
    return events if rest is None else [*events, rest]


def run_events(
    db: Path, sha256s: list[str], standing: Mapping[str, str] | None, since: datetime
) -> list[EventSpec]:
    """The events of the run that began at `since` and ingested `sha256s`,
    read once its evaluation is done."""
    return events_of(run_findings(db, sha256s, since), standing)
