"""`kqc report` on a database of 10,000,000 results (100,000 batches, 2,000
products): wall time of the command as a QA lead runs it (a fresh process),
and in-process the time to gather (DuckDB) and to render (HTML), with the size
of the page. Target: at most 5 s.

Run:  python bench/report_at_scale.py [--db FILE.duckdb] [--runs 5]
(default --db: bench/out/evaluate_at_scale_10000000_evaluated.duckdb)
Writes bench/results/report_at_scale.md and prints the same table.

The database is the one bench/evaluate_at_scale.py builds and evaluates
(cached under bench/out/); it is copied to a temporary folder first, so the
cached file is never opened by this script.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "bench" / "out" / "evaluate_at_scale_10000000_evaluated.duckdb"
RESULTS = ROOT / "bench" / "results" / "report_at_scale.md"


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.db.exists():
        sys.exit(f"no database at {args.db}: run bench/evaluate_at_scale.py first")

    from kqc.report import render
    from kqc.store.report_data import gather

    with tempfile.TemporaryDirectory(prefix="kqc-report-bench-") as tmp:
        db = Path(tmp) / "kqc.duckdb"
        shutil.copyfile(args.db, db)
        out = Path(tmp) / "report.html"
        command = [sys.executable, "-m", "kqc", "report", "--db", str(db), "--out", str(out)]
        wall = []
        for _ in range(args.runs):
            seconds, done = _timed(lambda: subprocess.run(command, capture_output=True, text=True))
            assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
            wall.append(seconds)
        gathers, renders = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            data = gather(db)
            gathered = time.perf_counter()
            render(data)
            gathers.append(gathered - start)
            renders.append(time.perf_counter() - gathered)
        import duckdb

        with duckdb.connect(str(db), read_only=True) as con:
            [(results, batches, products)] = con.execute(
                "SELECT (SELECT count(*) FROM results), (SELECT count(*) FROM batches),"
                " (SELECT count(DISTINCT product_id) FROM batches)"
            ).fetchall()
        size = out.stat().st_size

    def row(name: str, xs: list[float]) -> str:
        return f"| {name} | {statistics.median(xs):.2f} | {', '.join(f'{x:.2f}' for x in xs)} |"

    table = "\n".join(
        [
            f"# kqc report at scale ({args.runs} runs each, medians)",
            "",
            f"Database: {results:,} results, {batches:,} batches, {products:,} products.",
            "",
            "| measure | median s | runs (s) |",
            "| --- | --- | --- |",
            row("`kqc report --out` (fresh process, wall)", wall),
            row("gather (read-only DuckDB queries)", gathers),
            row("render (HTML + SVG)", renders),
            "",
            f"Page: {size / 1e6:.2f} MB. Target: at most 5 s.",
            "",
            f"Command: `python bench/report_at_scale.py --runs {args.runs}`",
            "",
        ]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
