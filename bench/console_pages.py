"""The QA console's server time on the database of 10,000,000 results
(targets: every page within 0.3 s, sign-in within 0.5 s), each beside its
baselines measured in the same run: the console's own `/health` (the cost of
the framework, the session and the headers alone) and, for the batch page,
the store's dossier read that `kqc batch` makes (the data the page shows,
without rendering it).

The database is the one bench/evaluate_at_scale.py builds and evaluates
(cached under bench/out/, built there when missing; a copy is used here, so
the users this adds stay out of it). Requests go to the app in this process
(Starlette's test client: no network in the figure), signed in as an
approver, so every form a page offers is rendered; medians of --runs, after
one untimed request per page to warm DuckDB's caches.

Run:  .venv/bin/python bench/console_pages.py [--results 10000000] [--runs 7]
Writes bench/results/console_pages.md and prints the same table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import time
from argparse import Namespace
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import evaluate_at_scale as scale  # noqa: E402  (the builder of the big database)

PAGE_TARGET_S = 0.3
SIGN_IN_TARGET_S = 0.5
PASSWORD = "a bench pass phrase, long"


def _timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm, untimed
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    results = scale.scale(options.results)[0] * scale.RESULTS_PER_BATCH
    big, meta = scale.prepare_big(
        Namespace(
            results=results, rebuild=False, max_rss_gb=14.0, full_timeout=900.0, chunk_batches=5000
        )
    )
    assert big is not None, "the big database could not be evaluated; see evaluate_at_scale.py"
    work = HERE / "out" / "console_pages"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "kqc.duckdb"
    shutil.copyfile(big, db)

    from starlette.testclient import TestClient

    from kqc.config.settings import locations
    from kqc.console.app import make_app
    from kqc.store.connection import connect, run
    from kqc.store.dossier import read_dossier_rows
    from kqc.store.users import add_user

    add_user(db, "bench.approver", "Bench Approver", "approver", PASSWORD)
    add_user(db, "bench.admin", "Bench Admin", "admin", PASSWORD)
    with connect(db, read_only=True) as con:
        (flagged,) = run(
            con,
            "SELECT batch_id FROM flags WHERE status = 'open' ORDER BY batch_id"
            " LIMIT 1 OFFSET (SELECT count(*) // 2 FROM flags WHERE status = 'open')",
        )[0]
        (lab,) = run(con, "SELECT lab_id FROM results LIMIT 1")[0]
    batches = meta["build"]["batches"]
    middle = f"KR-{batches // 2:07d}"
    where = locations(db)
    client = TestClient(make_app(where), base_url="http://127.0.0.1")

    def sign_in(name: str) -> float:
        """Sign in as `name`; the time of the POST alone (the page is fetched first)."""
        page = client.get("/signin")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None, page.text[:500]
        start = time.perf_counter()
        done = client.post(
            "/signin",
            data={"csrf": token.group(1), "next": "/", "name": name, "password": PASSWORD},
            follow_redirects=False,
        )
        took = time.perf_counter() - start
        assert done.status_code == 303, (done.status_code, done.text[:500])
        return took

    sign_in("bench.approver")  # warm, untimed
    sign_in_times = [sign_in("bench.approver") for _ in range(options.runs)]
    pages = {
        "/ (what needs a decision)": "/",
        "/findings (open first, grouped)": "/findings",
        "/findings?severity=critical": "/findings?severity=critical",
        "/findings?status=dismissed": "/findings?status=dismissed",
        f"/findings?lab={lab}": f"/findings?lab={lab}",
        f"/batch/{middle} (no finding)": f"/batch/{middle}",
        f"/batch/{flagged} (with findings)": f"/batch/{flagged}",
        f"/batch/{flagged}/release-record": f"/batch/{flagged}/release-record",
        "/inbox": "/inbox",
    }

    def get(path: str) -> Callable[[], None]:
        def call() -> None:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])

        return call

    figures: list[tuple[str, list[float], float | None]] = [
        (
            "sign-in (POST /signin: the password checked, a session made)",
            sign_in_times,
            SIGN_IN_TARGET_S,
        )
    ]
    figures.append(
        ("baseline: /health (framework, no data)", _timed(get("/health"), options.runs), None)
    )
    figures.append(
        (
            f"baseline: the store's dossier read of {flagged} (what `kqc batch` reads)",
            _timed(lambda: read_dossier_rows(db, flagged), options.runs),
            None,
        )
    )
    for name, path in pages.items():
        figures.append((name, _timed(get(path), options.runs), PAGE_TARGET_S))
    sign_in("bench.admin")
    figures.append(("/users (admin)", _timed(get("/users"), options.runs), PAGE_TARGET_S))

    load = os.getloadavg()
    lines = [
        f"# The QA console on {meta['build'].get('results', results):,} results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (load average"
        f" {load[0]:.2f}), with `python bench/console_pages.py --results {options.results}"
        f" --runs {options.runs}`; the database: {batches:,} batches,"
        f" {meta['build'].get('results', results):,} results. Server time of each request"
        " (in this process, no network), median of the runs.",
        "",
        "| request | median | slowest | target | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, times, target in figures:
        median = statistics.median(times)
        verdict = "" if target is None else ("PASS" if median <= target else "FAIL")
        lines.append(
            f"| {name} | {median * 1000:.0f} ms | {max(times) * 1000:.0f} ms |"
            f" {'' if target is None else f'≤ {target * 1000:.0f} ms'} | {verdict} |"
        )
    out = HERE / "results" / "console_pages.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
