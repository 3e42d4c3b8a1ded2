"""Soak: `kqc watch` fed a steady stream of files, some of them bad.

Drops --files files into the inbox, evenly over --minutes (a seeded share of
them bad: an unknown analyte, bytes that are no table, an empty file, a
missing column), waits for the watch to take them all, stops it with SIGINT,
and reports throughput, drop-to-flag latency (drop time to the first flag on
the file's batch in the database; to its source_files row when the file
raised no flag or was rejected), the watch process's memory at start and end,
and the reconciliation: every dropped file archived or quarantined, or listed
as still in the inbox.

Run:  python bench/soak_watch.py                      # 2,000 files, 10 minutes
      python bench/soak_watch.py --files 50 --minutes 1
Writes bench/results/soak_watch.md (or --out) and prints it.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
KQC = [sys.executable, "-m", "kqc"]
HEADER = "Lab,Batch,Sample,Analyte,Result,Unit\n"


def good_file(i: int, rng: random.Random) -> bytes:
    batch = f"SOAK{i:05d}"
    rows = [
        f"Acme,{batch},S{i},Mitragynine,{rng.uniform(0.8, 2.0):.2f},%",
        f"Acme,{batch},S{i},7-OH,{rng.choice(['<LOQ', '0.01', '0.03'])},%",
        f"Acme,{batch},S{i},Lead,{rng.randint(50, 900)},ppb",
        f"Acme,{batch},S{i},Cadmium,{rng.randint(10, 400)},ppb",
    ]
    return (HEADER + "\n".join(rows) + "\n").encode()


BAD_KINDS = ("unknown analyte", "not a table", "empty", "missing column")


def bad_file(i: int, kind: str, rng: random.Random) -> bytes:
    if kind == "unknown analyte":
        return (HEADER + f"Acme,BAD{i},S{i},Mitragynin,1.4,%\n").encode()
    if kind == "not a table":
        return bytes(rng.randrange(256) for _ in range(512))
    if kind == "empty":
        return b""
    return f"Lab,Batch,Sample,Result\nAcme,BAD{i},S{i},1.4\n".encode()


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (the local Prefect server, flow-run processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class Watch:
    def __init__(self, home: Path, interval: float, settle: float) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KQC_")}
        env.pop("PREFECT_API_URL", None)
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        self.lines: list[tuple[float, str]] = []
        self.err = (home / "watch.err").open("w")
        self.started = time.time()
        self.proc = subprocess.Popen(
            [*KQC, "watch", "--db", str(home / "kqc.duckdb"), *self.timing(interval, settle)],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @staticmethod
    def timing(interval: float, settle: float) -> list[str]:
        return ["--interval", str(interval), "--settle", str(settle)]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def wait_serving(self, timeout: float = 300) -> float:
        deadline = time.time() + timeout
        # "kqc watch: serving" (the warm service); an older kqc served a
        # Prefect deployment and said so.
        while not any(
            line == "kqc watch: serving" or "serving the Prefect deployment" in line
            for _, line in self.lines
        ):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("kqc watch did not start:\n" + self.text())
            time.sleep(0.1)
        return time.time() - self.started

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {
        p.name
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".errors.csv")
    }


def soak(args: argparse.Namespace) -> str:
    home = Path(args.dir).absolute()
    if home.exists():
        subprocess.run(["rm", "-rf", str(home)], check=True)
    (home / "inbox").mkdir(parents=True)
    rng = random.Random(args.seed)
    load_start = os.getloadavg()
    watch = Watch(home, args.interval, args.settle)
    startup = watch.wait_serving()
    time.sleep(2)
    rss_start = rss_kb(watch.proc.pid)
    rss_tree_start = sum(rss_kb(p) for p in tree(watch.proc.pid))

    dropped: dict[str, float] = {}
    bad: dict[str, str] = {}
    gap = args.minutes * 60 / args.files
    t0 = time.time()
    samples: list[tuple[float, int, int]] = []
    sampling = threading.Event()

    def sample() -> None:
        # Memory every few seconds, about 20 points over the feed.
        every = max(5.0, min(60.0, args.minutes * 60 / 20))
        while not sampling.wait(every):
            pids = tree(watch.proc.pid)
            samples.append((time.time() - t0, rss_kb(watch.proc.pid), sum(rss_kb(p) for p in pids)))

    threading.Thread(target=sample, daemon=True).start()
    for i in range(args.files):
        due = t0 + i * gap
        if (pause := due - time.time()) > 0:
            time.sleep(pause)
        name = f"soak_{i:05d}.csv"
        if rng.random() < args.bad_share:
            kind = rng.choice(BAD_KINDS)
            data = bad_file(i, kind, rng)
            bad[name] = kind
        else:
            data = good_file(i, rng)
        (home / "inbox" / name).write_bytes(data)
        dropped[name] = time.time()
        if i % max(1, args.files // 40) == 0:
            pids = tree(watch.proc.pid)
            samples.append((time.time() - t0, rss_kb(watch.proc.pid), sum(rss_kb(p) for p in pids)))
    fed = time.time() - t0
    deadline = time.time() + args.drain_minutes * 60
    while _files(home / "inbox") and time.time() < deadline:
        time.sleep(1)
    # The last scan's evaluation and snapshot come after its files moved.
    last_name = max(dropped, key=dropped.__getitem__)
    while time.time() < deadline and not any(last_name in line for _, line in watch.lines):
        time.sleep(0.5)
    drained = time.time() - t0
    sampling.set()
    rss_end = rss_kb(watch.proc.pid)
    rss_tree_end = sum(rss_kb(p) for p in tree(watch.proc.pid))
    watch.proc.send_signal(signal.SIGINT)
    stop_note = "SIGINT"
    try:
        code = watch.proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        stop_note = "SIGINT ignored for 120 s, then SIGTERM"
        watch.proc.terminate()
        code = watch.proc.wait(timeout=120)
    watch.reader.join(timeout=10)
    watch.err.close()
    load_end = os.getloadavg()
    stderr = (home / "watch.err").read_text()
    # The soak's target: memory after the run against memory after its first
    # minute (the first sample taken a minute or more into the feed).
    first_minute = next(((a, b) for t, a, b in samples if t >= 60), None)
    text = watch.text()

    archived, quarantined, waiting = (
        _files(home / "archive"),
        _files(home / "quarantine"),
        _files(home / "inbox"),
    )
    with duckdb.connect(str(home / "kqc.duckdb"), read_only=True) as con:
        filed = dict(
            con.execute(
                "SELECT file_name, epoch(min(received_at)) FROM source_files GROUP BY file_name"
            ).fetchall()
        )
        flagged = dict(
            con.execute(
                "SELECT f.file_name, epoch(min(fl.created_at)) FROM source_files f"
                " JOIN results r ON r.source_sha256 = f.sha256"
                " JOIN flags fl ON fl.batch_id = r.batch_id GROUP BY f.file_name"
            ).fetchall()
        )
        stored_rows = con.execute("SELECT count(*) FROM results").fetchone()
        ingested = con.execute(
            "SELECT count(DISTINCT file_name) FROM source_files WHERE status = 'ingested'"
        ).fetchone()
    latencies = [
        max(0.0, float(flagged.get(n) or filed[n]) - t) for n, t in dropped.items() if n in filed
    ]
    to_flag = [float(flagged[n]) - dropped[n] for n in dropped if n in flagged]
    per_min = len(archived | quarantined) / (drained / 60)
    lines_per_file = sum(1 for line in text.splitlines() if line.split(" ", 1)[-1][:5] == "soak_")
    balanced = len(dropped) == len(archived) + len(quarantined) + len(waiting)
    rejected_ok = set(bad) == quarantined
    kinds = ", ".join(f"{list(bad.values()).count(kind)} {kind}" for kind in BAD_KINDS)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = [
        "# Soak: `kqc watch` fed a stream of files",
        "",
        f"Run {now} on {os.cpu_count()} cores (load average {load_start[0]:.2f} at the start,"
        f" {load_end[0]:.2f} at the end), with `python bench/soak_watch.py --files {args.files}"
        f" --minutes {args.minutes:g} --seed {args.seed}` (interval {args.interval:g} s,"
        f" settle {args.settle:g} s, {args.bad_share:.0%} bad files).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| files dropped | {len(dropped)} over {fed / 60:.1f} min ({len(bad)} bad: {kinds}) |",
        f"| watch start (local Prefect server up, deployment served) | {startup:.1f} s |",
        f"| all files filed after | {drained / 60:.1f} min from the first drop |",
        f"| throughput | {per_min:.0f} files/min (filed files over the time to file them all) |",
        f"| drop-to-flag latency, median | {statistics.median(latencies):.1f} s |",
        f"| drop-to-flag latency, 95th percentile | {_percentile(latencies, 0.95):.1f} s |",
        f"| latency, files whose batch was flagged ({len(to_flag)}): median / p95 |"
        f" {statistics.median(to_flag) if to_flag else 0:.1f} s /"
        f" {_percentile(to_flag, 0.95) if to_flag else 0:.1f} s |",
        f"| watch process memory (RSS) at start / end | {rss_start / 1024:.0f} MB /"
        f" {rss_end / 1024:.0f} MB |",
        f"| with its Prefect server and flow-run process, at start / end |"
        f" {rss_tree_start / 1024:.0f} MB / {rss_tree_end / 1024:.0f} MB |",
        *(
            [
                f"| RSS after the first minute → at the end: watch | {first_minute[0] / 1024:.0f}"
                f" → {rss_end / 1024:.0f} MB ({rss_end / first_minute[0]:.2f}×) |",
                f"| RSS after the first minute → at the end: with its Prefect server |"
                f" {first_minute[1] / 1024:.0f} → {rss_tree_end / 1024:.0f} MB"
                f" ({rss_tree_end / first_minute[1]:.2f}×) |",
            ]
            if first_minute
            else []
        ),
        f"| results stored | {stored_rows[0] if stored_rows else 0} rows from"
        f" {ingested[0] if ingested else 0} files |",
        f"| lines printed for files | {lines_per_file} |",
        f"| stop ({stop_note}) | exit {code}, last line `{text.splitlines()[-1] if text else ''}`,"
        f" traceback: {'yes' if 'Traceback' in text + stderr else 'none'} |",
        "",
        "## Reconciliation",
        "",
        f"dropped {len(dropped)} = archived {len(archived)} + quarantined {len(quarantined)}"
        f" + still in the inbox {len(waiting)}: {'balanced' if balanced else 'NOT BALANCED'}.",
        f"Quarantined files are exactly the bad ones: {'yes' if rejected_ok else 'no'}.",
    ]
    if waiting:
        report.append(f"Still in the inbox: {', '.join(sorted(waiting))}.")
    report += [
        "",
        "## Memory over the run",
        "",
        "| minutes after the first drop | watch RSS (MB) | with server and flow run (MB) |",
        "|---|---|---|",
        *(f"| {t / 60:.1f} | {a / 1024:.0f} | {b / 1024:.0f} |" for t, a, b in samples),
        "",
        "Latency counts from the moment a file was written whole into the inbox to the",
        "first flag on its batch in the database (`flags.created_at`), or to its",
        "`source_files` row (`received_at`) when the batch raised no flag or the file",
        "was rejected. It includes the settle time, the wait for the next scan and the",
        "scan's flow-run start.",
    ]
    return "\n".join(report) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--bad-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--settle", type=float, default=1)
    parser.add_argument("--drain-minutes", type=float, default=15)
    parser.add_argument("--dir", default=str(HERE / "out" / "soak_watch"))
    parser.add_argument("--out", default=str(HERE / "results" / "soak_watch.md"))
    args = parser.parse_args()
    report = soak(args)
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
