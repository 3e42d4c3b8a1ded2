"""The events an ingest run sends to Prefect, read back from a real Prefect
backend: a critical finding is announced once, with its batch as the
resource (labelled with its severity, for an automation to match), and
announced again only when it reopens; a batch's change of status is
announced with the status before and after."""

import time
from uuid import UUID

import duckdb
import pytest

from kqc.flows.ingest import ingest_flow
from kqc.pipeline.events import BATCH_STATUS, FLAG_OPENED, WITHHELD

pytestmark = pytest.mark.usefixtures("prefect_harness")

# 2,500 ppb is 2.5 ug/g: over the 1.2 ug/g lead limit, a critical finding.
LEADED = (
    b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"
    b"Acme Labs,EV-001,S1,Mitragynine,1.42,%,0.01\n"
    b"Acme Labs,EV-001,S1,Lead,2500,ppb,5\n"
)
# The same sample's lead reported again, higher: the finding's evidence changed.
AMENDED = b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\nAcme Labs,EV-001,S1,Lead,3000,ppb,5\n"
# ... and below its limit: the finding no longer holds.
BELOW_LIMIT = (
    b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\nAcme Labs,EV-001,S1,Lead,250,ppb,5\n"
)


def run(site, name: str | None = None, data: bytes = b"") -> UUID:
    inbox = site.db.parent / "inbox"
    if name is not None:
        (inbox / name).write_bytes(data)
    state = ingest_flow([inbox], site, return_state=True)
    state.result()
    return state.state_details.flow_run_id


def events_of(run_id: UUID, name: str) -> list:
    """The events of that name the run sent (their related resources name
    the run), or about the run itself (`prefect.flow-run.*`)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import (
        EventAnyResourceFilter,
        EventFilter,
        EventNameFilter,
    )

    with get_client(sync_client=True) as client:
        page = client.read_events(
            filter=EventFilter(
                event=EventNameFilter(name=[name]),
                any_resource=EventAnyResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
            ),
            limit=50,  # the most the API gives a page
        )
        found = list(page.events)
        while page.next_page is not None:
            page = client.read_events_page(str(page.next_page))
            found += page.events
    return found


def persisted(run_id: UUID, name: str, timeout: float = 60) -> list:
    """The run's events of that name once the server has stored them (events
    are sent and stored in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = events_of(run_id, name)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def settled(run_id: UUID) -> None:
    """Wait until the server has stored the run's own end: the run's events,
    sent before it ended, are then stored too."""
    assert persisted(run_id, "prefect.flow-run.Completed"), "the run's end was never stored"


def lead_flag(db) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        [(flag_id,)] = con.execute(
            "SELECT flag_id FROM flags WHERE batch_id = 'EV-001' AND rule = 'heavy_metal'"
            " AND analyte = 'lead' AND basis = 'per_g' AND profile = 'default'"
        ).fetchall()
    return flag_id


def test_a_critical_finding_is_announced_with_its_batch_and_figures(site):
    first = run(site, "leaded.csv", LEADED)
    flag_id = lead_flag(site.db)
    assert persisted(first, FLAG_OPENED)
    settled(first)
    opened = events_of(first, FLAG_OPENED)
    [lead] = [e for e in opened if e.payload["flag_id"] == flag_id]
    assert lead.resource.id == "kqc.batch.EV-001"
    assert lead.resource.name == "EV-001"
    assert lead.resource["kqc.severity"] == "critical"
    assert lead.resource["kqc.rule"] == "heavy_metal"
    assert lead.resource["kqc.analyte"] == "lead"
    payload = dict(lead.payload)
    assert payload.pop("message")
    assert payload == {
        "batch": "EV-001",
        "rule": "heavy_metal",
        "analyte": "lead",
        "severity": "critical",
        "profile": "default",
        "flag_id": flag_id,
        "observed": pytest.approx(2.5),
        "limit": pytest.approx(1.2),
        "unit": "ug/g",
        "status": "open",
        "reopened": False,
    }
    related = {r.id: r for r in lead.related}
    assert related[f"kqc.flag.{flag_id}"].role == "flag"
    assert f"prefect.flow-run.{first}" in related
    # Every flag of the run is announced once, each as the database holds it.
    with duckdb.connect(str(site.db), read_only=True) as con:
        stored = dict(con.execute("SELECT flag_id, severity FROM flags").fetchall())
    assert sorted(e.payload["flag_id"] for e in opened) == sorted(stored)
    assert all(e.resource["kqc.severity"] == stored[e.payload["flag_id"]] for e in opened)

    # The batch is new: it had no status before the run.
    [status] = events_of(first, BATCH_STATUS)
    assert status.resource.id == "kqc.batch.EV-001"
    assert status.resource["kqc.status"] == "FAIL"
    assert dict(status.payload) == {"batch": "EV-001", "before": None, "after": "FAIL"}

    # Judged again with nothing changed: nothing is announced again.
    with duckdb.connect(str(site.db)) as con:
        con.execute("INSERT INTO evaluation_queue VALUES ('EV-001', now())")
    again = run(site)
    settled(again)
    assert events_of(again, FLAG_OPENED) == []
    assert events_of(again, BATCH_STATUS) == []
    with duckdb.connect(str(site.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)

    # New evidence reopens the finding: announced again, as reopened.
    amended = run(site, "amended.csv", AMENDED)
    settled(amended)
    [reopened] = [e for e in events_of(amended, FLAG_OPENED) if e.payload["flag_id"] == flag_id]
    assert reopened.payload["reopened"] is True
    assert reopened.payload["observed"] == pytest.approx(3.0)
    assert events_of(amended, BATCH_STATUS) == []  # it still fails


def test_a_known_batch_whose_finding_no_longer_holds_changes_status(site):
    """The lead amended below its limit resolves the finding: the batch goes
    from FAIL to INCOMPLETE (its panel is still missing tests), announced
    with both statuses; a resolved finding is not announced as opened."""
    settled(run(site, "leaded.csv", LEADED))
    flag_id = lead_flag(site.db)
    fixed = run(site, "fixed.csv", BELOW_LIMIT)
    settled(fixed)
    with duckdb.connect(str(site.db), read_only=True) as con:
        assert con.execute("SELECT status FROM flags WHERE flag_id = ?", [flag_id]).fetchall() == [
            ("resolved",)
        ]
    [change] = events_of(fixed, BATCH_STATUS)
    assert change.resource.id == "kqc.batch.EV-001"
    assert change.resource["kqc.status"] == "INCOMPLETE"
    assert dict(change.payload) == {"batch": "EV-001", "before": "FAIL", "after": "INCOMPLETE"}
    assert flag_id not in {e.payload["flag_id"] for e in events_of(fixed, FLAG_OPENED)}


def test_past_the_limit_the_rest_are_counted_in_one_event(site, monkeypatch):
    """With KQC_MAX_EVENTS=1 the run sends its most severe finding one by
    one and one kqc.events.withheld event that counts the others by
    severity, labelled with the worst of them; no finding is sent twice."""
    monkeypatch.setenv("KQC_MAX_EVENTS", "1")
    first = run(site, "leaded.csv", LEADED)
    settled(first)
    with duckdb.connect(str(site.db), read_only=True) as con:
        stored = con.execute(
            "SELECT flag_id, severity FROM flags"
            " ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 ELSE 2 END"
        ).fetchall()
    assert len(stored) > 1, "the case needs more than one finding"
    [sent] = events_of(first, FLAG_OPENED)
    assert sent.payload["severity"] == "critical"
    assert sent.payload["flag_id"] in {f for f, s in stored if s == "critical"}
    [rest] = events_of(first, WITHHELD)
    held = {s: sum(1 for _, x in stored[1:] if x == s) for s in ("critical", "major", "minor")}
    worst = next(s for s in ("critical", "major", "minor") if held[s])
    assert rest.resource.id == "kqc.events"
    assert rest.resource["kqc.severity"] == worst
    assert rest.payload["findings"] == len(stored)
    assert rest.payload["findings_sent"] == 1
    assert rest.payload["findings_withheld"] == held
    assert rest.payload["limit"] == 1
    assert "kqc flags" in rest.payload["message"]
    assert len(events_of(first, BATCH_STATUS)) == 1  # one batch: within the limit
