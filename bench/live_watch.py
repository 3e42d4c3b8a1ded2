"""The live watch, side by side with a baseline kqc in one run.

For each side (this checkout's `kqc`, and `--baseline PATH/TO/kqc`, e.g. an
install of an earlier commit), in a fresh folder:

- start: from launching `kqc watch` until it takes a first file;
- latency: one small file a second, on the clock, for --minutes (drops do
  not wait for the watch: a watch that falls behind builds a backlog); for
  each, the time from its drop until its flag is visible in the published
  snapshot (kqc.snapshot.duckdb, opened read-only as a regulator would, by a
  poller every 50 ms); p50, p95;
- burst: --burst files dropped at once, drained (every one's batch visible in
  the snapshot), against one `kqc ingest` of the same files (a cold run);
- memory: the watch process's RSS (with its children) after the first minute
  and at the end;
- one-shot: `kqc ingest` of one 30-row file with the watch serving the
  database (handed to it, this side only) and cold (no watch).

Run:  python bench/live_watch.py --baseline /tmp/base-venv/bin/kqc
      python bench/live_watch.py --minutes 1 --burst 100       # a quick look
      python bench/live_watch.py --latency-only --baseline ... # latency and memory only
Writes bench/results/live_watch.md (or --out) and prints it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
HEADER = "Lab,Batch,Sample,Analyte,Result,Unit\n"


def flagged_file(batch: str, rows: int = 2) -> bytes:
    """A file whose batch raises a flag: lead far over every limit."""
    lines = [f"Acme,{batch},S1,Lead,90000,ppb", f"Acme,{batch},S1,Mitragynine,1.5,%"]
    lines += [f"Acme,{batch},S{i},Mitragynine,1.{i % 9},%" for i in range(2, rows)]
    return (HEADER + "\n".join(lines[:rows]) + "\n").encode()


def _rss_kb(pid: int) -> int:
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        pids += [int(c) for c in children]
    return total


class Snapshot:
    """The flagged batches and stored batches a regulator sees now."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def batches(self) -> tuple[set[str], set[str]]:
        try:
            with duckdb.connect(str(self.path), read_only=True) as con:
                flagged = {
                    r[0] for r in con.execute("SELECT DISTINCT batch_id FROM flags").fetchall()
                }
                stored = {
                    r[0] for r in con.execute("SELECT DISTINCT batch_id FROM results").fetchall()
                }
            return flagged, stored
        except (duckdb.Error, OSError):
            return set(), set()


@dataclass
class Side:
    name: str
    kqc: list[str]
    figures: dict[str, str] = field(default_factory=dict)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KQC_", "PREFECT_API_URL"))}
    env["PREFECT_HOME"] = str(home / "prefect-home")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def _watch(side: Side, home: Path) -> subprocess.Popen[str]:
    command = [*side.kqc, "watch", "--db", str(home / "kqc.duckdb"), "--settle", "0.3"]
    command += ["--interval", "5"]
    log = (home / "watch.out").open("w")
    return subprocess.Popen(
        command, cwd=home, env=_env(home), stdout=log, stderr=subprocess.STDOUT, text=True
    )


def drop(inbox: Path, name: str, data: bytes) -> None:
    """Drop a file whole: written aside, then renamed into the inbox."""
    tmp = inbox / f".{name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, inbox / name)


def _wait(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def run_side(side: Side, work: Path, minutes: float, burst: int, latency_only: bool) -> None:
    home = work / side.name
    shutil.rmtree(home, ignore_errors=True)
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    snapshot = Snapshot(home / "kqc.snapshot.duckdb")
    started = time.monotonic()
    watch = _watch(side, home)
    try:
        drop(inbox, "first.csv", flagged_file("FIRST"))
        _wait(lambda: "FIRST" in snapshot.batches()[0], 300)
        side.figures["start until a first file is visible"] = f"{time.monotonic() - started:.1f} s"
        # One file a second, on the clock, whatever the watch does; a poller
        # notes when each file's flag first shows in the snapshot.
        dropped_at: dict[str, float] = {}
        seen_at: dict[str, float] = {}
        done_dropping = threading.Event()

        def poll() -> None:
            while True:
                finished = done_dropping.is_set()
                flagged = snapshot.batches()[0]
                now = time.monotonic()
                for batch in flagged & dropped_at.keys() - seen_at.keys():
                    seen_at[batch] = now
                if finished and seen_at.keys() >= dropped_at.keys():
                    return
                if finished and now > last_drop + 120:
                    return
                time.sleep(0.05)

        last_drop = time.monotonic()
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        rss_first = 0
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < minutes * 60:
            due = began + n
            time.sleep(max(0.0, due - time.monotonic()))
            n += 1
            batch = f"LIVE{n:05d}"
            dropped_at[batch] = time.monotonic()
            drop(inbox, f"live_{n:05d}.csv", flagged_file(batch))
            last_drop = time.monotonic()
            if not rss_first and time.monotonic() - began >= 60:
                rss_first = _rss_kb(watch.pid)
        done_dropping.set()
        poller.join()
        rss_end = _rss_kb(watch.pid)
        latencies = [seen_at.get(b, float("inf")) - t for b, t in dropped_at.items()]
        ordered = sorted(latencies)
        side.figures["drop → flag in snapshot, p50"] = f"{statistics.median(ordered):.2f} s"
        side.figures["drop → flag in snapshot, p95"] = (
            f"{ordered[int(0.95 * (len(ordered) - 1))]:.2f} s"
        )
        side.figures["files dropped (1 per second, on the clock)"] = str(len(latencies))
        side.figures["files whose flag never showed (within 120 s of the last drop)"] = str(
            sum(1 for x in latencies if x == float("inf"))
        )
        if rss_first:
            side.figures["RSS after 1 min → end"] = (
                f"{rss_first / 1024:.0f} → {rss_end / 1024:.0f} MB ({rss_end / rss_first:.2f}×)"
            )
        if latency_only:
            return
        names = [f"burst_{i:05d}.csv" for i in range(burst)]
        staging = home / "staging"
        staging.mkdir()
        for i, name in enumerate(names):
            (staging / name).write_bytes(flagged_file(f"BURST{i:05d}"))
        t0 = time.monotonic()
        for name in names:
            os.replace(staging / name, inbox / name)
        want = {f"BURST{i:05d}" for i in range(burst)}
        _wait(lambda: want <= snapshot.batches()[1], 1800)
        side.figures[f"burst of {burst} drained"] = f"{time.monotonic() - t0:.1f} s"
        one = home / "one-shot"
        one.mkdir()
        served = []
        for k in range(3):
            thirty = one / f"thirty{k}.csv"
            thirty.write_bytes(flagged_file(f"ONESHOT{k}", rows=30))
            t0 = time.monotonic()
            subprocess.run(
                [*side.kqc, "ingest", str(thirty), "--db", str(home / "kqc.duckdb")],
                cwd=home,
                env=_env(home),
                capture_output=True,
                timeout=600,
            )
            served.append(time.monotonic() - t0)
        side.figures["kqc ingest of 30 rows, watch serving (median of 3)"] = (
            f"{statistics.median(served):.2f} s"
        )
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            watch.wait(timeout=120)
        except subprocess.TimeoutExpired:
            watch.kill()
    if latency_only:
        return
    # Cold, no watch: the same burst in one kqc ingest, then one 30-row file.
    cold = work / f"{side.name}-cold"
    shutil.rmtree(cold, ignore_errors=True)
    (cold / "drop").mkdir(parents=True)
    for i in range(burst):
        (cold / "drop" / f"burst_{i:05d}.csv").write_bytes(flagged_file(f"BURST{i:05d}"))
    t0 = time.monotonic()
    subprocess.run(
        [*side.kqc, "ingest", str(cold / "drop"), "--db", str(cold / "kqc.duckdb")],
        cwd=cold,
        env=_env(home),
        capture_output=True,
        timeout=1800,
    )
    side.figures[f"kqc ingest of the {burst} (cold)"] = f"{time.monotonic() - t0:.1f} s"
    times = []
    for k in range(3):
        (cold / f"thirty{k}.csv").write_bytes(flagged_file(f"COLD{k}", rows=30))
        t0 = time.monotonic()
        subprocess.run(
            [*side.kqc, "ingest", str(cold / f"thirty{k}.csv"), "--db", str(cold / "kqc.duckdb")],
            cwd=cold,
            env=_env(home),
            capture_output=True,
            timeout=600,
        )
        times.append(time.monotonic() - t0)
    side.figures["kqc ingest of 30 rows, cold (median of 3)"] = f"{statistics.median(times):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="a baseline kqc executable")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument(
        "--latency-only", action="store_true", help="the drop-to-flag latency and memory only"
    )
    parser.add_argument("--dir", default=str(HERE / "out" / "live_watch"))
    parser.add_argument("--out", default=str(HERE / "results" / "live_watch.md"))
    args = parser.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    sides = [Side("this", [sys.executable, "-m", "kqc"])]
    if args.baseline:
        sides.append(Side("baseline", [args.baseline]))
    for side in sides:  # one after the other: side by side would share the two cores
        run_side(side, work, args.minutes, args.burst, args.latency_only)
    keys = list(dict.fromkeys(k for s in sides for k in s.figures))
    lines = [
        "# The live watch, side by side",
        "",
        f"`python bench/live_watch.py --minutes {args.minutes:g}"
        + (" --latency-only" if args.latency_only else f" --burst {args.burst}")
        + (" --baseline BASELINE`" if args.baseline else "`"),
        "",
        "| figure | " + " | ".join(s.name for s in sides) + " |",
        "|---|" + "---|" * len(sides),
    ]
    lines += [f"| {k} | " + " | ".join(s.figures.get(k, "—") for s in sides) + " |" for k in keys]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
