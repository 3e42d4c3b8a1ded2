"""docs/regulators.md holds: every SQL query in it runs on a published
snapshot of the demo database opened read-only and returns rows, its Python
example runs, and its data dictionary is the one the database's own comments
give."""

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kqc.store.dictionary import BEGIN, END, render, render_fresh, with_dictionary
from tests.cli.test_cli import kqc
from tests.conftest import copy_demo

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
        "review", flag_id, "--decision", "dismiss", "--reviewer", "R. Inspector",
        "--note", REVIEW_NOTE, "--db", str(db), cwd=home,
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
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
    assert row["reviewer"] == "R. Inspector" and row["reason"] == REVIEW_NOTE
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
