"""The heads of the hash chains (each chain's last row): read from a
database, written to `<stem>.heads.json` beside its snapshot, and read back
from what `kqc verify --expect` is given. A head kept where the database's
writers cannot reach pins its chain: a rewrite of the whole chain shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kqc.core.chain import GENESIS, Expected, Head, parse_expected
from kqc.process import durable
from kqc.store.chain import HEADS
from kqc.store.columns import has_column, has_table
from kqc.store.connection import connect, run
from kqc.store.queries import require_database

HEADS_SUFFIX = ".heads.json"
_SNAPSHOT_STEM = ".snapshot"  # kqc.store.publish: <stem>.snapshot.duckdb


def heads_path(db: Path) -> Path:
    """`kqc.duckdb` (or its snapshot `kqc.snapshot.duckdb`) -> `kqc.heads.json`
    in the same folder, beside the snapshot."""
    stem = db.stem.removesuffix(_SNAPSHOT_STEM)
    return db.with_name(stem + HEADS_SUFFIX)


def heads_of(con: duckdb.DuckDBPyConnection) -> dict[str, Head]:
    found = {}
    for chain in HEADS:
        if not has_table(con, chain.table) or not has_column(con, chain.table, "row_hash"):
            continue
        last = run(
            con,
            f"SELECT {chain.id_column}, row_hash FROM {chain.table}"
            f" ORDER BY {chain.id_column} DESC LIMIT 1",
        )
        row_id, value = last[0] if last else (0, GENESIS)
        found[chain.table] = Head(chain.table, int(row_id), value or GENESIS)
    return found


def heads(db: Path) -> dict[str, dict[str, object]]:
    """Each chain's head, {table: {"id": last id, "row_hash": its hash}}: for a
    Prefect artifact, or to keep anywhere the database's writers cannot reach."""
    require_database(db)
    with connect(db, read_only=True) as con:
        return {t: {"id": h.row_id, "row_hash": h.row_hash} for t, h in heads_of(con).items()}


def write_heads(db: Path) -> Path:
    """Write the heads to `<stem>.heads.json` beside the snapshot, atomically
    (a reader never sees half a file); returns its path. `kqc verify` checks
    the database against it while it is there."""
    target = heads_path(db)
    content = {
        "database": db.name,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "heads": heads(db),
    }
    data = (json.dumps(content, indent=2) + "\n").encode()
    durable.write_atomic(target, data, prefix=f".{target.name}.")
    return target


class BadExpectation(ValueError):
    """An --expect that is neither a head nor a readable heads file."""


def read_expected(text: str) -> list[Expected]:
    """The heads an --expect names: one head as verify prints it
    (`TABLE:ID:HASH`), `TABLE=HASH`, a bare hash, or a heads file."""
    one = parse_expected(text)
    if one is not None:
        return [one]
    path = Path(text)
    if not path.is_file():
        raise BadExpectation(
            f"--expect {text} is neither a head (TABLE:ID:HASH, TABLE=HASH, a 64-digit hash)"
            " nor a heads file"
        )
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["heads"]
        return [
            Expected(table, int(head["id"]), str(head["row_hash"]), f"{path} ({table})")
            for table, head in recorded.items()
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise BadExpectation(f"heads file {path} could not be read ({err})") from err
