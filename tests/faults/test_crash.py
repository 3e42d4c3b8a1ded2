"""SIGKILL at named points of an ingest (KQC_FAULT, see kqc.process.faults), one
after the other on the same folder, then a clean rerun: each file ends stored
once or not at all, nothing lost, nothing doubled, nothing left queued."""

import signal

import duckdb

from tests.faults.helpers import check_books, drop, ingest

# point[:n]: killed the n-th time the run reaches the point. Runs store two
# files per transaction (KQC_GROUP_FILES), so a kill at the second commit
# comes after a first group was stored.
POINTS = ["loaded:2", "before_commit:2", "after_commit:2", "mid_move:2", "evaluate", "publish"]


def test_sigkill_at_each_point_then_a_rerun_finishes_the_job(tmp_path):
    inbox = tmp_path / "inbox"
    dropped: dict[str, int] = {}
    for n, point in enumerate(POINTS):
        dropped |= drop(inbox, n * 3 + 1, 3, bad_every=4)
        code, _, err = ingest(tmp_path, KQC_FAULT=point, KQC_GROUP_FILES="2")
        assert code == -signal.SIGKILL, (point, code, err)
        check_books(tmp_path, dropped, inbox_may_hold=True)
    code, _, err = ingest(tmp_path)
    assert code in (0, 1), err  # 1 when a rejected file was still waiting
    check_books(tmp_path, dropped)
    assert any(v == 0 for v in dropped.values()) and any(v for v in dropped.values())
    with duckdb.connect(str(tmp_path / "kqc.duckdb"), read_only=True) as con:
        # Every stored batch was evaluated despite the kills: none left queued.
        assert con.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert (tmp_path / "kqc.snapshot.duckdb").exists()
