"""How long a QA lead or a script waits for another while `kqc serve` works:
console pages fetched over HTTP from a running `kqc serve`, and `kqc flags`
run beside it, first while nothing else happens (the baseline), then while
the watch ingests a lab's normal traffic (target: no request waits more than
a second for another).

The traffic: a 30-row results file every second and, every 20 seconds, a
5,000-row file (a large certificate run); each is stored, judged and
published by the watch in the same process that serves the console, whose
connections to the live file take turns with the watch's. A signed-in
approver fetches the pages in turn without pause; `kqc flags` runs every 5
seconds in its own process. The figure for each is its time with the traffic
against its time without it, in the same run.

Run:  .venv/bin/python bench/console_beside_watch.py [--minutes 3]
Writes bench/results/console_beside_watch.md and prints the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import live_watch  # noqa: E402  (its header, and how it drops a file)

WAIT_TARGET_S = 1.0
PASSWORD = "a bench pass phrase, long"
KQC = [sys.executable, "-m", "kqc"]
PAGES = ("/", "/findings", "/findings?severity=critical", "/inbox")


@dataclass
class Timings:
    quiet: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KQC_", "PREFECT_API_URL"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def _file(batch: str, rows: int) -> bytes:
    """A results file of its own samples (a sample id another file reused
    would amend that file's results): lead far over its limit, and
    mitragynine."""
    lines = [f"Acme,{batch},{batch}-S1,Lead,90000,ppb"]
    lines += [f"Acme,{batch},{batch}-S{i},Mitragynine,1.{i % 9},%" for i in range(1, rows)]
    return (live_watch.HEADER + "\n".join(lines) + "\n").encode()


def _signed_in(base: str):  # -> httpx.Client
    import httpx

    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None, page.text[:300]
    done = client.post(
        "/signin",
        data={"csrf": token.group(1), "next": "/", "name": "bench.approver", "password": PASSWORD},
    )
    assert done.status_code == 303, (done.status_code, done.text[:300])
    return client


FAILURES: list[str] = []


def _loop(stop: threading.Event, call: Callable[[], None]) -> None:
    """`call` again and again until `stop`; a failure is kept, not a wait."""
    while not stop.is_set():
        try:
            call()
        except Exception as err:
            FAILURES.append(f"{type(err).__name__}: {str(err)[:200]}")


def _summary(times: list[float]) -> str:
    if not times:
        return "—"
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"{statistics.median(ordered) * 1000:.0f} / {p95 * 1000:.0f} / {ordered[-1] * 1000:.0f} ms"
        f" ({len(ordered)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--quiet-seconds", type=float, default=30)
    options = parser.parse_args()
    home = HERE / "out" / "console_beside_watch"
    shutil.rmtree(home, ignore_errors=True)
    (home / "inbox").mkdir(parents=True)
    env = _env()
    for name in ("bench.approver",):
        subprocess.run(
            [*KQC, "users", "add", name, "--role", "approver", "--full-name", "Bench Approver"],
            cwd=home,
            env=env,
            input=f"{PASSWORD}\n{PASSWORD}\n",
            text=True,
            check=True,
            capture_output=True,
        )
    port = _free_port()
    log = (home / "serve.out").open("w")
    serve = subprocess.Popen(
        [*KQC, "serve", "--port", str(port), "--settle", "0.3", "--interval", "5"],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while "kqc serve: serving" not in (home / "serve.out").read_text():
            if time.monotonic() > deadline or serve.poll() is not None:
                raise SystemExit("kqc serve did not start: see " + str(home / "serve.out"))
            time.sleep(0.2)
        # A first batch with findings, so the pages have something to show.
        live_watch.drop(home / "inbox", "first.csv", _file("FIRST", 30))
        while "first.csv" not in (home / "serve.out").read_text():
            time.sleep(0.2)
        client = _signed_in(f"http://127.0.0.1:{port}")
        pages = {path: Timings() for path in PAGES}
        flags = Timings()
        signing = Timings()
        to_sign: list[str] = []  # open findings kqc flags listed, for the signer
        phase = {"busy": False}

        def page_call() -> Callable[[], None]:
            turn = iter(range(10**9))

            def call() -> None:
                path = PAGES[next(turn) % len(PAGES)]
                start = time.perf_counter()
                answer = client.get(path)
                took = time.perf_counter() - start
                assert answer.status_code == 200, (path, answer.status_code)
                timings = pages[path]
                (timings.busy if phase["busy"] else timings.quiet).append(took)

            return call

        def flags_call() -> None:
            start = time.perf_counter()
            done = subprocess.run(
                [*KQC, "flags", "--format", "json"],
                cwd=home,
                env=env,
                capture_output=True,
                check=False,
            )
            # 1: open flags listed; anything else is a failure, not a wait
            assert done.returncode in (0, 1), done.stderr
            took = time.perf_counter() - start
            (flags.busy if phase["busy"] else flags.quiet).append(took)
            listed = json.loads(done.stdout or "[]")
            to_sign[:] = [f["flag_id"] for f in listed if f["status"] == "open"][:50]
            time.sleep(5)

        signer = _signed_in(f"http://127.0.0.1:{port}")
        signed: set[str] = set()

        def sign_call() -> None:
            """Confirm one open finding, signed with the password, every 5 s."""
            time.sleep(5)
            todo = [f for f in to_sign if f not in signed]
            if not todo:
                return
            page = signer.get("/")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None, page.text[:300]
            start = time.perf_counter()
            answer = signer.post(
                f"/flags/{todo[0]}/review",
                data={
                    "csrf": token.group(1),
                    "decision": "confirm",
                    "note": "confirmed in the benchmark",
                    "password": PASSWORD,
                },
            )
            took = time.perf_counter() - start
            assert answer.status_code == 303, (answer.status_code, answer.text[:300])
            signed.add(todo[0])
            shown = signer.get(answer.headers["location"]).text
            if "signed by" not in shown:
                said = re.search(r'class="flash[^"]*"[^>]*>(.*?)<', shown, re.S)
                raise AssertionError(f"not signed: {said.group(1) if said else shown[:300]}")
            (signing.busy if phase["busy"] else signing.quiet).append(took)

        stop = threading.Event()
        readers = [
            threading.Thread(target=_loop, args=(stop, page_call()), daemon=True),
            threading.Thread(target=_loop, args=(stop, flags_call), daemon=True),
            threading.Thread(target=_loop, args=(stop, sign_call), daemon=True),
        ]
        for reader in readers:
            reader.start()
        time.sleep(options.quiet_seconds)
        phase["busy"] = True
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < options.minutes * 60:
            time.sleep(max(0.0, began + n - time.monotonic()))
            n += 1
            if n % 20 == 0:
                live_watch.drop(home / "inbox", f"large_{n:05d}.csv", _file(f"BIG{n:05d}", 5000))
            else:
                live_watch.drop(home / "inbox", f"live_{n:05d}.csv", _file(f"L{n:05d}", 30))
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=120)
        log.close()
    taken = (home / "serve.out").read_text().count("ingested")
    import duckdb

    with duckdb.connect(str(home / "kqc.duckdb"), read_only=True) as con:
        (stored_signatures,) = con.execute("SELECT count(*) FROM signatures").fetchone()
    lines = [
        "# Waiting for one another under `kqc serve`",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores with"
        f" `python bench/console_beside_watch.py --minutes {options.minutes:g}`: first"
        f" {options.quiet_seconds:g} s with nothing else happening, then {options.minutes:g}"
        f" min of a 30-row file every second and a 5,000-row file every 20 s ({n} files,"
        f" {taken} lines 'ingested' in the watch's output). Each cell: median / p95 / slowest"
        " (requests). A page is fetched over HTTP from the running `kqc serve` by a signed-in"
        " approver, one request after another; `kqc flags --format json` is a whole new"
        " process every 5 s.",
        "",
        "| request | nothing else happening | beside the watch's traffic | slowest wait"
        " (slowest beside − median alone) | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = [
        *((f"GET {p}", t) for p, t in pages.items()),
        (
            "POST /flags/ID/review (a signed confirmation: password checked, snapshot renewed)",
            signing,
        ),
        ("kqc flags", flags),
    ]
    for name, timings in rows:
        wait = max(timings.busy, default=0.0) - statistics.median(timings.quiet or [0.0])
        verdict = "PASS" if wait <= WAIT_TARGET_S else "FAIL"
        lines.append(
            f"| {name} | {_summary(timings.quiet)} | {_summary(timings.busy)} |"
            f" {wait * 1000:.0f} ms | ≤ {WAIT_TARGET_S * 1000:.0f} ms: {verdict} |"
        )
    posted = len(signing.quiet) + len(signing.busy)
    lines += [
        "",
        f"Signatures stored: {stored_signatures} (signed confirmations posted: {posted}).",
        "",
        f"Failed requests: {len(FAILURES)}" + (f" (first: {FAILURES[0]})" if FAILURES else ""),
    ]
    out = HERE / "results" / "console_beside_watch.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
