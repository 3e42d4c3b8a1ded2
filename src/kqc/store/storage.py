"""The storage format of kqc's DuckDB files: one that every DuckDB client
from 1.0 on opens, so the snapshot a regulator is sent opens in the DuckDB
they already have (the command line, Python, R, DBeaver's driver).

A DuckDB file records the oldest DuckDB that can read it. DuckDB 2 writes a
new file in its own format unless told otherwise, and DuckDB 1.x refuses
that file outright ("Trying to read a database file with version number 69,
but we can only read versions between 64 and 68"); DuckDB 2 writes and reads
the 1.0 format as well. The choice made here:

- A new database is created in the 1.0 format (`storage_compatibility_version`
  'v1.0.0', given only when the file does not exist yet). A file keeps the
  format it was created in for life, whatever later connections say, so
  every later write stays readable by 1.0 too, and the snapshot's byte copy
  of the live file (0.7 s on ten million results, kqc.store.publish) is one
  a 1.x client opens as it is: publishing stays as fast as before.
- A database an earlier kqc created in DuckDB 2's format is still published
  correctly: its snapshot is written by DuckDB itself in the 1.0 format
  (`ATTACH ... (STORAGE_VERSION 'v1.0.0')` and `COPY FROM DATABASE`), 17 s
  on ten million results where the byte copy and its reading back take 1 s.
  `kqc publish` says so and how to convert the live file once
  (`kqc publish --convert-storage`, kqc.store.convert), after which
  publishing is the byte copy again.

What the 1.0 format costs: it lacks the compression DuckDB added since
(strings are stored with the dictionary or FSST methods of 1.0, not the
combined DICT_FSST of 1.3 and later). Measured on this 2-core machine with
kqc's ten-million-result benchmark database (bench/), the same
data in each format, medians:

| | DuckDB 2 format | 1.0 format |
| --- | --- | --- |
| file size | 286 MB | 303 MB (+6 %) |
| storing the 10M results (insert and checkpoint) | 11.0 s (CPU 18.8 s) | 14.8 s (CPU 25.8 s) |
| `kqc publish` | 17 s (DuckDB writes the copy) | 1.0 s (byte copy, read back) |
| one batch's results / open flags / `batch_status` | 1 / 16 / 35 ms | 2 / 18 / 36 ms |
| the 7-OH share query of docs/regulators.md | 1.00 s | 1.04 s |
| grouping all results by analyte | 78 ms | 109 ms |
| hashing every value of three string and number columns | 45 ms | 110 ms |

So an ingest of ten million results stores them about 4 s slower (of 55 s
end to end), the queries QA and regulators run take the same time within a
few milliseconds, a scan of every value of a string column (what publishing
reads back) is up to 2.5 times slower, and publishing is 17 times faster
than writing a 1.0 copy of a DuckDB 2 file each time: the choice that keeps
a snapshot within seconds of every change. Converting that ten-million-result
database once took 22 s.

Views and every `COMMENT ON` (tables, views, columns) are kept by both ways of
writing, and the views' SQL uses nothing a 1.x client cannot bind: the tests
open a published snapshot with DuckDB 1.x (Python and the `duckdb` command
line installed with kqc), read every table and view, compare every comment
and run every query of docs/regulators.md.
"""

from __future__ import annotations

import re

import duckdb

# The oldest DuckDB whose clients must open what kqc writes.
OLDEST_CLIENT = "v1.0.0"
# Given to DuckDB when it creates a database file (and only then).
NEW_FILE_CONFIG = {"storage_compatibility_version": OLDEST_CLIENT}
_OLDEST = (1, 0, 0)
_VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


def storage_version(con: duckdb.DuckDBPyConnection, database: str | None = None) -> str | None:
    """The storage version DuckDB records for `database` (the connection's own
    by default), e.g. 'v1.0.0+' (read by 1.0 and later) or 'v2.0.0+'; None
    when DuckDB does not say."""
    where = "current_database()" if database is None else "?"
    found = con.execute(
        f"SELECT tags FROM duckdb_databases() WHERE database_name = {where}",
        [] if database is None else [database],
    ).fetchall()
    if not found or not isinstance(found[0][0], dict):
        return None
    version = found[0][0].get("storage_version")
    return str(version) if version is not None else None


def opens_in_oldest_client(version: str | None) -> bool:
    """Whether a file of storage `version` opens in DuckDB 1.0; an unknown
    version is taken as not (the slower, always readable way is used)."""
    found = _VERSION.match(version or "")
    if found is None:
        return False
    return tuple(int(part) for part in found.groups()) <= _OLDEST


def conversion_note(db: str, version: str | None) -> str:
    """What `kqc publish` says about a live database in a newer format."""
    return (
        f"{db} is stored in DuckDB's {version or 'newer'} format, which DuckDB 1.x cannot open:"
        " its snapshot was written in the 1.0 format by a full copy, slower than the usual"
        " byte copy; run `kqc publish --convert-storage` once (no ingest or review running)"
        " to convert the database itself"
    )
