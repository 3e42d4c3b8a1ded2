"""Every benchmark of issue 7, as real processes, in one command.

    python bench/run_all.py                      # full size, writes bench/RESULTS.md
    python bench/run_all.py --size tiny          # smoke test, writes bench/out/RESULTS.tiny.md
    python bench/run_all.py --only c,e --runs 5  # a subset (d and e build the big database)

Each figure is the wall time of a fresh process (the installed `kqc` beside
this interpreter), the median of --runs runs, with the peak memory of its whole
process tree (Prefect's server included): /proc is polled every 100 ms and the
RSS of the process and all its descendants summed. The baseline is DuckDB's own
`CREATE TABLE t AS SELECT * FROM read_csv('<file>')` into a fresh database file
(with `--baseline memory`, into memory: about 1.6x faster on the big file), in
a fresh Python process, measured in the same run and alternating with the kqc
runs, so both see the same machine; ratios are against that process's wall time
(the statement alone is shown beside it).

The old single-purpose scripts (ingest_small.py, queries_at_scale.py,
report_at_scale.py) measure parts of c and e in more detail (import profile,
gather vs render) and stay for that.

Data comes from bench/generate.py (seeded: the same bytes every time), cached
under bench/out/data-<hash of generate.py>/. Every ingest is checked: each
file must come back `ingested` in `kqc ingest --json` with the rows the
generator wrote, and the database must hold exactly those results. A failed
command (exit >= 2, a traceback) or a wrong count makes the exit status 2.
At full size a missed target makes it 1; at tiny size the targets are not
judged (they are for full size) and the exit status is 0 when everything ran.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (the seeded data generator beside this file)

# The targets of issue 7, in its words: key -> (what is measured, the target).
TARGETS: dict[str, tuple[str, str]] = {
    "a": (
        "`kqc ingest` of a 10,000,000-row long CSV, end to end with rules",
        "≤ 3× DuckDB `read_csv` of the same file; peak memory ≤ 3 GB",
    ),
    "b": ("1,000 files of 50 rows in one inbox", "≤ 30 s, and ≤ 3× one 50,000-row file"),
    "c": (
        "`kqc ingest` of one 30-row file",
        "≤ 1.5 s more than a bare Prefect flow that does nothing",
    ),
    "d": (
        "one small file into a 10,000,000-result database",
        "≤ 1.5× the same into an empty one",
    ),
    "e": (
        "`kqc flags`, `kqc batch`, `kqc report` on 10,000,000 results",
        "≤ 0.5 s, ≤ 0.5 s, ≤ 5 s",
    ),
    "f": ("wide CSV and wide XLSX ingest at moderate size (informative)", "none"),
}
LIMITS = {
    "a_ratio": 3.0,
    "a_peak_gb": 3.0,
    "b_wall_s": 30.0,
    "b_ratio": 3.0,
    "c_extra_s": 1.5,
    "d_ratio": 1.5,
    "e_flags_s": 0.5,
    "e_batch_s": 0.5,
    "e_report_s": 5.0,
}


@dataclass(frozen=True)
class Size:
    big_rows: int  # a, d, e
    many_files: int  # b
    many_rows: int
    small_rows: int  # c, d
    wide_csv_rows: int  # f (a wide row is one sample)
    wide_xlsx_rows: int
    runs: int


SIZES = {
    "full": Size(10_000_000, 1_000, 50, 30, 200_000, 50_000, runs=3),
    "tiny": Size(10_000, 20, 50, 30, 400, 100, runs=1),
}
# Batch numbers of each data set, far apart so that no two share a batch.
FIRST_BATCH = {
    "big": 0,
    "small": 5_000_000,
    "many": 6_000_000,
    "wide": 7_000_000,
    "xlsx": 8_000_000,
}
# Which data sets share a register database: the big file with the small file
# that d adds to it; the many files with the one file of the same results.
TEMPLATE_GROUPS = {"big": ("big", "small"), "many": ("many",), "wide": ("wide", "xlsx")}
# The register databases each benchmark starts from (c starts with none).
NEEDS = {"a": ("big",), "b": ("many",), "c": (), "d": ("big",), "e": ("big",), "f": ("wide",)}
BARE_FLOW = "from prefect import flow\n@flow\ndef nothing():\n    pass\nnothing()\n"
READ_CSV = (
    "import sys, time, duckdb\n"
    "con = duckdb.connect(sys.argv[2])\n"
    "con.execute('SET enable_progress_bar = false')\n"
    'path = sys.argv[1].replace("\'", "\'\'")\n'
    "start = time.perf_counter()\n"
    "con.execute(f\"CREATE TABLE t AS SELECT * FROM read_csv('{path}')\")\n"
    "print(time.perf_counter() - start)\n"
)


# --- running one process and watching its tree ----------------------------------------


# How often the process tree's memory is read: each read scans /proc (a few ms of
# CPU), so more often would take a noticeable share of a core from the process timed.
POLL_S = 0.1


class CommandFailed(Exception):
    """A benchmarked command crashed or stored something else than expected."""


@dataclass
class Run:
    wall: float
    cpu: float  # user + system s of the process and the children it waited for
    peak_rss: int  # bytes, the whole process tree at its largest
    code: int
    stdout: str
    stderr: str


def _tree_rss(root: int) -> int:
    """RSS of `root` and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
        except OSError:
            continue
    return total


def run(cmd: list[str], cwd: Path, *, ok_codes: tuple[int, ...] = (0,)) -> Run:
    """Run cmd as a fresh process; wall time, peak tree RSS, output. A crash
    (exit not in ok_codes, or a traceback on stderr) raises CommandFailed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=out, stderr=err)
        peak = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss(proc.pid))
                done.wait(POLL_S)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        done.set()
        watcher.join()
        out.seek(0)
        err.seek(0)
        result = Run(
            wall, cpu, peak[0], code, out.read().decode(), err.read().decode(errors="replace")
        )
    if code not in ok_codes or "Traceback (most recent call last)" in result.stderr:
        raise CommandFailed(
            f"`{' '.join(cmd)}` in {cwd} exited {code}:\n"
            f"{result.stderr[-3000:]}{result.stdout[-1000:]}"
        )
    return result


# The Prefect settings kqc gives itself (src/kqc/process/quiet.py), given to every
# process alike, so the bare flow of c starts Prefect the way kqc does: no
# analytics, no UI, and time for the embedded server to start on a busy machine.
ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("KQC_DB", "COLUMNS")},
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def kqc() -> list[str]:
    script = Path(sys.executable).with_name("kqc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kqc"]


def compile_kqc() -> None:
    """kqc's modules compiled to bytecode before anything is timed, as `pip
    install` compiles an installed package. An editable install leaves that
    to Python's first import, which a machine with PYTHONDONTWRITEBYTECODE
    set never does: every command would then compile kqc again (about 50 ms
    of a 0.5 s `kqc batch`)."""
    import compileall
    import importlib.util

    for name in ("kqc", "kqc.flows", "kqc.schemas"):
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=1)


# --- data -----------------------------------------------------------------------------


@dataclass
class Data:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)  # what kqc should store per data set
    batches: dict[str, tuple[int, int]] = field(default_factory=dict)
    csv_twin: dict[str, Path] = field(default_factory=dict)  # the CSV DuckDB reads as baseline


def make_data(size: Size, size_name: str) -> Data:
    """Generate (or reuse, when already generated by this generate.py) every input."""
    stamp = hashlib.sha256((HERE / "generate.py").read_bytes()).hexdigest()[:10]
    folder = OUT / f"data-{size_name}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    known = json.loads(manifest.read_text()) if manifest.exists() else {}

    def made(key: str, path: Path, write: Callable[[], generate.Written]) -> None:
        if key not in known or not path.exists():
            log(f"generating {path.name} ...")
            w = write()
            known[key] = [w.first_batch, w.batches, w.results]
            manifest.write_text(json.dumps(known))
        first, count, results = known[key]
        data.files[key] = path
        data.results[key] = results
        data.batches[key] = (first, count)

    data = Data(folder)
    big = folder / f"long_{size.big_rows}.csv"
    made("big", big, lambda: generate.write_one(big, size.big_rows, first_batch=FIRST_BATCH["big"]))
    small = folder / f"small_{size.small_rows}.csv"
    made(
        "small",
        small,
        lambda: generate.write_one(
            small, size.small_rows, first_batch=FIRST_BATCH["small"], rows_per_batch=size.small_rows
        ),
    )
    inbox = folder / f"many_{size.many_files}x{size.many_rows}"
    made(
        "many",
        inbox,
        lambda: generate.write_many(
            inbox, size.many_files, size.many_rows, first_batch=FIRST_BATCH["many"]
        ),
    )
    # The same results as the many small files, in one file.
    one_rows = size.many_files * size.many_rows
    one = folder / f"one_{one_rows}.csv"
    made(
        "one",
        one,
        lambda: generate.write_one(
            one, one_rows, first_batch=FIRST_BATCH["many"], rows_per_batch=size.many_rows
        ),
    )
    wide = folder / f"wide_{size.wide_csv_rows}.csv"
    made(
        "wide",
        wide,
        lambda: generate.write_one(
            wide, size.wide_csv_rows, layout="wide", first_batch=FIRST_BATCH["wide"]
        ),
    )
    xlsx = folder / f"wide_{size.wide_xlsx_rows}.xlsx"
    at = FIRST_BATCH["xlsx"]
    made(
        "xlsx",
        xlsx,
        lambda: generate.write_one(
            xlsx, size.wide_xlsx_rows, layout="wide", fmt="xlsx", first_batch=at
        ),
    )
    # The same rows as CSV: what DuckDB's read_csv reads as the XLSX's baseline.
    twin = folder / f"wide_{size.wide_xlsx_rows}.xlsx.csv"
    made(
        "xlsx_twin",
        twin,
        lambda: generate.write_one(twin, size.wide_xlsx_rows, layout="wide", first_batch=at),
    )
    data.csv_twin = {"big": big, "small": small, "one": one, "wide": wide, "xlsx": twin}
    return data


# --- databases ------------------------------------------------------------------------


def copy_db(source: Path, folder: Path) -> Path:
    """A fresh copy of a database (and its WAL, if one was left) in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "kqc.duckdb"
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    return target


def counts(db: Path) -> tuple[int, int]:
    """(results, registered batches) stored in db."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        [(results, batches)] = con.execute(
            "SELECT (SELECT count(*) FROM results), (SELECT count(*) FROM batches)"
        ).fetchall()
    return int(results), int(batches)


def checked_ingest(
    cmd: list[str], cwd: Path, db: Path, files: int, results: int, before: int
) -> Run:
    """Run `kqc ingest --json` and check every file was ingested whole."""
    done = run(cmd, cwd)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    bad = [x for x in lines if x.get("status") != "ingested"]
    stored = sum(int(x.get("rows", 0)) for x in lines)
    if len(lines) != files or bad or stored != results:
        raise CommandFailed(
            f"`{' '.join(cmd)}`: expected {files} files ingested with {results:,} results, got"
            f" {len(lines)} files ({len(bad)} not ingested, first: {bad[:1]}), {stored:,} rows"
        )
    in_db, _ = counts(db)
    if in_db != before + results:
        raise CommandFailed(
            f"`{' '.join(cmd)}`: the database holds {in_db:,} results,"
            f" expected {before + results:,}"
        )
    return done


def read_csv_baseline(csv: Path, scratch: Path, in_memory: bool) -> tuple[Run, float]:
    """DuckDB's read_csv of csv into a fresh database file (or an in-memory one):
    (process run, statement s)."""
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / "baseline.duckdb"
    target.unlink(missing_ok=True)
    where = ":memory:" if in_memory else str(target)
    done = run([sys.executable, "-c", READ_CSV, str(csv), where], scratch)
    target.unlink(missing_ok=True)
    return done, float(done.stdout.strip().splitlines()[-1])


# --- the suite ------------------------------------------------------------------------


@dataclass
class Measure:
    """One row of the results: medians of the runs of one command."""

    key: str
    name: str
    command: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    statements: list[float] = field(default_factory=list)  # baselines: the SQL statement alone

    def add(self, r: Run, statement: float | None = None) -> None:
        self.walls.append(r.wall)
        self.cpus.append(r.cpu)
        self.peaks.append(r.peak_rss)
        if statement is not None:
            self.statements.append(statement)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def peak(self) -> int:
        return max(self.peaks)


@dataclass
class Verdict:
    key: str
    figure: str
    target: str
    ok: bool | None  # None: informative, no target


class Suite:
    def __init__(
        self, size: Size, size_name: str, runs: int, reuse_db: bool, baseline_in_memory: bool
    ) -> None:
        self.size, self.size_name, self.runs, self.reuse_db = size, size_name, runs, reuse_db
        self.baseline_in_memory = baseline_in_memory
        self.scratch = OUT / f"runs-{size_name}"
        self.measures: dict[str, Measure] = {}
        self.verdicts: list[Verdict] = []
        self.notes: list[str] = []
        self.kqc = kqc()

    def measure(self, key: str, name: str, command: str) -> Measure:
        m = self.measures.setdefault(name, Measure(key, name, command))
        return m

    def fresh(self, name: str) -> Path:
        folder = self.scratch / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    # -- shared state: the register database and the big database --

    def prepare(self, wanted: list[str]) -> None:
        """Generate the data and store the registers the wanted benchmarks need,
        before anything is timed: the first Prefect run on a machine migrates
        Prefect's own database, and no timed run should pay for that."""
        self.data = make_data(self.size, self.size_name)
        compile_kqc()
        self.notes.append(
            "kqc's modules were compiled to bytecode before the first run, as `pip install`"
            " compiles an installed package."
        )
        self.templates: dict[str, Path] = {}
        self.registers: dict[str, int] = {}
        self.big_db: Path | None = None
        groups = {group for key in wanted for group in NEEDS[key]}
        for group in sorted(groups):
            self.template(group)
        if not groups:
            log("warming up Prefect ...")
            run([sys.executable, "-c", BARE_FLOW], self.fresh("warmup"))

    def template(self, group: str) -> Path:
        """A database holding only the register of a group's batches: every run of
        the group starts from a copy of it, so the rules have products, forms and
        label claims, and no registered batch lacks its results (which would
        flag it `missing_panel` and swell the flags of the big database)."""
        if group not in self.templates:
            keys = TEMPLATE_GROUPS[group]
            folder = self.fresh(f"template-{group}")
            ranges = [self.data.batches[k] for k in keys]
            rows = generate.write_register(folder / "register.csv", ranges)
            log(f"storing the register of {', '.join(keys)} ({rows:,} batches) ...")
            run([*self.kqc, "ingest", "register.csv", "--db", "kqc.duckdb", "--json"], folder)
            db = folder / "kqc.duckdb"
            if counts(db) != (0, rows):
                raise CommandFailed(f"the register was not stored whole: {counts(db)}")
            self.templates[group] = db
            self.registers[group] = rows
        return self.templates[group]

    def ingest_big(self, m: Measure | None) -> Run:
        """One timed ingest of the big file into a copy of the template."""
        folder = self.fresh("big")
        db = copy_db(self.template("big"), folder)
        shutil.copyfile(self.data.files["big"], folder / self.data.files["big"].name)
        cmd = [*self.kqc, "ingest", self.data.files["big"].name, "--db", "kqc.duckdb", "--json"]
        done = checked_ingest(cmd, folder, db, 1, self.data.results["big"], 0)
        if m is not None:
            m.add(done)
        if self.big_db is None:
            self.big_db = OUT / f"big-{self.size_name}.duckdb"
            shutil.copyfile(db, self.big_db)
        return done

    def need_big_db(self) -> Path:
        if self.big_db is None:
            cached = OUT / f"big-{self.size_name}.duckdb"
            if self.reuse_db and cached.exists() and counts(cached)[0] == self.data.results["big"]:
                log(f"reusing {cached.relative_to(ROOT)}")
                self.notes.append(
                    f"The {self.data.results['big']:,}-result database was reused from an earlier"
                    " run (`--reuse-db`), not built in this one."
                )
                self.big_db = cached
            else:
                log("building the big database (one ingest of the big file) ...")
                m = self.measure("a", "kqc_big", self._big_command())
                self.ingest_big(m)
                self.notes.append(
                    "The big database of d and e was built by one timed ingest of the big file,"
                    " counted as one run of a."
                )
        assert self.big_db is not None
        return self.big_db

    def _big_command(self) -> str:
        return f"kqc ingest {self.data.files['big'].name} --db kqc.duckdb --json"

    def baseline(self, key: str, data_key: str) -> Measure:
        csv = self.data.csv_twin[data_key]
        m = self.measure(
            key, f"duckdb_{data_key}", f"CREATE TABLE t AS SELECT * FROM read_csv('{csv.name}')"
        )
        done, statement = read_csv_baseline(csv, self.scratch / "baseline", self.baseline_in_memory)
        m.add(done, statement)
        return m

    # -- the benchmarks --

    def bench_a(self) -> None:
        m = self.measure("a", "kqc_big", self._big_command())
        for i in range(self.runs):
            log(f"a: run {i + 1}/{self.runs} ...")
            self.baseline("a", "big")
            self.ingest_big(m)
        base = self.measures["duckdb_big"]
        ratio = m.wall / base.wall
        peak_gb = m.peak / 1e9
        self.verdicts.append(
            Verdict(
                "a",
                f"{m.wall:.1f} s = {ratio:.2f}× read_csv ({base.wall:.1f} s);"
                f" peak {peak_gb:.2f} GB",
                TARGETS["a"][1],
                ratio <= LIMITS["a_ratio"] and peak_gb <= LIMITS["a_peak_gb"],
            )
        )

    def bench_b(self) -> None:
        many = self.measure(
            "b",
            "kqc_many",
            f"kqc ingest --db kqc.duckdb --json  (inbox/ holds {self.size.many_files:,} files)",
        )
        one_name = self.data.files["one"].name
        one = self.measure("b", "kqc_one", f"kqc ingest {one_name} --db kqc.duckdb --json")
        results = self.data.results["many"]
        for i in range(self.runs):
            log(f"b: run {i + 1}/{self.runs} ...")
            self.baseline("b", "one")
            folder = self.fresh("many")
            db = copy_db(self.template("many"), folder)
            shutil.copytree(self.data.files["many"], folder / "inbox")
            cmd = [*self.kqc, "ingest", "--db", "kqc.duckdb", "--json"]
            many.add(checked_ingest(cmd, folder, db, self.size.many_files, results, 0))
            self.ingest_one("one", self.template("many"), one, "one")
        base = self.measures["duckdb_one"]
        ratio = many.wall / one.wall
        self.verdicts.append(
            Verdict(
                "b",
                f"{many.wall:.1f} s for {self.size.many_files:,} files = {ratio:.2f}× one"
                f" {self.size.many_files * self.size.many_rows:,}-row file ({one.wall:.1f} s);"
                f" {many.wall / base.wall:.1f}× and {one.wall / base.wall:.1f}× read_csv"
                f" ({base.wall:.2f} s)",
                TARGETS["b"][1],
                many.wall <= LIMITS["b_wall_s"] and ratio <= LIMITS["b_ratio"],
            )
        )

    def ingest_one(
        self, key: str, source: Path | None, m: Measure, name: str, before: int = 0
    ) -> None:
        """One run of `kqc ingest` of data file `key` into a copy of `source`
        (None: no database yet), checked and added to `m`."""
        folder = self.fresh(name)
        db = copy_db(source, folder) if source is not None else folder / "kqc.duckdb"
        path = self.data.files[key]
        shutil.copyfile(path, folder / path.name)
        cmd = [*self.kqc, "ingest", path.name, "--db", "kqc.duckdb", "--json"]
        m.add(checked_ingest(cmd, folder, db, 1, self.data.results[key], before))

    def bench_c(self) -> None:
        small = self.data.files["small"].name
        k = self.measure(
            "c", "kqc_small_fresh", f"kqc ingest {small} --db kqc.duckdb --json  (no database yet)"
        )
        bare = self.measure("c", "bare_flow", "python -c '<a @flow that does nothing>'")
        for i in range(self.runs):
            log(f"c: run {i + 1}/{self.runs} ...")
            bare.add(run([sys.executable, "-c", BARE_FLOW], self.fresh("bare")))
            self.ingest_one("small", None, k, "small_fresh")
        extra = k.wall - bare.wall
        self.verdicts.append(
            Verdict(
                "c",
                f"{k.wall:.2f} s − {bare.wall:.2f} s bare flow = {extra:+.2f} s",
                TARGETS["c"][1],
                extra <= LIMITS["c_extra_s"],
            )
        )

    def bench_d(self) -> None:
        big = self.need_big_db()
        big_results = self.data.results["big"]
        small = self.data.files["small"].name
        empty = self.measure(
            "d", "kqc_small_empty", f"kqc ingest {small} --db kqc.duckdb --json  (register only)"
        )
        full = self.measure(
            "d",
            "kqc_small_big",
            f"kqc ingest {small} --db kqc.duckdb --json  ({big_results:,} results)",
        )
        for i in range(self.runs):
            log(f"d: run {i + 1}/{self.runs} ...")
            self.ingest_one("small", self.template("big"), empty, "small_empty")
            self.ingest_one("small", big, full, "small_big", before=big_results)
        ratio = full.wall / empty.wall
        self.verdicts.append(
            Verdict(
                "d",
                f"{full.wall:.2f} s vs {empty.wall:.2f} s = {ratio:.2f}×",
                TARGETS["d"][1],
                ratio <= LIMITS["d_ratio"],
            )
        )

    def bench_e(self) -> None:
        big = self.need_big_db()
        folder = self.fresh("queries")
        copy_db(big, folder)
        first, count = self.data.batches["big"]
        batch = generate.batch_id(first + count // 2)  # a batch in the middle of the table
        cases = {
            "kqc_flags": ["flags"],
            "kqc_batch": ["batch", batch],
            "kqc_report": ["report", "--out", "report.html"],
        }
        ms = {
            name: self.measure("e", name, "kqc " + " ".join(args) + " --db kqc.duckdb")
            for name, args in cases.items()
        }
        for args in cases.values():  # warm the page cache once, untimed
            run([*self.kqc, *args, "--db", "kqc.duckdb"], folder, ok_codes=(0, 1))
        for i in range(self.runs):
            log(f"e: run {i + 1}/{self.runs} ...")
            for name, args in cases.items():
                ms[name].add(run([*self.kqc, *args, "--db", "kqc.duckdb"], folder, ok_codes=(0, 1)))
        if not (folder / "report.html").stat().st_size:
            raise CommandFailed("kqc report wrote an empty page")
        f, b, r = (ms[n].wall for n in cases)
        self.verdicts.append(
            Verdict(
                "e",
                f"{f:.2f} s, {b:.2f} s, {r:.2f} s",
                TARGETS["e"][1],
                f <= LIMITS["e_flags_s"] and b <= LIMITS["e_batch_s"] and r <= LIMITS["e_report_s"],
            )
        )

    def bench_f(self) -> None:
        figures = []
        for key, label in (("wide", "wide CSV"), ("xlsx", "wide XLSX")):
            path = self.data.files[key]
            m = self.measure("f", f"kqc_{key}", f"kqc ingest {path.name} --db kqc.duckdb --json")
            for i in range(self.runs):
                log(f"f ({label}): run {i + 1}/{self.runs} ...")
                self.baseline("f", key)
                self.ingest_one(key, self.template("wide"), m, key)
            base = self.measures[f"duckdb_{key}"]
            figures.append(
                f"{label} {self._rows(key)}: {m.wall:.1f} s = {m.wall / base.wall:.1f}× read_csv"
                f" ({base.wall:.2f} s); peak {m.peak / 1e9:.2f} GB"
            )
        self.verdicts.append(Verdict("f", "; ".join(figures), TARGETS["f"][1], None))

    def _rows(self, key: str) -> str:
        rows = self.size.wide_csv_rows if key == "wide" else self.size.wide_xlsx_rows
        return f"({rows:,} rows, {self.data.results[key]:,} results)"


# --- the report -----------------------------------------------------------------------


def report(
    suite: Suite, command: str, started: datetime, seconds: float, failures: list[str]
) -> str:
    load = os.getloadavg()
    judged = suite.size_name == "full"
    lines = [
        f"# kqc benchmarks ({suite.size_name} size)",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (load average"
        f" {load[0]:.1f} at the end, the suite's own processes included), {suite.runs} run(s) per"
        f" figure, medians; the whole suite took {seconds / 60:.1f} min.",
        "",
        f"Reproduce: `{command}`",
        "",
    ]
    if not judged:
        lines += ["Tiny size: a smoke test of the harness; the targets are for full size.", ""]
    lines += ["| | benchmark | target | measured | verdict |", "| --- | --- | --- | --- | --- |"]
    for v in suite.verdicts:
        verdict = "info" if v.ok is None else ("PASS" if v.ok else "FAIL")
        if not judged and v.ok is not None:
            verdict = f"({verdict} at this size)"
        lines.append(f"| {v.key} | {TARGETS[v.key][0]} | {v.target} | {v.figure} | {verdict} |")
    for failure in failures:
        lines.append(f"| | **failed** | | {failure.splitlines()[0]} | FAILED |")
    lines += [
        "",
        "## Every command",
        "",
        "Wall: seconds of the whole process, from start to exit. Peak: the largest total RSS"
        " of the process tree. Baselines (`CREATE TABLE … read_csv` into "
        + ("memory" if suite.baseline_in_memory else "a fresh database file, as kqc writes one")
        + ") also give the statement alone. CPU: user + system seconds"
        " of the process and the children it reaped, a figure less sensitive than wall time"
        " to other work on the machine.",
        "",
        "| | measure | command | wall median s | runs s | CPU median s | peak MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in sorted(suite.measures.values(), key=lambda m: m.key):
        if not m.walls:  # its benchmark failed before this command ran
            continue
        runs = ", ".join(f"{w:.2f}" for w in m.walls)
        if m.statements:
            runs += f" (statement {statistics.median(m.statements):.2f})"
        lines.append(
            f"| {m.key} | {m.name} | `{m.command}` | {m.wall:.2f} | {runs} |"
            f" {statistics.median(m.cpus):.2f} | {m.peak / 1e6:,.0f} |"
        )
    data = suite.data
    lines += [
        "",
        "## Data",
        "",
        f"Generated by `bench/generate.py` (seeded) into `{data.folder.relative_to(ROOT)}/`."
        " Every ingest but c's starts from a copy of a database holding the register (product,"
        " form, label claim, serving) of exactly the batches it will receive, so the rules"
        " have labels and nothing is flagged for results that are not there: "
        + "; ".join(
            f"{', '.join(TEMPLATE_GROUPS[g])}: {n:,} batches" for g, n in suite.registers.items()
        )
        + ". The files:",
        "",
    ]
    for key, path in data.files.items():
        first, count = data.batches[key]
        lines.append(
            f"- `{path.name}`: {count:,} batches from {generate.batch_id(first)},"
            f" {data.results[key]:,} results"
        )
    if suite.notes:
        lines += ["", *[f"- {n}" for n in suite.notes]]
    return "\n".join(lines) + "\n"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--runs", type=int, help="runs per figure (default: 3 full, 1 tiny)")
    parser.add_argument("--only", default="abcdef", help="benchmarks to run, e.g. c,e")
    parser.add_argument("--out", type=Path, help="where to write the results")
    parser.add_argument(
        "--reuse-db", action="store_true", help="reuse the big database of an earlier run"
    )
    parser.add_argument(
        "--baseline",
        choices=("file", "memory"),
        default="file",
        help="DuckDB's read_csv into a database file (as kqc stores) or into memory",
    )
    parser.add_argument(
        "--keep-runs", action="store_true", help="keep each run's folder (bench/out/runs-SIZE/)"
    )
    parser.add_argument(
        "--scratch", type=Path, help="folder for the runs (default bench/out/runs-SIZE/)"
    )
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    runs = args.runs or size.runs
    default_out = HERE / "RESULTS.md" if args.size == "full" else OUT / "RESULTS.tiny.md"
    out = args.out or default_out
    if args.size != "full" and out.resolve() == (HERE / "RESULTS.md").resolve():
        parser.error("a tiny run never overwrites bench/RESULTS.md: give another --out")
    wanted = [k for k in "abcdef" if k in args.only]
    command = "python bench/run_all.py " + " ".join(argv if argv is not None else sys.argv[1:])
    started, clock = datetime.now(UTC), time.perf_counter()
    suite = Suite(size, args.size, runs, args.reuse_db, args.baseline == "memory")
    if args.scratch is not None:
        suite.scratch = args.scratch
    failures: list[str] = []
    try:
        suite.prepare(wanted)
    except CommandFailed as e:
        print(f"the benchmark data could not be prepared: {e}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    text = ""
    for key in wanted:
        try:
            getattr(suite, f"bench_{key}")()
        except Exception as e:  # one broken benchmark must not hide the others
            log(f"{key}: FAILED")
            print(e if isinstance(e, CommandFailed) else traceback.format_exc(), file=sys.stderr)
            failures.append(f"{key}: {type(e).__name__}: {e}")
        # Written after every benchmark, so a long run that is stopped keeps what it measured.
        text = report(suite, command.strip(), started, time.perf_counter() - clock, failures)
        out.write_text(text, encoding="utf-8")
    print(text)
    log(f"wrote {out}")
    if not args.keep_runs:  # copies of the big database and its file: gigabytes at full size
        shutil.rmtree(suite.scratch, ignore_errors=True)
    if failures:
        return 2
    if args.size == "full" and any(v.ok is False for v in suite.verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
