"""The snapshot regulators open, on real files and real processes: a full
copy with its comments, read-only on disk, replaced atomically under a reader
that holds the previous one open, never leaving a temporary file or a lock."""

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
from kqc.store.publish import publish, remove_stale_temps, snapshot_path


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
