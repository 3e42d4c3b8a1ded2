"""A real `kqc watch` process on a temporary inbox (interval 1 s, settle 1 s),
with its own local Prefect server: good files stored and archived, a bad one
quarantined while the watch goes on, a file still being written left alone,
a full disk leaving the file in the inbox, a restart picking up what was
dropped meanwhile, and a clean stop on Ctrl-C and SIGTERM.

One watch serves the first tests (starting one costs a Prefect server); the
last test stops it, restarts it and stops it again. The later tests also
show the watch still taking files after the bad one."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.faults.helpers import HEADER, bad, check_books, good
from tests.watch.helpers import Watch


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    (home / "inbox").mkdir()
    watch = Watch(home)
    watch.wait_line("kqc watch: serving", timeout=180)
    yield watch, {}
    if watch.proc.poll() is None:
        watch.stop()


def _rows(home: Path, batch: str) -> int:
    """Rows stored for `batch`, read between the watch's writes (a scan may
    hold the database for a moment)."""
    for _ in range(100):
        try:
            with duckdb.connect(str(home / "kqc.duckdb"), read_only=True) as con:
                found = con.execute(
                    "SELECT count(*) FROM results WHERE batch_id = ?", [batch]
                ).fetchone()
            assert found is not None
            return int(found[0])
        except duckdb.IOException:
            time.sleep(0.2)
    raise AssertionError("the database stayed locked for 20 s")


def test_a_bad_file_is_quarantined_and_the_watch_goes_on(watched):
    watch, dropped = watched
    inbox = watch.home / "inbox"
    (inbox / "lab_0001.csv").write_bytes(bad(1))
    (inbox / "lab_0002.csv").write_bytes(good(2))
    dropped.update({"lab_0001.csv": 0, "lab_0002.csv": 2})
    assert "quarantined with 1 problem(s)" in watch.wait_line("lab_0001.csv")
    assert watch.wait_line("lab_0002.csv").endswith("lab_0002.csv: ingested, 2 rows")
    assert (watch.home / "quarantine" / "lab_0001.csv.errors.csv").exists()
    assert _rows(watch.home, "B2") == 2
    check_books(watch.home, dropped)


WRITE = (
    "import sys, time\n"
    "with open(sys.argv[1], 'ab', buffering=0) as out:\n"
    "    out.write(sys.argv[2].encode())\n"
    "    print('started', flush=True)\n"
    "    for i in range(int(sys.argv[3])):\n"
    "        time.sleep(0.3)\n"
    "        out.write(f'Acme,BW,SW{i},Mitragynine,1.5,%\\n'.encode())\n"
)


def test_a_file_still_being_written_waits_until_it_settles(watched):
    watch, dropped = watched
    slow = watch.home / "inbox" / "slow.csv"
    lines = 20  # 6 s of appending, a line every 0.3 s: never still for the 1 s settle time
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITE, str(slow), HEADER.decode(), str(lines)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
    while writer.poll() is None:
        assert not any("slow.csv" in line for line in watch.lines), watch.output()
        assert slow.exists()
    assert writer.returncode == 0
    dropped["slow.csv"] = lines
    assert watch.wait_line("slow.csv").endswith(f"slow.csv: ingested, {lines} rows")
    assert _rows(watch.home, "BW") == lines
    check_books(watch.home, dropped)


def test_a_full_disk_leaves_the_file_in_the_inbox_and_the_watch_goes_on(watched):
    watch, dropped = watched
    watch.disk_full.touch()
    full = watch.home / "inbox" / "lab_0004.csv"
    full.write_bytes(good(4))
    dropped["lab_0004.csv"] = 2
    line = watch.wait_line("lab_0004.csv")
    assert "left in the inbox" in line and "the disk is full" in line, line
    assert full.exists()
    watch.disk_full.unlink()  # space again: the next scan files it away
    watch.wait_for(
        lambda: any("lab_0004.csv" in ln and "left in the inbox" not in ln for ln in watch.lines)
    )
    assert not full.exists() and (watch.home / "archive" / "lab_0004.csv").exists()
    assert _rows(watch.home, "B4") == 2  # stored once, whether before or after the fault
    check_books(watch.home, dropped)


def _stopped_cleanly(watch: Watch, code: int, allowed: tuple[int, ...]) -> None:
    assert code in allowed, watch.output()
    assert watch.lines[-1] == "kqc watch: stopped", watch.output()
    assert "Traceback" not in watch.output()


def test_ctrl_c_stops_it_and_a_restart_picks_up_what_was_dropped_meanwhile(watched):
    watch, dropped = watched
    _stopped_cleanly(watch, watch.stop(signal.SIGINT), (0, 130))
    inbox = watch.home / "inbox"
    (inbox / "lab_0005.csv").write_bytes(good(5))
    (inbox / "lab_0006.csv").write_bytes(bad(6))
    dropped.update({"lab_0005.csv": 2, "lab_0006.csv": 0})
    check_books(watch.home, dropped, inbox_may_hold=True)
    again = Watch(watch.home)
    try:
        assert again.wait_line("lab_0005.csv", timeout=180).endswith("ingested, 2 rows")
        assert "quarantined" in again.wait_line("lab_0006.csv")
    finally:
        code = again.stop(signal.SIGTERM)
    _stopped_cleanly(again, code, (0,))
    check_books(watch.home, dropped)
