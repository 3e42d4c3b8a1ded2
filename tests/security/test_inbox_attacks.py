"""The inbox as an attacker or a careless operator leaves it: links, pipes,
devices, hard links, and files replaced, appended to or deleted while a run
reads them. Each attack runs through the real ingest flow on a real DuckDB
file. Whatever happens: nothing is lost, what is archived is exactly what was
stored (every archived file hashes to its source_files.sha256), a file that
changed is not stored and is read again as it now is, and the other files of
the run are ingested.

The moments "while a run reads it" are reached by wrapping one of the flow's
own steps so it changes the file first (a fault injected, nothing faked)."""

import hashlib
import json
import os
import threading
from pathlib import Path

import duckdb
import pytest

from kqc.flows import ingest

pytestmark = pytest.mark.usefixtures("prefect_harness")

HEADER = b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"
ROW = "Acme Labs,{batch},S{n},Mitragynine,1.{n},%,0.01\n"
SECRET = b"root:$6$SECRET-HASH-LINE:19000:0:99999:7:::\n"


def body(batch: str, rows: int) -> bytes:
    return HEADER + "".join(ROW.format(batch=batch, n=n) for n in range(rows)).encode()


GOOD = body("B-GOOD", 3)
FIRST = body("B-FIRST", 3)
SECOND = body("B-SECOND", 4)


def inbox_of(site) -> Path:
    return site.db.parent / "inbox"


def drop(site, name: str, data: bytes) -> Path:
    path = inbox_of(site) / name
    path.write_bytes(data)
    return path


def run(site):
    return ingest.ingest_flow([inbox_of(site)], site)


def by_file(outcomes) -> dict:
    return {o.file: o for o in outcomes}


def query(db: Path, sql: str):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_archive_is_what_was_stored(site) -> None:
    """Every kept file hashes to its source_files row, and each ingested file's
    rows are in the database under that hash."""
    if not site.db.exists():
        return
    for status, stored_as, digest, rows in query(
        site.db, "SELECT status, stored_as, sha256, row_count FROM source_files"
    ):
        kept = Path(stored_as)
        assert sha(kept.read_bytes()) == digest, f"{kept} is not the file stored"
        assert kept.stat().st_nlink == 1, f"{kept} shares its bytes with another name"
        if status == "ingested":
            [(count,)] = query(
                site.db, f"SELECT count(*) FROM results WHERE source_sha256 = '{digest}'"
            )
            assert count == rows


def test_a_link_is_never_followed_and_the_good_file_beside_it_is_ingested(site, tmp_path):
    secret = tmp_path / "shadow"
    secret.write_bytes(SECRET + b"Acme Labs,B,S,Lead,1,ppm\n")
    link = inbox_of(site) / "results.csv"
    link.symlink_to(secret)
    drop(site, "good.csv", GOOD)
    outcomes = by_file(run(site))
    assert outcomes["good.csv"].status == "ingested"
    refused = outcomes["results.csv"]
    assert refused.status == "failed"
    assert "symbolic link" in refused.reason and "SECRET" not in refused.reason
    assert str(secret) not in refused.reason  # the target is never quoted
    assert link.is_symlink() and os.readlink(link) == str(secret)  # left where it is
    assert not site.quarantine.exists() or not any(site.quarantine.iterdir())
    everything = query(site.db, "SELECT * FROM results") + query(site.db, "FROM source_files")
    assert "SECRET" not in repr(everything)
    assert_archive_is_what_was_stored(site)


def test_a_link_to_a_device_and_a_named_pipe_are_refused_without_blocking(site):
    (inbox_of(site) / "zero.csv").symlink_to("/dev/zero")
    fifo = inbox_of(site) / "pipe.csv"
    os.mkfifo(fifo)
    drop(site, "good.csv", GOOD)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(run(site)), daemon=True)
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():
        # Unblock the run for the suite's sake, then fail: the run hung on the pipe.
        with open(fifo, "wb", opener=lambda p, f: os.open(p, f | os.O_NONBLOCK)):
            pass
        pytest.fail("the run blocked on a named pipe")
    outcomes = by_file(done[0])
    assert outcomes["good.csv"].status == "ingested"
    assert outcomes["pipe.csv"].status == "failed" and "named pipe" in outcomes["pipe.csv"].reason
    assert outcomes["zero.csv"].status == "failed" and "link" in outcomes["zero.csv"].reason
    assert fifo.exists() and (inbox_of(site) / "zero.csv").is_symlink()


def test_a_link_to_a_folder_in_the_inbox_is_refused_not_walked(site, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "private.csv").write_bytes(FIRST)
    (inbox_of(site) / "folder").symlink_to(outside, target_is_directory=True)
    outcomes = by_file(run(site))
    assert outcomes["folder"].status == "failed" and "link" in outcomes["folder"].reason
    assert (outside / "private.csv").read_bytes() == FIRST
    assert not site.db.exists() or query(site.db, "SELECT count(*) FROM results") == [(0,)]


def test_a_file_with_a_second_name_is_archived_as_a_copy_of_its_own(site, tmp_path):
    other_name = tmp_path / "kept-by-someone.csv"
    other_name.write_bytes(FIRST)
    os.link(other_name, inbox_of(site) / "first.csv")
    [outcome] = run(site)
    assert outcome.status == "ingested"
    other_name.write_bytes(b"rewritten through the other name\n")  # same inode as was dropped
    archived = Path(outcome.stored_as)
    assert archived.read_bytes() == FIRST and archived.stat().st_nlink == 1
    assert_archive_is_what_was_stored(site)


def wrap(monkeypatch, step: str, before) -> None:
    """Run `before()` at the start of one of the flow's steps."""
    real = getattr(ingest, step)

    def changed_first(*args, **kwargs):
        before()
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, step, changed_first)


def replacing(path: Path, data: bytes):
    """A step that puts another file at `path` in one rename, as a copy tool does."""

    def replace() -> None:
        swap = path.with_name("swap.tmp")
        swap.write_bytes(data)
        os.replace(swap, path)

    return replace


def test_a_small_file_appended_to_after_it_was_read_is_not_stored(site, monkeypatch):
    path = drop(site, "first.csv", FIRST)
    drop(site, "good.csv", GOOD)
    extra = ROW.format(batch="B-FIRST", n=9).encode()
    wrap(monkeypatch, "prepare_files", lambda: path.open("ab").write(extra))
    outcomes = by_file(run(site))
    assert outcomes["good.csv"].status == "ingested"
    changed = outcomes["first.csv"]
    assert changed.status == "failed" and "changed while kqc read it" in changed.reason
    assert path.read_bytes() == FIRST + extra  # left in the inbox as it now is
    assert query(site.db, "SELECT count(*) FROM results WHERE batch_id = 'B-FIRST'") == [(0,)]
    assert_archive_is_what_was_stored(site)
    monkeypatch.undo()
    [again] = run(site)
    assert again.status == "ingested" and again.rows == 4 and again.sha256 == sha(FIRST + extra)
    assert_archive_is_what_was_stored(site)


def test_a_small_file_replaced_before_the_commit_is_read_again_as_it_now_is(site, monkeypatch):
    path = drop(site, "lot.csv", FIRST)

    wrap(monkeypatch, "prepare_files", replacing(path, SECOND))
    [outcome] = run(site)
    assert outcome.status == "failed" and "was replaced" in outcome.reason
    assert outcome.sha256 == sha(FIRST)
    assert not site.db.exists() or query(site.db, "SELECT count(*) FROM results") == [(0,)]
    monkeypatch.undo()
    [again] = run(site)
    assert again.status == "ingested" and again.sha256 == sha(SECOND) and again.rows == 4
    assert_archive_is_what_was_stored(site)
    drop(site, "lot.csv", FIRST)  # the genuine first version, dropped again
    [first] = run(site)
    assert first.status == "ingested" and first.rows == 3  # never a false duplicate
    assert_archive_is_what_was_stored(site)


def test_a_file_deleted_before_the_commit_stores_nothing(site, monkeypatch):
    path = drop(site, "gone.csv", FIRST)
    wrap(monkeypatch, "prepare_files", path.unlink)
    [outcome] = run(site)
    assert outcome.status == "failed" and "was deleted" in outcome.reason
    assert not site.db.exists() or query(site.db, "SELECT count(*) FROM results") == [(0,)]


def test_a_file_deleted_after_its_rows_were_stored_is_archived_from_what_was_read(
    site, monkeypatch
):
    path = drop(site, "gone.csv", FIRST)
    wrap(monkeypatch, "file_group", path.unlink)
    [outcome] = run(site)
    assert outcome.status == "ingested"  # its rows are stored, and so is the file
    assert Path(outcome.stored_as).read_bytes() == FIRST
    assert_archive_is_what_was_stored(site)


def test_a_file_replaced_after_its_rows_were_stored_archives_the_bytes_stored(site, monkeypatch):
    path = drop(site, "lot.csv", FIRST)

    wrap(monkeypatch, "file_group", replacing(path, SECOND))
    [outcome] = run(site)
    assert outcome.status == "ingested" and outcome.sha256 == sha(FIRST)
    assert Path(outcome.stored_as).read_bytes() == FIRST
    assert path.read_bytes() == SECOND  # the new version waits for the next run
    assert_archive_is_what_was_stored(site)
    monkeypatch.undo()
    [again] = run(site)
    assert again.status == "ingested" and again.sha256 == sha(SECOND)
    assert_archive_is_what_was_stored(site)


LARGE_ROWS = 2_300  # rows of 30 kB: over the 64 MiB from which a file is streamed, not held


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> bytes:
    method = "AOAC 2017.14 " + "x" * 30_000  # a long method cell keeps the row count small
    rows = "".join(
        f"Acme Labs,B-L{n // 20},S{n},Mitragynine,1.{n % 97},%,0.01,{method}\n"
        for n in range(LARGE_ROWS)
    )
    data = b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ,Method\n" + rows.encode()
    assert len(data) > 64 << 20
    return data


def test_a_large_file_replaced_after_it_was_hashed_is_not_stored_under_the_old_hash(
    site, monkeypatch, large
):
    path = drop(site, "big.csv", large)
    replacement = body("B-SWAP", 5)

    wrap(monkeypatch, "prepare_large", replacing(path, replacement))
    [outcome] = run(site)
    assert outcome.status == "failed" and "was replaced" in outcome.reason
    assert not site.db.exists() or query(site.db, "SELECT count(*) FROM results") == [(0,)]
    assert path.read_bytes() == replacement
    monkeypatch.undo()
    [swap] = run(site)
    assert swap.status == "ingested" and swap.rows == 5
    drop(site, "big.csv", large)  # the genuine large file again: stored, never "duplicate"
    [big] = run(site)
    assert big.status == "ingested" and big.rows == LARGE_ROWS and big.sha256 == sha(large)
    assert_archive_is_what_was_stored(site)


def test_a_large_file_appended_to_while_it_streams_is_rolled_back(site, monkeypatch, large):
    path = drop(site, "big.csv", large)
    extra = b"Acme Labs,B-X,SX,Mitragynine,1.5,%,0.01,AOAC\n"
    wrap(monkeypatch, "prepare_large", lambda: path.open("ab").write(extra))
    [outcome] = run(site)
    assert outcome.status == "failed" and "changed while kqc read it" in outcome.reason
    assert not site.db.exists() or query(site.db, "SELECT count(*) FROM results") == [(0,)]
    assert path.read_bytes() == large + extra
    assert not site.archive.exists() or not any(site.archive.iterdir())


@pytest.fixture(scope="module")
def command(tmp_path_factory):
    """`kqc ingest --json` as a person runs it, over an inbox holding a link to
    a secret, a named pipe, a hidden file and a file named like an errors
    report beside a good file."""
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("command")
    box = home / "inbox"
    box.mkdir()
    secret = home / "shadow"
    secret.write_bytes(SECRET)
    (box / "link.csv").symlink_to(secret)
    os.mkfifo(box / "pipe.csv")
    (box / "..csv").write_bytes(GOOD)
    (box / "x.errors.csv").write_bytes(FIRST)
    (box / "good.csv").write_bytes(SECOND)
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "kqc", "ingest", "--json"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return home, done


def test_the_command_gives_every_inbox_entry_an_outcome_or_a_printed_reason(command):
    home, done = command
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]  # stdout: JSON lines only
    outcomes = {line["file"]: line for line in lines}
    assert outcomes["good.csv"]["status"] == "ingested"
    assert outcomes["x.errors.csv"]["status"] == "ingested"  # not special in the inbox
    assert outcomes["link.csv"]["status"] == "failed"
    assert outcomes["pipe.csv"]["status"] == "failed"
    assert "..csv: left in the inbox for now: a hidden file" in done.stderr
    assert (home / "inbox" / "..csv").read_bytes() == GOOD
    assert done.returncode == 1  # a link and a pipe are something to act on


def test_no_text_from_outside_a_dropped_file_reaches_the_output_or_the_database(command):
    home, done = command
    assert "SECRET" not in done.stdout + done.stderr
    assert "SECRET" not in (home / "kqc.duckdb").read_bytes().decode("latin-1")
    for kept in (home / "archive").iterdir():
        assert b"SECRET" not in kept.read_bytes()
