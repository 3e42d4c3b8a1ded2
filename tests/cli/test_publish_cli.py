"""`kqc publish` as a person runs it: a real process, the snapshot's path on
stdout, one sentence and an exit code when there is nothing to publish, and
no Prefect loaded on the way."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb

from kqc.store import connect
from tests.cli.test_cli import kqc


def make_database(db: Path) -> None:
    with connect(db) as con:
        # Columns named: a later migration may add one.
        con.execute(
            "INSERT INTO batches (batch_id, product_id, product_name, form,"
            " label_claim_mg_per_serving, serving_size_g, servings_per_day, units_per_serving,"
            " source_sha256, updated_at)"
            " VALUES ('B1', 'P1', 'Caps', 'capsule', 50, 0.5, 6, 1, 'f' || repeat('0', 63), now())"
        ).fetchall()


def test_publish_prints_the_snapshot_path(tmp_path):
    make_database(tmp_path / "kqc.duckdb")
    done = kqc("publish", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    snapshot = tmp_path / "kqc.snapshot.duckdb"
    assert done.stdout == f"{snapshot}\n"
    assert done.stderr == ""
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o444
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT batch_id, status FROM batch_status").fetchall() == [
            ("B1", "PASS")
        ]
    # Again, over the read-only file it wrote; --db names another database.
    (tmp_path / "data").mkdir()
    make_database(tmp_path / "data" / "lab.duckdb")
    assert kqc("publish", cwd=tmp_path).returncode == 0
    other = kqc("publish", "--db", "data/lab.duckdb", cwd=tmp_path)
    assert (
        other.returncode == 0 and other.stdout == f"{tmp_path / 'data' / 'lab.snapshot.duckdb'}\n"
    )


def test_publish_without_a_database_is_one_sentence(tmp_path):
    done = kqc("publish", "--db", "none.duckdb", cwd=tmp_path)
    assert done.returncode == 2  # configuration, as on every command that reads the database
    assert done.stdout == ""
    assert done.stderr.startswith("kqc: no database at") and done.stderr.count("\n") == 1
    assert "kqc ingest" in done.stderr
    assert list(tmp_path.iterdir()) == []
    bad = kqc("publish", "--db", "missing/dir/x.duckdb", cwd=tmp_path)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_publish_does_not_load_prefect(tmp_path):
    make_database(tmp_path / "kqc.duckdb")
    probe = (
        "import sys\n"
        "from kqc.cli import main\n"
        "sys.argv = ['kqc', 'publish']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_publish_of_a_damaged_database_keeps_the_good_snapshot(tmp_path):
    from tests.store.test_publish import damage_a_data_block, store_results

    db = tmp_path / "kqc.duckdb"
    store_results(db, 50_000, "e" * 64)
    assert kqc("publish", cwd=tmp_path).returncode == 0
    snapshot = tmp_path / "kqc.snapshot.duckdb"
    before = snapshot.read_bytes()
    damage_a_data_block(db)
    done = kqc("publish", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"kqc: the live database {db} could not be read (")
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"the last good snapshot {snapshot} is kept" in done.stderr
    assert snapshot.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "kqc.duckdb",
        "kqc.heads.json",
        "kqc.snapshot.duckdb",
    ]
