"""The settle decision, on observations alone: a file is taken at the first
sighting at which its last write (mtime) is the settle time old, and the
watch looks again when the next file will be."""

from kqc.files.watching import next_due, outcome_line, ready

OLD = 1_000 * 10**9  # an mtime long before the clock below


def test_a_file_first_seen_with_an_old_mtime_is_taken_at_once():
    assert ready({"a.csv": (10, OLD)}, now=2_000.0, settle=2) == ["a.csv"]
    assert next_due({"a.csv": (10, OLD)}, now=2_000.0, settle=2) is None


def test_a_recent_write_keeps_a_file_waiting_until_it_settles():
    mtime = int(1_999.5 * 10**9)
    stats = {"a.csv": (10, mtime)}
    assert ready(stats, now=2_000.0, settle=2) == []
    assert next_due(stats, now=2_000.0, settle=2) == 2_001.5
    assert ready(stats, now=2_001.4, settle=2) == []
    assert ready(stats, now=2_001.5, settle=2) == ["a.csv"]


def test_a_growing_file_waits_from_its_last_write():
    first = {"a.csv": (10, int(1_999.0 * 10**9))}
    grown = {"a.csv": (20, int(2_000.9 * 10**9))}
    assert ready(first, now=2_001.0, settle=2) == ["a.csv"]
    assert ready(grown, now=2_002.0, settle=2) == []
    assert next_due(grown, now=2_002.0, settle=2) == 2_002.9


def test_a_file_from_a_clock_ahead_is_looked_at_again_within_the_settle_time():
    ahead = {"a.csv": (1, int(9_000.0 * 10**9))}
    assert ready(ahead, now=2_000.0, settle=2) == []
    assert next_due(ahead, now=2_000.0, settle=2) == 2_002.0


def test_settled_files_come_in_path_order_and_the_earliest_wait_wins():
    stats = {
        "b.csv": (1, OLD),
        "a.csv": (1, OLD),
        "late.csv": (1, int(1_999.9 * 10**9)),
        "later.csv": (1, int(2_000.5 * 10**9)),
    }
    assert ready(stats, now=2_000.0, settle=1) == ["a.csv", "b.csv"]
    assert next_due(stats, now=2_000.0, settle=1) == 2_000.9


def test_a_full_disk_is_named_in_the_line():
    line = outcome_line("x.csv", "failed", 0, 0, "[Errno 28] No space left on device: 'a'")
    assert line.startswith("x.csv: left in the inbox, 0 rows")
    assert "the disk is full" in line
