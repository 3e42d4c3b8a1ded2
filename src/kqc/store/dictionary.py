"""The data dictionary, written from the database's own comments (COMMENT ON
in the migrations), so the document regulators read cannot drift from the
schema they query.

`python -m kqc.store.dictionary docs/regulators.md` rewrites the part of that
file between the two markers; a test fails while the file is stale.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from kqc.store.connection import connect, run

BEGIN = "<!-- data-dictionary:begin -->"
END = "<!-- data-dictionary:end -->"

# The names CONTRACT §5 promises come first, in its order; the rest follow
# alphabetically.
_FIRST = (
    "source_files",
    "results",
    "batches",
    "thresholds",
    "flags",
    "flag_reviews",
    "batch_status",
)

# The database's own objects, not DuckDB's system catalog.
_MINE = "database_name = current_database() AND NOT internal"


def objects(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str | None]]:
    """(name, 'table' or 'view', comment) of every table and view."""
    found = run(
        con,
        f"SELECT table_name, 'table', comment FROM duckdb_tables() WHERE {_MINE}"
        f" UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() WHERE {_MINE}",
    )

    def order(row: tuple[str, str, str | None]) -> tuple[int, str]:
        name = row[0]
        return (_FIRST.index(name) if name in _FIRST else len(_FIRST), name)

    return sorted(found, key=order)


def columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str | None]]:
    """(table, column, type, comment) of every column, in definition order."""
    return run(
        con,
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns()"
        f" WHERE {_MINE} ORDER BY table_name, column_index",
    )


def _cell(text: str | None) -> str:
    # Escaped so Markdown shows them as written: a table pipe, a "<LOQ" taken for a tag.
    return " ".join((text or "").split()).replace("|", "\\|").replace("<", "\\<")


def render(con: duckdb.DuckDBPyConnection) -> str:
    """The dictionary as Markdown: one section per table or view, one row per
    column, every text taken from the database's comments."""
    by_table: dict[str, list[tuple[str, str, str | None]]] = {}
    for table, column, data_type, comment in columns(con):
        by_table.setdefault(table, []).append((column, data_type, comment))
    parts = []
    for name, kind, comment in objects(con):
        parts.append(f"### `{name}` ({kind})\n\n{_cell(comment)}\n")
        rows = [
            f"| `{column}` | {data_type} | {_cell(text)} |"
            for column, data_type, text in by_table.get(name, [])
        ]
        parts.append("\n".join(["| column | type | meaning |", "| --- | --- | --- |", *rows]))
        parts.append("")
    return "\n".join(parts)


def render_fresh() -> str:
    """The dictionary of a database as kqc creates it (every migration applied)."""
    with tempfile.TemporaryDirectory() as folder, connect(Path(folder) / "kqc.duckdb") as con:
        return render(con)


def with_dictionary(document: str, dictionary: str) -> str:
    """`document` with the text between the markers replaced by `dictionary`."""
    start = document.find(BEGIN)
    end = document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {BEGIN} ... {END} section")
    return f"{document[: start + len(BEGIN)]}\n\n{dictionary.strip()}\n\n{document[end:]}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m kqc.store.dictionary DOCUMENT.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    text = path.read_text(encoding="utf-8")
    updated = with_dictionary(text, render_fresh())
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"updated the data dictionary in {path}")
    else:
        print(f"the data dictionary in {path} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
