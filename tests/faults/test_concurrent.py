"""Two `kqc ingest` processes started together on one inbox of 200 files:
each file is processed exactly once (the run lock makes the second wait, then
find only what is left).

The lock is held by the test until both runs have said they wait: each run
spends some ten seconds starting Prefect before it asks for the lock, and the
first could otherwise be done before the second asks, with nothing to wait
for. Released, the two runs contend for it with each other."""

import time

import duckdb

from kqc.process import runlock
from tests.faults.helpers import check_books, drop, finish, start

_SAID = "waiting up to 240 s"


def test_two_ingests_over_200_files_process_each_once(tmp_path):
    dropped = drop(tmp_path / "inbox", 1, 200, bad_every=10)
    with runlock.ingest_run(tmp_path / "kqc.duckdb", wait=0):
        runs = [start(tmp_path, "--json", KQC_LOCK_WAIT="240") for _ in range(2)]
        deadline = time.monotonic() + 300
        while not all(_SAID in run.stderr for run in runs):
            assert time.monotonic() < deadline, [run.stderr for run in runs]
            assert all(run.proc.poll() is None for run in runs), [run.stderr for run in runs]
            time.sleep(0.2)
    done = [finish(run, timeout=400) for run in runs]
    statuses = [line for _, out, _ in done for line in out.splitlines()]
    assert len(statuses) == 200, statuses[:3]  # each file reported by one run only
    assert sum('"status": "ingested"' in s for s in statuses) == 180
    assert sum('"status": "rejected"' in s for s in statuses) == 20
    # The run that found rejected files exits 1, the other 0 (or 1 if it got some).
    assert sorted(code for code, _, _ in done) in ([0, 1], [1, 1])
    # Each said once why it waited (the one that waited twice, for the test's
    # lock and then for the other run, says it once).
    assert [err.count(_SAID) for _, _, err in done] == [1, 1], [e for *_, e in done]
    check_books(tmp_path, dropped)
    with duckdb.connect(str(tmp_path / "kqc.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM source_files").fetchone() == (200,)
        assert con.execute("SELECT count(*) FROM results").fetchone() == (360,)
