"""What an ingest run leaves behind for people who were not watching: a table
of the batches it touched and the flags it raised, stored in the Prefect
backend (what the UI shows), and a fresh read-only snapshot beside the
database."""

import json
import shutil
import stat
from pathlib import Path
from uuid import UUID

import duckdb
import pytest

from kqc.flows.ingest import BATCHES_ARTIFACT, HEADS_ARTIFACT, SUMMARY_ARTIFACT, ingest_flow
from kqc.store.chain import heads_path
from kqc.store.publish import snapshot_path
from kqc.store.run_summary import COLUMNS
from tests.conftest import SAMPLE_DATA

pytestmark = pytest.mark.usefixtures("prefect_harness")


def run_with(site, *names: str) -> tuple[UUID, list]:
    inbox = site.db.parent / "inbox"
    for name in names:
        shutil.copyfile(SAMPLE_DATA / name, inbox / name)
    state = ingest_flow([inbox], site, return_state=True)
    return state.state_details.flow_run_id, state.result()


def artifacts_of(flow_run_id: UUID) -> dict[str, object]:
    """The run's artifacts as the Prefect API returns them, by key."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {artifact.key: artifact for artifact in found}


def table_of(artifact) -> list[dict]:
    data = artifact.data
    return json.loads(data) if isinstance(data, str) else data


def database_flags(db: Path, batches: list[str]) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(
            "SELECT batch_id, flag_id, rule, analyte, observed, limit_value, unit, severity"
            " FROM flags WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY flag_id",
            [batches],
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_each_run_records_the_batches_it_touched_and_their_new_flags(site):
    run_id, outcomes = run_with(site, "batch_register.csv", "northstar_labs_report_1102.tsv")
    assert {o.status for o in outcomes} == {"ingested"}
    found = artifacts_of(run_id)
    assert set(found) == {BATCHES_ARTIFACT, SUMMARY_ARTIFACT, HEADS_ARTIFACT}
    # The chain heads, as the heads file beside the snapshot holds them.
    recorded = json.loads(heads_path(site.db).read_text())["heads"]
    heads = {r["table"]: r for r in table_of(found[HEADS_ARTIFACT])}
    assert set(heads) == set(recorded) >= {"source_files", "flag_reviews", "ledger"}
    assert all(heads[t]["row_hash"] == h["row_hash"] for t, h in recorded.items())
    table = found[BATCHES_ARTIFACT]
    assert table.type == "table" and table.flow_run_id == run_id
    rows = table_of(table)
    assert rows and all(list(row) == list(COLUMNS) for row in rows)

    # The register touched every batch it lists; every flag of this first run
    # is new, and each one is in the table with its figures.
    with duckdb.connect(str(site.db), read_only=True) as con:
        registered = {r[0] for r in con.execute("SELECT batch_id FROM batches").fetchall()}
        status = dict(con.execute("SELECT batch_id, status FROM batch_status").fetchall())
    assert {r["batch_id"] for r in rows} == registered | set(status)
    assert all(r["batch_status"] == status[r["batch_id"]] for r in rows)
    shown = sorted(
        ({k: r[k] for k in ("batch_id", "flag_id", "rule", "analyte", "observed",
                            "limit_value", "unit", "severity")} for r in rows if r["flag_id"]),
        key=lambda r: r["flag_id"],
    )  # fmt: skip
    assert shown == database_flags(site.db, sorted(status))
    extract = [r for r in rows if r["batch_id"] == "EXT-1001-E"]
    assert {r["batch_status"] for r in extract} == {"FAIL"}
    assert {r["rule"] for r in extract} >= {"7oh_ratio", "synthetic_alkaloid"}
    assert {r["flag_status"] for r in rows if r["flag_id"]} == {"open"}
    # Failing batches first, then the incomplete ones.
    order = ["FAIL", "INCOMPLETE", "PASS"]
    ranks = [order.index(r["batch_status"]) for r in rows]
    assert ranks == sorted(ranks) and ranks[0] == 0

    summary = found[SUMMARY_ARTIFACT]
    assert summary.type == "markdown"
    assert "- Files: 2 (2 ingested)" in summary.data
    assert str(snapshot_path(site.db)) in summary.data

    # The next run lists only what it changed: the new lab file's batch.
    run_id, _ = run_with(site, "trident_forensics_screen_KR-2611-H.csv")
    rows = table_of(artifacts_of(run_id)[BATCHES_ARTIFACT])
    assert {r["batch_id"] for r in rows} == {"KR-2611-H"}
    assert {r["rule"] for r in rows} >= {"adulterant"}
    assert all(r["flag_id"] and r["flag_status"] == "open" for r in rows)

    # A run with nothing to do records an empty table, not the last run's.
    run_id, outcomes = run_with(site)
    assert outcomes == []
    assert table_of(artifacts_of(run_id)[BATCHES_ARTIFACT]) == []


def test_the_snapshot_follows_every_run(site):
    run_with(site, "batch_register.csv")
    snapshot = snapshot_path(site.db)
    assert snapshot == site.db.parent / "kqc.snapshot.duckdb"
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o444

    def counts(db: Path) -> dict[str, int]:
        with duckdb.connect(str(db), read_only=True) as con:
            return {
                name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in ("results", "batches", "flags", "source_files")
            }

    first = counts(snapshot)
    assert first["batches"] > 0 and first["results"] == 0
    run_with(site, "labor_nord_EXT-1001-E.csv")
    after = counts(snapshot)
    assert after == counts(site.db)
    assert after["results"] == 5 and after["source_files"] == first["source_files"] + 1
    # No temporary file is left beside them.
    # No temporary file is left; the run lock (one ingest at a time) stays.
    assert sorted(p.name for p in site.db.parent.iterdir() if p.is_file()) == [
        ".kqc.ingest.lock",
        "kqc.duckdb",
        "kqc.heads.json",  # the chain heads, beside the snapshot
        "kqc.snapshot.duckdb",
    ]
