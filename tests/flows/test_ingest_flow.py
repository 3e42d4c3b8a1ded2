"""The ingest flow end to end, on a real DuckDB file under a real Prefect
backend: what is stored, what is archived or quarantined, and that nothing is
lost or doubled."""

import csv
import hashlib
import io
import shutil
from pathlib import Path

import duckdb
import pytest

from kqc import store
from kqc.flows.ingest import ingest_flow

pytestmark = pytest.mark.usefixtures("prefect_harness")

CLEAN = (
    b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"
    b"Acme Labs,B-001,S1,Mitragynine,1.42,%,0.01\n"
    b"Acme Labs,B-001,S1,Lead,250,ppb,5\n"
    b"Acme Labs,B-001,S1,7-Hydroxymitragynine,<LOQ,%,0.01\n"
    b"Acme Labs,B-001,S1,Salmonella,Not detected in 25 g,,\n"
)

BAD = (
    b"Lab,Batch No.,Sample ID,Analyte,Result,Units\n"
    b"Acme Labs,B-002,S1,Mitragynine,1.42,%\n"
    b"Acme Labs,B-002,S1,Mitragynin,1.1,%\n"
    b"Acme Labs,B-002,S1,Lead,0.3,\n"
    b"Acme Labs,B-002,S1,Nickel,1.2,ppm\n"
    b"Acme Labs,B-002,S1,Cadmium,Pass,ppm\n"
)


def drop(site, name: str, data: bytes) -> Path:
    path = site.db.parent / "inbox" / name
    path.write_bytes(data)
    return path


def run(site):
    return ingest_flow([site.db.parent / "inbox"], site)


def query(db: Path, sql: str):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_clean_file_is_stored_canonically_and_archived(site):
    dropped = drop(site, "acme.csv", CLEAN)
    [outcome] = run(site)
    assert outcome.status == "ingested" and outcome.rows == 4
    rows = {
        r[0]: r[1:]
        for r in query(
            site.db,
            "SELECT analyte, value, unit, qualifier, reported_result, reported_unit, loq "
            "FROM results",
        )
    }
    assert rows["mitragynine"][:2] == (pytest.approx(14.2), "mg/g")
    assert rows["mitragynine"][3:5] == ("1.42", "%")
    assert rows["lead"][:2] == (pytest.approx(0.25), "ug/g")
    assert rows["7_hydroxymitragynine"][:3] == (None, "mg/g", "<LOQ")
    assert rows["salmonella"][:3] == (None, None, "not_detected")
    archived = site.archive / "acme.csv"
    assert archived.read_bytes() == CLEAN and not dropped.exists()
    assert query(site.db, "SELECT status, row_count FROM source_files") == [("ingested", 4)]


def test_same_bytes_under_another_name_is_a_duplicate(site):
    drop(site, "first.csv", CLEAN)
    run(site)
    drop(site, "again.csv", CLEAN)
    [outcome] = run(site)
    assert outcome.status == "duplicate" and outcome.rows == 0
    assert query(site.db, "SELECT count(*) FROM results") == [(4,)]
    assert (site.archive / "again.csv").read_bytes() == CLEAN
    statuses = query(site.db, "SELECT status FROM source_files ORDER BY file_id")
    assert statuses == [("ingested",), ("duplicate",)]


def test_bad_file_is_rejected_whole_with_every_bad_row_named(site):
    drop(site, "bad.csv", BAD)
    [outcome] = run(site)
    assert outcome.status == "rejected" and outcome.rows == 0
    assert query(site.db, "SELECT count(*) FROM results") == [(0,)]
    assert (site.quarantine / "bad.csv").read_bytes() == BAD
    report = (site.quarantine / "bad.csv.errors.csv").read_text(encoding="utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(report)))
    assert {line["row"] for line in lines} == {"3", "4", "6"}  # rows 2 and 5 are fine
    by_row = {line["row"]: line for line in lines}
    assert by_row["3"]["column"] == "Analyte"
    assert "did you mean 'mitragynine'" in by_row["3"]["problem"]
    assert by_row["4"]["column"] == "Units"
    assert by_row["6"]["value"] == "Pass"
    assert query(site.db, "SELECT status, error_count FROM source_files") == [("rejected", 3)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (bytes(range(256)) * 8, "not a text file")],
    ids=["empty", "binary"],
)
def test_empty_or_binary_file_is_rejected_with_a_reason(site, data, reason):
    drop(site, "weird.csv", data)
    [outcome] = run(site)
    assert outcome.status == "rejected"
    assert reason in outcome.reason
    assert (site.quarantine / "weird.csv").read_bytes() == data
    assert reason in (site.quarantine / "weird.csv.errors.csv").read_text(encoding="utf-8-sig")


def test_failure_between_insert_and_commit_leaves_nothing(site, monkeypatch):
    dropped = drop(site, "acme.csv", CLEAN)
    real = store.store_files

    def failing(*args, **kwargs):
        checks = kwargs.pop("before_commit", None)

        def fault() -> None:
            if checks is not None:
                checks()  # the flow's own last look at the files still runs
            raise OSError("injected: disk full before commit")

        return real(*args, **kwargs, before_commit=fault)

    monkeypatch.setattr(store, "store_files", failing)
    [outcome] = run(site)
    assert outcome.status == "failed"
    assert "injected" in outcome.reason
    assert dropped.read_bytes() == CLEAN
    assert query(site.db, "SELECT count(*) FROM results") == [(0,)]
    assert query(site.db, "SELECT count(*) FROM source_files") == [(0,)]
    monkeypatch.setattr(store, "store_files", real)
    [retry] = run(site)
    assert retry.status == "ingested"


def test_database_opens_read_only_after_a_run(site):
    drop(site, "acme.csv", CLEAN)
    run(site)
    with duckdb.connect(str(site.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM results").fetchone() == (4,)


def test_temporary_files_are_left_alone(site):
    for name in ("~$acme.xlsx", ".hidden.csv", "upload.part", "copy.tmp"):
        drop(site, name, CLEAN)
    assert run(site) == []
    assert len(list((site.db.parent / "inbox").iterdir())) == 4


def test_register_and_results_in_one_run(site):
    register = Path(__file__).resolve().parents[2] / "sample_data" / "batch_register.csv"
    shutil.copy(register, site.db.parent / "inbox")
    drop(site, "acme.csv", CLEAN)
    outcomes = {o.file: o for o in run(site)}
    assert outcomes["batch_register.csv"].status == "ingested"
    assert outcomes["batch_register.csv"].kind == "register"
    assert query(site.db, "SELECT count(*) FROM batches") == [(13,)]


def test_every_file_ends_in_exactly_one_place(site):
    files = {"a.csv": CLEAN, "b.csv": BAD, "c.csv": CLEAN, "d.csv": b""}
    for name, data in files.items():
        drop(site, name, data)
    outcomes = run(site)
    assert sorted(o.status for o in outcomes) == ["duplicate", "ingested", "rejected", "rejected"]
    placed = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in (site.archive, site.quarantine)
        for p in folder.iterdir()
        if not p.name.endswith(".errors.csv")
    }
    assert placed == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert list((site.db.parent / "inbox").iterdir()) == []


def test_a_rejected_files_errors_csv_is_recorded_by_its_hash(site):
    drop(site, "bad.csv", BAD)
    [outcome] = run(site)
    assert outcome.status == "rejected"
    written = Path(outcome.errors_csv).read_bytes()
    recorded = query(site.db, "SELECT errors_sha256 FROM source_files")
    assert recorded == [(hashlib.sha256(written).hexdigest(),)]


def test_a_snapshot_that_cannot_be_published_is_said_and_the_last_good_one_kept(site, monkeypatch):
    from kqc.flows import ingest
    from kqc.store.errors import StoreError
    from kqc.store.publish import snapshot_path

    drop(site, "acme.csv", CLEAN)
    run(site)
    good = snapshot_path(site.db).read_bytes()

    def damaged(db):
        raise StoreError(f"the live database {db} could not be read (injected)")

    monkeypatch.setattr(ingest, "publish", damaged)
    drop(site, "bad.csv", BAD)
    outcomes = run(site)
    assert [o.status for o in outcomes] == ["rejected"]
    assert outcomes.snapshot_problem == f"the live database {site.db} could not be read (injected)"
    assert snapshot_path(site.db).read_bytes() == good
