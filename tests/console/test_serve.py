"""`kqc serve`: the watch and the console in one process. It prints the
console's and Prefect's addresses, serves the console while the watch takes
files, refuses a taken port in one sentence, and stops on SIGTERM with its
last line and no process left behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.faults.helpers import good
from tests.watch.helpers import children_of

KQC = [sys.executable, "-m", "kqc"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KQC_", "PREFECT_API_URL"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def _wait_for(proc: subprocess.Popen[str], lines: list[str], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if text in line:
            return line
    raise AssertionError("\n".join(lines))


def test_serve_runs_the_console_beside_the_watch_and_stops_cleanly(tmp_path):
    (tmp_path / "inbox").mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [*KQC, "serve", "--port", str(port), "--settle", "0.5"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        console = _wait_for(proc, lines, "kqc serve: console: ", 180)
        assert f"http://127.0.0.1:{port}/" in console
        _wait_for(proc, lines, "kqc serve: Prefect UI: http://127.0.0.1:", 30)
        _wait_for(proc, lines, "kqc serve: serving", 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            assert answer.status == 200
        # The sign-in page, not a finding, for whoever has no session.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/findings", timeout=10) as answer:
            assert answer.url.endswith("/signin") or "/signin" in answer.url
        # The watch takes files meanwhile.
        (tmp_path / "inbox" / "lab_0001.csv").write_bytes(good(1))
        taken = _wait_for(proc, lines, "lab_0001.csv", 60)
        assert taken.rstrip().endswith("ingested, 2 rows")
        children = children_of(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    lines += rest.splitlines()
    assert proc.returncode == 0, "\n".join(lines)
    assert lines[-1] == "kqc serve: stopped"
    assert "Traceback" not in "\n".join(lines)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if Path(f"/proc/{c}").exists()]


def test_a_port_already_taken_is_one_sentence_and_exit_2(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [*KQC, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.fullmatch(
        rf"kqc: the console cannot listen on 127\.0\.0\.1:{port} \(.*\): pass another --port"
        r" or --host\n",
        done.stderr,
    )
