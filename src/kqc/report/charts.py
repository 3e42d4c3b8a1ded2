"""The report's three charts as inline SVG: per-unit content against the
label-claim band, contaminants against their limits, and a control chart of
batch means per product. Data points carry class `mark`, limit and band lines
class `limit`, so a browser test can measure that they drew."""

from __future__ import annotations

from kqc.report.points import ControlChart, LimitPoint, UniformityBatch
from kqc.report.svg import (
    BAND,
    FAIL,
    GRID,
    INK,
    LIMIT,
    MUTED,
    PASS,
    UNSURE,
    Scale,
    above_marker,
    below_marker,
    dot,
    esc,
    fmt,
    frame,
    legend,
    line,
    padded,
    text,
    title,
    y_axis,
)

_LEFT, _TOP = 78, 50


def _spread(i: int, n: int, width: float) -> float:
    """Horizontal offset of the i-th of n dots in a column (no overlap, no randomness)."""
    if n <= 1:
        return 0.0
    return (i / (n - 1) - 0.5) * width


# --- content uniformity ------------------------------------------------------------


def uniformity_chart(batches: list[UniformityBatch]) -> str:
    drawn = [b for b in batches if b.units]
    col = 96
    width, height = max(760, _LEFT + col * len(drawn) + 190), 400
    right, bottom = width - 190, height - 92
    values = [u.percent for b in drawn for u in b.units]
    bands = [v for b in drawn for v in (b.l2_band or ())]
    labels = [v for b in drawn for v in b.label_band if v is not None]
    lo, hi = padded(min([*values, *bands, *labels, 100.0]), max([*values, *bands, *labels, 100.0]))
    y = Scale(lo, hi, bottom, _TOP)
    parts = [_y_grid(y, right, "mitragynine per unit, % of label claim")]
    for i, b in enumerate(drawn):
        x0 = _LEFT + i * col
        cx = x0 + col / 2
        if b.l2_band:
            low, high = b.l2_band
            parts.append(
                f'<rect class="limit band" x="{x0 + 8:.1f}" y="{y(high):.1f}" width="{col - 16}"'
                f' height="{max(y(low) - y(high), 1):.1f}" fill="{BAND}">'
                + title(f"{b.batch_id}: 0.75 M - 1.25 M = {low:.1f} - {high:.1f} % of claim")
                + "</rect>"
            )
        colour = FAIL if b.flagged else PASS
        for j, u in enumerate(b.units):
            outside = b.l2_band is not None and not (b.l2_band[0] <= u.percent <= b.l2_band[1])
            tip = (
                f"{b.batch_id} unit {u.unit_no or j + 1}: {u.percent:.1f} % of claim"
                f" ({u.mg:.3g} mg; reported {u.reported})"
                + (" — non-detect counted as LOQ/2" if u.censored else "")
            )
            px = cx + _spread(j, len(b.units), col - 36)
            parts.append(dot(px, y(u.percent), fill=colour, hollow=u.censored, tip=tip))
            if outside:
                parts.append(
                    f'<circle cx="{px:.1f}" cy="{y(u.percent):.1f}" r="7" fill="none"'
                    f' stroke="{FAIL}" stroke-width="1.5"/>'
                )
        parts.append(_batch_label(cx, bottom, b))
    parts.append(_label_band_lines(drawn, y, right))
    parts.append(
        legend(
            _LEFT,
            14,
            [
                (dot(0, 0, fill=PASS), "unit, batch without a CU flag"),
                (dot(0, 0, fill=FAIL), "unit, batch with a CU flag"),
                (dot(0, 0, fill=MUTED, hollow=True), "non-detect (LOQ/2)"),
                (f'<rect x="-5" y="-5" width="10" height="10" fill="{BAND}"/>', "0.75 M - 1.25 M"),
                (line(-6, 0, 6, 0, stroke=LIMIT, dash="5 3", width=1.5), "label-claim band"),
            ],
            width - 20,
        )
    )
    return frame(
        width,
        height,
        "Content uniformity: per-unit % of label claim",
        "".join(parts),
        "chart-uniformity",
    )


def _y_grid(y: Scale, right: float, label: str) -> str:
    return y_axis(y, _LEFT, right, label) + line(_LEFT, y.start, right, y.start, stroke=MUTED)


def _batch_label(cx: float, bottom: float, b: UniformityBatch) -> str:
    parts = [text(cx, bottom + 16, b.batch_id, anchor="middle", size=11, weight="bold")]
    if b.claim_mg_per_unit is not None:
        parts.append(
            text(
                cx,
                bottom + 30,
                f"claim {b.claim_mg_per_unit:g} mg/unit",
                anchor="middle",
                size=10,
                fill=MUTED,
            )
        )
    parts.append(text(cx, bottom + 43, f"n = {len(b.units)}", anchor="middle", size=10, fill=MUTED))
    if b.av is not None:
        fails = b.av_limit is not None and b.av["av"] > b.av_limit
        limit = f" (L1 {b.av_limit:g})" if b.av_limit is not None else ""
        parts.append(
            text(
                cx,
                bottom + 56,
                f"AV {b.av['av']:.1f}{limit}",
                anchor="middle",
                size=10,
                fill=FAIL if fails else MUTED,
                weight="bold" if fails else "normal",
            )
        )
    return "".join(parts)


def _label_band_lines(drawn: list[UniformityBatch], y: Scale, right: float) -> str:
    parts = [line(_LEFT, y(100), right, y(100), stroke=INK, width=1, dash="2 2")]
    parts.append(text(right + 6, y(100) + 4, "100 % = label claim", size=11))
    lows = {b.label_band[0] for b in drawn if b.label_band[0] is not None}
    highs = {b.label_band[1] for b in drawn if b.label_band[1] is not None}
    for v, name in [*((v, "lower") for v in lows), *((v, "upper") for v in highs)]:
        assert v is not None
        parts.append(
            line(_LEFT, y(v), right, y(v), stroke=LIMIT, width=1.5, dash="5 3", cls="limit")
        )
        parts.append(text(right + 6, y(v) + 4, f"{v:g} % label claim, {name}", size=11, fill=LIMIT))
    return "".join(parts)


# --- contaminants against limits ---------------------------------------------------


_BASIS_AXIS = {
    "per_g": "result per gram, % of its limit",
    "per_day": "daily exposure, % of its limit",
}
_CAP = 300.0  # % of limit: anything above is drawn at the top with its figure


def contaminant_chart(points: list[LimitPoint], basis: str) -> str:
    shown = [p for p in points if p.basis == basis]
    analytes = sorted({p.analyte for p in shown})
    col = 78
    width, height = max(760, _LEFT + col * len(analytes) + 150), 380
    right, bottom = width - 150, height - 60
    fractions = [100 * p.fraction for p in shown if p.fraction is not None]
    top = min(max([*fractions, 120.0]) * 1.08, _CAP)
    y = Scale(0.0, top, bottom, _TOP)
    parts = [_y_grid(y, right, _BASIS_AXIS.get(basis, basis))]
    for i, analyte in enumerate(analytes):
        cx = _LEFT + i * col + col / 2
        here = [p for p in shown if p.analyte == analyte]
        if i % 2:
            parts.append(
                f'<rect x="{cx - col / 2:.1f}" y="{_TOP}" width="{col}" height="{bottom - _TOP}"'
                f' fill="{GRID}" opacity="0.35"/>'
            )
        for j, p in enumerate(here):
            parts.append(_limit_mark(cx + _spread(j, len(here), col - 24), y, p, top))
        limits = sorted({f"{p.limit:g} {p.unit}" for p in here})
        parts.append(
            text(
                cx, bottom + 16, analyte.replace("_", " "), anchor="middle", size=11, weight="bold"
            )
        )
        shown_limit = limits[0] if len(limits) == 1 else f"{len(limits)} limits (by form)"
        parts.append(text(cx, bottom + 30, shown_limit, anchor="middle", size=10, fill=MUTED))
    parts.append(
        line(_LEFT, y(100), right, y(100), stroke=LIMIT, width=1.8, dash="6 3", cls="limit")
    )
    parts.append(text(right + 6, y(100) + 4, "limit (100 %)", size=11, fill=LIMIT, weight="bold"))
    parts.append(
        legend(
            _LEFT,
            14,
            [
                (dot(0, 0, fill=PASS), "within limit"),
                (dot(0, 0, fill=FAIL), "over limit"),
                (dot(0, 0, fill=UNSURE), "cannot judge"),
                (below_marker(0, 0, fill=MUTED), "non-detect: < its bound"),
                (above_marker(0, 0, fill=FAIL), f"above {_CAP:g} % or range"),
            ],
            width - 20,
        )
    )
    name = (
        "Contaminants " + ("per gram" if basis == "per_g" else "per day") + " against their limits"
    )
    return frame(width, height, name, "".join(parts), f"chart-contaminants-{basis}")


def _limit_mark(x: float, y: Scale, p: LimitPoint, top: float) -> str:
    colour = {"fail": FAIL, "pass": PASS}.get(p.verdict, UNSURE)
    amount = "" if p.observed is None else f"{fmt(p.observed, 4)} {p.unit}"
    share = "" if p.fraction is None else f" = {100 * p.fraction:.0f} % of the limit"
    tip = (
        f"{p.batch_id} · {p.analyte}: reported {p.reported}"
        + (f" → {'< ' if p.kind == 'below' else ''}{amount}{share}" if amount else "")
        + f"; limit {p.limit:g} {p.unit} ({p.source})"
        + (f" — {p.why}" if p.why else "")
    )
    if p.fraction is None:
        return above_marker(x, y(top), fill=colour, tip=tip) if p.kind == "above" else ""
    pct = 100 * p.fraction
    if p.kind == "below":
        mark = below_marker(x, y.clamp(pct), fill=UNSURE if p.verdict != "pass" else MUTED, tip=tip)
        return mark + text(x + 7, y.clamp(pct) + 3, "<", size=10, fill=MUTED)
    if pct > top or p.kind == "above":
        return above_marker(x, y.clamp(pct), fill=colour, tip=tip) + text(
            x + 7, y.clamp(pct) + 4, f"{pct:.0f} %", size=10, fill=colour
        )
    mark = dot(x, y(pct), fill=colour, tip=tip)
    if p.verdict == "fail":
        mark += text(x + 7, y(pct) - 6, p.batch_id, size=10, fill=FAIL)
    return mark


# --- control charts --------------------------------------------------------------


def control_chart(chart: ControlChart, index: int) -> str:
    pts = chart.points
    width, height = 760, 300
    right, bottom = width - 120, height - 78
    values = [p.mean for p in pts] + [v for p in pts for v in (p.low, p.high) if v is not None]
    lo, hi = padded(min(values), max(values))
    y = Scale(lo, hi, bottom, _TOP)
    step = (right - _LEFT) / max(len(pts), 1)
    xs = [_LEFT + step * (i + 0.5) for i in range(len(pts))]
    parts = [_y_grid(y, right, f"batch mean mitragynine, {chart.unit}")]
    for name, pick, colour, dash in (
        ("UCL", lambda p: p.high, LIMIT, "5 3"),
        ("mean", lambda p: p.centre, INK, "2 2"),
        ("LCL", lambda p: p.low, LIMIT, "5 3"),
    ):
        last = None
        for x, p in zip(xs, pts, strict=True):
            v = pick(p)
            if v is None:
                continue
            parts.append(
                line(
                    x - step / 2,
                    y(v),
                    x + step / 2,
                    y(v),
                    stroke=colour,
                    width=1.4,
                    dash=dash,
                    cls="limit",
                )
            )
            last = v
        if last is not None:
            parts.append(text(right + 6, y(last) + 4, f"{name} {last:.3g}", size=11, fill=colour))
    path = " ".join(f"{x:.1f},{y(p.mean):.1f}" for x, p in zip(xs, pts, strict=True))
    parts.append(f'<polyline points="{path}" fill="none" stroke="{MUTED}" stroke-width="1"/>')
    every = max(1, len(pts) // 20)
    for i, (x, p) in enumerate(zip(xs, pts, strict=True)):
        state = (
            "out of control" if p.out else "in control" if p.centre is not None else "not judged"
        )
        flag = "; open potency_drift flag" if p.flagged else ""
        tip = (
            f"{p.batch_id} made {p.made or '?'}: mean {p.mean:.4g} {chart.unit} (n {p.n}),"
            f" {state}{flag}"
        )
        colour = FAIL if p.out or p.flagged else PASS
        parts.append(
            dot(x, y(p.mean), fill=colour, hollow=p.centre is None, r=5 if p.out else 4, tip=tip)
        )
        if p.out or p.flagged:
            parts.append(
                text(
                    x, y(p.mean) - 9, p.batch_id, anchor="middle", size=10, fill=FAIL, weight="bold"
                )
            )
        if i % every == 0 or p.out:
            parts.append(
                text(x, bottom + 12, p.batch_id, anchor="end", size=10, fill=MUTED, rotate=-40)
            )
    parts.append(
        legend(
            _LEFT,
            14,
            [
                (dot(0, 0, fill=PASS), "batch mean"),
                (dot(0, 0, fill=FAIL), "out of control"),
                (dot(0, 0, fill=MUTED, hollow=True), "< 5 earlier batches: not judged"),
                (
                    line(-6, 0, 6, 0, stroke=LIMIT, dash="5 3", width=1.5),
                    f"mean ± {chart.k:g} SD of earlier",
                ),
            ],
            width - 20,
        )
    )
    label = f"Control chart: {chart.product_id}"
    return frame(width, height, label, "".join(parts), f"chart-control-{index}")


__all__ = ["contaminant_chart", "control_chart", "esc", "uniformity_chart"]
