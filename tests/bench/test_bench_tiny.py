"""The benchmark suite at a tiny size, so that it cannot rot: every benchmark
runs as real processes, every ingest is checked, and RESULTS names each one
with a figure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = ROOT / "bench" / "run_all.py"
BENCHMARKS = "abcdef"


def test_the_tiny_suite_runs_every_benchmark_and_reports_a_figure_for_each(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.tiny.md"
    done = subprocess.run(
        [
            sys.executable,
            str(RUN_ALL),
            "--size",
            "tiny",
            "--runs",
            "1",
            "--out",
            str(out),
            "--scratch",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    text = out.read_text(encoding="utf-8")
    assert "FAILED" not in text
    for key in BENCHMARKS:
        # the summary row: "| a | what | target | measured figure | verdict |"
        row = re.search(rf"^\| {key} \| [^|]+ \| [^|]+ \| ([^|]+) \|", text, re.MULTILINE)
        assert row is not None, f"benchmark {key} missing from:\n{text}"
        assert re.search(r"\d+\.\d+ s", row.group(1)), (
            f"benchmark {key} has no figure: {row.group(0)}"
        )
    assert "ingest" in text and "read_csv" in text


def test_a_tiny_run_never_overwrites_the_full_results() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(RUN_ALL),
            "--size",
            "tiny",
            "--out",
            str(ROOT / "bench" / "RESULTS.md"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "never overwrites bench/RESULTS.md" in done.stderr
