"""`kqc verify`: every chain recomputed, every table against the latest
digests the ledger holds for it, every kept file re-hashed, and the heads
recorded earlier found where they were; each problem as a Break, in that
order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kqc.core.chain import GENESIS, Break, Expected, Head, items_digest
from kqc.store.chain import CHAINS, HEADS, LEDGER, SOURCE_FILES, chain_breaks
from kqc.store.chain_heads import heads_of, heads_path, read_expected
from kqc.store.columns import has_column, has_table
from kqc.store.connection import connect, run
from kqc.store.contents import FILE_SPECS, current
from kqc.store.digests import SHA256, algorithm_of, file_digests
from kqc.store.ledger import has_ledger
from kqc.store.queries import require_database


def _latest(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str | None]]:
    found: dict[str, dict[str, str | None]] = {}
    for kind, key, digest in run(
        con,
        "SELECT l.kind, i.item_key, i.digest FROM ledger_items i JOIN ledger l USING (entry_id)"
        " QUALIFY row_number() OVER (PARTITION BY l.kind, i.item_key ORDER BY i.entry_id DESC) = 1",
    ):
        found.setdefault(kind, {})[key] = digest
    return found


def _ledger_breaks(con: duckdb.DuckDBPyConnection) -> list[Break]:
    """The ledger's own chain, and each entry's items against its items_sha256."""
    breaks = chain_breaks(con, LEDGER)
    items: dict[int, dict[str, str | None]] = {}
    for entry_id, key, digest in run(con, "SELECT entry_id, item_key, digest FROM ledger_items"):
        items.setdefault(int(entry_id), {})[key] = digest
    entries = run(con, "SELECT entry_id, item_count, items_sha256 FROM ledger ORDER BY entry_id")
    for entry_id, count, digest in entries:
        held = items.pop(int(entry_id), {})
        if len(held) != count or items_digest(held) != digest:
            breaks.append(
                Break(
                    "ledger_items",
                    f"entry_id {entry_id}",
                    "items changed, removed or added after they were recorded"
                    " (they no longer match the entry's items_sha256)",
                )
            )
    for entry_id in sorted(items):
        breaks.append(
            Break(
                "ledger_items",
                f"entry_id {entry_id}",
                "items belong to no ledger entry: added by hand, or their entry was removed",
            )
        )
    return breaks


_WHAT = {
    **{chain.table: (chain.table, chain.id_column) for chain in CHAINS},
    "results": ("results", "of file"),
    "supersessions": ("results", "superseded rows of file"),
    "flags": ("flags", "flag_id"),
    "batches": ("batches", "batch_id"),
    "batch_potency": ("batch_potency", "batch_id"),
    "thresholds": ("thresholds", "table"),
}


def _content_breaks(con: duckdb.DuckDBPyConnection) -> list[Break]:
    """Every table against the latest digests the ledger holds for it."""
    names = dict(run(con, "SELECT sha256, any_value(file_name) FROM source_files GROUP BY 1"))
    latest = _latest(con)
    held_now = current(con)
    _in_recorded_algorithm(con, held_now, latest)
    breaks: list[Break] = []
    for kind, now in held_now.items():
        table, label = _WHAT[kind]
        recorded = latest.get(kind, {})
        for key in sorted(set(now) | {k for k, d in recorded.items() if d is not None}):
            if kind in ("results", "supersessions"):
                where = f"{label} {names.get(key, '?')} (sha256 {key[:12]})"
            elif kind == "thresholds":
                where = "table"
            else:
                where = f"{label} {key}"
            held, expected = now.get(key), recorded.get(key)
            if held == expected:
                continue
            if held is None:
                problem = "recorded in the ledger but no longer in the table: deleted by hand"
            elif expected is None:
                problem = "not in the ledger: inserted by hand, or written around kqc"
            else:
                problem = "content changed after kqc wrote it (differs from the ledger)"
            breaks.append(Break(table, where, problem))
    return breaks


def _in_recorded_algorithm(
    con: duckdb.DuckDBPyConnection,
    held_now: dict[str, dict[str, str]],
    latest: dict[str, dict[str, str | None]],
) -> None:
    """The files whose digests an earlier kqc recorded as SHA-256, digested
    again that way, so that they are compared like with like."""
    for kind, (spec, where) in FILE_SPECS.items():
        legacy = sorted(
            key
            for key, digest in latest.get(kind, {}).items()
            if digest is not None and algorithm_of(digest) == SHA256
        )
        if legacy:
            held_now[kind].update(
                file_digests(
                    con,
                    spec,
                    f"({where}) AND list_contains(?, source_sha256)",
                    [legacy],
                    algorithm=SHA256,
                )
            )


# --- Kept files ------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _errors_name(name: str) -> str:
    # As kqc.files.inbox.errors_path names it beside the quarantined file (the
    # store does not import the inbox: they are layers of their own).
    return name + ".errors.csv"


def _file_breaks(con: duckdb.DuckDBPyConnection, archive: Path, quarantine: Path) -> list[Break]:
    """Each kept file re-hashed, and the errors.csv beside a quarantined one
    when its hash was recorded. stored_as records where the file was put when
    it was processed; the folders may have moved since (a copy, a restore), so
    the file is looked up by its name in today's archive (ingested and
    duplicate files) or quarantine (rejected ones)."""
    breaks = []
    errors = "errors_sha256" if has_column(con, "source_files", "errors_sha256") else "NULL"
    kept = run(
        con,
        f"SELECT file_id, status, stored_as, sha256, {errors} FROM source_files"
        " WHERE stored_as IS NOT NULL ORDER BY file_id",
    )
    for file_id, status, stored_as, sha256, errors_sha256 in kept:
        folder = quarantine if status == "rejected" else archive
        path = folder / Path(stored_as).name
        key = f"file_id {file_id}"
        if not path.is_file():
            breaks.append(Break("source_files", key, f"kept file {path} is missing"))
        elif _sha256(path) != sha256:
            breaks.append(
                Break("source_files", key, f"kept file {path} was modified (SHA-256 differs)")
            )
        if errors_sha256 is not None:
            listed = folder / _errors_name(Path(stored_as).name)
            if not listed.is_file():
                breaks.append(Break("source_files", key, f"errors file {listed} is missing"))
            elif _sha256(listed) != errors_sha256:
                breaks.append(
                    Break(
                        "source_files", key, f"errors file {listed} was modified (SHA-256 differs)"
                    )
                )
    return breaks


def _expectation_breaks(con: duckdb.DuckDBPyConnection, expected: list[Expected]) -> list[Break]:
    """Each recorded head still in its chain at its place: rows only ever
    join a chain's end, so a head kept earlier stays there unless the chain
    was cut back (its end removed) or rebuilt (every hash recomputed)."""
    chains = {chain.table: chain for chain in HEADS}
    breaks = []
    for head in expected:
        where = f"--expect {head.given}"
        if head.table is not None and head.table not in chains:
            breaks.append(Break("expect", where, f"names no chain: use one of {', '.join(chains)}"))
            continue
        if head.row_hash == GENESIS and head.row_id in (0, None):
            continue  # an empty chain: anything has grown from it
        if head.row_id is not None and head.table is not None:
            chain = chains[head.table]
            found = run(
                con,
                f"SELECT row_hash FROM {chain.table} WHERE {chain.id_column} = ?",
                [head.row_id],
            )
            if not found:
                breaks.append(
                    Break(
                        chain.table,
                        f"{chain.id_column} {head.row_id}",
                        "the recorded head is gone: rows were removed from the chain's end",
                    )
                )
            elif found[0][0] != head.row_hash:
                breaks.append(
                    Break(
                        chain.table,
                        f"{chain.id_column} {head.row_id}",
                        "hash differs from the recorded head: the chain was rewritten",
                    )
                )
            continue
        tables = [chains[head.table]] if head.table else list(chains.values())
        if not any(
            run(con, f"SELECT count(*) FROM {c.table} WHERE row_hash = ?", [head.row_hash])[0][0]
            for c in tables
            if has_column(con, c.table, "row_hash")
        ):
            breaks.append(
                Break(
                    head.table or "chains",
                    where,
                    "the recorded head is in no chain: the chain was cut back or rewritten",
                )
            )
    return breaks


@dataclass(frozen=True)
class Verification:
    breaks: list[Break]
    rows: dict[str, int]  # rows checked per table
    files: int  # kept files re-hashed
    heads: dict[str, Head]  # each chain's last row: record it elsewhere to pin the chain
    checked_against: list[str] = field(default_factory=list)  # --expect heads, heads files


def verify(
    db: Path, archive: Path, quarantine: Path, expected: list[str] | None = None
) -> Verification:
    """Recompute every chain, every table against the ledger, re-hash every
    kept file, and check the heads recorded earlier (`expected`, else the
    heads file beside the snapshot when there is one); read-only, so it runs
    on the live database or on a published snapshot."""
    require_database(db)
    heads_file = heads_path(db)
    wanted = [e for text in expected or [] for e in read_expected(text)]
    sources = list(expected or [])
    if not expected and heads_file.is_file():
        wanted = read_expected(str(heads_file))
        sources = [str(heads_file)]
    with connect(db, read_only=True) as con:
        if not has_column(con, SOURCE_FILES.table, "row_hash"):
            return Verification(
                [
                    Break(
                        "database",
                        str(db),
                        "has no hash chain yet (written by an older kqc): the next ingest adds it",
                    )
                ],
                {},
                0,
                {},
            )
        breaks: list[Break] = []
        rows: dict[str, int] = {}
        for chain in CHAINS:
            breaks.extend(chain_breaks(con, chain))
        if has_ledger(con):
            breaks.extend(_ledger_breaks(con))
            breaks.extend(_content_breaks(con))
        else:
            breaks.append(
                Break(
                    "database",
                    str(db),
                    "has no ledger yet (written by an older kqc): the next ingest adds it",
                )
            )
        counted = [c.table for c in CHAINS if has_table(con, c.table)]
        if has_ledger(con):
            counted += ["results", "flags", "batches", "ledger"]
        for table in counted:
            rows[table] = int(run(con, f"SELECT count(*) FROM {table}")[0][0])
        breaks.extend(_file_breaks(con, archive, quarantine))
        breaks.extend(_expectation_breaks(con, wanted))
        files = run(con, "SELECT count(*) FROM source_files WHERE stored_as IS NOT NULL")[0][0]
        found_heads = heads_of(con)
    return Verification(breaks, rows, int(files), found_heads, sources)
