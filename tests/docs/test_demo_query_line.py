"""The "Query it:" line `kqc demo` prints is a command that works as printed
in a shell where kqc's environment is not active (a fresh clone: `duckdb` is
not on the PATH, only installed beside kqc's Python), and answers with the
batches' statuses from the snapshot."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from kqc.store.clients import installed_cli

VENV_BIN = Path(sys.executable).parent


def fresh_shell_env() -> dict[str, str]:
    """The environment of a new terminal: kqc's bin/ not on the PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("KQC_DB", "VIRTUAL_ENV")}
    kept = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != VENV_BIN]
    env["PATH"] = os.pathsep.join(kept or ["/usr/bin", "/bin"])
    return env


def test_the_demos_query_line_runs_as_printed_in_a_fresh_shell(tmp_path):
    assert installed_cli() == VENV_BIN / "duckdb", "the duckdb-cli package is not installed"
    env = fresh_shell_env()
    demo = subprocess.run(
        [sys.executable, "-m", "kqc", "demo", "--dir", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    [line] = [x for x in demo.stdout.splitlines() if x.startswith("Query it:")]
    command = line.removeprefix("Query it:").strip()
    assert "-readonly" in command and "kqc.snapshot.duckdb" in command
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=tmp_path / "demo",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(tmp_path / "demo" / "kqc.snapshot.duckdb"), read_only=True) as con:
        statuses = con.execute("SELECT batch_id, status FROM batch_status").fetchall()
    assert len(statuses) > 5 and "batch_id" in done.stdout
    shown = [line for line in done.stdout.splitlines() if "│" in line]
    for batch_id, status in statuses:
        assert any(batch_id in line and status in line for line in shown), batch_id
