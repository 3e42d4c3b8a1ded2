"""Someone holds the live database (a SQL client left open, read-only):
the ingest waits and says so, then either goes on when the holder lets go
or, after KQC_LOCK_WAIT, leaves the file in the inbox and exits 1."""

import json
import subprocess
import sys
import time

from tests.faults.helpers import check_books, drop, env, finish, ingest, start

HOLD = (
    "import sys, duckdb\n"
    "con = duckdb.connect(sys.argv[1], read_only=True)\n"
    "print('holding', flush=True)\n"
    "sys.stdin.readline()\n"
    "con.close()\n"
)


def _reader(db):
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert reader.stdout.readline().strip() == "holding"
    return reader


def _first_run(home):
    dropped = drop(home / "inbox", 1, 1)
    assert ingest(home)[0] == 0
    return dropped


def test_held_database_leaves_the_file_in_the_inbox_after_the_wait(tmp_path):
    dropped = _first_run(tmp_path)
    dropped |= drop(tmp_path / "inbox", 2, 2)
    reader = _reader(tmp_path / "kqc.duckdb")
    try:
        code, out, err = ingest(tmp_path, KQC_LOCK_WAIT="1")
    finally:
        reader.communicate("\n", timeout=30)
    assert code == 1, err
    assert f"database held by another process (pid {reader.pid}); waiting up to 1 s" in err
    assert err.count("waiting up to") == 1  # said once, not once per file
    assert f"stayed open in another program (pid {reader.pid}) for 1 s" in out
    failed = [json.loads(line) for line in out.splitlines()]
    assert [f["status"] for f in failed] == ["failed", "failed"]
    assert all(len(f["sha256"]) == 64 and "stayed open" in f["reason"] for f in failed)
    check_books(tmp_path, dropped, inbox_may_hold=True)
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == [
        "lab_0002.csv",
        "lab_0003.csv",
    ]
    # Once the holder is gone, the next run takes them.
    assert ingest(tmp_path)[0] == 0
    check_books(tmp_path, dropped)


def test_ingest_goes_on_when_the_holder_lets_go(tmp_path):
    dropped = _first_run(tmp_path)
    dropped |= drop(tmp_path / "inbox", 2, 1)
    reader = _reader(tmp_path / "kqc.duckdb")
    run = start(tmp_path, "--json", KQC_LOCK_WAIT="60")
    try:
        deadline = time.monotonic() + 120
        while "waiting up to" not in run.stderr and time.monotonic() < deadline:
            time.sleep(0.1)
        said = run.stderr
        assert "database held by another process" in said and "waiting up to 60 s" in said
    finally:
        reader.communicate("\n", timeout=30)
    code, out, err = finish(run)
    assert code == 0, err
    assert '"status": "ingested"' in out
    check_books(tmp_path, dropped)
