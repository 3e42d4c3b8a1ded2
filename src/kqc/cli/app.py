"""The one Typer `app` every command registers on, and the process around it:
`main()` runs the app and turns every error into one sentence on stderr and an
exit code (0 done, 1 something to act on, 2 bad usage or configuration). Also
the checks and exits the commands share: a database read must exist
(`_check_database`), and the exit while a listed flag is open
(`_exit_while_open`)."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import NoReturn

import typer

from kqc.config.settings import resolve_db
from kqc.core import terminal
from kqc.errors import KqcError, UsageError
from kqc.process import allocator, quiet

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="kqc: kratom lab results in, validated, stored in DuckDB, flagged with cited limits.",
)

# The commands that read a database written earlier; the others create it
# (ingest, watch) or need none (thresholds, demo).
_READS_DATABASE = frozenset({"flags", "review", "dispose", "batch", "report", "verify", "publish"})


def _check_database(ctx: typer.Context, db: Path | None) -> Path | None:
    """A command that reads the database finds it, or stops as its options are
    read: a database that is not there is bad configuration (exit 2), told in
    one sentence before anything runs."""
    if ctx.resilient_parsing or ctx.info_name not in _READS_DATABASE:
        return db
    chosen = resolve_db(db)  # a missing folder, or a folder given as the file: exit 2
    if not chosen.exists():
        raise UsageError(
            f"no database at {chosen}: run `kqc ingest` first, or pass --db / set KQC_DB"
        )
    return db


def _exit_while_open(any_open: bool) -> NoReturn:
    """Exit 1 while a flag listed is still open (the contract's "something the
    user must act on"), else 0: one rule for `flags` and `batch` alike."""
    raise typer.Exit(1 if any_open else 0)


def _error(message: str) -> None:
    # A message may quote a lab's text or an argument: shown escaped.
    print(f"kqc: {terminal.shown(message)}", file=quiet.user_stderr())


def _usage_message(err: Exception) -> str | None:
    """Click's usage errors (Typer carries its own copy of Click, so match by
    shape): their message ("" for a bare `kqc`, whose help is printed
    already), or None for any other exception."""
    if getattr(err, "exit_code", None) != 2 or not hasattr(err, "format_message"):
        return None
    ctx = getattr(err, "ctx", None)
    name = getattr(ctx, "command_path", "kqc") if ctx else "kqc"
    text = " ".join(str(err.format_message()).split())
    return f"{text} (see: {name} --help)" if text else ""


def main() -> None:
    allocator.keep_freed_pages()  # before anything loads Polars
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        _error("stopped")
        code = 130
    except KqcError as err:
        _error(err.message)
        code = err.exit_code
    except Exception as err:  # the last line of defence: a sentence, never a traceback
        usage = _usage_message(err)
        if usage is not None:
            if usage:
                _error(usage)
            code = 2
        else:
            _error(f"unexpected failure ({type(err).__name__}: {err}); report it with the command")
            code = 1
    sys.stdout.flush()
    # Everything is written and closed by now. Python's last garbage
    # collection at exit would walk every object Prefect, Polars and Pandera
    # loaded, 1.1 s after an ingest; frozen, they are left to the process's
    # end. Exit handlers (Prefect's server stop, log flushing) still run.
    gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)
