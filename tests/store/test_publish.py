"""The snapshot regulators open, on real files and real processes: a full
copy with its comments, read-only on disk, replaced atomically under a reader
that holds the previous one open, never leaving a temporary file or a lock;
opened, value for value, by DuckDB 1.x for Python and by the `duckdb` command
line installed with kqc, also when the live database is in DuckDB 2's format
(and once that database is converted)."""

import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kqc.core.records import RESULT_SCHEMA
from kqc.store import FileRecord, StoreError, connect, store_ingested
from kqc.store.connection import migrate
from kqc.store.convert import convert_storage, inventory
from kqc.store.publish import needs_conversion, publish, remove_stale_temps, snapshot_path
from kqc.store.storage import storage_version
from tests.store.duckdb_clients import cli_json, cli_version, read_with


def store_results(db: Path, n: int, sha: str, batch: str = "B1") -> None:
    rows = {c: [None] * n for c in RESULT_SCHEMA}
    rows.update(
        source_row=list(range(2, n + 2)),
        lab_id=["Acme"] * n,
        batch_id=[batch] * n,
        sample_id=[f"S{i}" for i in range(n)],
        sample_type=["production"] * n,
        analyte=["lead"] * n,
        value=[float(i) for i in range(n)],
        unit=["ug/g"] * n,
        reported_analyte=["Pb"] * n,
        reported_result=[str(i) for i in range(n)],
        reported_unit=["ppm"] * n,
    )
    record = FileRecord(f"{sha[:4]}.csv", sha, "results", datetime.now(UTC), 10, 0, "archive/x")
    store_ingested(db, file=record, results=pl.DataFrame(rows, schema=RESULT_SCHEMA), register=None)


# The database's own objects, not DuckDB's system catalog.
MINE = "database_name = current_database() AND NOT internal"


def catalog(db: Path) -> dict[str, object]:
    """Everything a reader relies on: row counts, views, every comment."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            f"SELECT table_name, comment FROM duckdb_tables() WHERE {MINE} ORDER BY 1"
        ).fetchall()
        return {
            "tables": tables,
            "rows": {
                name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name, _ in tables
            },
            "views": con.execute(
                f"SELECT view_name, comment, sql FROM duckdb_views() WHERE {MINE} ORDER BY 1"
            ).fetchall(),
            "columns": con.execute(
                "SELECT table_name, column_name, data_type, comment FROM duckdb_columns()"
                f" WHERE {MINE} ORDER BY 1, 2"
            ).fetchall(),
            "sequences": con.execute(
                "SELECT sequence_name FROM duckdb_sequences()"
                " WHERE database_name = current_database() ORDER BY 1"
            ).fetchall(),
            "batch_status": con.execute("SELECT * FROM batch_status ORDER BY 1").fetchall(),
        }


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def live(tmp_path: Path) -> Path:
    db = tmp_path / "kqc.duckdb"
    store_results(db, 3, "a" * 64)
    return db


def test_the_snapshot_is_a_full_read_only_copy_beside_the_database(live):
    snapshot = publish(live)
    assert snapshot == live.parent / "kqc.snapshot.duckdb" == snapshot_path(live)
    expected = catalog(live)
    assert catalog(snapshot) == expected
    assert expected["rows"]["results"] == 3 and len(expected["views"]) >= 1
    assert all(comment for *_, comment in expected["columns"])
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o444
    assert files_in(live.parent) == ["kqc.duckdb", "kqc.snapshot.duckdb"]


def test_rows_still_in_the_write_ahead_log_reach_the_snapshot(live):
    # A writer that died before its checkpoint leaves rows only in kqc.duckdb.wal;
    # a byte copy of the database file alone would miss them.
    con = duckdb.connect(str(live))
    con.execute("PRAGMA disable_checkpoint_on_shutdown").fetchall()
    con.execute("DELETE FROM results WHERE value = 0").fetchall()
    con.close()
    assert live.with_name("kqc.duckdb.wal").exists()
    snapshot = publish(live)
    assert catalog(snapshot)["rows"]["results"] == 2
    assert catalog(snapshot)["columns"] == catalog(live)["columns"]
    assert not snapshot.with_name(snapshot.name + ".wal").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_the_snapshot_cannot_be_opened_for_writing(live):
    snapshot = publish(live)
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(snapshot))


def test_the_live_database_is_free_for_a_writer_in_another_process(live):
    publish(live)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import duckdb; c = duckdb.connect({str(live)!r});"
            " c.execute('CREATE TABLE scratch (x INTEGER)').fetchall(); c.close()",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    query = "SELECT count(*), sum(value) FROM results"
    print(*con.execute(query).fetchone(), flush=True)
    sys.stdin.readline()  # the snapshot is replaced meanwhile
    print(*con.execute(query).fetchone(), flush=True)
    """
)


def reader(path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_reader_keeps_its_snapshot_while_a_new_one_replaces_it(tmp_path):
    db = tmp_path / "kqc.duckdb"
    # Enough rows that the second read goes back to the file, not a cache.
    store_results(db, 200_000, "a" * 64)
    snapshot = publish(db)
    old_inode = snapshot.stat().st_ino
    holder = reader(snapshot)
    try:
        assert holder.stdout.readline().split() == ["200000", "19999900000.0"]
        store_results(db, 5, "b" * 64, batch="B2")
        assert publish(db) == snapshot  # the open reader does not block it
        assert snapshot.stat().st_ino != old_inode
        holder.stdin.write("go\n")
        holder.stdin.flush()
        # The holder still reads its own, complete, earlier snapshot.
        assert holder.stdout.readline().split() == ["200000", "19999900000.0"]
        assert holder.wait(timeout=60) == 0, holder.stderr.read()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    fresh = reader(snapshot)
    out, err = fresh.communicate("go\n", timeout=60)
    assert fresh.returncode == 0, err
    assert out.split()[:2] == ["200005", "19999900010.0"]
    assert files_in(tmp_path) == ["kqc.duckdb", "kqc.snapshot.duckdb"]


def test_a_failed_publish_leaves_no_temporary_file_and_the_database_free(live):
    # The snapshot's name is taken by a folder: the copy is made, the rename fails.
    blocker = snapshot_path(live)
    blocker.mkdir()
    (blocker / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="could not be written"):
        publish(live)
    assert files_in(live.parent) == ["kqc.duckdb", "kqc.snapshot.duckdb"]
    assert (blocker / "keep.txt").read_text() == "mine"
    with connect(live) as con:  # not left locked
        con.execute("SELECT 1").fetchall()


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_crashed_build_is_cleaned_up_and_a_running_one_left_alone(live):
    folder = live.parent
    crashed = folder / f".kqc.snapshot.duckdb.{dead_pid()}.0a1b2c3d.tmp"
    crashed.write_bytes(b"half a database")
    (folder / f"{crashed.name}.wal").write_bytes(b"wal")
    running = folder / f".kqc.snapshot.duckdb.{os.getppid()}.4e5f6a7b.tmp"
    running.write_bytes(b"being written")
    publish(live)
    assert files_in(folder) == sorted(["kqc.duckdb", "kqc.snapshot.duckdb", running.name])
    running.unlink()
    assert remove_stale_temps(snapshot_path(live)) == []


def test_no_database_is_one_sentence(tmp_path):
    with pytest.raises(StoreError, match="no database at"):
        publish(tmp_path / "kqc.duckdb")
    assert files_in(tmp_path) == []


# DuckDB's file: three 4 KiB headers, then blocks of 256 KiB, each opening
# with an 8-byte checksum that DuckDB checks when it reads the block.
_HEADERS = 3 * 4096
_BLOCK = 256 * 1024


def damage_a_data_block(db: Path) -> None:
    """Overwrite bytes inside a block that holds the results table's values
    (pragma storage_info names it), as a failing disk or a bad copy would."""
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT * FROM pragma_database_size()").fetchone()[2] == _BLOCK
        block = con.execute(
            "SELECT max(block_id) FROM pragma_storage_info('results')"
            " WHERE column_name = 'sample_id' AND persistent AND block_id >= 0"
        ).fetchone()[0]
    assert block is not None
    offset = _HEADERS + block * _BLOCK + 8 + 64
    with open(db, "r+b") as file:
        file.seek(offset)
        file.write(b"\xde\xad\xbe\xef" * 16)
    # The damage is real: reading the column's values fails, while a count
    # (answered from metadata) does not notice it.
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] > 0
        with pytest.raises(duckdb.Error):
            con.execute("SELECT bit_xor(hash(sample_id)) FROM results").fetchall()


def test_a_damaged_live_database_never_replaces_the_good_snapshot(tmp_path):
    db = tmp_path / "kqc.duckdb"
    store_results(db, 50_000, "c" * 64)
    snapshot = publish(db)
    before = snapshot.read_bytes()
    damage_a_data_block(db)
    with pytest.raises(StoreError) as raised:
        publish(db)
    sentence = raised.value.message
    assert sentence.startswith(f"the live database {db} could not be read (")
    assert f"the last good snapshot {snapshot} is kept" in sentence
    assert "restore" in sentence and "\n" not in sentence
    assert snapshot.read_bytes() == before
    assert files_in(tmp_path) == ["kqc.duckdb", "kqc.snapshot.duckdb"]
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT sample_id) FROM results").fetchone() == (50_000,)


def test_every_table_and_view_of_a_published_snapshot_reads(tmp_path):
    from kqc.store.publish import read_every_table

    db = tmp_path / "kqc.duckdb"
    store_results(db, 50_000, "d" * 64)
    snapshot = publish(db)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        read_every_table(con)
        names = con.execute(f"SELECT table_name FROM duckdb_tables() WHERE {MINE}").fetchall()
        for (name,) in names:
            columns = con.execute(f'SELECT * FROM "{name}"').fetchall()
            assert columns is not None
    assert catalog(snapshot) == catalog(db)


# --- Readable by every DuckDB client from 1.0 on (kqc.store.storage) ---------


def version_of(db: Path) -> str | None:
    with duckdb.connect(str(db), read_only=True) as con:
        return storage_version(con)


def made_by_an_earlier_kqc(db: Path) -> None:
    """A kqc database in DuckDB 2's own format, as kqc created them before it
    chose the 1.0 format: every migration, the same writes."""
    con = duckdb.connect(str(db))
    try:
        migrate(con)
    finally:
        con.close()
    assert version_of(db) == "v2.0.0+"


def test_a_new_database_is_created_in_the_format_duckdb_1_0_reads(live):
    assert version_of(live) == "v1.0.0+"
    store_results(live, 2, "e" * 64, batch="B9")  # later writes keep it
    assert version_of(live) == "v1.0.0+"


def test_the_snapshot_opens_in_duckdb_1x_with_every_value_and_comment(tmp_path):
    db = tmp_path / "kqc.duckdb"
    store_results(db, 20_000, "f" * 64)
    snapshot = publish(db)
    # kqc's own format already: the snapshot is the live file's bytes.
    assert snapshot.read_bytes() == db.read_bytes()
    old = read_with(snapshot, ["SELECT * FROM batch_status"], old=True)
    current = read_with(snapshot, ["SELECT * FROM batch_status"], old=False)
    assert old["duckdb"].startswith("1.")
    assert {k: v for k, v in old.items() if k != "duckdb"} == {
        k: v for k, v in current.items() if k != "duckdb"
    }
    assert len(old["data"]["results"]["rows"]) == 20_000
    assert all(comment for *_, comment in old["columns"])


def test_the_duckdb_command_line_installed_with_kqc_opens_the_snapshot(live):
    snapshot = publish(live)
    expected = catalog(live)
    assert cli_version().startswith("v1.")
    listed = cli_json(
        snapshot,
        f"SELECT table_name AS name, comment FROM duckdb_tables() WHERE {MINE}"
        f" UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE {MINE} ORDER BY 1",
    )
    names = sorted([name for name, _ in expected["tables"]] + [v[0] for v in expected["views"]])
    assert [row["name"] for row in listed] == names
    assert all(row["comment"] for row in listed)
    counted = {
        name: cli_json(snapshot, f'SELECT count(*) AS n FROM (SELECT * FROM "{name}")')[0]["n"]
        for name in names
    }
    assert {name: counted[name] for name in expected["rows"]} == expected["rows"]
    assert counted["results"] == 3 and counted["batch_status"] == 1
    statuses = cli_json(snapshot, "SELECT * FROM batch_status")
    assert statuses == [{"batch_id": "B1", "status": "PASS", "open_flags": 0}]


def test_a_snapshot_written_from_the_write_ahead_log_is_in_the_1_0_format(live):
    con = duckdb.connect(str(live))
    con.execute("PRAGMA disable_checkpoint_on_shutdown").fetchall()
    con.execute("DELETE FROM results WHERE value = 0").fetchall()
    con.close()
    snapshot = publish(live)
    assert version_of(snapshot) == "v1.0.0+"
    old = read_with(snapshot, [], old=True)
    assert len(old["data"]["results"]["rows"]) == 2


def test_a_database_in_duckdb_2_format_still_gets_a_snapshot_duckdb_1x_opens(tmp_path):
    db = tmp_path / "kqc.duckdb"
    made_by_an_earlier_kqc(db)
    store_results(db, 1_000, "a" * 64)
    assert version_of(db) == "v2.0.0+"  # writing does not change a file's format
    note = needs_conversion(db)
    assert note is not None and "kqc publish --convert-storage" in note
    snapshot = publish(db)
    assert version_of(snapshot) == "v1.0.0+"
    old = read_with(snapshot, [], old=True)
    current_live = read_with(db, [], old=False)
    assert {k: old[k] for k in ("tables", "views", "columns", "data")} == {
        k: current_live[k] for k in ("tables", "views", "columns", "data")
    }
    assert files_in(tmp_path) == ["kqc.duckdb", "kqc.snapshot.duckdb"]


def test_converting_a_duckdb_2_database_keeps_everything_and_makes_publishing_a_copy(tmp_path):
    db = tmp_path / "kqc.duckdb"
    made_by_an_earlier_kqc(db)
    store_results(db, 1_000, "a" * 64)
    with duckdb.connect(str(db), read_only=True) as con:
        before = inventory(con)
    assert convert_storage(db) is True
    assert version_of(db) == "v1.0.0+" and needs_conversion(db) is None
    with duckdb.connect(str(db), read_only=True) as con:
        assert inventory(con) == before
    # The sequences go on where they stood (the constraints are in the
    # tables' SQL, compared above).
    store_results(db, 2, "b" * 64, batch="B2")
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT max(result_id), count(*) FROM results").fetchone() == (
            1_002,
            1_002,
        )
    assert convert_storage(db) is False  # once is enough
    snapshot = publish(db)
    assert snapshot.read_bytes() == db.read_bytes()
    assert len(read_with(snapshot, [], old=True)["data"]["results"]["rows"]) == 1_002


HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("open", flush=True)
    sys.stdin.readline()
    """
)


def test_a_conversion_while_another_program_holds_the_database_changes_nothing(
    tmp_path, monkeypatch
):
    db = tmp_path / "kqc.duckdb"
    made_by_an_earlier_kqc(db)
    store_results(db, 10, "a" * 64)
    before = db.read_bytes()
    monkeypatch.setenv("KQC_LOCK_WAIT", "1")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="stayed open in another program"):
            convert_storage(db)
    finally:
        holder.communicate("done\n", timeout=60)
    assert db.read_bytes() == before and version_of(db) == "v2.0.0+"
    assert [n for n in files_in(tmp_path) if not n.startswith(".kqc.ingest")] == ["kqc.duckdb"]


def test_kqc_publish_says_how_to_convert_and_converts_when_asked(tmp_path):
    from tests.cli.test_cli import kqc

    db = tmp_path / "kqc.duckdb"
    made_by_an_earlier_kqc(db)
    store_results(db, 50, "a" * 64)
    first = kqc("publish", "--db", str(db), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{snapshot_path(db)}\n"
    [note] = first.stderr.splitlines()
    assert note.startswith("kqc: note: ") and "kqc publish --convert-storage" in note
    assert version_of(snapshot_path(db)) == "v1.0.0+"
    converted = kqc("publish", "--db", str(db), "--convert-storage", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    assert converted.stdout == f"{snapshot_path(db)}\n"
    assert converted.stderr.splitlines() == [
        f"kqc: converted {db} to the storage format DuckDB 1.0 reads"
    ]
    assert version_of(db) == "v1.0.0+"
    assert snapshot_path(db).read_bytes() == db.read_bytes()
    again = kqc("publish", "--db", str(db), "--convert-storage", cwd=tmp_path)
    assert again.returncode == 0 and again.stderr == ""
