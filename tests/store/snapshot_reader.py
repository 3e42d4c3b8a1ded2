"""Read a snapshot whole with whichever `duckdb` Python package this
interpreter imports, and print what was read as one JSON document, so the
same reading by two DuckDB versions can be compared value for value.

Run as a script (kqc is not imported: the point is the client alone):
    python snapshot_reader.py SNAPSHOT < queries.json
stdin holds a JSON list of SQL queries to run as well. Rows are written as
JSON text and sorted, so two clients that scan in a different order still
compare equal; values JSON has no form for are written with str().
"""

import json
import sys

import duckdb

MINE = "database_name = current_database() AND NOT internal"


def rows_of(con, sql):
    found = con.execute(sql)
    names = [d[0] for d in found.description]
    rows = sorted(json.dumps(list(r), default=str, sort_keys=True) for r in found.fetchall())
    return {"columns": names, "rows": rows}


def main(snapshot: str) -> None:
    queries = json.load(sys.stdin)
    con = duckdb.connect(snapshot, read_only=True)
    con.execute("SET TimeZone = 'UTC'")  # times read back alike whatever the machine's zone
    tables = con.execute(
        f"SELECT table_name, comment FROM duckdb_tables() WHERE {MINE} ORDER BY 1"
    ).fetchall()
    views = con.execute(
        f"SELECT view_name, comment FROM duckdb_views() WHERE {MINE} ORDER BY 1"
    ).fetchall()
    columns = con.execute(
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns()"
        f" WHERE {MINE} ORDER BY 1, column_index"
    ).fetchall()
    document = {
        "duckdb": duckdb.__version__,
        "tables": tables,
        "views": views,
        "columns": columns,
        "data": {name: rows_of(con, f'SELECT * FROM "{name}"') for name, _ in tables + views},
        "queries": [rows_of(con, sql) for sql in queries],
    }
    con.close()
    json.dump(document, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
