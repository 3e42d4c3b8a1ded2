"""The DuckDB command-line tool installed with kqc (the `duckdb-cli`
package puts `duckdb` beside kqc's Python), and the command a person types to
query the snapshot with it."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path


def installed_cli() -> Path | None:
    """The `duckdb` installed beside the running Python (kqc's environment),
    not resolved through symlinks: a virtual environment's bin/ is the place."""
    beside = Path(sys.executable).with_name("duckdb")
    return beside if beside.is_file() else None


def cli_command() -> str:
    """How to call the DuckDB CLI from a shell: `duckdb` when that name finds
    the one installed with kqc (or kqc installed none and another is on the
    PATH), else the full path of kqc's, which works without activating its
    environment."""
    installed = installed_cli()
    on_path = shutil.which("duckdb")
    if installed is None or (on_path is not None and Path(on_path) == installed):
        return "duckdb"
    return shlex.quote(str(installed))


def query_command(database: Path, sql: str) -> str:
    """A shell command that runs `sql` on `database`, opened read-only."""
    return f"{cli_command()} -readonly {shlex.quote(str(database))} {shlex.quote(sql)}"
