"""Fault injection for the crash-safety tests, and for nothing else.

`KQC_FAULT=<point>` (or `<point>:<n>` for the n-th time the point is reached)
makes the process kill itself with SIGKILL there, as a power cut would: no
handler, no cleanup, no flush. Unset (always, outside tests) it does nothing
but read one environment variable.

Points: loaded (a file read, not yet validated), validated, before_commit
(rows written, transaction open), after_commit (stored, not yet archived),
mid_move (hard link made, inbox entry not yet removed), evaluate (files done,
evaluation not yet committed), publish (evaluated, snapshot not yet replaced).
The workbook reader's worker process honours two more (kqc.readers.isolated):
xlsx_reader (it kills itself before reading) and xlsx_reader_hang (it hangs).
"""

from __future__ import annotations

import os
import signal

ENV = "KQC_FAULT"
_reached: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition(":")
    if target != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
