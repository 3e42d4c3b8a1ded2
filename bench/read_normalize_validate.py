"""Rows per second through read + normalize + validate (no database, no
Prefect): a 1,000,000-row long CSV and a 50,000-row XLSX read whole, and
the streamed path (`prepare_path`, chunk by chunk) on 1,000,000 and
10,000,000 rows.

Run:  .venv/bin/python bench/read_normalize_validate.py [--runs 3] [--csv-rows N]
      [--xlsx-rows N] [--stream-rows N ...]
Writes bench/results/read_normalize_validate.md. Each run is a fresh process,
so peak memory (max RSS) is the run's own; CPU seconds (user + system, all
threads) are given beside wall seconds, since a shared machine stretches the
wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "out"

ONE_RUN = r"""
import json, resource, sys, time
from pathlib import Path
from kqc.core.normalize import normalize
from kqc.readers import read_bytes
from kqc.schemas.validate import validate
path = Path(sys.argv[1])
data = path.read_bytes()
usage = resource.getrusage(resource.RUSAGE_SELF)
c0 = usage.ru_utime + usage.ru_stime
t0 = time.perf_counter()
table = read_bytes(path.name, data)
t1 = time.perf_counter()
normalized = normalize(table)
t2 = time.perf_counter()
problems = validate(normalized.rows, normalized.kind, normalized.headers)
t3 = time.perf_counter()
assert not normalized.problems and not problems, (normalized.problems[:3], problems[:3])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"read": t1 - t0, "normalize": t2 - t1, "validate": t3 - t2,
                  "cpu": usage.ru_utime + usage.ru_stime - c0,
                  "rows": normalized.rows.height, "max_rss_mb": usage.ru_maxrss / 1024}))
"""

# The streamed path as the ingest runs it: chunks consumed one after another.
STREAMED_RUN = r"""
import json, resource, sys, time
from pathlib import Path
from kqc.pipeline.prepare import Streamed, prepare_path
path = Path(sys.argv[1])
usage = resource.getrusage(resource.RUSAGE_SELF)
c0 = usage.ru_utime + usage.ru_stime
t0 = time.perf_counter()
outcome = prepare_path(path.name, path)
assert isinstance(outcome, Streamed), outcome
chunks = 0
for rows in outcome.chunks:
    chunks += 1
seconds = time.perf_counter() - t0
assert not outcome.problems, outcome.problems[:3]
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"total": seconds, "cpu": usage.ru_utime + usage.ru_stime - c0,
                  "rows": outcome.rows, "chunks": chunks, "max_rss_mb": usage.ru_maxrss / 1024}))
"""


def ensure(kind: str, rows: int, name: str) -> Path:
    path = OUT / name
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        subprocess.run(
            [sys.executable, str(HERE / "generate.py"), kind, str(rows), str(path)], check=True
        )
    return path


def measure(path: Path, runs: int, script: str = ONE_RUN) -> dict[str, float]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)], check=True, capture_output=True, text=True
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    summary = {k: statistics.median(r[k] for r in results) for k in results[0]}
    if "read" in results[0]:
        summary["total"] = statistics.median(
            r["read"] + r["normalize"] + r["validate"] for r in results
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=50_000)
    parser.add_argument("--stream-rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    cases = [
        (
            f"long CSV, {args.csv_rows:,} rows",
            ensure("long-csv", args.csv_rows, f"long_{args.csv_rows}.csv"),
        ),
        (
            f"long XLSX, {args.xlsx_rows:,} rows",
            ensure("long-xlsx", args.xlsx_rows, f"long_{args.xlsx_rows}.xlsx"),
        ),
    ]
    lines = [
        f"# read + normalize + validate (medians of {args.runs} runs, one process each)",
        "",
        "## Read whole (`prepare`)",
        "",
        "| file | MB | read s | normalize s | validate s | total s | CPU s | rows/s"
        " | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, path in cases:
        m = measure(path, args.runs)
        lines.append(
            f"| {label} | {path.stat().st_size / 1e6:.1f} | {m['read']:.2f} | {m['normalize']:.2f}"
            f" | {m['validate']:.2f} | {m['total']:.2f} | {m['cpu']:.2f}"
            f" | {m['rows'] / m['total']:,.0f} | {m['max_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "## Streamed (`prepare_path`: scan, then read + normalize + validate chunk by chunk)",
        "",
        "| file | MB | chunks | total s | s per million rows | CPU s | rows/s | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rows in args.stream_rows:
        path = ensure("long-csv", rows, f"long_{rows}.csv")
        m = measure(path, args.runs, STREAMED_RUN)
        lines.append(
            f"| long CSV, {rows:,} rows | {path.stat().st_size / 1e6:.1f} | {m['chunks']:.0f}"
            f" | {m['total']:.2f} | {m['total'] / (m['rows'] / 1e6):.2f} | {m['cpu']:.2f}"
            f" | {m['rows'] / m['total']:,.0f} | {m['max_rss_mb']:.0f} |"
        )
    load = os.getloadavg()
    lines += [
        "",
        f"Load average (1, 5, 15 min) when the runs ended: {load[0]:.1f}, {load[1]:.1f},"
        f" {load[2]:.1f} on {os.cpu_count()} cores: above the core count, other work shared"
        " the machine and stretched the wall seconds; CPU seconds are less affected.",
        "",
        "Command: `.venv/bin/python bench/read_normalize_validate.py`",
    ]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "read_normalize_validate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
