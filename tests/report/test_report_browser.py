"""The report in a real browser: every chart drew its marks inside its own
frame, hostile names stay text, and the page renders to a screenshot."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.report.browser import chromium, dump_dom, screenshot
from tests.report.conftest import HOSTILE_BATCH, HOSTILE_PRODUCT, kqc


class _Elements(HTMLParser):
    """Every start tag with its attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _elements(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(markup)
    return parser.tags


def _report(db: Path, out: Path) -> Path:
    done = kqc("report", "--db", str(db), "--out", str(out), cwd=out.parent)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def demo_dom(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    chromium()
    page = _report(demo_db, tmp_path_factory.mktemp("dom") / "report.html")
    return page.read_text(encoding="utf-8"), dump_dom(page)


def test_every_chart_drew_its_marks_inside_its_frame(demo_dom: tuple[str, str]) -> None:
    source, dom = demo_dom
    tags = _elements(dom)
    body = next(attrs for tag, attrs in tags if tag == "body")
    charts = [attrs for tag, attrs in tags if tag == "svg" and "chart" in (attrs["class"] or "")]
    # uniformity, contaminants per gram and per day, and one control chart per product
    assert len(charts) == 1 + 2 + 4
    assert body["data-charts"] == body["data-charts-drawn"] == str(len(charts))
    for attrs in charts:
        chart_id = attrs["id"]
        # what the browser measured equals every mark the HTML holds for that chart
        written = re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', source, re.S)
        assert written is not None
        marks = len(re.findall(r'class="mark[ "]', written.group(0)))
        assert int(attrs["data-marks-drawn"] or 0) == marks > 0, chart_id
    by_id = {a["id"]: a for a in charts}
    # limit lines: the label-claim band, each contaminant chart's limit, and the
    # control limits of the product with enough history (7 capsule lots)
    for chart_id in ("chart-uniformity", "chart-contaminants-per_g", "chart-control-0"):
        assert int(by_id[chart_id]["data-limits-drawn"] or 0) > 0, chart_id
    assert int(by_id["chart-uniformity"]["data-marks-drawn"] or 0) == 20  # 2 batches x 10 units
    assert "7 of 7 charts drawn." in dom


def test_hostile_names_stay_text_in_the_browser(hostile_db: Path, tmp_path: Path) -> None:
    chromium()
    page = _report(hostile_db, tmp_path / "report.html")
    dom = dump_dom(page)
    tags = _elements(dom)
    scripts = [a for t, a in tags if t == "script"]
    assert len(scripts) == 1  # the report's own measuring script, nothing injected
    assert not any(k.startswith("on") for _, attrs in tags for k in attrs)
    assert not any(t == "img" for t, _ in tags)
    # the names are there, as text, in tables and inside the SVG charts
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "alert(4)&lt;/script&gt; Capsules" in dom
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", dom)
    assert any("KR-X&lt;script&gt;" in t for t in svg_texts)
    assert 'data-charts-drawn="' in dom and "charts drawn." in dom
    assert HOSTILE_BATCH not in dom and HOSTILE_PRODUCT not in dom


def test_screenshot_of_the_report(demo_db: Path, tmp_path: Path) -> None:
    chromium()
    page = _report(demo_db, tmp_path / "report.html")
    png = tmp_path / "report.png"
    screenshot(page, png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 4200)
    assert len(data) > 100_000  # a blank page compresses to a few kB
