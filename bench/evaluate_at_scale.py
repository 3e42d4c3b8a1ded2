"""Evaluating rules at scale: `evaluate_pending` after one small file is
ingested into a database of 10,000,000 results, against the same on an empty
database (target: at most 1.5x), and the full re-evaluation of every result
that a change of thresholds triggers.

Run:  .venv/bin/python bench/evaluate_at_scale.py [--results 10000000] [--runs 5] [--rebuild]
Writes bench/results/evaluate_at_scale.md and prints the same table.

The big database is built with DuckDB SQL, not through the pipeline: about 100
results per batch, 50 batches per product made over eight years, a register
row per batch and a source file per batch. It is cached under bench/out/ with
its full re-evaluation (--rebuild builds and measures it again). Each
incremental run is a fresh process on a fresh copy of the prepared database:
it stores one 30-row CSV (5 new batches of an existing product, registered
beforehand) with prepare + store_ingested, untimed, then times only
`evaluate_pending`, phase by phase. The full re-evaluation runs in its own
process, watched: it is stopped when its RSS passes --max-rss-gb or it runs
longer than --full-timeout, and the report says so; the database is then
brought up to date by a bench-side chunked re-evaluation (the same store and
rule functions, a product group of batches at a time), also measured.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "out"
RESULTS_PER_BATCH = 100  # 5 samples x 20 results
BATCHES_PER_PRODUCT = 50
NEW_BATCHES = [f"BENCH-{i}" for i in range(5)]
SMALL_FILE_ANALYTES = [
    ("Mitragynine", "1.42", "%", "0.01"),
    ("7-OH", "<LOQ", "%", "0.01"),
    ("Lead", "250", "ppb", "5"),
    ("Nickel", "1.1", "ppm", "0.05"),
    ("Salmonella", "Absent", "/25g", ""),
    ("Total aerobic count", "3.2E4", "CFU/g", "10"),
]

# One result slot per (analyte index 0..19) in each of a batch's 5 samples.
# Slot 0 is mitragynine per capsule/tablet (unit_no = sample) for unit forms,
# mg/g otherwise; slot 19 is QC: duplicate (samples 1-3), blank (4), spike (5).
ANALYTES = [
    "mitragynine",
    "mitragynine",
    "7_hydroxymitragynine",
    "speciociliatine",
    "speciogynine",
    "paynantheine",
    "mitraphylline",
    "corynantheidine",
    "lead",
    "arsenic",
    "cadmium",
    "mercury",
    "nickel",
    "tamc",
    "tymc",
    "btgn",
    "salmonella",
    "e_coli",
    "ethanol",
    "mitragynine",
]
REPORTED = [
    "Mitragynine",
    "Mitragynine",
    "7-OH",
    "Speciociliatine",
    "Speciogynine",
    "Paynantheine",
    "Mitraphylline",
    "Corynantheidine",
    "Lead",
    "Arsenic",
    "Cadmium",
    "Mercury",
    "Nickel",
    "Total aerobic count",
    "Total yeast and mold",
    "Bile-tolerant gram-negative bacteria",
    "Salmonella",
    "E. coli",
    "Ethanol",
    "Mitragynine",
]
UNITS = (
    ["mg/g"] * 8 + ["ug/g"] * 5 + ["CFU/g"] * 3 + [None, None] + ["ug/g", "mg/g"]
)  # slot 0 switches to mg/unit for unit forms
LOQS = [0.1] * 8 + [0.005, 0.02, 0.01, 0.005, 0.05, 10, 10, 10, None, None, 100, 0.1]

# Per-batch values from the batch number b: product p (round robin, so every
# product has batches all through the eight years), form, the product's mean
# mitragynine, and the day the batch was made.
BATCH_COLUMNS = """
    b % {products} AS p,
    'KR-' || lpad(b::VARCHAR, 7, '0') AS batch_id,
    'P-' || lpad((b % {products})::VARCHAR, 5, '0') AS product_id,
    CASE (b % {products}) % 10 WHEN 0 THEN 'capsule' WHEN 1 THEN 'capsule'
        WHEN 2 THEN 'capsule' WHEN 3 THEN 'tablet' WHEN 8 THEN 'extract'
        ELSE 'powder' END AS form,
    10 + (hash(b % {products}, 11) % 1000) / 100.0 AS mean_mgg,
    DATE '2018-01-01' + (b * 2920 // {batches})::INTEGER AS made
"""
BATCH_SQL = "SELECT b, " + BATCH_COLUMNS + " FROM range({batches}) t(b)"

RESULTS_SQL = """
WITH r AS (
    SELECT i, b, s, a, u, z, {batch_columns},
        CASE (b % {products}) % 10 WHEN 0 THEN true WHEN 1 THEN true WHEN 2 THEN true
            WHEN 3 THEN true ELSE false END AS per_unit,
        ['lab-acme', 'lab-greenleaf', 'lab-keystone', 'lab-nord'][(b % 4) + 1] AS lab
    FROM (
        SELECT i, i // 100 AS b, (i % 100) // 20 AS s, i % 20 AS a,
            (hash(i, 1) % 1000003) / 1000003.0 AS u,
            ((hash(i, 2) % 1000003) + (hash(i, 3) % 1000003) + (hash(i, 4) % 1000003)
              + (hash(i, 5) % 1000003)) / 1000003.0 * 1.732 - 3.464 AS z
        FROM range({results}) t(i)
    )
), v AS (
    SELECT r.*,
        CASE WHEN a = 0 AND per_unit THEN 'mg/unit' ELSE {units}[a + 1] END AS unit,
        {loqs}[a + 1] AS loq,
        CASE WHEN a = 19 THEN CASE s WHEN 3 THEN 'blank' WHEN 4 THEN 'spike' ELSE 'duplicate' END
             ELSE 'production' END AS sample_type,
        CASE
            WHEN a = 0 AND per_unit THEN mean_mgg * 0.5 * (1 + 0.03 * z)
            WHEN a IN (0, 1) THEN mean_mgg * (1 + 0.04 * z)
            WHEN a = 2 THEN CASE WHEN u < 0.6 THEN NULL ELSE 0.1 + 0.15 * u END
            WHEN a = 3 THEN 1 + 2 * u
            WHEN a = 4 THEN 1 + 2 * u
            WHEN a = 5 THEN 2 + 3 * u
            WHEN a = 6 THEN CASE WHEN u < 0.5 THEN NULL ELSE 0.1 + 0.5 * u END
            WHEN a = 7 THEN CASE WHEN u < 0.7 THEN NULL ELSE 0.1 + 0.2 * u END
            WHEN a = 8 THEN 0.05 + 0.5 * u * u
            WHEN a = 9 THEN CASE WHEN u < 0.3 THEN NULL ELSE 0.02 + 0.4 * u END
            WHEN a = 10 THEN 0.01 + 0.2 * u
            WHEN a = 11 THEN CASE WHEN u < 0.9 THEN NULL ELSE 0.005 + 0.05 * u END
            WHEN a = 12 THEN 0.5 + 5.5 * u
            WHEN a = 13 THEN CASE WHEN u > 0.999 THEN 2e5 ELSE round(pow(10, 2 + 2 * u), -1) END
            WHEN a = 14 THEN CASE WHEN u < 0.5 THEN NULL WHEN u > 0.998 THEN 2000
                ELSE round(10 + 600 * u) END
            WHEN a = 15 THEN CASE WHEN u < 0.8 THEN NULL ELSE round(10 + 490 * u) END
            WHEN a IN (16, 17) THEN NULL
            WHEN a = 18 THEN CASE WHEN u < 0.9 THEN NULL ELSE 100 + 2000 * u END
            WHEN s = 3 THEN NULL
            WHEN s = 4 THEN 10 * (0.95 + 0.1 * u)
            ELSE mean_mgg * (1 + 0.04 * z)
        END AS value
    FROM r
)
INSERT INTO results (batch_id, sample_id, lab_id, analyte, value, unit, qualifier, bound,
    reported_result, reported_unit, reported_analyte, lod, loq, sample_type, unit_no,
    test_portion_g, spike_level, dilution, method, analyzed_at, analyst, instrument,
    accreditation, source_sha256, source_row, superseded_by, loaded_at)
SELECT
    batch_id,
    batch_id || '-S' || (s + 1) || CASE WHEN a = 19 THEN '-QC' ELSE '' END,
    lab,
    {analytes}[a + 1],
    round(value, 4),
    unit,
    CASE WHEN a IN (16, 17) THEN 'not_detected' WHEN value IS NULL THEN '<LOQ' END,
    NULL,
    CASE WHEN a = 16 THEN 'Absent in 25 g' WHEN a = 17 THEN 'Absent in 10 g'
         WHEN value IS NULL THEN '<LOQ' ELSE round(value, 4)::VARCHAR END,
    CASE WHEN unit = 'ug/g' THEN 'ppm' ELSE unit END,
    {reported}[a + 1],
    NULL,
    loq,
    sample_type,
    CASE WHEN a = 0 AND per_unit THEN (s + 1)::VARCHAR END,
    CASE a WHEN 16 THEN 25.0 WHEN 17 THEN 10.0 END,
    CASE WHEN sample_type = 'spike' THEN 10.0 END,
    NULL,
    CASE WHEN a <= 7 OR a = 19 THEN 'AOAC 2017.14' WHEN a <= 12 THEN 'AOAC 2015.01'
         WHEN a = 18 THEN 'USP <467>' ELSE 'USP <2021>' END,
    strftime(made + 10, '%Y-%m-%d'),
    'analyst ' || (b % 17),
    NULL,
    'ISO/IEC 17025',
    sha256('kqc-bench-results-' || batch_id),
    (i % 100) + 2,
    NULL,
    (made + 12)::TIMESTAMP AT TIME ZONE 'UTC'
FROM v
"""


def _sql_list(values: list) -> str:
    items = ["NULL" if v is None else (f"'{v}'" if isinstance(v, str) else repr(v)) for v in values]
    typ = "VARCHAR" if any(isinstance(v, str) for v in values) else "DOUBLE"
    return f"([{', '.join(items)}]::{typ}[])"


def scale(results: int) -> tuple[int, int]:
    batches = max(1, results // RESULTS_PER_BATCH)
    products = max(1, batches // BATCHES_PER_PRODUCT)
    return batches, products


def bench_product(products: int) -> int:
    return min(4, products - 1)  # product 4 is a powder with mg/g history


def register_new_batches(con, products: int, last_made: str) -> None:
    """The 5 batches the small file reports on: registered (not yet tested)
    for an existing product, made after every batch in the database."""
    from kqc.store.connection import run

    p = bench_product(products)
    for n, batch_id in enumerate(NEW_BATCHES):
        run(
            con,
            "INSERT INTO batches (batch_id, product_id, product_name, form,"
            " label_claim_mg_per_serving, serving_size_g, servings_per_day, units_per_serving,"
            " manufacturer, manufactured_on, markets, source_sha256, updated_at)"
            " VALUES (?, ?, 'Bench powder', 'powder', 42, 3, 3, 1, 'Bench Botanicals',"
            " strftime(?::DATE + ?, '%Y-%m-%d'), NULL, sha256('kqc-bench-register-new'), now())",
            [batch_id, f"P-{p:05d}", last_made, n + 1],
        )


def build(path: Path, results: int) -> dict[str, float]:
    """A database of `results` results, written with SQL (no pipeline)."""
    from kqc.store import connect
    from kqc.store.connection import run

    batches, products = scale(results)
    results = batches * RESULTS_PER_BATCH
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    with connect(path) as con:
        run(con, "SET preserve_insertion_order = true")
        run(con, "SET memory_limit = '6GB'")  # a shared machine
        run(
            con,
            "CREATE TEMP TABLE bench_batches AS "
            + BATCH_SQL.format(products=products, batches=batches),
        )
        run(con, "BEGIN TRANSACTION")
        run(
            con,
            "INSERT INTO source_files (file_name, sha256, status, kind, received_at, row_count,"
            " error_count, stored_as, size_bytes)"
            " SELECT batch_id || '.csv', sha256('kqc-bench-results-' || batch_id), 'ingested',"
            " 'results', (made + 12)::TIMESTAMP AT TIME ZONE 'UTC', 100, 0,"
            " 'archive/' || batch_id || '.csv', 9000 FROM bench_batches ORDER BY b",
        )
        run(
            con,
            "INSERT INTO source_files (file_name, sha256, status, kind, received_at, row_count,"
            " error_count, stored_as, size_bytes) VALUES ('register.csv',"
            " sha256('kqc-bench-register'), 'ingested', 'register', now(), ?, 0,"
            " 'archive/register.csv', ?)",
            [batches, batches * 120],
        )
        run(
            con,
            "INSERT INTO batches (batch_id, product_id, product_name, form,"
            " label_claim_mg_per_serving, serving_size_g, servings_per_day, units_per_serving,"
            " manufacturer, manufactured_on, markets, source_sha256, updated_at)"
            " SELECT batch_id, product_id, 'Product ' || product_id, form,"
            "  round(mean_mgg * CASE form WHEN 'powder' THEN 3 ELSE 1 END, 2),"
            "  CASE form WHEN 'powder' THEN 3 ELSE 1 END, 3,"
            "  CASE WHEN form IN ('capsule', 'tablet') THEN 2 ELSE 1 END,"
            "  'Maker ' || (p % 40), strftime(made, '%Y-%m-%d'),"
            "  CASE p % 7 WHEN 0 THEN 'UT;GA' WHEN 1 THEN 'RI' END,"
            "  sha256('kqc-bench-register'), (made + 1)::TIMESTAMP AT TIME ZONE 'UTC'"
            " FROM bench_batches ORDER BY b",
        )
        run(
            con,
            RESULTS_SQL.format(
                batch_columns=BATCH_COLUMNS.format(products=products, batches=batches),
                products=products,
                results=results,
                units=_sql_list(UNITS),
                loqs=_sql_list(LOQS),
                analytes=_sql_list(ANALYTES),
                reported=_sql_list(REPORTED),
            ),
        )
        last_made = run(con, "SELECT max(manufactured_on) FROM batches")[0][0]
        register_new_batches(con, products, last_made)
        run(con, "COMMIT")
        run(con, "CHECKPOINT")
    counts = {"results": results, "batches": batches, "products": products}
    return {**counts, "build_s": time.perf_counter() - started}


def build_empty(path: Path, products: int) -> None:
    """Migrations only, plus the register rows of the 5 batches the small file reports on."""
    from kqc.store import connect

    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    with connect(path) as con:
        register_new_batches(con, products, "2026-01-01")


# --- child processes: each measurement runs in a fresh one --------------------


def _rss_mb() -> float:
    """Peak RSS of this process since it started (VmHWM; ru_maxrss would carry
    the parent's peak across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sql_label(sql: str) -> str:
    words = " ".join(str(sql).split())
    return words if len(words) <= 90 else words[:87] + "..."


class Instrument:
    """Wall time of each step of evaluate_pending and of each SQL statement it
    runs, by wrapping the names it looks up at call time (no product change).
    With `progress`, each step's start (and the RSS then) goes to stderr, so a
    run stopped for its memory says where it was."""

    def __init__(self, progress: bool = False) -> None:
        import kqc.pipeline.evaluate as flow
        import kqc.store.connection as connection
        import kqc.store.evaluation as evaluation
        from kqc import store

        self.phases: dict[str, float] = {}
        self.sql: dict[str, list[float]] = {}
        self.progress = progress
        self.last = ""
        self.started = time.perf_counter()
        self.flow = flow
        for owner, name, label in (
            (flow, "load_thresholds", "load + check thresholds file"),
            (flow, "thresholds_from_frame", "load + check thresholds file"),
            (connection, "migrate", "migrate (on open)"),
            (store, "thresholds_version", "thresholds version"),
            (store, "replace_thresholds", "replace thresholds"),
            (store, "all_batch_ids", "batch ids"),
            (store, "queued_batch_ids", "batch ids"),
            (store, "potency_results", "control-chart points (batch_potency)"),
            (store, "save_potency", "control-chart points (batch_potency)"),
            (flow, "batch_means", "control-chart points (batch_potency)"),
            (store, "evidence", "evidence: results, register, history"),
            (flow, "evaluate", "rules (Python)"),
            (store, "merge_flags", "merge flags"),
            (store, "clear_queue", "clear queue"),
        ):
            self._wrap(owner, name, label, self._phase)
        for owner, name in ((evaluation, "frame"), (evaluation, "run"), (connection, "run")):
            self._wrap(owner, name, None, self._statement)

    def _phase(self, label: str, seconds: float) -> None:
        self.phases[label] = self.phases.get(label, 0.0) + seconds

    def _statement(self, label: str, seconds: float) -> None:
        self.sql.setdefault(label, []).append(seconds)

    def _wrap(self, owner: object, name: str, label: str | None, record) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            what = label or _sql_label(args[1])
            if self.progress and label and label != self.last:
                self.last = label
                at = time.perf_counter() - self.started
                print(f"{at:8.1f}s  {_rss_mb():8.0f} MB peak  {what}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                record(what, time.perf_counter() - start)

        setattr(owner, name, timed)

    def evaluate_pending(self, db: Path) -> tuple[object, float]:
        start = time.perf_counter()
        done = self.flow.evaluate_pending(db)
        elapsed = time.perf_counter() - start
        self.phases["open, commit, close (rest)"] = elapsed - sum(self.phases.values())
        return done, elapsed


def child_full(db: Path) -> None:
    """The first evaluate_pending on a database whose thresholds are not loaded:
    every batch is evaluated, in one transaction."""
    probe = Instrument(progress=True)
    done, elapsed = probe.evaluate_pending(db)
    assert done.thresholds_changed, "expected the thresholds to be loaded for the first time"
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "batches": len(done.batches),
                "flags": done.flags,
                "max_rss_mb": _rss_mb(),
                "version": done.version,
                "phases": probe.phases,
            }
        )
    )


def child_chunked(db: Path, chunk: int) -> None:
    """Fallback when the full re-evaluation does not fit: the same steps as
    evaluate_pending's thresholds-changed branch, in one transaction, but over
    batches a product group at a time. Bench-side code built from kqc.store and
    kqc.core.rules; it shows what a chunked full re-evaluation costs."""
    from kqc import store
    from kqc.core.rules import evaluate, thresholds_from_frame
    from kqc.core.rules.drift import batch_means
    from kqc.schemas.thresholds import load_thresholds
    from kqc.store.connection import run

    start = time.perf_counter()
    frame, version = load_thresholds()
    thresholds = thresholds_from_frame(frame)
    flags = 0
    with store.transaction(db) as con:
        store.replace_thresholds(con, frame, version)
        ids = store.all_batch_ids(con)
        product = dict(run(con, "SELECT batch_id, product_id FROM batches"))
        ids.sort(key=lambda b: (product.get(b) or "", b))
        for n in range(0, len(ids), chunk):
            part = ids[n : n + chunk]
            store.save_potency(con, part, batch_means(store.potency_results(con, part)))
        for n in range(0, len(ids), chunk):
            part = ids[n : n + chunk]
            results, register, history = store.evidence(con, part)
            found = evaluate(part, results, register, thresholds, history, version)
            del results, register, history
            store.merge_flags(con, part, found)
            store.clear_queue(con, part)
            flags += found.height
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - start,
                "batches": len(ids),
                "flags": flags,
                "chunk": chunk,
                "max_rss_mb": _rss_mb(),
                "version": version,
            }
        )
    )


def small_file() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Lab", "Batch", "Sample", "Analyte", "Result", "Unit", "LOQ"])
    for i, batch_id in enumerate(NEW_BATCHES):
        for name, value, unit, loq in SMALL_FILE_ANALYTES:
            w.writerow(["Bench Lab", batch_id, f"{batch_id}-S{i}", name, value, unit, loq])
    return buf.getvalue().encode()


def child_incremental(db: Path) -> None:
    """Store the small file (untimed), then time evaluate_pending, step by step."""
    import hashlib

    from kqc import store
    from kqc.pipeline.prepare import prepare

    data = small_file()
    prepared = prepare("bench_small.csv", data)
    assert prepared.accepted and prepared.kind == "results", prepared.problems[:3]
    record = store.FileRecord(
        file_name="bench_small.csv",
        sha256=hashlib.sha256(data).hexdigest(),
        kind="results",
        received_at=datetime.now(UTC),
        size_bytes=len(data),
        error_count=0,
        stored_as="archive/bench_small.csv",
    )
    status = store.store_ingested(db, file=record, results=prepared.rows, register=None)
    assert status == "ingested", status

    probe = Instrument()
    done, elapsed = probe.evaluate_pending(db)
    assert not done.thresholds_changed, "thresholds changed: the prepared database is stale"
    assert sorted(done.batches) == NEW_BATCHES, done.batches
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "flags": done.flags,
                "phases": probe.phases,
                "sql": {k: sum(v) for k, v in probe.sql.items()},
                "max_rss_mb": _rss_mb(),
            }
        )
    )


# --- the parent ---------------------------------------------------------------


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def watched(cmd: list[str], max_rss_gb: float, timeout: float) -> dict:
    """Run `cmd`, killing it when its RSS passes max_rss_gb or it outlives
    `timeout`; its last JSON line, or what it was doing when stopped."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        peak_kb, stopped = 0, None
        while proc.poll() is None:
            peak_kb = max(peak_kb, _peak_kb(proc.pid))
            if peak_kb > max_rss_gb * 1024 * 1024:
                stopped = f"stopped when its RSS passed {max_rss_gb:g} GB"
            elif time.perf_counter() - start > timeout:
                stopped = f"stopped, still running after {timeout:.0f} s"
            if stopped:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if stopped:
        steps = [line.strip() for line in stderr.splitlines() if " MB peak " in line]
        return {
            "stopped": stopped,
            "seconds": elapsed,
            "max_rss_mb": peak_kb / 1024,
            "steps": steps,
        }
    if proc.returncode != 0:
        sys.exit(f"benchmark child failed ({proc.returncode}): {' '.join(cmd)}\n{stderr}")
    return json.loads(stdout.strip().splitlines()[-1])


def child(mode: str, db: Path, *extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(db), *extra]


def one_incremental(prepared: Path, workdir: Path) -> dict:
    copy = workdir / "run.duckdb"
    shutil.copyfile(prepared, copy)
    try:
        done = subprocess.run(child("incremental", copy), capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"incremental run failed ({done.returncode}):\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for leftover in (copy, copy.with_name(copy.name + ".wal")):
            leftover.unlink(missing_ok=True)


def thresholds_version() -> str:
    from kqc.schemas.thresholds import load_thresholds

    return load_thresholds()[1]


def _fresh_copy(source: Path, target: Path) -> None:
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
    shutil.copyfile(source, target)


def prepare_big(args: argparse.Namespace) -> tuple[Path | None, dict]:
    """The big database with its thresholds up to date, and how it got there:
    the full re-evaluation (and, when that does not fit, the chunked one)."""
    raw = OUT / f"evaluate_at_scale_{args.results}.duckdb"
    ready = OUT / f"evaluate_at_scale_{args.results}_evaluated.duckdb"
    meta_path = OUT / f"evaluate_at_scale_{args.results}.json"
    version = thresholds_version()
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if args.rebuild or not raw.exists() or "build" not in meta:
        log(f"building {raw} ...")
        meta = {"build": watched(child("build", raw, str(args.results)), 8, 3600)}
        assert "stopped" not in meta["build"], meta["build"]
        meta_path.write_text(json.dumps(meta, indent=1))
    if meta.get("version") != version or not ready.exists():
        meta = {"build": meta["build"], "version": version}
        log("full re-evaluation (the thresholds are loaded for the first time) ...")
        _fresh_copy(raw, ready)
        meta["full"] = watched(child("full", ready), args.max_rss_gb, args.full_timeout)
        meta["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if "stopped" in meta["full"]:
            log(f"full re-evaluation {meta['full']['stopped']}; chunked fallback ...")
            _fresh_copy(raw, ready)
            meta["chunked"] = watched(
                child("chunked", ready, str(args.chunk_batches)),
                args.max_rss_gb,
                args.full_timeout,
            )
            if "stopped" in meta["chunked"]:
                ready.unlink(missing_ok=True)
        meta_path.write_text(json.dumps(meta, indent=1))
    return (ready if ready.exists() else None), meta


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--rebuild", action="store_true", help="build the database and re-evaluate it again"
    )
    parser.add_argument(
        "--max-rss-gb", type=float, default=14.0, help="stop a full re-evaluation above this"
    )
    parser.add_argument("--full-timeout", type=float, default=900.0)
    parser.add_argument(
        "--chunk-batches", type=int, default=5000, help="batches per chunk in the fallback"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("db", nargs="?", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="?", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        if args.child == "build":
            print(json.dumps(build(args.db, args.extra)))
        elif args.child == "full":
            child_full(args.db)
        elif args.child == "chunked":
            child_chunked(args.db, args.extra)
        elif args.child == "incremental":
            child_incremental(args.db)
        return

    OUT.mkdir(exist_ok=True)
    args.results = scale(args.results)[0] * RESULTS_PER_BATCH
    ready, meta = prepare_big(args)
    _, products = scale(args.results)
    small: list[dict] = []
    big: list[dict] = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        empty = work / "empty.duckdb"
        build_empty(empty, products)
        first = watched(child("full", empty), args.max_rss_gb, args.full_timeout)
        assert "stopped" not in first, first
        # Alternate the two databases, so whatever else the machine does
        # weighs on both alike.
        for n in range(args.runs):
            log(f"incremental run {n + 1}/{args.runs} ...")
            small.append(one_incremental(empty, work))
            if ready is not None:
                big.append(one_incremental(ready, work))
    lines = report(args, meta, small, big, ready)
    out = HERE / "results" / "evaluate_at_scale.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _median(runs: list[dict], *keys: str) -> float:
    def get(r: dict) -> float:
        for k in keys:
            r = r.get(k, 0.0) if isinstance(r, dict) else 0.0
        return float(r)

    return statistics.median(get(r) for r in runs)


def report(
    args: argparse.Namespace, meta: dict, small: list[dict], big: list[dict], ready: Path | None
) -> list[str]:
    built = meta["build"]
    n = f"{args.results:,}"
    runs = lambda rs: ", ".join(f"{r['seconds']:.3f}" for r in rs)  # noqa: E731
    lines = [
        f"# evaluate_pending at scale: {n} results vs an empty database",
        "",
        "Target: evaluating rules after ingesting one small file into a database of"
        f" {n} results takes at most 1.5x what it takes on an empty one.",
        "",
        "Each run: a fresh process on a fresh copy of the database stores one 30-row CSV"
        " (5 new batches of an existing powder product, registered beforehand) with"
        " `prepare` + `store_ingested`, untimed, then times `evaluate_pending(db)` alone."
        f" {args.runs} runs per database, alternating, medians.",
        "",
        "| database | evaluate_pending median s | runs (s) | flags written | peak RSS MB |",
        "| --- | --- | --- | --- | --- |",
        f"| empty (migrations, thresholds, 5 register rows) | {_median(small, 'seconds'):.3f}"
        f" | {runs(small)} | {small[0]['flags']} | {_median(small, 'max_rss_mb'):.0f} |",
    ]
    if big:
        ratio = _median(big, "seconds") / _median(small, "seconds")
        verdict = "PASS" if ratio <= 1.5 else "FAIL"
        lines += [
            f"| {n} results ({built['batches']:,} batches, {built['products']:,} products)"
            f" | {_median(big, 'seconds'):.3f} | {runs(big)} | {big[0]['flags']}"
            f" | {_median(big, 'max_rss_mb'):.0f} |",
            "",
            f"**{n} / empty = {ratio:.2f}x: {verdict}** (target at most 1.5x).",
            "",
            "Where the time goes (medians, s; steps of `evaluate_pending`):",
            "",
            f"| step | empty | {n} | difference |",
            "| --- | --- | --- | --- |",
        ]
        for phase in small[0]["phases"]:
            a, b = _median(small, "phases", phase), _median(big, "phases", phase)
            lines.append(f"| {phase} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
        lines += ["", "SQL statements (medians, s; the slowest at scale):", ""]
        lines += [f"| statement | empty | {n} |", "| --- | --- | --- |"]
        sql = sorted(big[0]["sql"], key=lambda k: -_median(big, "sql", k))
        for label in sql[:8]:
            a, b = _median(small, "sql", label), _median(big, "sql", label)
            lines.append(f"| `{label}` | {a:.3f} | {b:.3f} |")
    else:
        lines += ["", f"No incremental runs at {n}: no re-evaluation of it finished."]
    lines += [
        "",
        f"## Full re-evaluation of {n} results",
        "",
        "The first `evaluate_pending` after the thresholds change evaluates every batch in one"
        f" transaction (one fresh process, measured {meta['measured_at']}, stopped above"
        f" {args.max_rss_gb:g} GB RSS or {args.full_timeout:.0f} s).",
        "",
        "| how | batches | flags | wall s | peak RSS MB | outcome |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for how, key in (
        ("`evaluate_pending` (product code)", "full"),
        (f"bench-side, {args.chunk_batches:,} batches per chunk (not product code)", "chunked"),
    ):
        got = meta.get(key)
        if got is None:
            continue
        if "stopped" in got:
            lines.append(
                f"| {how} | {built['batches'] + len(NEW_BATCHES):,} | - | {got['seconds']:.1f}"
                f" | {got['max_rss_mb']:,.0f} | {got['stopped']} |"
            )
        else:
            lines.append(
                f"| {how} | {got['batches']:,} | {got['flags']:,} | {got['seconds']:.1f}"
                f" | {got['max_rss_mb']:,.0f} | finished |"
            )
    full = meta["full"]
    if "stopped" in full:
        lines += ["", "Where it was when stopped (elapsed, peak RSS so far, step starting):"]
        lines += ["", "```", *full["steps"], "```"]
        if "chunked" in meta and "stopped" not in meta["chunked"]:
            lines += [
                "",
                "The incremental runs above start from the database the chunked re-evaluation"
                " left (same thresholds and the same store and rule functions; only the batches"
                " are taken a product group at a time).",
            ]
    else:
        lines += ["", "| step | s |", "| --- | --- |"]
        lines += [f"| {k} | {v:.1f} |" for k, v in full["phases"].items()]
    size = f", {ready.stat().st_size / 1e9:.2f} GB on disk" if ready is not None else ""
    lines += [
        "",
        f"Database built with DuckDB SQL in {built['build_s']:.0f} s{size}; the machine has"
        f" {os.cpu_count()} cores.",
        "",
        f"Command: `.venv/bin/python bench/evaluate_at_scale.py --results {args.results}"
        f" --runs {args.runs}`",
    ]
    return lines


if __name__ == "__main__":
    main()
