"""`ahead`: a streamed file's next chunk is prepared in a thread while the
current one is stored. Order, completeness, errors and an early stop must be
exactly those of iterating the chunks directly."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from kqc.pipeline.prepare import ahead


def counted(n: int, log: list[str]) -> Generator[int, None, None]:
    try:
        for i in range(n):
            log.append(f"made {i}")
            yield i
        log.append("end")  # what a Streamed records once its chunks are done
    finally:
        log.append("closed")


def test_every_item_in_order_and_the_end_recorded_before_the_loop_ends():
    log: list[str] = []
    assert list(ahead(counted(50, log))) == list(range(50))
    assert log[-2:] == ["end", "closed"]


def test_no_more_than_one_item_waits():
    log: list[str] = []
    items = ahead(counted(10, log))
    assert next(items) == 0
    # The maker may have made item 1 (waiting) and item 2 (blocked on the
    # handoff), never more.
    threading.Event().wait(0.3)
    assert len([e for e in log if e.startswith("made")]) <= 3
    assert list(items) == list(range(1, 10))


def test_an_error_reaches_the_caller_after_the_items_before_it():
    def failing() -> Generator[int, None, None]:
        yield 1
        yield 2
        raise ValueError("chunk 3 unreadable")

    seen: list[int] = []
    with pytest.raises(ValueError, match="chunk 3 unreadable"):
        for item in ahead(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_caller_that_stops_early_stops_and_closes_the_maker():
    log: list[str] = []
    before = threading.active_count()
    items = ahead(counted(1_000, log))
    for item in items:
        if item == 3:
            break
    items.close()  # what a failed insert does, leaving its loop by an exception
    assert log[-1] == "closed" and "end" not in log
    assert len([e for e in log if e.startswith("made")]) < 10
    assert threading.active_count() == before
