"""Hash chains over append-only rows: one canonical serialization of a row, its
hash, and the check of a chain read back in order.

A row's hash covers its columns and the previous row's hash, so changing a
row changes its hash, and removing or inserting one breaks the link of the
row after it. The chain shows tampering by anyone who does not recompute
every later hash; the head hash `kqc verify` prints, kept elsewhere, closes
that gap too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

GENESIS = "0" * 64
HASH_COLUMNS = ("prev_hash", "row_hash")


def _canonical_value(value: object) -> object:
    """One spelling per value: a timestamp read back in any time zone is the
    same instant in UTC; floats keep their shortest exact form (json's repr)."""
    if isinstance(value, datetime):
        instant = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return instant.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def canonical(row: Mapping[str, object]) -> bytes:
    """The row as sorted-key JSON (UTF-8), without its own row_hash."""
    content = {k: _canonical_value(v) for k, v in row.items() if k != "row_hash"}
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def row_hash(row: Mapping[str, object]) -> str:
    """SHA-256 of the canonical row; `row` must carry its prev_hash."""
    return hashlib.sha256(canonical(row)).hexdigest()


@dataclass(frozen=True)
class Break:
    table: str
    key: str  # the row, e.g. "file_id 7"
    problem: str  # one sentence

    def __str__(self) -> str:
        return f"{self.table} {self.key}: {self.problem}"


def check_chain(table: str, id_column: str, rows: Iterable[Mapping[str, object]]) -> list[Break]:
    """Every break in a chain read in id order: a row whose content no longer
    matches its hash (edited), a row whose link does not match the row before
    (a row removed or inserted there), a row never chained. Each row is
    compared with its own stored hash, so one edit is reported once, not as a
    cascade down the chain."""
    breaks: list[Break] = []
    expected_prev = GENESIS
    previous_key = None
    for row in rows:
        key = f"{id_column} {row[id_column]}"
        stored = row.get("row_hash")
        if stored is None:
            breaks.append(
                Break(
                    table,
                    key,
                    "not in the chain (no row_hash): inserted by hand, or older than the chain",
                )
            )
            continue  # the next chained row must still link to the last chained one
        if row.get("prev_hash") != expected_prev:
            before = previous_key or "the start of the table"
            breaks.append(
                Break(table, key, f"link to {before} broken: a row between them was removed")
            )
        if row_hash(row) != stored:
            breaks.append(Break(table, key, "content changed after it was written (hash differs)"))
        expected_prev = str(stored)
        previous_key = key
    return breaks


def items_digest(items: Mapping[str, str | None]) -> str:
    """SHA-256 over a ledger entry's items (key -> digest, None for a row kqc
    removed) in key order. Each key is length-prefixed, so no two different
    sets of items serialize alike."""
    digest = hashlib.sha256()
    for key in sorted(items):
        encoded = key.encode()
        digest.update(b"%d:%s|%s\n" % (len(encoded), encoded, (items[key] or "~").encode()))
    return digest.hexdigest()


@dataclass(frozen=True)
class Head:
    """A chain's last row: what a regulator keeps to pin the chain. `row_id`
    0 with the GENESIS hash is an empty chain."""

    table: str
    row_id: int
    row_hash: str

    def __str__(self) -> str:
        return f"{self.table}:{self.row_id}:{self.row_hash}"


@dataclass(frozen=True)
class Expected:
    """A head recorded earlier, as `kqc verify --expect` is given it: a table,
    the row's id and hash; table and id are None when not given."""

    table: str | None
    row_id: int | None
    row_hash: str
    given: str  # as written, for the message


_HEX = frozenset("0123456789abcdef")


def parse_expected(text: str) -> Expected | None:
    """`TABLE:ID:HASH`, `TABLE=HASH` or a bare HASH (64 hex digits); None when
    it is none of these (the caller tries it as a heads file)."""
    text = text.strip()
    table: str | None = None
    row_id: int | None = None
    value = text
    if text.count(":") == 2:
        table, number, value = text.split(":")
        if not number.isdigit():
            return None
        row_id = int(number)
    elif "=" in text:
        table, value = text.split("=", 1)
    value = value.strip().lower()
    if len(value) != 64 or not set(value) <= _HEX:
        return None
    return Expected(table.strip() if table else None, row_id, value, text)
