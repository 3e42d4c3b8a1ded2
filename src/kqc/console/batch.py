"""One batch (`/batch/{id}`) and its printable release record
(`/batch/{id}/release-record`): the register row, every result with the
lab's text beside the canonical value, each rule's statistics against its
limit, the report's charts, the findings with their reviews, every
signature (marked when it no longer counts: the record it signed has
changed, 21 CFR 11.70) and the disposition. Reviewers and approvers get
the forms that sign decisions; the forms post to kqc.console.decisions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kqc.console.access import Viewer, guarded
from kqc.console.charts import Chart, batch_charts
from kqc.core.rules.applicable import thresholds_from_rows
from kqc.core.rules.statistics import statistic_rows
from kqc.errors import UsageError
from kqc.store.console_queries import BatchRecord, batch_record
from kqc.store.dispositions import DECISIONS as DISPOSITIONS
from kqc.store.dossier import read_dossier_rows
from kqc.store.signatures import MEANINGS

Rows = list[dict[str, Any]]
_REGISTER_HIDDEN = ("batch_id", "source_sha256", "updated_at")


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    register: dict[str, Any] | None
    status: str
    open_flags: int
    results: Rows
    statistics: Rows
    flags: Rows
    record: BatchRecord
    charts: list[Chart]

    @property
    def register_fields(self) -> list[tuple[str, Any]]:
        shown = (self.register or {}).items()
        return [(k, v) for k, v in shown if k not in _REGISTER_HIDDEN and v is not None]

    @property
    def disposition(self) -> dict[str, Any] | None:
        return self.record.dispositions[-1] if self.record.dispositions else None

    def reviews_of(self, flag_id: str) -> Rows:
        return [r for r in self.record.reviews if r["flag_id"] == flag_id]


def read_batch(db: Path, batch_id: str, *, charts: bool = True) -> BatchView:
    """Everything the batch page shows (UsageError for an unknown batch)."""
    stored = read_dossier_rows(db, batch_id)
    statistics = statistic_rows(
        batch_id,
        stored.current,
        stored.register,
        thresholds_from_rows(stored.thresholds),
        stored.history,
    )
    record = batch_record(db, batch_id, charts=charts)
    drawn = batch_charts(record.charts, batch_id, stored.flags) if record.charts else []
    return BatchView(
        batch_id=batch_id,
        register=stored.register,
        status=stored.status or "PASS",
        open_flags=stored.open_flags,
        results=stored.results,
        statistics=statistics,
        flags=stored.flags,
        record=record,
        charts=drawn,
    )


async def _read(viewer: Viewer, batch_id: str, *, charts: bool) -> BatchView | Response:
    try:
        return await viewer.console.call(
            read_batch, viewer.console.where.db, batch_id, charts=charts
        )
    except UsageError as unknown:
        return viewer.page("not_found.html", 404, message=str(unknown))


@guarded()
async def batch_page(request: Request, viewer: Viewer) -> Response:
    found = await _read(viewer, request.path_params["batch_id"], charts=True)
    if isinstance(found, Response):
        return found
    return viewer.page(
        "batch.html",
        batch=found,
        meanings=MEANINGS,
        dispositions=DISPOSITIONS,
    )


@guarded()
async def release_record(request: Request, viewer: Viewer) -> Response:
    """One page to print and file: product, batch, every result against its
    limit, the findings and their reviews, the disposition and every
    signature's manifest (21 CFR 11.50: printed name, date and time,
    meaning)."""
    found = await _read(viewer, request.path_params["batch_id"], charts=False)
    if isinstance(found, Response):
        return found
    return viewer.page("release_record.html", batch=found)
