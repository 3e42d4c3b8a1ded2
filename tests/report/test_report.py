"""The report's HTML without a browser: self-contained, the charts agree
with the rules' own figures, bounded with what it left out said, and the
`kqc report` command's exits."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from kqc.report import render
from kqc.store.report_data import Caps, gather
from tests.report.conftest import HOSTILE_BATCH, HOSTILE_PRODUCT, kqc


@pytest.fixture(scope="module")
def page(demo_db: Path) -> str:
    return render(gather(demo_db))


def test_self_contained_no_network(page: str) -> None:
    assert not re.search(r"\b(src|href|xlink:href|action)\s*=", page, re.I)
    assert "url(" not in page and "@import" not in page
    assert "<link" not in page and "<iframe" not in page
    assert page.count("<script>") == 1 and "<style>" in page


def test_open_flags_most_severe_first_with_their_evidence(page: str, demo_db: Path) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        flags = con.sql("SELECT flag_id, severity FROM flags WHERE status = 'open'").fetchall()
    table = page[page.index('id="flags"') : page.index('id="status"')]
    positions = {fid: table.index(fid) for fid, _ in flags}  # every open flag is listed
    rank = {"critical": 0, "major": 1, "minor": 2}
    ordered = [sev for _, sev in sorted(((positions[f], s) for f, s in flags))]
    assert ordered == sorted(ordered, key=rank.__getitem__)
    assert "Open flags <small>(23)</small>" in table
    # observed vs limit, unit, basis and source of KR-2611-C's lead per day
    assert re.search(
        r"KR-2611-C.*?heavy_metal.*?lead.*?5\.55.*?>5<.*?ug/day.*?per_day.*?USP", table, re.S
    )


def test_status_counts_match_the_database(page: str, demo_db: Path) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        counts = dict(con.sql("SELECT status, count(*) FROM batch_status GROUP BY 1").fetchall())
    for status, css in (("FAIL", "fail"), ("INCOMPLETE", "incomplete"), ("PASS", "pass")):
        assert f'<div class="card {css}"><div class="big">{counts[status]}</div>' in page
    section = page[page.index('id="status"') : page.index('id="uniformity"')]
    assert section.count('class="pill st-') == sum(counts.values()) == 14


def test_uniformity_chart_agrees_with_the_rule(page: str, demo_db: Path) -> None:
    chart = re.search(r'<svg class="chart" id="chart-uniformity".*?</svg>', page, re.S)
    assert chart is not None
    svg = chart.group(0)
    assert len(re.findall(r'<circle class="mark"', svg)) == 20  # 10 capsules x 2 batches
    with duckdb.connect(str(demo_db), read_only=True) as con:
        [(av,)] = con.execute(
            "SELECT observed FROM flags"
            " WHERE batch_id = 'KR-2611-C' AND rule = 'content_uniformity'"
        ).fetchall()
        [(value,)] = con.execute(
            "SELECT value FROM results WHERE batch_id = 'KR-2611-A' AND unit = 'mg/unit'"
            " ORDER BY result_id LIMIT 1"
        ).fetchall()
    assert f"AV {av:.1f} (L1 15)" in svg  # the flag's acceptance value, drawn under its batch
    assert f"{value / 7 * 100:.1f} % of claim" in svg  # mg per unit over the 7 mg claim
    # the band lines come from the thresholds in force
    assert "110 % label claim, upper" in svg and "90 % label claim, lower" in svg


def test_contaminants_non_detects_drawn_as_bounds_never_zero(page: str) -> None:
    chart = re.search(r'<svg class="chart" id="chart-contaminants-per_g".*?</svg>', page, re.S)
    assert chart is not None
    svg = chart.group(0)
    non_detects = re.findall(r'<polygon class="mark nd".*?<title>(.*?)</title>', svg)
    assert non_detects and all(" → &lt; " in t for t in non_detects)
    assert not re.search(r"→ 0 ", svg)
    # lead at KR-2611-C: 1.85 ug/g over 1.2 ug/g is 154 % of the limit, marked over
    assert re.search(r"KR-2611-C · lead: reported [^<]*→ 1\.85 ug/g = 154 % of the limit", svg)
    daily = re.search(r'<svg class="chart" id="chart-contaminants-per_day".*?</svg>', page, re.S)
    assert daily is not None and "KR-2611-C · lead" in daily.group(0)


def test_control_chart_marks_the_drifting_lot(page: str) -> None:
    chart = re.search(r'<svg class="chart" id="chart-control-0".*?</svg>', page, re.S)
    assert chart is not None
    svg = chart.group(0)
    out = re.findall(r"<title>([^<]*out of control[^<]*)</title>", svg)
    assert len(out) == 1 and out[0].startswith("KR-2611-G") and "potency_drift flag" in out[0]
    assert len(re.findall(r"not judged", svg)) >= 5  # the first five lots have no history
    assert "UCL" in svg and "LCL" in svg


def test_bounded_report_says_what_it_left_out(demo_db: Path) -> None:
    caps = Caps(flags=5, statuses=3, flagged_batches=1, recent_batches=1, recent_products=0)
    small = render(gather(demo_db, caps))
    assert "18 more open flags not shown" in small
    assert "11 more batches not shown" in small
    assert "Charted: 2 of 14 batches with contaminant results" in small
    assert "12 more batches not shown, 4 of them flagged" in small
    assert "3 more products not shown." in small


def test_hostile_names_are_escaped_everywhere(hostile_db: Path) -> None:
    page = render(gather(hostile_db))
    assert HOSTILE_BATCH not in page and HOSTILE_PRODUCT not in page
    assert "<script>alert" not in page and "<img" not in page
    escaped = "KR-X&lt;script&gt;alert(1)&lt;/script&gt;&quot;onmouseover=alert(2) x=&quot;"
    assert re.search(r"<text[^>]*>" + re.escape(escaped), page)  # SVG text
    assert re.search(r"<title>" + re.escape(escaped), page)  # SVG tooltip
    assert "&quot;onmouseover=alert(3) x=&quot;&lt;script&gt;alert(4)&lt;/script&gt;" in page


def test_cli_report_writes_the_file_and_exits_zero(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "qa.html"
    out.write_text("old")
    done = kqc("report", "--db", str(demo_db), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{out}: 23 open flags; 6 FAIL, 1 INCOMPLETE, 7 PASS"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa.html"]  # replaced, no temp left


def test_cli_report_needs_out(demo_db: Path, tmp_path: Path) -> None:
    done = kqc("report", "--db", str(demo_db), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "kqc: say where to write the report: kqc report --out FILE.html"


def test_cli_report_does_not_import_prefect(demo_db: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "kqc",
            "report",
            "--db",
            str(demo_db),
            "--out",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| kqc.report" in done.stderr
    assert "prefect" not in done.stderr
