"""The first files of a cold run, read and prepared while Prefect's server
boots (kqc.pipeline.early_read): the flow run stores what was read early
only while the inbox entry is still that very file, and reads again what was
replaced, appended to, or prepared under another vocabulary."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pytest

from kqc.flows import ingest as flow_module
from kqc.flows.ingest import ingest_flow, reading_early
from kqc.pipeline import early_read

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIRST = (
    b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"
    b"Acme Labs,B-001,S1,Mitragynine,1.42,%,0.01\n"
    b"Acme Labs,B-001,S1,Lead,250,ppb,5\n"
)
SECOND = (
    b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"
    b"Acme Labs,B-002,S7,Mitragynine,1.10,%,0.01\n"
    b"Acme Labs,B-002,S7,Lead,120,ppb,5\n"
    b"Acme Labs,B-002,S7,Nickel,0.4,ppm,0.05\n"
)
ZINC = (
    b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"
    b"Acme Labs,B-003,S1,Lead,0.27,ppm,0.002\n"
    b"Acme Labs,B-003,S1,Zinc (Zn),24.6,ppm,0.1\n"
)
VOCABULARY = "code,group,canonical_unit,aliases\nzinc,heavy metals,ug/g,Zn;Zinc (Zn)\n"


def _stored(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT batch_id, sample_id, analyte FROM results ORDER BY batch_id, analyte"
        ).fetchall()


def _archived_as_stored(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        for sha, stored_as in con.execute(
            "SELECT sha256, stored_as FROM source_files WHERE status = 'ingested'"
        ).fetchall():
            assert hashlib.sha256(Path(stored_as).read_bytes()).hexdigest() == sha


def _read_early(site, inbox: Path) -> None:
    """Start the early reading as a cold `kqc ingest` does, and let it finish."""
    early_read.begin([inbox], [site.archive, site.quarantine])
    early = early_read.current()
    assert early is not None
    early._finished()


def _counting_prepare_many(monkeypatch) -> list[int]:
    """How many files the flow's own `prepare_many` was given, call by call
    (the real function runs)."""
    calls: list[int] = []
    real = flow_module.prepare_many

    def counted(files):
        calls.append(len(files))
        return real(files)

    monkeypatch.setattr(flow_module, "prepare_many", counted)
    return calls


def test_a_file_read_early_and_unchanged_is_stored_from_that_reading(site, monkeypatch):
    inbox = site.db.parent / "inbox"
    (inbox / "first.csv").write_bytes(FIRST)
    calls = _counting_prepare_many(monkeypatch)
    with reading_early([inbox], site, while_booting=True):
        _read_early(site, inbox)
        [outcome] = ingest_flow([inbox], site)
    assert outcome.status == "ingested" and outcome.rows == 2
    assert calls == []  # prepared early: the flow prepared nothing itself
    assert _stored(site.db) == [("B-001", "S1", "lead"), ("B-001", "S1", "mitragynine")]
    _archived_as_stored(site.db)
    assert early_read.current() is None  # let go when the run ended


@pytest.mark.parametrize("change", ["replaced", "appended to"])
def test_a_file_changed_after_the_early_read_is_stored_as_it_now_is(site, monkeypatch, change):
    inbox = site.db.parent / "inbox"
    path = inbox / "lab.csv"
    path.write_bytes(FIRST)
    calls = _counting_prepare_many(monkeypatch)
    with reading_early([inbox], site, while_booting=True):
        _read_early(site, inbox)
        if change == "replaced":
            fresh = inbox / ".lab.csv.part"
            fresh.write_bytes(SECOND)
            os.replace(fresh, path)
        else:
            with path.open("ab") as handle:
                handle.write(b"Acme Labs,B-001,S2,Lead,90,ppb,5\n")
        [outcome] = ingest_flow([inbox], site)
    assert outcome.status == "ingested"
    assert calls == [1]  # read and prepared again by the flow
    expected = (
        [("B-002", "S7", "lead"), ("B-002", "S7", "mitragynine"), ("B-002", "S7", "nickel")]
        if change == "replaced"
        else [("B-001", "S1", "lead"), ("B-001", "S2", "lead"), ("B-001", "S1", "mitragynine")]
    )
    assert sorted(_stored(site.db)) == sorted(expected)
    _archived_as_stored(site.db)


def test_files_prepared_early_under_another_vocabulary_are_prepared_again(
    site, monkeypatch, tmp_path
):
    # The vocabulary file is named only after the early reading: the flow's
    # check puts it in force, and zinc, unknown when the file was prepared
    # early, is an analyte by the time the run stores it.
    inbox = site.db.parent / "inbox"
    (inbox / "zinc.csv").write_bytes(ZINC)
    monkeypatch.delenv("KQC_VOCABULARY", raising=False)
    with reading_early([inbox], site, while_booting=True):
        _read_early(site, inbox)
        house = tmp_path / "house.csv"
        house.write_text(VOCABULARY)
        monkeypatch.setenv("KQC_VOCABULARY", str(house))
        [outcome] = ingest_flow([inbox], site)
    monkeypatch.delenv("KQC_VOCABULARY")
    from kqc.config.house_vocabulary import use_environment

    use_environment()  # the built-in vocabulary again, for the tests that follow
    assert outcome.status == "ingested", outcome
    assert {a for _, _, a in _stored(site.db)} == {"lead", "zinc"}


def test_without_a_booting_server_nothing_is_read_early(site):
    inbox = site.db.parent / "inbox"
    (inbox / "first.csv").write_bytes(FIRST)
    with reading_early([inbox], site, while_booting=False):
        assert early_read.current() is None
        [outcome] = ingest_flow([inbox], site)
    assert outcome.status == "ingested"
