"""Keep Prefect's own chatter away from the person at the terminal.

Prefect's embedded server logs INFO lines while it works and, at process exit,
ERROR lines and CancelledError tracebacks from its event recorder. kqc's
promise is one clear sentence on stderr, never a traceback: so before Prefect
is imported, file descriptor 2 is pointed at a log file for the rest of the
process, and kqc writes its own messages to a duplicate of the original
stderr. Nothing is lost: the log keeps everything Prefect said.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

_user_stderr: TextIO | None = None

_PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ENABLED": "false",
    # The embedded server's first start on a new install (bytecode compiled,
    # its database migrated) was seen to take over Prefect's default 20 s on a
    # cold 2-core machine, failing the whole run; waiting longer costs nothing
    # when it is quick.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def user_stderr() -> TextIO:
    """Where messages for the person go, whether or not Prefect is muted."""
    return _user_stderr or sys.stderr


def mute_prefect(log_file: Path) -> None:
    """Send fd 2 (and so Prefect's logging and exit tracebacks) to `log_file`."""
    global _user_stderr
    for key, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if _user_stderr is not None:
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    _user_stderr = os.fdopen(saved, "w", buffering=1, encoding="utf-8", errors="replace")
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
