"""A cold `kqc ingest` of one small results file, side by side with what
bounds it: the same command from a baseline install, a bare Prefect flow on
the embedded server (what Prefect costs any flow run started its own way),
Prefect's embedded server alone (launched, answering, stopped: no flow run
on it can start sooner), and a plain Polars + DuckDB script that reads the
file and inserts it (the floor of the work itself).

Cold means a fresh process, a fresh folder and a fresh database for every
run. Prefect's own database is not fresh: its first start in a new
PREFECT_HOME migrates it (tens of seconds, once per machine), so every run
shares one PREFECT_HOME made here and warmed once before the timing starts.
The cases run in turn, round after round, so a machine's drift reaches them
all alike; each row is the median of its runs, wall time and CPU time (user
+ system of the process and every child it waited for, the server included).

Run:  .venv/bin/python bench/ingest_cold.py [--runs 3] [--baseline PATH_TO_KQC]
Writes bench/results/ingest_cold.md and prints the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent
# 28 result rows: the nearest to thirty among the shipped cases.
RESULTS_FILE = REPO / "tests" / "cases" / "long" / "icpms_14_element_panel.csv"
BARE_FLOW = "from prefect import flow\n@flow\ndef one():\n    return 1\nassert one() == 1\n"
# Prefect's embedded server as a flow run starts it (SubprocessASGIServer's
# command), launched, waited for until it answers, and stopped: the part of
# any cold flow run no client-side work can shorten.
SERVER_ALONE = """
import os, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import importlib.util

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
prefect = Path(next(iter(importlib.util.find_spec("prefect").submodule_search_locations)))
server = subprocess.Popen(
    [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.parent), "--factory",
     "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
     "--log-level", "error", "--lifespan", "on"],
    env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
         "PREFECT__SERVER_FINAL": "1"},
)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
            break
    except OSError:
        time.sleep(0.02)
else:
    raise SystemExit("the server did not answer")
server.terminate()
server.wait()
"""
PLAIN = """
import sys
import duckdb
import polars as pl

frame = pl.read_csv(sys.argv[1])
with duckdb.connect("plain.duckdb") as db:
    db.execute("CREATE TABLE results AS SELECT * FROM frame")
    assert db.execute("SELECT count(*) FROM results").fetchone()[0] == frame.height
"""


@dataclass
class Case:
    """One measured command; `argv` is given the run's copy of the file."""

    name: str
    argv: Callable[[Path], list[str]]
    check: Callable[[str], None] = lambda _out: None
    is_baseline: bool = False
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _env(prefect_home: Path) -> dict[str, str]:
    """The caller's environment, less a lab's Prefect server or kqc database
    of its own, with the benchmark's Prefect home."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "KQC_DB")}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    return env


def _ingested(out: str) -> None:
    statuses = [json.loads(line)["status"] for line in out.splitlines() if line.strip()]
    if statuses != ["ingested"]:
        raise SystemExit(f"expected one file ingested, got {statuses}")


def _run(case: Case, env: dict[str, str], scratch: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run, in a fresh folder with a fresh copy."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    copy = folder / RESULTS_FILE.name
    shutil.copyfile(RESULTS_FILE, copy)
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(case.argv(copy), cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(
            f"{case.name}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    case.check(done.stdout)
    shutil.rmtree(folder, ignore_errors=True)
    return wall, cpu


def _cases(kqc: Path, baseline: Path | None) -> list[Case]:
    def ingest_with(program: Path) -> Callable[[Path], list[str]]:
        return lambda f: [str(program), "ingest", str(f), "--db", "kqc.duckdb", "--json"]

    cases = [Case("`kqc ingest` (this checkout)", ingest_with(kqc), _ingested)]
    if baseline is not None:
        cases.append(Case("`kqc ingest` (baseline)", ingest_with(baseline), _ingested, True))
    cases += [
        Case("bare Prefect flow, embedded server", lambda _f: [sys.executable, "-c", BARE_FLOW]),
        Case(
            "Prefect's embedded server alone: launched, answering, stopped",
            lambda _f: [sys.executable, "-c", SERVER_ALONE],
        ),
        Case("plain Polars + DuckDB script", lambda f: [sys.executable, "-c", PLAIN, str(f)]),
    ]
    return cases


def _table(cases: list[Case], runs: int, load: tuple[float, float]) -> list[str]:
    first = cases[0]
    baseline = next((c for c in cases if c.is_baseline), None)
    lines = [
        f"# Cold `kqc ingest` of one {_rows()}-row file ({runs} runs each, medians)",
        "",
        "| command | wall s | CPU s | wall of each run (s) |",
        "| --- | --- | --- | --- |",
    ]
    for c in cases:
        runs_text = ", ".join(f"{w:.2f}" for w in c.walls)
        lines.append(
            f"| {c.name} | {statistics.median(c.walls):.2f} | {statistics.median(c.cpus):.2f}"
            f" | {runs_text} |"
        )
    lines.append("")
    if baseline is not None:
        paired = [a / b for a, b in zip(first.walls, baseline.walls, strict=True)]
        cpu_paired = [a / b for a, b in zip(first.cpus, baseline.cpus, strict=True)]
        lines.append(
            f"This checkout against the baseline, run by run: wall {statistics.median(paired):.0%},"
            f" CPU {statistics.median(cpu_paired):.0%} (medians of the paired ratios)."
        )
    alone = next((c for c in cases if c.name.startswith("Prefect's embedded server alone")), None)
    if alone is not None:
        floor = statistics.median(alone.walls)
        above = ", ".join(
            f"{c.name} {statistics.median(c.walls) - floor:.2f} s"
            for c in cases
            if c.name.startswith("`kqc ingest`")
        )
        lines.append(f"Wall time above Prefect's embedded server alone: {above}.")
    lines += [
        f"Load average over the last minute: {load[0]:.1f} at the start, {load[1]:.1f} at"
        f" the end ({os.cpu_count()} cores); a busy machine stretches the wall times.",
        "",
        "Command: `.venv/bin/python bench/ingest_cold.py --runs "
        + str(runs)
        + (" --baseline PATH_TO_KQC" if baseline is not None else "")
        + "`",
    ]
    return lines


def _rows() -> int:
    with RESULTS_FILE.open() as f:
        return sum(1 for line in f if line.strip()) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kqc", type=Path, default=Path(sys.executable).with_name("kqc"))
    parser.add_argument("--baseline", type=Path, help="another install's kqc, to compare with")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ingest_cold.md")
    args = parser.parse_args()
    cases = _cases(args.kqc, args.baseline)
    with tempfile.TemporaryDirectory(prefix="kqc-cold-") as tmp:
        scratch = Path(tmp)
        env = _env(scratch / "prefect-home")
        # Prefect's database migrated once, and every command's files read
        # once, before anything is timed.
        for case in cases:
            _run(case, env, scratch)
        load_start = os.getloadavg()[0]
        for _ in range(args.runs):
            for case in cases:
                wall, cpu = _run(case, env, scratch)
                case.walls.append(wall)
                case.cpus.append(cpu)
        load_end = os.getloadavg()[0]
    lines = _table(cases, args.runs, (load_start, load_end))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
