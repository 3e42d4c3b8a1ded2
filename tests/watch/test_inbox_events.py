"""The watch's file-system events are in place before it serves: a file
dropped the moment the watch says "serving" wakes it, with no wait for the
rescan."""

from __future__ import annotations

import threading
import time

import pytest

from kqc.service.watch import EVENTS_ENV, _inbox_events


@pytest.mark.parametrize("attempt", range(5))
def test_a_file_dropped_as_soon_as_the_events_are_on_wakes_the_loop(tmp_path, attempt):
    wake, stop = threading.Event(), threading.Event()
    with _inbox_events(tmp_path, wake, stop):
        # No pause: the watcher must already be watching.
        (tmp_path / f"lab_{attempt}.csv").write_bytes(b"lab_id\n")
        assert wake.wait(5), "the drop raised no event"
    assert stop.is_set()


def test_with_events_off_the_context_neither_waits_nor_wakes(tmp_path, monkeypatch):
    monkeypatch.setenv(EVENTS_ENV, "off")
    wake, stop = threading.Event(), threading.Event()
    start = time.monotonic()
    with _inbox_events(tmp_path, wake, stop):
        # Not the wait for a watcher that never comes (_EVENTS_READY_S, 10 s).
        assert time.monotonic() - start < 5
        (tmp_path / "lab.csv").write_bytes(b"lab_id\n")
        assert not wake.wait(0.5)
