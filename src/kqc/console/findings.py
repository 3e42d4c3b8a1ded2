"""The decision queue (`/`: open findings, batches awaiting a disposition)
and the findings page (`/findings`): open first, most severe first, grouped
by batch and by cause, with every filter applied in SQL; confirmed and
dismissed findings show who decided, when and why, and a dismissal that
waits for a second person says so."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response

from kqc.console.access import Viewer, guarded
from kqc.store.console_queries import (
    SEVERITIES,
    STATUSES,
    FindingFilters,
    decision_queue,
    finding_page,
)

PAGE_ROWS = 200
_MAX_FILTER = 200  # characters: an id or a code, never a paragraph


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:_MAX_FILTER] or None


def _day(request: Request, name: str, problems: list[str]) -> date | None:
    value = _text(request, name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"'{value}' is not a date: write it as 2025-01-31")
        return None


def _choice(
    request: Request, name: str, allowed: tuple[str, ...], problems: list[str]
) -> str | None:
    value = _text(request, name)
    if value is not None and value not in allowed:
        problems.append(f"unknown {name} '{value}': use one of {', '.join(allowed)}")
        return None
    return value


def filters_of(request: Request, problems: list[str]) -> FindingFilters:
    return FindingFilters(
        status=_choice(request, "status", STATUSES, problems),
        rule=_text(request, "rule"),
        product=_text(request, "product"),
        severity=_choice(request, "severity", SEVERITIES, problems),
        lab=_text(request, "lab"),
        batch=_text(request, "batch"),
        since=_day(request, "since", problems),
        until=_day(request, "until", problems),
    )


@guarded()
async def home(request: Request, viewer: Viewer) -> Response:
    """What needs a decision now."""
    queue = await viewer.console.call(decision_queue, viewer.console.where.db)
    return viewer.page("home.html", queue=queue)


@guarded()
async def findings(request: Request, viewer: Viewer) -> Response:
    problems: list[str] = []
    chosen = filters_of(request, problems)
    db = viewer.console.where.db
    found = await viewer.console.call(finding_page, db, chosen, PAGE_ROWS)
    for problem in problems:
        viewer.session.flash(problem, "error")
    return viewer.page(
        "findings.html",
        found=found,
        chosen=chosen,
        choices=found.choices,
        statuses=STATUSES,
        severities=SEVERITIES,
    )
