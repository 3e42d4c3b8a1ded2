"""What the integrity checks cost: this kqc against a baseline kqc, side by
side in one run, on the 10,000,000-row ingest and the 1,000-file inbox.

    python bench/integrity_cost.py --baseline /path/to/other/venv/bin/kqc
    python bench/integrity_cost.py --baseline ... --size tiny --runs 1   # smoke test

The baseline is any other installed kqc, e.g. the release before the checks:

    git archive <commit> | tar -x -C /tmp/kqc-base
    python3 -m venv /tmp/base && /tmp/base/bin/pip install -q /tmp/kqc-base

Each figure is the wall time of a fresh `kqc ingest --json` process, the
median of --runs runs, with its CPU time (user + system, of the process and
the children it waited for) beside it; the two versions alternate run by run,
the first of a pair changing each time (A B B A A B ...), each into a fresh
copy of a register database that version made itself, so both see the same
machine. The ratio is taken pair by pair and its median quoted. Every
ingest is checked as in run_all.py (every file `ingested`, every row stored).
Results go to bench/results/integrity_cost[.tiny].md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import run_all  # noqa: E402

SIDES = ("this", "baseline")


@dataclass
class Pairs:
    what: str
    walls: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    cpus: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    peaks: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SIDES})

    def add(self, side: str, done: run_all.Run) -> None:
        self.walls[side].append(done.wall)
        self.cpus[side].append(done.cpu)
        self.peaks[side].append(done.peak_rss)

    def ratios(self, of: str = "walls") -> list[float]:
        mine, theirs = getattr(self, of)["this"], getattr(self, of)["baseline"]
        return [a / b for a, b in zip(mine, theirs, strict=True)]


def template(kqc: list[str], folder: Path, ranges: list[tuple[int, int]]) -> Path:
    """A database holding only the register of the batches to come, made by
    the kqc that will ingest into it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rows = generate.write_register(folder / "register.csv", ranges)
    run_all.run([*kqc, "ingest", "register.csv", "--db", "kqc.duckdb", "--json"], folder)
    db = folder / "kqc.duckdb"
    if run_all.counts(db) != (0, rows):
        raise run_all.CommandFailed(f"the register was not stored whole: {run_all.counts(db)}")
    return db


def storage_version(db: Path) -> str:
    """The DuckDB storage format `db` is written in, e.g. 'v1.0.0'."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        (tags,) = con.execute(
            "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()
    return str(tags["storage_version"]).rstrip("+")


def in_format(db: Path, version: str) -> None:
    """Rewrite `db` in DuckDB's storage format `version` (every table,
    view and sequence, by DuckDB's own COPY FROM DATABASE)."""
    import duckdb

    if storage_version(db) == version:
        return
    rewritten = db.with_name("rewritten.duckdb")
    rewritten.unlink(missing_ok=True)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{db}' AS old (READ_ONLY)")
        con.execute(f"ATTACH '{rewritten}' AS new (STORAGE_VERSION '{version}')")
        con.execute("COPY FROM DATABASE old TO new")
        con.execute("DETACH new")
    rewritten.replace(db)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the other kqc executable")
    parser.add_argument("--size", choices=sorted(run_all.SIZES), default="full")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    size = run_all.SIZES[args.size]
    kqcs = {"this": run_all.kqc(), "baseline": [args.baseline]}
    data = run_all.make_data(size, args.size)
    run_all.compile_kqc()
    scratch = run_all.OUT / f"integrity-{args.size}"
    templates = {
        (side, group): template(
            kqcs[side],
            scratch / f"template-{side}-{group}",
            [data.batches[k] for k in run_all.TEMPLATE_GROUPS[group]],
        )
        for side in SIDES
        for group in ("big", "many")
    }
    # A kqc since issue 19 writes its live file in the storage format of the
    # oldest DuckDB a regulator may open the snapshot with (so a snapshot is
    # a byte copy); the release before the checks wrote DuckDB's newest,
    # whose string compression is cheaper to write (some 5 s of the ten
    # million rows). Both sides write one format here, so the ratio is the
    # checks' cost and not the format's.
    for group in ("big", "many"):
        in_format(templates["baseline", group], storage_version(templates["this", group]))
    big = Pairs(f"`kqc ingest` of {data.results['big']:,} rows (one long CSV)")
    many = Pairs(f"`kqc ingest` of an inbox of {size.many_files:,} files")
    for i in range(args.runs):
        # The side that goes first changes each run: neither always meets the
        # machine as the other left it.
        order = SIDES if i % 2 == 0 else SIDES[::-1]
        for side in order:
            run_all.log(f"run {i + 1}/{args.runs}, {side}: the big file ...")
            folder = scratch / f"big-{side}"
            shutil.rmtree(folder, ignore_errors=True)
            db = run_all.copy_db(templates[side, "big"], folder)
            shutil.copyfile(data.files["big"], folder / data.files["big"].name)
            cmd = [*kqcs[side], "ingest", data.files["big"].name, "--db", "kqc.duckdb", "--json"]
            big.add(side, run_all.checked_ingest(cmd, folder, db, 1, data.results["big"], 0))
        for side in order:
            run_all.log(f"run {i + 1}/{args.runs}, {side}: the inbox of many files ...")
            folder = scratch / f"many-{side}"
            shutil.rmtree(folder, ignore_errors=True)
            db = run_all.copy_db(templates[side, "many"], folder)
            shutil.copytree(data.files["many"], folder / "inbox")
            cmd = [*kqcs[side], "ingest", "--db", "kqc.duckdb", "--json"]
            done = run_all.checked_ingest(cmd, folder, db, size.many_files, data.results["many"], 0)
            many.add(side, done)
    lines = [
        "# What the integrity checks cost",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.runs} alternating run(s) per"
        f" side; this kqc against `{args.baseline}`. Both write DuckDB's"
        f" {storage_version(templates['this', 'big'])} storage format (the baseline's"
        " register database is rewritten in it first), so the ratio is not the format's;"
        " it still holds every other change since the baseline.",
        "",
        "Reproduce: `python bench/integrity_cost.py --baseline OTHER/bin/kqc`",
        "",
        "| measure | this: wall median s (runs) | baseline: wall median s (runs)"
        " | wall ratio this/baseline, median of pairs (each)"
        " | CPU s this / baseline, medians | CPU ratio, median of pairs"
        " | peak MB this / baseline |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for pairs in (big, many):
        ratios = pairs.ratios()
        cells = [
            f"{statistics.median(pairs.walls[s]):.2f}"
            f" ({', '.join(f'{w:.2f}' for w in pairs.walls[s])})"
            for s in SIDES
        ]
        peaks = " / ".join(f"{max(pairs.peaks[s]) / 1e6:,.0f}" for s in SIDES)
        cpus = " / ".join(f"{statistics.median(pairs.cpus[s]):.1f}" for s in SIDES)
        lines.append(
            f"| {pairs.what} | {cells[0]} | {cells[1]} | {statistics.median(ratios):.3f}"
            f" ({', '.join(f'{r:.3f}' for r in ratios)}) | {cpus}"
            f" | {statistics.median(pairs.ratios('cpus')):.3f} | {peaks} |"
        )
    text = "\n".join(lines) + "\n"
    name = "integrity_cost.md" if args.size == "full" else f"integrity_cost.{args.size}.md"
    target = HERE / "results" / name if args.size == "full" else run_all.OUT / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
