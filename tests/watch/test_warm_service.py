"""The warm watch: one process, its own Prefect server, an ingest flow run in
that process for each batch of settled files; file-system events and the
rescan; `kqc ingest` handed to it; SIGTERM and `kill -9` losing nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.faults.helpers import bad, check_books, good
from tests.watch.helpers import Watch, children_of

KQC = [sys.executable, "-m", "kqc"]


def _aged(path: Path, data: bytes, seconds: float = 30) -> None:
    """Write `path` whole, its mtime `seconds` in the past (a copy that kept
    the original's time, or a file moved in from elsewhere)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    old = time.time() - seconds
    os.utime(tmp, (old, old))
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _api(watch: Watch) -> str:
    line = watch.wait_line("Prefect UI: ")
    found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    assert found is not None, line
    return found.group(1) + "/api"


def _ingest_runs(api: str) -> list[dict]:
    body = json.dumps({"flows": {"name": {"any_": ["kqc-ingest"]}}, "limit": 200}).encode()
    request = urllib.request.Request(
        f"{api}/flow_runs/filter", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def slow_rescan(tmp_path_factory):
    """A watch whose rescan comes once a minute: what it takes sooner came
    through a file-system event."""
    home = tmp_path_factory.mktemp("warm")
    (home / "inbox").mkdir()
    watch = Watch(home, interval="60", settle="1")
    watch.wait_line("kqc watch: serving", timeout=180)
    yield watch
    if watch.proc.poll() is None:
        watch.stop(signal.SIGTERM)


def test_the_first_snapshot_is_published_before_any_file(slow_rescan):
    watch = slow_rescan
    assert (watch.home / "kqc.snapshot.duckdb").exists()
    assert (watch.home / "kqc.heads.json").exists()


def test_a_settled_file_is_taken_on_its_first_sighting_through_an_event(slow_rescan):
    watch = slow_rescan
    start = time.monotonic()
    _aged(watch.home / "inbox" / "lab_0101.csv", good(101))
    line = watch.wait_line("lab_0101.csv", timeout=30)
    taken_after = time.monotonic() - start
    assert line.endswith("lab_0101.csv: ingested, 2 rows"), watch.output()
    # No second look, no wait for the minute's rescan.
    assert taken_after < 20, taken_after


def test_a_fresh_file_is_taken_once_it_settles_without_waiting_for_a_rescan(slow_rescan):
    watch = slow_rescan
    start = time.monotonic()
    (watch.home / "inbox" / "lab_0102.csv").write_bytes(good(102))
    assert watch.wait_line("lab_0102.csv", timeout=30).endswith("ingested, 2 rows")
    assert 1.0 <= time.monotonic() - start < 20


def test_each_ingest_is_a_flow_run_in_the_watch_process(slow_rescan):
    watch = slow_rescan
    api = _api(watch)
    before = len(_ingest_runs(api))
    for i in (103, 104):
        _aged(watch.home / "inbox" / f"lab_{i:04d}.csv", good(i))
        watch.wait_line(f"lab_{i:04d}.csv", timeout=30)
    runs = _ingest_runs(api)
    assert len(runs) == before + 2
    assert all(r["state_type"] == "COMPLETED" for r in runs), runs
    # The only child of the watch is its Prefect server: no process per scan.
    children = children_of(watch.proc.pid)
    assert len(children) == 1, children
    command = Path(f"/proc/{children[0]}/cmdline").read_bytes().split(b"\0")
    assert b"prefect" in command and b"server" in command, command
    # Its runs send no heartbeats to the server it started for itself (each
    # would cost the run up to a second at its end), yet their events arrive.
    assert _events(api, "prefect.flow-run.Completed")
    assert _events(api, "prefect.flow-run.heartbeat") == []


def _events(api: str, name: str) -> list[dict]:
    body = json.dumps({"filter": {"event": {"name": [name]}}, "limit": 50})
    request = urllib.request.Request(
        f"{api}/events/filter", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["events"]


def _outcomes(stdout: str, home: Path) -> list[dict]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    for row in rows:
        for key in ("stored_as", "errors_csv"):
            if key in row:
                row[key] = str(Path(row[key]).relative_to(home))
    return rows


def test_kqc_ingest_handed_to_the_watch_gives_the_outcomes_it_gives_alone(slow_rescan, tmp_path):
    watch = slow_rescan
    alone = tmp_path / "alone"
    alone.mkdir()
    results = {}
    for home in (watch.home, alone):
        drop = home / "drop"
        drop.mkdir()
        (drop / "good_0110.csv").write_bytes(good(110))
        (drop / "bad_0111.csv").write_bytes(bad(111))
        started = time.monotonic()
        done = subprocess.run(
            [*KQC, "ingest", str(drop), "--db", str(home / "kqc.duckdb"), "--json"],
            cwd=home,
            env=watch.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        results[home] = (done.returncode, _outcomes(done.stdout, home), time.monotonic() - started)
    handed, cold = results[watch.home], results[alone]
    assert handed[:2] == cold[:2], (handed, cold)
    assert handed[0] == 1  # a file was rejected
    assert {o["status"] for o in handed[1]} == {"ingested", "rejected"}
    # The watch ran them: its lines name them, and it took a fraction of the cold run.
    watch.wait_line("good_0110.csv: ingested, 2 rows")
    watch.wait_line("bad_0111.csv: rejected")
    assert handed[2] < cold[2], (handed[2], cold[2])


def test_kqc_ingest_with_other_settings_than_the_watch_runs_under_its_own(slow_rescan, tmp_path):
    """A house thresholds file named for one `kqc ingest` is not the watch's:
    the watch refuses the request, and the command judges the file itself,
    by the house file; a broken house file still stops it (exit 2), with the
    file left where it was."""
    watch = slow_rescan
    shipped = Path(__file__).parents[2] / "schemas" / "thresholds.csv"
    house = tmp_path / "house.csv"
    # The same limits with Windows line ends: another file, another version.
    house.write_bytes(shipped.read_bytes().replace(b"\n", b"\r\n"))
    drop = watch.home / "drop-house"
    drop.mkdir()
    (drop / "good_0120.csv").write_bytes(good(120))
    env = {**watch.env, "KQC_THRESHOLDS": str(house)}
    command = [*KQC, "ingest", str(drop), "--db", str(watch.home / "kqc.duckdb"), "--json"]
    done = subprocess.run(command, cwd=watch.home, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [o["status"] for o in _outcomes(done.stdout, watch.home)] == ["ingested"]
    assert not any("good_0120.csv" in line for line in watch.lines), watch.lines[-5:]
    import duckdb

    with duckdb.connect(str(watch.home / "kqc.duckdb"), read_only=True) as con:
        versions = {v for (v,) in con.execute("SELECT DISTINCT version FROM thresholds").fetchall()}
        judged = con.execute(
            "SELECT DISTINCT threshold_version FROM flags WHERE batch_id = 'B120'"
        ).fetchall()
    assert len(versions) == 1 and next(iter(versions)).startswith("house-"), versions
    assert judged == [(next(iter(versions)),)], judged

    house.write_text("rule,analyte\nheavy_metal,lead\n")
    (drop / "good_0121.csv").write_bytes(good(121))
    done = subprocess.run(command, cwd=watch.home, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "lacks the column(s) limit_value" in done.stderr
    assert (drop / "good_0121.csv").exists()


def test_the_rescan_finds_files_when_there_are_no_events(tmp_path):
    home = tmp_path / "lab"
    (home / "inbox").mkdir(parents=True)
    watch = Watch(home, interval="1", settle="1", extra_env={"KQC_WATCH_EVENTS": "off"})
    try:
        watch.wait_line("kqc watch: serving", timeout=180)
        _aged(home / "inbox" / "lab_0120.csv", good(120))
        assert watch.wait_line("lab_0120.csv", timeout=30).endswith("ingested, 2 rows")
    finally:
        assert watch.stop(signal.SIGTERM) == 0


def test_sigterm_during_a_run_lets_it_finish_and_leaves_no_process(tmp_path):
    home = tmp_path / "lab"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    watch = Watch(home, interval="60", settle="1")
    watch.wait_line("kqc watch: serving", timeout=180)
    children = children_of(watch.proc.pid)
    dropped = {}
    for i in range(300, 500):
        name = f"lab_{i:04d}.csv"
        (inbox / f".{name}").write_bytes(good(i))
        dropped[name] = 2
    old = time.time() - 30
    for name in dropped:
        os.utime(inbox / f".{name}", (old, old))
        os.replace(inbox / f".{name}", inbox / name)
    watch.wait_line("ingested", timeout=120)
    code = watch.stop(signal.SIGTERM, timeout=300)
    assert code == 0, watch.output()
    assert watch.lines[-1] == "kqc watch: stopped", watch.output()
    # Every file the watch filed away has its line: the run was not cut.
    filed = {p.name for p in (home / "archive").glob("*.csv")}
    printed = {n for n in dropped if any(f"{n}: ingested, 2 rows" in ln for ln in watch.lines)}
    assert filed and filed == printed, (len(filed), len(printed))
    check_books(home, dropped)
    deadline = time.monotonic() + 30
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(c) for c in children), children
    assert not (home / "logs" / "watch-handoff.json").exists()


def test_kill_9_at_any_moment_loses_nothing(tmp_path):
    """A hundred drops, the watch killed with SIGKILL five times while they
    come; every file ends exactly once, stored once."""
    home = tmp_path / "lab"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    dropped: dict[str, int] = {}
    for round_ in range(5):
        watch = Watch(home, interval="1", settle="0.5")
        watch.wait_line("kqc watch: serving", timeout=180)
        for i in range(round_ * 20, round_ * 20 + 20):
            name = f"lab_{i:04d}.csv"
            is_bad = i % 7 == 0
            _aged(inbox / name, bad(i) if is_bad else good(i), seconds=5)
            dropped[name] = 0 if is_bad else 2
            time.sleep(0.05)
        time.sleep(0.3 * round_)  # each kill at another moment of the work
        server = children_of(watch.proc.pid)
        watch.proc.kill()
        watch.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(c) for c in server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(c) for c in server), "a killed watch left its server behind"
    last = Watch(home, interval="1", settle="0.5")
    try:
        last.wait_line("kqc watch: serving", timeout=180)
        last.wait_for(lambda: not list(inbox.glob("*.csv")), timeout=180)
    finally:
        try:
            code = last.stop(signal.SIGTERM, timeout=120)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, last.output()
    check_books(home, dropped)


def _server_of(watch: Watch) -> int:
    """The pid of the watch's local `prefect server start`."""
    for pid in children_of(watch.proc.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server" in command and b"prefect" in command:
            return pid
    raise AssertionError(f"no Prefect server among the watch's children\n{watch.output()}")


def test_a_prefect_server_that_dies_is_started_again_and_the_watch_goes_on(tmp_path):
    home = tmp_path / "lab"
    (home / "inbox").mkdir(parents=True)
    watch = Watch(home, interval="1", settle="0.5")
    try:
        api = _api(watch)
        watch.wait_line("kqc watch: serving", timeout=180)
        first = _server_of(watch)
        os.kill(first, signal.SIGKILL)
        _aged(home / "inbox" / "after_restart.csv", good(1), seconds=5)
        line = watch.wait_line("the local Prefect server stopped", timeout=120)
        assert "started again" in line, watch.output()
        watch.wait_line("after_restart.csv: ingested, 2 rows", timeout=180)
        second = _server_of(watch)
        assert second != first
        # The same address serves again, and holds the run of the file.
        assert any(r["state_type"] == "COMPLETED" for r in _ingest_runs(api)), watch.output()
    finally:
        code = watch.stop(signal.SIGTERM, timeout=120)
    assert code == 0, watch.output()
    assert "Traceback" not in watch.output()
    check_books(home, {"after_restart.csv": 2})
