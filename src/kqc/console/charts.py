"""The batch page's charts: the report's own SVG charts (kqc.report), drawn
for this one batch, so the console and the report never disagree. The SVG
escapes every lab string it carries (kqc.report.svg.esc); it is inlined as
markup because it is built here, not taken from a lab."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from kqc.report import points
from kqc.report.charts import contaminant_chart, uniformity_chart
from kqc.store.console_queries import ChartFrames

_log = logging.getLogger(__name__)

_CONTAMINANT_BASES = (("per_g", "Contaminants per gram"), ("per_day", "Contaminants per day"))


@dataclass(frozen=True)
class Chart:
    heading: str
    svg: Markup


def batch_charts(frames: ChartFrames, batch_id: str, flags: list[dict[str, Any]]) -> list[Chart]:
    """Content uniformity and contaminants against their limits, where the
    batch has such results. A chart that cannot be drawn is left out (and
    logged): the page's tables carry the same figures."""
    try:
        flagged = [
            batch_id
            for f in flags
            if f["rule"] == "content_uniformity" and f["status"] in ("open", "confirmed")
        ]
        charts: list[Chart] = []
        units = points.uniformity(
            frames.results, frames.registers, frames.thresholds, [batch_id], flagged
        )
        if any(b.units for b in units):
            charts.append(Chart("Content uniformity", Markup(uniformity_chart(units))))
        found = points.contaminants(frames.results, frames.registers, frames.thresholds, [batch_id])
        for basis, heading in _CONTAMINANT_BASES:
            if any(p.basis == basis for p in found):
                charts.append(Chart(heading, Markup(contaminant_chart(found, basis))))
        return charts
    except Exception:  # a courtesy beside the tables: never the reason a page fails
        _log.exception("batch %s: charts not drawn", batch_id)
        return []
