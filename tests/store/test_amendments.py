"""Amended results on a real DuckDB file under a real Prefect backend: a lab
re-reporting a result in a later file supersedes the earlier row (both kept,
the old one pointing at the new), the batch's flags follow the correction,
and the dossier shows both rows."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kqc.flows.ingest import ingest_flow
from kqc.store.dossier import read_dossier
from tests.cli.test_cli import kqc

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIRST = (
    b"Lab,Batch,Sample,Analyte,Result,Unit,LOQ\n"
    b"Acme,B-1,S1,Mitragynine,1.40,%,0.01\n"
    b"Acme,B-1,S1,Lead,1.5,ppm,0.005\n"
    b"Acme,B-1,S1,Arsenic,0.1,ppm,0.02\n"
)
REGISTER = (
    b"Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),"
    b"Serving size (g),Servings per day\n"
    b"B-1,P-1,Test powder,powder,42,3,3\n"
    b"B-2,P-1,Test powder,powder,42,3,3\n"
)
# The lab's corrected certificate: lead was a transcription error.
CORRECTED = b"Lab,Batch,Sample,Analyte,Result,Unit,LOQ\nAcme,B-1,S1,Lead,0.3,ppm,0.005\n"


def ingest(site, *files: tuple[str, bytes]) -> None:
    inbox = site.db.parent / "inbox"
    for name, data in files:
        (inbox / name).write_bytes(data)
    ingest_flow([inbox], site)


def query(db: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).pl()


def lead_rows(db: Path) -> pl.DataFrame:
    return query(
        db,
        "SELECT result_id, batch_id, value, superseded_by, superseded_at FROM results"
        " WHERE analyte = 'lead' ORDER BY result_id",
    )


def lead_flag(db: Path, batch: str) -> str:
    found = query(
        db,
        "SELECT status FROM flags WHERE rule = 'heavy_metal' AND analyte = 'lead'"
        f" AND basis = 'per_g' AND batch_id = '{batch}'",
    )
    return found["status"].item() if found.height else "none"


def test_a_corrected_result_supersedes_the_old_one_and_resolves_its_flag(site):
    ingest(site, ("first.csv", FIRST), ("register.csv", REGISTER))
    assert lead_flag(site.db, "B-1") == "open"

    ingest(site, ("corrected.csv", CORRECTED))
    rows = lead_rows(site.db)
    assert rows.height == 2  # both kept
    old, new = rows.row(0, named=True), rows.row(1, named=True)
    assert (old["value"], new["value"]) == (1.5, 0.3)
    assert old["superseded_by"] == new["result_id"]
    assert old["superseded_at"] is not None
    assert new["superseded_by"] is None and new["superseded_at"] is None
    # Results not re-reported stay current.
    others = query(site.db, "SELECT count(*) AS n FROM results WHERE analyte != 'lead'")
    current = query(
        site.db,
        "SELECT count(*) AS n FROM results WHERE analyte != 'lead' AND superseded_by IS NULL",
    )
    assert others["n"].item() == current["n"].item() == 2
    # The flag was re-evaluated on the current result only.
    assert lead_flag(site.db, "B-1") == "resolved"
    assert query(site.db, "SELECT count(*) AS n FROM evaluation_queue")["n"].item() == 0

    # The dossier keeps both rows, the superseded one marked with its pointer.
    dossier = read_dossier(site.db, "B-1")
    leads = dossier.results.filter(pl.col("analyte") == "lead")
    assert set(leads["superseded_by"].to_list()) == {None, new["result_id"]}
    assert dossier.current.filter(pl.col("analyte") == "lead")["value"].to_list() == [0.3]
    shown = kqc("batch", "B-1", "--db", str(site.db), cwd=site.db.parent)
    assert shown.returncode in (0, 1) and not shown.stderr  # 1: open flags remain
    lead_lines = [line for line in shown.stdout.splitlines() if " lead " in line]
    superseded = [line for line in lead_lines if "(superseded by corrected.csv)" in line]
    assert len(superseded) == 1 and "1.5" in superseded[0] and "first.csv" in superseded[0]
    assert any("0.3" in line and "corrected.csv" in line for line in lead_lines)
    as_json = kqc("batch", "B-1", "--db", str(site.db), "--format", "json", cwd=site.db.parent)
    shown_leads = [r for r in json.loads(as_json.stdout)[0]["results"] if r["analyte"] == "lead"]
    pointers = {r["result_id"]: r["superseded_by"] for r in shown_leads}
    assert pointers == {old["result_id"]: new["result_id"], new["result_id"]: None}


def test_a_correction_back_over_the_limit_reopens_the_flag(site):
    ingest(site, ("first.csv", FIRST), ("register.csv", REGISTER))
    ingest(site, ("corrected.csv", CORRECTED))
    assert lead_flag(site.db, "B-1") == "resolved"
    again = CORRECTED.replace(b"0.3,ppm", b"2.5,ppm")
    ingest(site, ("corrected_again.csv", again))
    rows = lead_rows(site.db)
    assert rows["value"].to_list() == [1.5, 0.3, 2.5]
    # Each amendment points at the one that replaced it; only the last is current.
    ids = rows["result_id"].to_list()
    assert rows["superseded_by"].to_list() == [ids[1], ids[2], None]
    assert lead_flag(site.db, "B-1") == "open"


def test_a_result_moved_to_another_batch_reevaluates_both(site):
    ingest(site, ("first.csv", FIRST), ("register.csv", REGISTER))
    moved = b"Lab,Batch,Sample,Analyte,Result,Unit,LOQ\nAcme,B-2,S1,Lead,1.5,ppm,0.005\n"
    ingest(site, ("moved.csv", moved))
    assert lead_flag(site.db, "B-1") == "resolved"
    assert lead_flag(site.db, "B-2") == "open"


def test_a_repeat_within_one_file_is_rejected_not_an_amendment(site):
    """Two rows with one key in one file are a mistake in the file, not an
    amendment: validation rejects the file whole, nothing is superseded."""
    ingest(site, ("first.csv", FIRST), ("register.csv", REGISTER))
    twice = CORRECTED + b"Acme,B-1,S1,Lead,0.4,ppm,0.005\n"
    ingest(site, ("twice.csv", twice))
    assert (site.quarantine / "twice.csv").exists()
    assert lead_rows(site.db)["superseded_by"].to_list() == [None]
    assert lead_flag(site.db, "B-1") == "open"


def test_another_lab_or_unit_is_not_an_amendment(site):
    ingest(site, ("first.csv", FIRST), ("register.csv", REGISTER))
    other_lab = CORRECTED.replace(b"Acme,", b"Keystone,")
    per_serving = b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B-1,S1,Mitragynine,40,mg/serving\n"
    ingest(site, ("other_lab.csv", other_lab), ("per_serving.csv", per_serving))
    assert lead_rows(site.db)["superseded_by"].to_list() == [None, None]
    assert lead_flag(site.db, "B-1") == "open"
    mitragynine = query(
        site.db, "SELECT unit, superseded_by FROM results WHERE analyte = 'mitragynine'"
    )
    assert sorted(mitragynine.rows()) == [("mg/g", None), ("mg/unit", None)]
