"""Many files in one run are stored a group at a time, one transaction per
group: each file still ends exactly as it would alone."""

import duckdb
import pytest

from kqc import store
from kqc.flows.ingest import ingest_flow

pytestmark = pytest.mark.usefixtures("prefect_harness")

HEADER = b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"


def certificate(sample: int, lead: str = "250") -> bytes:
    return (
        HEADER
        + f"Acme Labs,B-{sample:03d},S{sample},Mitragynine,1.42,%,0.01\n".encode()
        + f"Acme Labs,B-{sample:03d},S{sample},Lead,{lead},ppb,5\n".encode()
    )


def run(site):
    return ingest_flow([site.db.parent / "inbox"], site)


def query(site, sql: str):
    with duckdb.connect(str(site.db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_group_of_files_with_a_bad_one_amendments_and_twins(site, monkeypatch):
    inbox = site.db.parent / "inbox"
    for i in range(1, 6):
        (inbox / f"c{i}.csv").write_bytes(certificate(i))
    (inbox / "c6_amends_c2.csv").write_bytes(certificate(2, lead="300"))
    (inbox / "bad.csv").write_bytes(HEADER + b"Acme Labs,B-009,S9,Unobtainium,1,ppm,0.1\n")
    # The same bytes under one name in two subfolders: one stored, one duplicate,
    # and each filed under its own name.
    for sub in ("a", "b"):
        (inbox / sub).mkdir()
        (inbox / sub / "twin.csv").write_bytes(certificate(7))
    monkeypatch.setenv("KQC_GROUP_FILES", "4")  # three groups

    outcomes = {o.stored_as: o for o in run(site)}

    statuses = sorted(o.status for o in outcomes.values())
    assert statuses == ["duplicate"] + ["ingested"] * 7 + ["rejected"]
    assert len({o.stored_as for o in outcomes.values()}) == 9  # nowhere twice
    assert not [p for p in inbox.rglob("*") if p.is_file()]
    assert query(site, "SELECT count(*), count(DISTINCT source_sha256) FROM results") == [(14, 7)]
    assert query(site, "SELECT count(*) FROM source_files") == [(9,)]
    # The later file supersedes the earlier one's lead, mitragynine too.
    assert query(
        site,
        "SELECT reported_result FROM results WHERE batch_id = 'B-002' AND analyte = 'lead'"
        " AND superseded_by IS NULL",
    ) == [("300",)]
    assert query(site, "SELECT count(*) FROM results WHERE superseded_by IS NOT NULL") == [(2,)]


def test_amendments_inside_one_group_leave_the_last_file_current(site):
    inbox = site.db.parent / "inbox"
    for n, lead in enumerate(["100", "200", "300"]):
        (inbox / f"{n}_issue.csv").write_bytes(certificate(1, lead=lead))
    run(site)
    current = query(
        site,
        "SELECT reported_result FROM results WHERE analyte = 'lead' AND superseded_by IS NULL",
    )
    assert current == [("300",)]
    # Each earlier row points at the row that replaced it: the final one.
    assert query(
        site,
        "SELECT count(*) FROM results old JOIN results new ON old.superseded_by = new.result_id"
        " WHERE new.superseded_by IS NULL AND new.reported_result = '300'"
        " AND old.analyte = 'lead'",
    ) == [(2,)]


def test_a_group_the_database_refuses_is_stored_file_by_file(site, monkeypatch):
    inbox = site.db.parent / "inbox"
    for i in range(1, 4):
        (inbox / f"c{i}.csv").write_bytes(certificate(i))
    real = store.store_files
    calls = []

    def refuses_groups(db, files, **kwargs):
        calls.append(len(files))
        if len(files) > 1:
            raise store.StoreError("injected: the group is refused")
        return real(db, files, **kwargs)

    monkeypatch.setattr(store, "store_files", refuses_groups)
    outcomes = run(site)
    assert calls == [3, 1, 1, 1]
    assert [o.status for o in outcomes] == ["ingested"] * 3
    assert query(site, "SELECT count(*) FROM source_files") == [(3,)]
