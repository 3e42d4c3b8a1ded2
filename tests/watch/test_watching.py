"""The settle decision, on observations alone: a file is taken once its
size and mtime have been seen unchanged for the settle time."""

from kqc.files.watching import Seen, observe, outcome_line, settled

OLD = 1_000 * 10**9  # an mtime long before the clock below


def test_a_file_first_seen_waits_its_settle_time_even_with_an_old_mtime():
    seen = observe({}, {"a.csv": (10, OLD)}, now=2_000.0)
    assert settled(seen, now=2_000.0, settle=2) == []
    assert settled(seen, now=2_001.9, settle=2) == []
    assert settled(seen, now=2_002.0, settle=2) == ["a.csv"]


def test_a_growing_file_starts_its_settle_time_again():
    seen = observe({}, {"a.csv": (10, OLD)}, now=2_000.0)
    seen = observe(seen, {"a.csv": (20, OLD + 1)}, now=2_005.0)
    assert seen["a.csv"] == Seen(20, OLD + 1, 2_005.0)
    assert settled(seen, now=2_006.0, settle=2) == []
    seen = observe(seen, {"a.csv": (20, OLD + 1)}, now=2_007.0)
    assert settled(seen, now=2_007.0, settle=2) == ["a.csv"]


def test_a_recent_write_keeps_a_file_waiting_whatever_was_observed():
    mtime = int(2_004.5 * 10**9)  # written after the first sighting: a clock behind
    seen = {"a.csv": Seen(10, mtime, 2_000.0)}
    assert settled(seen, now=2_005.0, settle=2) == []
    assert settled(seen, now=2_006.5, settle=2) == ["a.csv"]


def test_files_gone_are_forgotten_and_settled_files_come_in_path_order():
    seen = observe({}, {"b.csv": (1, OLD), "a.csv": (1, OLD), "gone.csv": (1, OLD)}, 2_000.0)
    seen = observe(seen, {"b.csv": (1, OLD), "a.csv": (1, OLD)}, now=2_010.0)
    assert set(seen) == {"a.csv", "b.csv"}
    assert settled(seen, now=2_010.0, settle=0) == ["a.csv", "b.csv"]


def test_a_full_disk_is_named_in_the_line():
    line = outcome_line("x.csv", "failed", 0, 0, "[Errno 28] No space left on device: 'a'")
    assert line.startswith("x.csv: left in the inbox, 0 rows")
    assert "the disk is full" in line
