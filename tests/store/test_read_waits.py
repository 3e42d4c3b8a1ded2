"""A command that reads waits out a writer's short transaction (a watch's
run, a console page of `kqc serve`) instead of failing, and still fails in
one sentence when a program keeps the file open."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kqc.store import connect
from kqc.store.errors import DatabaseLocked
from kqc.store.queries import batch_statuses

HOLD = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
    " print('open', flush=True); time.sleep(float(sys.argv[2])); c.close();"
    " print('closed', flush=True); time.sleep(30)"
)


def _holder(db, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    return holder


def test_a_read_waits_for_a_short_writer(tmp_path):
    db = tmp_path / "kqc.duckdb"
    with connect(db):
        pass
    holder = _holder(db, 1.0)
    try:
        started = time.monotonic()
        assert batch_statuses(db).height == 0
        assert 0.5 < time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()


def test_a_read_still_fails_when_the_file_stays_held(tmp_path, monkeypatch):
    monkeypatch.setenv("KQC_LOCK_WAIT", "1")
    db = tmp_path / "kqc.duckdb"
    with connect(db):
        pass
    holder = _holder(db, 60)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseLocked, match="open in another program"):
            batch_statuses(db)
        assert time.monotonic() - started < 4
    finally:
        holder.kill()
        holder.wait()
