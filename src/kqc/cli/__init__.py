"""The `kqc` command: parse arguments, call flows or the store, turn errors
into one sentence and an exit code (0 done, 1 something to act on, 2 bad usage
or configuration).

Owns the Typer app and `main()` (app), the shared options (options), what the
commands print (render) and the commands, a module per group: ingest, watch
and demo (ingest), flags and review (findings), the dossier (batch), the
limits (thresholds), report, verify and publish (record), the console's
users (users).

May import: every package of kqc. Read-only commands never import Prefect:
only a command that runs a flow loads it, inside the function; polars and
rich load inside the functions that need them, so `kqc flags` and `kqc batch`
start without them.
"""

from __future__ import annotations

from kqc.cli import batch, findings, ingest, record, thresholds, users
from kqc.cli.app import app, main

# Registered here, in the order `kqc --help` lists them.
for _command in (
    ingest.ingest,
    findings.flags,
    findings.review,
    findings.dispose,
    batch.batch,
    thresholds.thresholds,
    record.report,
    record.verify,
    ingest.watch,
    ingest.serve,
    record.publish,
    ingest.demo,
):
    app.command()(_command)
del _command
app.add_typer(users.users, name="users")

__all__ = ["app", "main"]
