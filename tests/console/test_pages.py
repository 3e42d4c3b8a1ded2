"""The console's pages and decisions end to end, through the real app into
the real store: a critical finding dismissed by one approver stays open
until a second verifies it, a batch is released only when PASS, the release
record shows every signature, uploads land in the inbox byte for byte, and
the findings filters, the inbox's rejections and the users page work."""

from __future__ import annotations

import os
import re

import pytest
from starlette.testclient import TestClient

from kqc.console import uploads
from tests.console.conftest import csrf_of, flag_of, query, sign_in
from tests.signers import PASSWORD


def _row(html: str, flag_id: str) -> str:
    found = re.search(rf'<tr[^>]*data-flag-id="{flag_id}"[^>]*>.*?</tr>', html, re.S)
    assert found, f"no row for {flag_id}"
    return found.group(0)


def test_a_dismissed_critical_finding_waits_for_a_second_approver(browser, where):
    critical = flag_of(where, "B1", "heavy_metal")
    first, second = browser("approver"), browser("approver2")
    done = first.post(
        f"/flags/{critical}/review",
        {"decision": "dismiss", "note": "lab re-ran it: 0.4 ug/g", "password": PASSWORD},
    )
    assert done.status_code == 200 and done.url.path == "/batch/B1"
    assert "stays open until another approver verifies the dismissal" in done.text
    assert 'data-status="awaiting-verification"' in _row(done.text, critical)
    assert query(where, "SELECT status FROM flags WHERE flag_id = ?", [critical]) == [("open",)]
    listed = first.get("/findings").text
    row = _row(listed, critical)
    assert 'data-status="awaiting-verification"' in row
    assert "dismissal awaiting verification" in row and "lab re-ran it: 0.4 ug/g" in row
    # The one who dismissed cannot verify it.
    own = first.post(f"/flags/{critical}/review", {"decision": "verify", "password": PASSWORD})
    assert "the verification must be another approver" in own.text
    assert query(where, "SELECT count(*) FROM signatures")[0][0] == 1
    # The second approver's form offers the verification, and it dismisses the finding.
    page = second.get("/batch/B1").text
    assert f'id="review-{critical}"' in page and 'value="verify"' in page
    verified = second.post(
        f"/flags/{critical}/review", {"decision": "verify", "password": PASSWORD}
    )
    assert "signed by Full a.two: verified the dismissal" in verified.text
    assert query(where, "SELECT status FROM flags WHERE flag_id = ?", [critical]) == [
        ("dismissed",)
    ]
    assert query(
        where, "SELECT user_name, meaning, record_kind FROM signatures ORDER BY signature_id"
    ) == [
        ("a.one", "dismissed the finding", "flag"),
        ("a.two", "verified the dismissal", "dismissal"),
    ]
    row = _row(second.get("/findings?status=dismissed").text, critical)
    assert 'data-status="dismissed"' in row
    assert "dismiss</span> by Full a.one (a.one)" in row and "UTC" in row
    assert "dismissal verified by Full a.two (a.two)" in row


def _dismiss_minor_findings(user, where, batch: str) -> list[str]:
    ids = [
        f
        for (f,) in query(
            where, "SELECT flag_id FROM flags WHERE batch_id = ? AND status = 'open'", [batch]
        )
    ]
    for flag_id in ids:
        done = user.post(
            f"/flags/{flag_id}/review",
            {"decision": "dismiss", "note": "panel sent separately", "password": PASSWORD},
        )
        assert "signed by" in done.text
    return ids


def test_a_batch_is_released_only_when_it_passes(browser, where):
    approver, reviewer = browser("approver"), browser("reviewer")
    sign = {"decision": "release", "note": "all clear", "password": PASSWORD}
    refused = approver.post("/batch/B2/dispose", sign)
    assert "not signed: batch B2 is INCOMPLETE" in refused.text
    assert 'id="disposition-decision">none<' in refused.text
    assert query(where, "SELECT count(*) FROM batch_dispositions") == [(0,)]
    failing = approver.post("/batch/B1/dispose", sign)
    assert "batch B1 is FAIL" in failing.text
    assert query(where, "SELECT count(*) FROM batch_dispositions") == [(0,)]

    dismissed = _dismiss_minor_findings(reviewer, where, "B2")
    assert len(dismissed) == 3
    page = approver.get("/batch/B2").text
    assert 'id="batch-status" class="batch-status PASS">PASS<' in page
    released = approver.post("/batch/B2/dispose", sign)
    assert "signed by Full a.one: released the batch (B2)" in released.text
    assert 'id="disposition-decision">release<' in released.text
    assert query(where, "SELECT decision, decided_by, note FROM batch_disposition") == [
        ("release", "a.one", "all clear")
    ]
    home = approver.get("/").text
    assert 'data-batch-id="B2"' not in home.split('id="awaiting"')[1]  # no longer waiting
    # A failing batch can still be rejected.
    rejected = approver.post("/batch/B1/dispose", {**sign, "decision": "reject"})
    assert "rejected the batch (B1)" in rejected.text

    record = approver.get("/batch/B2/release-record")
    assert record.status_code == 200
    text = record.text
    assert 'href="/static/print.css" media="print"' in text
    assert 'id="rr-product">Caps (P1), capsule<' in text
    assert "release by Full a.one (a.one)" in text
    signatures = re.findall(r'<tr data-signature-id="(\d+)" data-counts="(\w+)"', text)
    assert len(signatures) == 4 and all(counts == "yes" for _, counts in signatures)
    for who, meaning in (
        ("Full r.rev", "dismissed the finding"),
        ("Full a.one", "released the batch"),
    ):
        assert f'<td class="signer">{who}</td>' in text and meaning in text
    assert text.count(" UTC</td>") >= 4
    assert 'id="rr-results"' in text and "heavy_metal" in text  # each result against its limit
    assert "panel sent separately" in text  # the findings' reviews


def test_a_signature_on_a_changed_record_no_longer_counts(browser, where):
    import duckdb

    critical = flag_of(where, "B1", "heavy_metal")
    approver = browser("approver")
    approver.post(f"/flags/{critical}/review", {"decision": "confirm", "password": PASSWORD})
    page = approver.get("/batch/B1").text
    assert re.search(r'data-signature-id="1" data-counts="yes"', page)
    with duckdb.connect(str(where.db)) as con:  # the finding changes behind the signature
        con.execute("UPDATE flags SET observed = 0.5 WHERE flag_id = ?", [critical])
    page = approver.get("/batch/B1").text
    assert re.search(r'data-signature-id="1" data-counts="no"', page)
    assert "no longer counts: the record changed after it was signed" in page


def test_the_batch_page_shows_the_dossier(browser):
    page = browser("reviewer").get("/batch/B1").text
    assert 'id="register-table"' in page and "capsule" in page
    results = page.split('id="results-table"')[1].split("</table>")[0]
    # The lab's text beside the canonical value and unit.
    assert re.search(
        r'<td class="reported">9.0 ppm</td>\s*<td class="num">9</td>\s*<td>ug/g</td>', results
    )
    assert 'id="statistics-table"' in page and "fail" in page
    assert 'class="chart" id="chart-contaminants-per_g"' in page  # the report's chart
    assert page.count('class="review sign"') == 5  # a form for each open finding
    assert '<option value="verify"' not in page  # a reviewer never verifies
    assert 'id="dispose"' not in page  # nor disposes


def test_unknown_batch_and_finding(browser, where):
    user = browser("approver")
    assert user.get("/batch/NOPE").status_code == 404
    missing = user.post("/flags/nope/review", {"decision": "confirm", "password": PASSWORD})
    assert missing.status_code == 404
    assert query(where, "SELECT count(*) FROM signatures") == [(0,)]


def test_the_findings_page_filters_in_order(browser, where):
    user = browser("regulator")
    page = user.get("/findings").text
    ids = re.findall(r'data-flag-id="(\w+)"', page)
    assert len(ids) == query(where, "SELECT count(*) FROM flags")[0][0] == 8
    groups = re.findall(r'<tr class="group" data-batch-id="(\w+)"', page)
    assert groups == ["B1", "B2"]  # the batch with the critical finding first
    severities = re.findall(r'data-severity="(\w+)"', page)
    assert severities[:2] == ["critical", "critical"]
    critical = user.get("/findings?severity=critical").text
    assert set(re.findall(r'data-severity="(\w+)"', critical)) == {"critical"}
    assert (
        len(re.findall(r'data-flag-id="', user.get("/findings?batch=B2&rule=missing_panel").text))
        == 3
    )
    assert 'data-flag-id="' not in user.get("/findings?lab=Elsewhere").text
    assert len(re.findall(r'data-flag-id="', user.get("/findings?lab=Acme&product=P1").text)) == 8
    assert 'data-flag-id="' not in user.get("/findings?until=2000-01-01").text
    assert 'data-flag-id="' not in user.get("/findings?status=dismissed").text
    bad = user.get("/findings?since=yesterday&severity=awful").text
    assert "is not a date" in bad and "unknown severity" in bad


def test_the_home_page_lists_what_needs_a_decision(browser):
    page = browser("approver").get("/").text
    assert page.count('data-flag-id="') == 8
    awaiting = page.split('id="awaiting"')[1]
    assert 'data-batch-id="B1" data-status="FAIL"' in awaiting
    assert 'data-batch-id="B2" data-status="INCOMPLETE"' in awaiting


def _upload(user, name: str, data: bytes):
    """A multipart upload as a browser sends it, the file's name as given
    (httpx would percent-encode control characters in it)."""
    boundary = "----kqc-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{user.csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return user.client.post(
        "/inbox/upload",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )


def test_an_upload_lands_in_the_inbox_byte_for_byte(browser, where):
    technician = browser("technician")
    data = bytes(range(256)) * 3000 + b"\r\nlast line without newline"
    done = _upload(technician, "results 2025-01 (Acme).csv", data)
    assert done.status_code == 200 and done.url.path == "/inbox"
    assert f"uploaded results 2025-01 (Acme).csv ({len(data):,} bytes)" in done.text
    target = where.inbox / "results 2025-01 (Acme).csv"
    assert target.read_bytes() == data
    assert sorted(os.listdir(where.inbox)) == ["results 2025-01 (Acme).csv"]  # no part left
    assert 'data-file-name="results 2025-01 (Acme).csv"' in done.text  # waiting to be read
    again = _upload(technician, "results 2025-01 (Acme).csv", b"other bytes")
    assert "is already in the inbox" in again.text
    assert target.read_bytes() == data  # never replaced


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("../escape.csv", "path separator"),
        ("sub\\escape.csv", "path separator"),
        (".hidden.csv", "starts with a dot"),
        ("bell\x07.csv", "control or invisible character"),
        ("rtl\u202ecsv.exe", "control or invisible character"),
        ("copy.csv.part", "would be left alone"),
        ("", "choose a file first"),
    ],
)
def test_an_upload_with_a_bad_name_is_refused(browser, where, name, said):
    technician = browser("technician")
    done = _upload(technician, name, b"a,b\n1,2\n")
    assert done.status_code == 200
    assert said in done.text
    assert os.listdir(where.inbox) == []
    assert not (where.inbox.parent / "escape.csv").exists()


def test_an_upload_larger_than_the_cap_is_refused(browser, where, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1000)
    done = _upload(browser("technician"), "big.csv", b"x" * 5000)
    assert "nothing uploaded: the upload is larger than" in done.text
    assert os.listdir(where.inbox) == []


def test_the_inbox_shows_a_rejected_files_errors_with_the_fix(browser):
    page = browser("technician").get("/inbox").text
    assert 'data-file-name="bad&lt;i&gt;.csv" data-status="rejected"' in page
    table = page.split('<table class="errors"')[1].split("</table>")[0]
    assert "<th>problem and fix</th>" in table
    assert "not a number: write the result as a number such as 0.12" in table
    assert 'id="upload"' in page and 'enctype="multipart/form-data"' in page
    assert '<script src="/static/upload.js" defer></script>' in page
    assert 'id="upload"' not in browser("reviewer").get("/inbox").text  # only technicians upload


def test_the_static_files_and_health(app):
    client = TestClient(app)
    assert client.get("/health").text == "ok"
    script = client.get("/static/upload.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "dataTransfer" in script.text and "http" not in script.text  # nothing fetched
    assert "font-family" in client.get("/static/console.css").text
    assert "@page" in client.get("/static/print.css").text


def test_an_admin_manages_users(browser, where, app):
    admin = browser("admin")
    password = "another long enough passphrase"
    added = admin.post(
        "/users/add",
        {"name": "n.new", "full_name": "Nia New", "role": "reviewer", "password": password},
    )
    assert "added n.new (Nia New) as reviewer" in added.text
    assert 'data-user-name="n.new" data-role="reviewer" data-enabled="yes"' in added.text
    assert query(where, "SELECT full_name, role FROM users WHERE name = 'n.new'") == [
        ("Nia New", "reviewer")
    ]
    short = admin.post(
        "/users/add", {"name": "n.short", "full_name": "S", "role": "reviewer", "password": "short"}
    )
    assert "not added: a password needs at least 15 characters" in short.text
    assert query(where, "SELECT count(*) FROM users WHERE name = 'n.short'") == [(0,)]
    newcomer = TestClient(app)
    assert sign_in(newcomer, "n.new", password).status_code == 303
    renewed = "a third passphrase, long enough"
    reset = admin.post("/users/n.new/reset-password", {"password": renewed})
    assert "new password set for n.new" in reset.text
    assert newcomer.get("/", follow_redirects=False).status_code == 303  # signed out
    assert sign_in(TestClient(app), "n.new", password).status_code == 401
    assert sign_in(TestClient(app), "n.new", renewed).status_code == 303
    self_disable = admin.post("/users/d.admin/disable")
    assert "you cannot disable yourself" in self_disable.text
    assert query(where, "SELECT disabled_at FROM users WHERE name = 'd.admin'") == [(None,)]


def test_sign_in_returns_to_the_page_asked_for(app):
    client = TestClient(app)
    asked = client.get("/batch/B1", follow_redirects=False)
    assert asked.headers["location"] == "/signin?next=%2Fbatch%2FB1"
    form = client.get(asked.headers["location"]).text
    done = client.post(
        "/signin",
        data={"csrf": csrf_of(form), "name": "g.reg", "password": PASSWORD, "next": "/batch/B1"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/batch/B1"
    offsite = sign_in(TestClient(app), "g.reg")
    assert offsite.headers["location"] == "/"


def test_a_missing_database_is_said_in_one_sentence(where, browser):
    reviewer = browser("reviewer")
    where.db.rename(where.db.with_name("elsewhere.duckdb"))
    page = reviewer.get("/findings")
    assert page.status_code == 503
    assert f"no database at {where.db}" in page.text
    assert page.headers["content-security-policy"]  # still with the security headers
