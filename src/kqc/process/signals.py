"""The signals that stop a long-lived kqc process, taken by one thread.

SIGTERM and SIGINT are blocked in the first thread before any other starts
(Polars, DuckDB and Prefect start theirs when loaded), so every thread
inherits the block, and one thread takes them with sigwait. No handler ever
runs inside a Prefect flow run, where Prefect swaps in its own SIGTERM
handler that would end the run "Crashed" mid-way: a run in progress finishes
before the process stops. A child process unblocks them (`unblock_in_child`
as its preexec_fn), or it would inherit the block. Standard library only.
"""

from __future__ import annotations

import signal

STOPPING = frozenset({signal.SIGTERM, signal.SIGINT})


def hold() -> None:
    """Block the stopping signals in this thread (call it first)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)


def unblock_in_child() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)


def wait() -> int:
    """The next stopping signal (blocks this thread until one arrives)."""
    return signal.sigwait(STOPPING)
