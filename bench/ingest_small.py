"""`kqc ingest` of one 30-row file: median wall time, and how much of it is
Prefect's own start-up (a bare flow that does nothing, in a fresh process).

Run:  .venv/bin/python bench/ingest_small.py [--runs 5]
Writes bench/results/ingest_small.md and prints the same table.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
BARE_FLOW = "from prefect import flow\n@flow\ndef nothing():\n    pass\nnothing()\n"
ENV = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def thirty_rows(path: Path) -> None:
    analytes = [
        ("Mitragynine", "1.42", "%"),
        ("7-OH", "<LOQ", "%"),
        ("Lead", "250", "ppb"),
        ("Nickel", "1.1", "ppm"),
        ("Salmonella", "Absent", "/25g"),
        ("Total aerobic count", "3.2E4", "CFU/g"),
    ]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"])
        for i in range(5):
            for name, value, unit in analytes:
                w.writerow(["Bench Lab", f"B-{i}", f"S-{i}", name, value, unit])


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")
    return elapsed


def kqc_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        thirty_rows(folder / "results.csv")
        kqc = Path(sys.executable).with_name("kqc")
        return timed([str(kqc), "ingest", "results.csv", "--db", "kqc.duckdb", "--json"], folder)


def bare_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return timed([sys.executable, "-c", BARE_FLOW], Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bare_run()  # warm-up: the first Prefect run on a machine migrates its own database
    kqc = [kqc_run() for _ in range(args.runs)]
    bare = [bare_run() for _ in range(args.runs)]
    k, b = statistics.median(kqc), statistics.median(bare)
    lines = [
        f"# kqc ingest of one 30-row file ({args.runs} runs each, medians)",
        "",
        "| measure | median s | runs (s) |",
        "| --- | --- | --- |",
        f"| `kqc ingest` one 30-row CSV, fresh database | {k:.2f} | "
        + ", ".join(f"{x:.2f}" for x in kqc)
        + " |",
        "| bare Prefect flow that does nothing (fresh process) | "
        f"{b:.2f} | " + ", ".join(f"{x:.2f}" for x in bare) + " |",
        f"| kqc's own work (difference) | {k - b:.2f} | |",
        "",
        f"Prefect's start-up is {b / k:.0%} of the ingest's wall time.",
        "",
        "Command: `.venv/bin/python bench/ingest_small.py --runs " + str(args.runs) + "`",
    ]
    out = HERE / "results" / "ingest_small.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
