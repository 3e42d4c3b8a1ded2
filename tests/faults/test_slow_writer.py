"""A file still being written when the scan runs (a writer appending every
0.2 s) is left alone; once it is complete the next run takes it whole."""

import subprocess
import sys

import duckdb

from tests.faults.helpers import HEADER, check_books, drop, ingest

# Appends a line every 0.2 s until told to stop (a stop file appears), then
# prints how many it wrote: however slow the machine, the run sees it writing.
WRITE = (
    "import os, sys, time\n"
    "n = 0\n"
    "with open(sys.argv[1], 'ab', buffering=0) as out:\n"
    "    out.write(sys.argv[2].encode())\n"
    "    print('started', flush=True)\n"
    "    while not os.path.exists(sys.argv[3]):\n"
    "        time.sleep(0.2)\n"
    "        out.write(f'Acme,BW,SW{n},Mitragynine,1.5,%\\n'.encode())\n"
    "        n += 1\n"
    "print(n, flush=True)\n"
)


def test_a_file_being_written_is_left_until_complete(tmp_path):
    dropped = drop(tmp_path / "inbox", 1, 1)
    slow = tmp_path / "inbox" / "slow.csv"
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITE, str(slow), HEADER.decode(), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "started"
    code, out, err = ingest(tmp_path, KQC_STABLE_SECONDS="1")
    stop.touch()
    lines = int(writer.stdout.readline())
    writer.wait(timeout=60)
    assert code == 0, err
    assert "slow.csv" not in out
    assert slow.exists() and not (tmp_path / "archive" / "slow.csv").exists()
    dropped["slow.csv"] = lines
    check_books(tmp_path, dropped, inbox_may_hold=True)
    code, out, err = ingest(tmp_path, KQC_STABLE_SECONDS="1")
    assert code == 0, err
    check_books(tmp_path, dropped)
    with duckdb.connect(str(tmp_path / "kqc.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM results WHERE batch_id = 'BW'").fetchone() == (
            lines,
        )
