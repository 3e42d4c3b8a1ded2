"""Small SVG pieces the charts share. Every text goes through `esc`: batch
ids, product names and reported text come from dropped files."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

FAIL = "#c62828"
PASS = "#2e7d32"
UNSURE = "#ef6c00"
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e3e8ee"
BAND = "#dbeafe"
LIMIT = "#b71c1c"


def esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


@dataclass(frozen=True)
class Scale:
    """A linear map from data to pixels."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, v: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.start + (v - self.lo) / span * (self.end - self.start)

    def clamp(self, v: float) -> float:
        return self(min(max(v, self.lo), self.hi))


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering lo..hi."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * step:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def padded(lo: float, hi: float, pad: float = 0.08) -> tuple[float, float]:
    if hi == lo:
        return lo - 1, hi + 1
    span = hi - lo
    return lo - span * pad, hi + span * pad


def text(
    x: float,
    y: float,
    body: object,
    *,
    anchor: str = "start",
    size: int = 12,
    fill: str = INK,
    weight: str = "normal",
    rotate: float | None = None,
    cls: str = "",
) -> str:
    turn = f' transform="rotate({rotate:g} {x:.1f} {y:.1f})"' if rotate is not None else ""
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
        f' fill="{fill}" font-weight="{weight}"{turn}{klass}>{esc(body)}</text>'
    )


def line(
    x1: float,
    y1: float,
    x2: float,
    y2: float,
    *,
    stroke: str = INK,
    width: float = 1,
    dash: str = "",
    cls: str = "",
) -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"'
        f' stroke-width="{width:g}"{extra}{klass}/>'
    )


def title(body: object) -> str:
    """A tooltip: the browser shows it on hover."""
    return f"<title>{esc(body)}</title>"


def y_axis(scale: Scale, left: float, right: float, label: str, digits: int = 3) -> str:
    """Grid lines with tick labels, and the axis name written upwards."""
    parts = []
    for v in ticks(min(scale.lo, scale.hi), max(scale.lo, scale.hi)):
        y = scale(v)
        parts.append(line(left, y, right, y, stroke=GRID))
        parts.append(text(left - 6, y + 4, fmt(v, digits), anchor="end", size=11, fill=MUTED))
    mid = (scale.start + scale.end) / 2
    parts.append(text(16, mid, label, anchor="middle", size=12, rotate=-90, weight="bold"))
    return "".join(parts)


def legend(x: float, y: float, items: list[tuple[str, str]], right: float = 740) -> str:
    """A row of (swatch svg at origin, label) pairs, wrapping onto a second row."""
    parts = []
    start = x
    for swatch, label in items:
        span = 24 + 6.2 * len(label)
        if x + span > right and x > start:
            x, y = start, y + 16
        # A swatch is not data: it must not count as a drawn mark.
        swatch = swatch.replace('class="mark', 'class="swatch')
        parts.append(f'<g transform="translate({x:.1f},{y:.1f})">{swatch}</g>')
        parts.append(text(x + 10, y + 4, label, size=11))
        x += span
    return "".join(parts)


def dot(x: float, y: float, *, fill: str, r: float = 4, hollow: bool = False, tip: str = "") -> str:
    paint = f'fill="white" stroke="{fill}" stroke-width="1.8"' if hollow else f'fill="{fill}"'
    return f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="{r:g}" {paint}>{title(tip)}</circle>'


def below_marker(x: float, y: float, *, fill: str, tip: str = "") -> str:
    """A non-detect: a hollow downward triangle at its bound, meaning 'at most this'."""
    pts = f"{x - 5:.1f},{y - 4:.1f} {x + 5:.1f},{y - 4:.1f} {x:.1f},{y + 5:.1f}"
    return (
        f'<polygon class="mark nd" points="{pts}" fill="white" stroke="{fill}"'
        f' stroke-width="1.6">{title(tip)}</polygon>'
    )


def above_marker(x: float, y: float, *, fill: str, tip: str = "") -> str:
    """Above the measuring range, or beyond the chart: an upward triangle."""
    pts = f"{x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f} {x:.1f},{y - 5:.1f}"
    return f'<polygon class="mark" points="{pts}" fill="{fill}">{title(tip)}</polygon>'


def frame(width: int, height: int, label: str, body: str, chart_id: str) -> str:
    return (
        f'<svg class="chart" id="{esc(chart_id)}" role="img" aria-label="{esc(label)}"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}">{body}</svg>'
    )
