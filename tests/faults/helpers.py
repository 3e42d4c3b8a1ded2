"""Real `kqc` processes over a real folder, and the bookkeeping every fault
test checks afterwards: each dropped file exactly once in archive/,
quarantine/ or the inbox, each stored file's rows counted exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

KQC = [sys.executable, "-m", "kqc"]
HEADER = b"Lab,Batch,Sample,Analyte,Result,Unit\n"


def good(i: int) -> bytes:
    return (
        HEADER
        + f"Acme,B{i},S{i},Mitragynine,1.{i % 90 + 10},%\nAcme,B{i},S{i},Lead,{i},ppb\n".encode()
    )


def bad(i: int) -> bytes:
    return HEADER + f"Acme,B{i},S{i},Mitragynin,1.42,%\n".encode()


def drop(inbox: Path, start: int, count: int, *, bad_every: int = 0) -> dict[str, int]:
    """Write files into the inbox; the rows each would store (0: rejected)."""
    inbox.mkdir(parents=True, exist_ok=True)
    rows = {}
    for i in range(start, start + count):
        name = f"lab_{i:04d}.csv"
        is_bad = bad_every and i % bad_every == 0
        (inbox / name).write_bytes(bad(i) if is_bad else good(i))
        rows[name] = 0 if is_bad else 2
    return rows


def env(**extra: str) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KQC_")}
    full.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "KQC_STABLE_SECONDS": "0"})
    full.update(extra)
    return full


class Run:
    """A `kqc ingest` process writing to files, in a session of its own: a
    killed run orphans Prefect's server, which would keep pipes open forever;
    it is ended with the session once the run itself is over."""

    def __init__(self, home: Path, *args: str, **extra: str) -> None:
        self.out_path = home.parent / f"{home.name}.{len(list(home.parent.iterdir()))}.out"
        self.err_path = self.out_path.with_suffix(".err")
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                [*KQC, "ingest", *args],
                cwd=home,
                env=env(**extra),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def finish(self, timeout: float = 300) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        out, err = self.out_path.read_text(), self.err_path.read_text()
        assert "Traceback" not in out + err, out + err
        return code, out, err


def start(home: Path, *args: str, **extra: str) -> Run:
    return Run(home, *args, **extra)


def finish(run: Run, timeout: float = 300) -> tuple[int, str, str]:
    return run.finish(timeout)


def ingest(home: Path, **extra: str) -> tuple[int, str, str]:
    return finish(start(home, "--json", **extra))


def files_in(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".errors.csv")
    )


def _linked(path: Path, home: Path) -> bool:
    return any(
        (home / folder / path.name).exists() and os.path.samefile(path, home / folder / path.name)
        for folder in ("archive", "quarantine")
    )


def check_books(home: Path, dropped: dict[str, int], *, inbox_may_hold: bool = False) -> None:
    """Every dropped file exactly once in archive/, quarantine/ or the inbox;
    the database holds each stored file's rows once and nothing else."""
    archived, quarantined, waiting = (
        files_in(home / "archive"),
        files_in(home / "quarantine"),
        files_in(home / "inbox"),
    )
    if inbox_may_hold:
        # Right after a kill mid-move, a file is linked in both places: one file.
        waiting = [n for n in waiting if not _linked(home / "inbox" / n, home)]
    everywhere = archived + quarantined + waiting
    assert sorted(everywhere) == sorted(dropped), (archived, quarantined, waiting)
    if not inbox_may_hold:
        assert waiting == []
    assert all(dropped[n] == 0 for n in quarantined)
    assert all(dropped[n] > 0 for n in archived)
    db = home / "kqc.duckdb"
    if not db.exists():
        assert archived == []
        return
    with duckdb.connect(str(db), read_only=True) as con:
        stored = dict(
            con.execute(
                "SELECT file_name, count(*) FROM source_files WHERE status = 'ingested'"
                " GROUP BY file_name"
            ).fetchall()
        )
        per_file = dict(
            con.execute(
                "SELECT f.file_name, count(r.source_sha256) FROM source_files f"
                " LEFT JOIN results r ON r.source_sha256 = f.sha256"
                " WHERE f.status = 'ingested' GROUP BY f.file_name"
            ).fetchall()
        )
        total = con.execute("SELECT count(*) FROM results").fetchone()
        recorded = dict(
            con.execute(
                "SELECT file_name, count(*) FROM source_files GROUP BY file_name"
            ).fetchall()
        )
    # A rerun finishing a killed run's filing records nothing a second time.
    assert all(count == 1 for count in recorded.values()), recorded
    # Archived files are stored exactly once; a file still in the inbox may
    # have been stored by a killed run (the rerun then archives it).
    assert set(archived) <= set(stored)
    assert set(stored) <= set(archived) | set(waiting)
    assert all(count == 1 for count in stored.values()), stored
    assert per_file == {name: dropped[name] for name in stored}
    assert total == (sum(per_file.values()),)
