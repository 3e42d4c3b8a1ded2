"""A real `kqc watch` process over a temporary lab folder, its output read
line by line as it comes, and a disk that can be made full on demand."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

KQC = [sys.executable, "-m", "kqc"]

# Loaded by every Python process of the watch (PYTHONPATH): while the marker
# file exists, hard-linking a file into archive/ or quarantine/ fails with
# ENOSPC, as it would on a full disk. Nothing else changes.
DISK_FULL_HOOK = """\
import errno, os
_marker = os.environ.get("KQC_TEST_DISK_FULL_MARKER")
_link = os.link
def _full_disk_link(src, dst, *args, **kwargs):
    filing = "/archive/" in str(dst) or "/quarantine/" in str(dst)
    if _marker and filing and os.path.exists(_marker):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
    return _link(src, dst, *args, **kwargs)
os.link = _full_disk_link
"""


class Watch:
    """`kqc watch` on `home`/inbox with a short interval and settle time."""

    def __init__(
        self,
        home: Path,
        *,
        interval: str = "1",
        settle: str = "1",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        hook = home.parent / f"{home.name}-hook"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(DISK_FULL_HOOK)
        self.disk_full = home.parent / f"{home.name}-disk-full"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KQC_", "PREFECT_API_URL"))}
        env.update(
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PYTHONPATH=os.pathsep.join([str(hook), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            KQC_TEST_DISK_FULL_MARKER=str(self.disk_full),
        )
        env.update(extra_env or {})
        self.env = env
        self.lines: list[str] = []
        self.err_path = home.parent / f"{home.name}-watch-{time.monotonic_ns()}.err"
        command = [*KQC, "watch", "--db", str(home / "kqc.duckdb")]
        command += ["--interval", interval, "--settle", settle]
        with self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                command,
                cwd=home,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, what: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.2)

    def wait_line(self, *parts: str, timeout: float = 60) -> str:
        def found() -> str | None:
            return next((ln for ln in self.lines if all(p in ln for p in parts)), None)

        self.wait_for(lambda: found() is not None, timeout)
        line = found()
        assert line is not None
        return line

    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + self.err_path.read_text()

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> int:
        """Send `signum`; the exit code once the watch (and its reader) ended."""
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self._reader.join(timeout=10)
        return code


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a watch's Prefect server, ...)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
