"""The corrected limits end to end: a lab's results file and batch register
dropped in the inbox, ingested by the real flow into a real DuckDB file, and
the flags the regulator queries. Florida's 7-OH limit reads the moisture of
the same certificate (ppm and % converted to mg/g as stored); a tea and a
capsule are judged by their own USP <2023> rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from kqc.flows.ingest import ingest_flow

pytestmark = pytest.mark.usefixtures("prefect_harness")

# 7-OH in ppm and in %: 400 ppm = 0.4 mg/g; 0.038 % = 0.38 mg/g.
RESULTS = b"""Lab,Batch,Sample,Analyte,Result,Unit,LOQ
Acme,FL-A,FL-A-1,Mitragynine,3.0,%,0.01
Acme,FL-A,FL-A-1,7-OH,400,ppm,10
Acme,FL-A,FL-A-1,Moisture,0.0,%,0.1
Acme,FL-B,FL-B-1,Mitragynine,3.0,%,0.01
Acme,FL-B,FL-B-1,7-OH,400.1,ppm,10
Acme,FL-B,FL-B-1,Moisture,0.0,%,0.1
Acme,FL-C,FL-C-1,Mitragynine,3.0,%,0.01
Acme,FL-C,FL-C-1,7-OH,380,ppm,10
Acme,FL-C,FL-C-1,Moisture,5.0,%,0.1
Acme,FL-D,FL-D-1,Mitragynine,3.0,%,0.01
Acme,FL-D,FL-D-1,7-OH,0.038,%,0.001
Acme,FL-D,FL-D-1,Moisture,10.0,%,0.1
Acme,FL-E,FL-E-1,Mitragynine,3.0,%,0.01
Acme,FL-E,FL-E-1,7-OH,380,ppm,10
Acme,TEA-1,TEA-1-1,Total aerobic microbial count,5.0E5,CFU/g,10
Acme,TEA-1,TEA-1-1,Bile-tolerant gram-negative bacteria,500,CFU/g,10
Acme,CAP-1,CAP-1-1,Total aerobic microbial count,5.0E4,CFU/g,10
Acme,CAP-1,CAP-1-1,Total yeast and mold,1.0E3,CFU/g,10
"""
HEADER = b"Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),Serving size (g),"
REGISTER = (
    HEADER
    + b"""Servings per day,Markets
FL-A,P-FL,Leaf powder,powder,30,1,1,FL
FL-B,P-FL,Leaf powder,powder,30,1,1,FL
FL-C,P-FL,Leaf powder,powder,30,1,1,FL
FL-D,P-FL,Leaf powder,powder,30,1,1,FL
FL-E,P-FL,Leaf powder,powder,30,1,1,FL
TEA-1,P-TEA,Kratom tea bags,tea bags,20,2,2,
CAP-1,P-CAP,Leaf capsules,capsules,7,0.5,6,
"""
)


def query(db: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).pl()


@pytest.fixture
def ingested(site) -> Path:
    inbox = site.db.parent / "inbox"
    (inbox / "results.csv").write_bytes(RESULTS)
    (inbox / "register.csv").write_bytes(REGISTER)
    ingest_flow([inbox], site)
    return site.db


def test_florida_judges_the_dry_weight_with_the_certificates_moisture(ingested):
    stored = query(
        ingested,
        "SELECT batch_id, value, unit FROM results"
        " WHERE analyte = '7_hydroxymitragynine' ORDER BY batch_id",
    )
    assert stored["unit"].to_list() == ["mg/g"] * 5
    assert stored["value"].to_list() == pytest.approx([0.4, 0.4001, 0.38, 0.38, 0.38])
    fl = query(
        ingested,
        "SELECT batch_id, rule, observed, limit_value, unit, status, message FROM flags"
        " WHERE profile LIKE '%FL%' ORDER BY batch_id",
    )
    by_batch = {row["batch_id"]: row for row in fl.to_dicts()}
    # FL-A: 0.4 / (1 - 0) = 400 ppm exactly, FL-C: 0.38 / 0.95 = 400 ppm: both pass.
    assert set(by_batch) == {"FL-B", "FL-D", "FL-E"}
    # FL-B: 400.1 ppm dry weight.
    assert by_batch["FL-B"]["rule"] == "7oh_ratio"
    assert by_batch["FL-B"]["observed"] == pytest.approx(0.4001)
    assert (by_batch["FL-B"]["limit_value"], by_batch["FL-B"]["unit"]) == (0.4, "mg/g dry")
    # FL-D: 0.038 % = 0.38 mg/g as is, / (1 - 0.10) = 0.422222 mg/g dry = 422.2 ppm.
    assert by_batch["FL-D"]["observed"] == pytest.approx(0.38 / 0.9)
    assert "422.2 ppm dry weight" in by_batch["FL-D"]["message"]
    # FL-E: no moisture: cannot show it is under 400 ppm dry; says what to send.
    assert by_batch["FL-E"]["rule"] == "inconclusive"
    assert "moisture (loss on drying, %) of sample FL-E-1" in by_batch["FL-E"]["message"]
    status = query(ingested, "SELECT batch_id, status FROM batch_status WHERE batch_id = 'FL-B'")
    assert status["status"].item() == "FAIL"


def test_a_tea_and_a_capsule_are_judged_by_their_own_usp_rows(ingested):
    micro = query(
        ingested,
        "SELECT batch_id, analyte, observed, limit_value, source FROM flags"
        " WHERE rule = 'microbial' ORDER BY batch_id, analyte",
    )
    got = [(r["batch_id"], r["analyte"], r["limit_value"]) for r in micro.to_dicts()]
    # Tea: TAMC 5 x 10^5 is within 10^6; BTGN 500 is above 10^2.
    # Capsule: TAMC 5 x 10^4 is above 10^4; TYMC 10^3 is at its limit.
    assert got == [("CAP-1", "tamc", 10_000), ("TEA-1", "btgn", 100)]
    sources = dict(zip(micro["batch_id"], micro["source"], strict=True))
    assert "nutritional supplements with botanicals" in sources["CAP-1"]
    assert "boiling water before use" in sources["TEA-1"]
