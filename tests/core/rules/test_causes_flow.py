"""One cause, one finding, through the ingest flow into a real DuckDB file:
results without a register row give one `inconclusive` flag per batch, a
QA dismissal of it stands while nothing changes, and the register's arrival
resolves it and brings the judgements it was blocking."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kqc.flows.ingest import ingest_flow
from kqc.store.reviews import record_review
from tests.signers import signer

pytestmark = pytest.mark.usefixtures("prefect_harness")

HEADER = b"Lab,Batch,Sample,Analyte,Result,Unit,LOQ\n"


def certificate(batch_id: str) -> bytes:
    """A full panel that meets every per-gram limit; lead 0.6 ug/g is 5.4
    ug/day at 3 g three times a day, above USP <2232>'s 5 ug/day."""
    rows = [
        ("Mitragynine", "1.40", "%", "0.01"),
        ("7-Hydroxymitragynine", "0.010", "%", "0.005"),
        ("Lead", "0.6", "ppm", "0.005"),
        ("Arsenic", "0.1", "ppm", "0.02"),
        ("Cadmium", "0.05", "ppm", "0.01"),
        ("Mercury", "<0.005", "ppm", "0.005"),
        ("Nickel", "1.0", "ppm", "0.05"),
        ("Salmonella", "Not detected in 25 g", "", ""),
        ("E. coli", "Absent in 25 g", "", ""),
    ]
    lines = [f"Acme,{batch_id},{batch_id}-S1,{a},{r},{u},{q}" for a, r, u, q in rows]
    return "\n".join(lines).encode() + b"\n"


REGISTER = (
    b"Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),"
    b"Serving size (g),Servings per day\n"
    b"T-01,P-1,Test powder,powder,42,3,3\n"
)


def ingest(site, name: str, data: bytes) -> None:
    inbox = site.db.parent / "inbox"
    (inbox / name).write_bytes(data)
    ingest_flow([inbox], site)


def query(db: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).pl()


def flags(db: Path) -> pl.DataFrame:
    return query(db, "SELECT * FROM flags ORDER BY batch_id, rule, analyte, flag_id")


def status(db: Path) -> dict[str, tuple[str, int]]:
    rows = query(db, "SELECT batch_id, status, open_flags FROM batch_status").rows()
    return {batch_id: (state, n) for batch_id, state, n in rows}


def test_a_missing_register_is_one_finding_until_the_register_arrives(site):
    batches = ["T-01", "T-02", "T-03"]
    ingest(site, "results.csv", HEADER + b"".join(certificate(b) for b in batches))

    # One finding per batch, each listing the seven judgements it blocks.
    before = flags(site.db)
    assert before["batch_id"].to_list() == batches
    assert set(before["rule"]) == {"inconclusive"} and set(before["status"]) == {"open"}
    for row in before.iter_rows(named=True):
        evidence = json.loads(row["evidence"])
        assert evidence["cause"] == "no_register" and evidence["n_blocked"] == 7
        assert row["analyte"] is None and row["profile"] == "default"
        assert f"batch {row['batch_id']} has no register row" in row["message"]
    assert status(site.db) == {b: ("INCOMPLETE", 1) for b in batches}

    # QA dismisses T-02's; a later file that blocks nothing more re-evaluates
    # the batch and leaves the dismissal standing.
    dismissed = before.filter(pl.col("batch_id") == "T-02")["flag_id"].item()
    record_review(site.db, dismissed, "dismiss", signer(site.db), "register row is on its way")
    ingest(site, "solvents.csv", HEADER + b"Acme,T-02,T-02-S2,Ethanol,100,ppm,10\n")
    again = flags(site.db)
    assert again["flag_id"].to_list() == before["flag_id"].to_list()
    assert again.filter(pl.col("flag_id") == dismissed)["status"].item() == "dismissed"
    assert status(site.db)["T-02"] == ("PASS", 0)

    # The register row for T-01: its finding resolves, and the judgements it
    # blocked are made (lead per day fails; the label claim, 14 mg/g x 3 g =
    # 42 mg of a 42 mg claim, passes).
    ingest(site, "register.csv", REGISTER)
    after = flags(site.db).filter(pl.col("batch_id") == "T-01")
    old = after.filter(pl.col("rule") == "inconclusive")
    assert old["status"].to_list() == ["resolved"]
    open_now = after.filter(pl.col("status") == "open")
    assert open_now.select("rule", "analyte", "basis").rows() == [
        ("heavy_metal", "lead", "per_day")
    ]
    assert open_now["observed"].item() == pytest.approx(5.4)
    assert status(site.db)["T-01"] == ("FAIL", 1)
    assert status(site.db)["T-03"] == ("INCOMPLETE", 1)
