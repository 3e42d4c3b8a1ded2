"""docs/regulators.md holds: every SQL query in it runs on a published
snapshot of the demo database opened read-only and returns rows, through the
DuckDB kqc runs on, DuckDB 1.x for Python and the `duckdb` command line
installed with kqc, alike; every one also runs on an empty kqc database and
names no id of the demo's; its Python example runs on both Pythons' DuckDB;
and its data dictionary is the one the database's own comments give."""

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kqc.store import connect
from kqc.store.dictionary import BEGIN, END, columns, render, render_fresh, with_dictionary
from tests.cli.test_cli import kqc
from tests.conftest import copy_demo
from tests.signers import PASSWORD, signer
from tests.store.duckdb_clients import cli_json, cli_version, read_with, run_old_python

DOC = Path(__file__).resolve().parents[2] / "docs" / "regulators.md"
TEXT = DOC.read_text(encoding="utf-8")
# Each query with the sentence that says what it answers (the paragraph above it).
QUERIES = re.findall(r"([^\n]+(?:\n[^\n]+)*)\n\n```sql\n(.*?)```", TEXT, re.S)
REVIEW_NOTE = "Recount from the archived file matches; limit applies to finished product."


@pytest.fixture(scope="session")
def snapshot(demo_folder, tmp_path_factory) -> Path:
    """The demo database with one QA decision, published the way regulators get it."""
    home = tmp_path_factory.mktemp("regulators")
    db = copy_demo(demo_folder, home)
    with duckdb.connect(str(db), read_only=True) as con:
        (flag_id,) = con.execute(
            "SELECT flag_id FROM flags WHERE rule = 'heavy_metal' ORDER BY flag_id LIMIT 1"
        ).fetchone()
    decided = kqc(
        "review", flag_id, "--decision", "dismiss", "--reviewer", signer(db, "r.inspector").name,
        "--note", REVIEW_NOTE, "--db", str(db), cwd=home, stdin=PASSWORD,
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    # A critical finding's dismissal counts once a second approver verifies it.
    verified = kqc(
        "review", flag_id, "--decision", "verify", "--reviewer", signer(db, "r.other").name,
        "--db", str(db), cwd=home, stdin=PASSWORD,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    published = kqc("publish", "--db", str(db), cwd=home)
    assert published.returncode == 0, published.stderr
    path = Path(published.stdout.strip())
    assert path == home / "demo" / "kqc.snapshot.duckdb"
    return path


def test_the_document_has_a_dozen_queries_each_with_what_it_answers():
    assert len(QUERIES) >= 12
    assert len(QUERIES) == TEXT.count("```sql")
    for sentence, _ in QUERIES:
        assert sentence.rstrip().endswith(":"), sentence


@pytest.mark.parametrize(
    "sql",
    [sql for _, sql in QUERIES],
    ids=[f"q{i:02d}-{' '.join(s.split()[:4])}" for i, (s, _) in enumerate(QUERIES, 1)],
)
def test_every_query_runs_on_the_snapshot_and_answers(snapshot, sql):
    with duckdb.connect(str(snapshot), read_only=True) as con:
        rows = con.execute(sql).fetchall()
    assert rows, "the query returned no row on the demo data"


def test_the_qa_decision_query_shows_the_reviewer_and_reason(snapshot):
    [sql] = [sql for sentence, sql in QUERIES if "QA decision" in sentence]
    with duckdb.connect(str(snapshot), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        [row] = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    assert row["reviewer"] == "r.inspector" and row["reason"] == REVIEW_NOTE
    assert row["decision"] == "dismiss" and row["flag_status_now"] == "dismissed"


def test_the_python_example_runs_beside_the_snapshot(snapshot):
    [example] = re.findall(r"```python\n(.*?)```", TEXT, re.S)
    assert 'duckdb.connect("kqc.snapshot.duckdb", read_only=True)' in example
    done = subprocess.run(
        [sys.executable, "-c", example],
        cwd=snapshot.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "FAIL" in done.stdout


def test_the_data_dictionary_is_the_one_the_database_gives():
    assert TEXT.count(BEGIN) == 1 and TEXT.count(END) == 1
    assert with_dictionary(TEXT, render_fresh()) == TEXT, (
        "docs/regulators.md is stale: run `python -m kqc.store.dictionary docs/regulators.md`"
    )


def test_the_snapshot_carries_the_same_dictionary(snapshot):
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert render(con) == render_fresh()


def test_every_table_view_and_column_is_documented_in_the_database(snapshot):
    mine = "database_name = current_database() AND NOT internal"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        undocumented = con.execute(
            f"SELECT 'table ' || table_name FROM duckdb_tables() WHERE {mine}"
            " AND coalesce(trim(comment), '') = ''"
            f" UNION ALL SELECT 'view ' || view_name FROM duckdb_views() WHERE {mine}"
            " AND coalesce(trim(comment), '') = ''"
            f" UNION ALL SELECT 'column ' || table_name || '.' || column_name"
            f" FROM duckdb_columns() WHERE {mine} AND coalesce(trim(comment), '') = ''"
        ).fetchall()
        (objects,) = con.execute(
            f"SELECT (SELECT count(*) FROM duckdb_tables() WHERE {mine})"
            f" + (SELECT count(*) FROM duckdb_views() WHERE {mine})"
        ).fetchone()
    assert undocumented == []
    assert objects >= 8


SQL = [sql for _, sql in QUERIES]
IDS = [f"q{i:02d}-{' '.join(s.split()[:4])}" for i, (s, _) in enumerate(QUERIES, 1)]


@pytest.fixture(scope="module")
def read_by_both(snapshot) -> tuple[dict, dict]:
    """The snapshot read whole, every query run, by DuckDB 1.x and by the
    DuckDB kqc runs on."""
    return read_with(snapshot, SQL, old=True), read_with(snapshot, SQL, old=False)


def test_duckdb_1x_reads_every_table_view_and_comment_as_kqc_wrote_them(read_by_both):
    old, current = read_by_both
    assert old["duckdb"].startswith("1.") and current["duckdb"].startswith("2.")
    for part in ("tables", "views", "columns", "data"):
        assert old[part] == current[part], part
    assert {name for name, _ in old["tables"]} >= {
        "source_files", "results", "batches", "thresholds", "flags", "flag_reviews",
    }  # fmt: skip
    assert [name for name, _ in old["views"]] == ["batch_disposition", "batch_status"]
    assert all(comment for _, comment in old["tables"] + old["views"])
    assert all(comment for *_, comment in old["columns"])
    assert old["data"]["results"]["rows"] and old["data"]["flag_reviews"]["rows"]


@pytest.mark.parametrize("index", range(len(SQL)), ids=IDS)
def test_every_query_answers_the_same_in_duckdb_1x(read_by_both, index):
    old, current = read_by_both
    assert old["queries"][index]["rows"], "DuckDB 1.x returned no row on the demo data"
    assert old["queries"][index] == current["queries"][index]


@pytest.mark.parametrize("sql", SQL, ids=IDS)
def test_every_query_runs_in_the_duckdb_command_line_installed_with_kqc(snapshot, sql):
    assert cli_version().startswith("v1.")
    printed = cli_json(snapshot, sql)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        expected = con.execute(sql).fetchall()
    assert printed and len(printed) == len(expected)


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory) -> Path:
    """A kqc database as it is created, before any file arrives."""
    db = tmp_path_factory.mktemp("empty") / "kqc.duckdb"
    with connect(db) as con:
        con.execute("SELECT 1").fetchall()
    return db


def test_every_query_runs_on_an_empty_database_in_both_duckdbs(empty_database):
    old = read_with(empty_database, SQL, old=True)
    current = read_with(empty_database, SQL, old=False)
    assert old["queries"] == current["queries"]
    assert len(old["queries"]) == len(SQL)


def test_no_query_names_an_id_of_the_demo_data(snapshot):
    with duckdb.connect(str(snapshot), read_only=True) as con:
        ids = {
            value
            for (value,) in con.execute(
                "SELECT batch_id FROM batches UNION SELECT product_id FROM batches"
                " UNION SELECT batch_id FROM results UNION SELECT sample_id FROM results"
            ).fetchall()
            if value
        }
    code = SQL + re.findall(r"```python\n(.*?)```", TEXT, re.S)
    assert len(ids) > 10
    assert [(i, block[:40]) for block in code for i in ids if i in block] == []


def test_the_dictionary_query_lists_kqc_columns_only(snapshot):
    [sql] = [sql for sql in SQL if "FROM duckdb_columns()" in sql]
    with duckdb.connect(str(snapshot), read_only=True) as con:
        listed = con.execute(sql).fetchall()
        expected = columns(con)
    assert [row[:2] for row in listed] == [row[:2] for row in expected]
    assert not any(table.startswith(("duckdb_", "pragma_", "sqlite_")) for table, *_ in listed)
    assert 80 < len(listed) < 300  # kqc's own, not DuckDB's hundreds


def test_the_python_example_runs_with_duckdb_1x(snapshot):
    [example] = re.findall(r"```python\n(.*?)```", TEXT, re.S)
    done = run_old_python(
        [
            "-c",
            "import duckdb; assert duckdb.__version__.startswith('1.'); "
            + "exec("
            + repr(example)
            + ")",
        ],
        cwd=snapshot.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "FAIL" in done.stdout


def test_the_parquet_export_of_the_demo_snapshot_round_trips_every_row_count(snapshot, tmp_path):
    import pyarrow.parquet as pq

    done = kqc("publish", "--db", str(snapshot.with_name("kqc.duckdb")), "--parquet",
               str(tmp_path / "export"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == str(tmp_path / "export")
    document = json.loads((tmp_path / "export" / "data_dictionary.json").read_text())
    with duckdb.connect(str(snapshot), read_only=True) as con:
        for item in document:
            (rows,) = con.execute(f'SELECT count(*) FROM "{item["name"]}"').fetchone()
            assert (
                pq.read_table(tmp_path / "export" / item["file"]).num_rows == rows == item["rows"]
            )
    names = {item["name"] for item in document}
    assert {"results", "flags", "flag_reviews", "batch_status", "thresholds"} <= names
