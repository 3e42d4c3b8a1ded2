"""`kqc publish --parquet DIR`: every table and view of the snapshot as
Parquet, round-tripping every row count, with the data dictionary beside
them as CSV and JSON; whole or absent, and a target it cannot use refused
with one sentence (exit 2) before anything is written."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from kqc.store.dictionary import columns, objects
from kqc.store.errors import StoreError
from kqc.store.parquet_export import (
    DICTIONARY_CSV,
    DICTIONARY_JSON,
    MARK,
    ExportFolderUnusable,
    export_parquet,
)
from kqc.store.publish import publish
from tests.cli.test_cli import kqc
from tests.store.duckdb_clients import run_old_python
from tests.store.test_publish import files_in, store_results


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    db = tmp_path / "kqc.duckdb"
    store_results(db, 5_000, "a" * 64)
    store_results(db, 7, "b" * 64, batch="B2")
    return publish(db)


def counts(snapshot: Path) -> dict[str, int]:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return {
            name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name, _, _ in objects(con)
        }


def test_every_table_and_view_round_trips_its_rows(snapshot, tmp_path):
    folder = tmp_path / "export"
    written = export_parquet(snapshot, folder)
    expected = counts(snapshot)
    assert expected["results"] == 5_007 and "batch_status" in expected
    parquet = {p.stem: pq.read_table(p).num_rows for p in written if p.suffix == ".parquet"}
    assert parquet == expected
    assert sorted(p.name for p in written) == sorted(
        [f"{name}.parquet" for name in expected] + [DICTIONARY_CSV, DICTIONARY_JSON]
    )
    assert files_in(folder) == sorted([p.name for p in written] + [MARK])
    # Values too, not only counts: the results as DuckDB reads them back.
    with duckdb.connect(str(snapshot), read_only=True) as con:
        back = f"SELECT * FROM read_parquet('{folder}/results.parquet')"
        assert con.execute(f"SELECT * FROM results EXCEPT {back}").fetchall() == []
        assert con.execute(f"{back} EXCEPT SELECT * FROM results").fetchall() == []
    assert files_in(tmp_path) == ["export", "kqc.duckdb", "kqc.snapshot.duckdb"]


def test_the_dictionary_beside_them_is_the_snapshots_own(snapshot, tmp_path):
    folder = tmp_path / "export"
    export_parquet(snapshot, folder)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        listed = objects(con)
        described = columns(con)
    with (folder / DICTIONARY_CSV).open(encoding="utf-8", newline="") as source:
        rows = list(csv.DictReader(source))
    assert list(rows[0]) == ["table", "kind", "column", "type", "comment"]
    assert [(r["table"], r["kind"], r["comment"]) for r in rows if not r["column"]] == listed
    assert sorted(
        (r["table"], r["column"], r["type"], r["comment"]) for r in rows if r["column"]
    ) == (sorted(described))
    document = json.loads((folder / DICTIONARY_JSON).read_text(encoding="utf-8"))
    assert [(o["name"], o["kind"], o["comment"]) for o in document] == listed
    by_name = {o["name"]: o for o in document}
    assert by_name["results"]["rows"] == 5_007 and by_name["results"]["file"] == "results.parquet"
    assert [c["name"] for c in by_name["batch_status"]["columns"]] == [
        "batch_id", "status", "open_flags",
    ]  # fmt: skip
    assert all(c["comment"] for o in document for c in o["columns"])


def test_the_export_reads_in_duckdb_1x_as_well(snapshot, tmp_path):
    folder = tmp_path / "export"
    export_parquet(snapshot, folder)
    done = run_old_python(
        ["-c", "import duckdb, sys; print(duckdb.__version__, duckdb.sql("
         f"\"SELECT count(*) FROM read_parquet('{folder}/results.parquet')\").fetchone()[0])"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    version, rows = done.stdout.split()
    assert version.startswith("1.") and rows == "5007"


def test_a_second_export_replaces_the_first_whole(snapshot, tmp_path):
    folder = tmp_path / "export"
    export_parquet(snapshot, folder)
    (folder / "results.parquet").write_bytes(b"stale")
    export_parquet(snapshot, folder)
    assert pq.read_table(folder / "results.parquet").num_rows == 5_007
    assert files_in(tmp_path) == ["export", "kqc.duckdb", "kqc.snapshot.duckdb"]


def test_a_failed_export_leaves_nothing_and_the_previous_one_as_it_was(snapshot, tmp_path):
    folder = tmp_path / "export"
    export_parquet(snapshot, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    not_a_database = tmp_path / "garbage.duckdb"
    not_a_database.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="nothing of it was left there"):
        export_parquet(not_a_database, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with pytest.raises(StoreError):
        export_parquet(not_a_database, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert files_in(tmp_path) == ["export", "garbage.duckdb", "kqc.duckdb", "kqc.snapshot.duckdb"]


def test_a_folder_of_someone_elses_files_is_refused_untouched(snapshot, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ExportFolderUnusable, match="holds files kqc did not write"):
        export_parquet(snapshot, folder)
    assert files_in(folder) == ["notes.txt"]


def test_an_empty_folder_is_used(snapshot, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    export_parquet(snapshot, folder)
    assert (folder / "results.parquet").exists()


def one_sentence(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_kqc_publish_parquet_writes_the_snapshot_then_the_export(tmp_path):
    db = tmp_path / "kqc.duckdb"
    store_results(db, 100, "c" * 64)
    done = kqc("publish", "--db", str(db), "--parquet", "export", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        str(tmp_path / "kqc.snapshot.duckdb"),
        str(tmp_path / "export"),
    ]
    assert pq.read_table(tmp_path / "export" / "results.parquet").num_rows == 100
    assert done.stderr == ""


def test_kqc_publish_parquet_to_a_file_is_one_sentence_and_exit_2(tmp_path):
    db = tmp_path / "kqc.duckdb"
    store_results(db, 10, "c" * 64)
    (tmp_path / "export.parquet").write_text("a file")
    done = kqc("publish", "--db", str(db), "--parquet", "export.parquet", cwd=tmp_path)
    assert done.returncode == 2
    assert "is a file, not a folder" in one_sentence(done.stderr)
    assert (tmp_path / "export.parquet").read_text() == "a file"
    assert not (tmp_path / "kqc.snapshot.duckdb").exists()  # refused before any work


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs a place nobody can write to")
def test_kqc_publish_parquet_where_nothing_can_be_written_is_exit_2(tmp_path):
    db = tmp_path / "kqc.duckdb"
    store_results(db, 10, "c" * 64)
    # /proc takes no new folder, even from root (file permissions would not stop root).
    done = kqc("publish", "--db", str(db), "--parquet", "/proc/kqc-export", cwd=tmp_path)
    assert done.returncode == 2
    assert "is not writable" in one_sentence(done.stderr)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_kqc_publish_parquet_into_a_read_only_folder_is_exit_2(tmp_path):
    db = tmp_path / "kqc.duckdb"
    store_results(db, 10, "c" * 64)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done = kqc("publish", "--db", str(db), "--parquet", str(locked / "export"), cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2
    assert "is not writable" in one_sentence(done.stderr)


def test_polars_reads_the_export_with_utc_times(snapshot, tmp_path):
    folder = tmp_path / "export"
    export_parquet(snapshot, folder)
    code = (
        "import polars as pl, sys;"
        f" f = pl.read_parquet({str(folder / 'source_files.parquet')!r});"
        " print(f.height, f.schema['received_at'].time_zone)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "UTC"]


def test_kqc_publish_parquet_into_a_missing_parent_folder_is_exit_2(tmp_path):
    db = tmp_path / "kqc.duckdb"
    store_results(db, 10, "c" * 64)
    done = kqc("publish", "--db", str(db), "--parquet", "no/such/export", cwd=tmp_path)
    assert done.returncode == 2
    assert "does not exist" in one_sentence(done.stderr)
    assert files_in(tmp_path) == ["kqc.duckdb"]
