"""The DuckDB clients a published snapshot must open in, as real processes:
the Python package of DuckDB 1.x (installed by the tests themselves, once,
into build/, outside kqc's environment, which holds DuckDB 2) and the
`duckdb` command line installed with kqc (the `duckdb-cli` package).

A client that cannot be had fails the test that needs it; it is never
skipped, since a snapshot no 1.x client was shown to open proves nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kqc.store.clients import installed_cli

ROOT = Path(__file__).resolve().parents[2]
OLD_DUCKDB = ROOT / "build" / "duckdb-1.x"
OLD_REQUIREMENT = "duckdb>=1.0,<2"
READER = Path(__file__).with_name("snapshot_reader.py")
_DONE = ".installed"  # written last: a folder without it is an install cut short


def old_duckdb_site() -> Path:
    """The folder holding DuckDB 1.x for Python, installed on first use (one
    process at a time: pytest-xdist workers wait for each other)."""
    OLD_DUCKDB.parent.mkdir(parents=True, exist_ok=True)
    with open(OLD_DUCKDB.with_name(OLD_DUCKDB.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (OLD_DUCKDB / _DONE).exists():
            partial = OLD_DUCKDB.with_name(OLD_DUCKDB.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            done = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                 "--target", str(partial), OLD_REQUIREMENT],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if done.returncode != 0:
                pytest.fail(f"{OLD_REQUIREMENT} could not be installed: {done.stderr[-2000:]}")
            (partial / _DONE).write_text(OLD_REQUIREMENT + "\n")
            shutil.rmtree(OLD_DUCKDB, ignore_errors=True)
            partial.rename(OLD_DUCKDB)
    return OLD_DUCKDB


def old_duckdb_env() -> dict[str, str]:
    """An environment whose Python imports DuckDB 1.x before kqc's own."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(old_duckdb_site())
    return env


def run_old_python(code_or_script: list[str], cwd: Path | None = None, stdin: str = ""):
    done = subprocess.run(
        [sys.executable, *code_or_script],
        env=old_duckdb_env(),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done


def read_with(snapshot: Path, queries: list[str], old: bool) -> dict:
    """The snapshot read whole (and `queries` run) by DuckDB 1.x (`old`) or by
    the DuckDB kqc runs on, each in a process of its own."""
    env = old_duckdb_env() if old else {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(READER), str(snapshot)],
        env=env,
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def duckdb_cli() -> Path:
    """The `duckdb` command line installed with kqc."""
    found = installed_cli()
    if found is None:
        pytest.fail(
            f"no duckdb beside {sys.executable}: the duckdb-cli package kqc depends on"
            " is not installed (pip install -e .)"
        )
    return found


def cli_json(database: Path, sql: str) -> list[dict]:
    """`sql`'s rows as the `duckdb` command line prints them in JSON mode,
    the database opened read-only."""
    done = subprocess.run(
        [str(duckdb_cli()), "-readonly", "-json", str(database), sql],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else []


def cli_version() -> str:
    done = subprocess.run(
        [str(duckdb_cli()), "-version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]
