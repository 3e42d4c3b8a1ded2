"""The console's security, each check against the real app, the real store
and a real DuckDB file: no page or action without a session, no action
beyond the role, no POST without its CSRF token, the lockout, escaping of
lab text, the cookie's flags, signatures only with one's own password, and
sessions that end (signed out, idle, user disabled)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from kqc.console.access import USER_RECHECK_SECONDS
from kqc.console.app import make_app
from kqc.console.headers import CONTENT_SECURITY_POLICY
from kqc.console.sessions import COOKIE
from kqc.store.users import disable_user, set_password
from tests.console.conftest import SCRIPT_SAMPLE, USERS, flag_of, query, sign_in
from tests.signers import PASSWORD

PAGES = [
    "/",
    "/findings",
    "/findings?status=open",
    "/batch/B1",
    "/batch/B1/release-record",
    "/inbox",
    "/users",
]
POSTS = [
    "/signout",
    "/flags/x/review",
    "/batch/B1/dispose",
    "/inbox/upload",
    "/users/add",
    "/users/r.rev/disable",
    "/users/r.rev/reset-password",
]


def _decisions(where) -> tuple[int, int, int]:
    (counts,) = query(
        where,
        "SELECT (SELECT count(*) FROM flag_reviews), (SELECT count(*) FROM signatures),"
        " (SELECT count(*) FROM batch_dispositions)",
    )
    return counts


def test_every_route_without_a_session_goes_to_sign_in_or_gets_401(app, where):
    client = TestClient(app)
    for path in PAGES:
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/signin?next=%2F"), path
        assert "sign in" in client.get(path).text.lower()  # followed: the sign-in form
    for path in POSTS:
        refused = client.post(path, data={"decision": "release", "password": PASSWORD})
        assert refused.status_code == 401, path
    assert client.get("/health").text == "ok"
    assert 'id="signin"' in client.get("/signin").text
    assert _decisions(where) == (0, 0, 0)
    assert [n for (n,) in query(where, "SELECT name FROM users")] == list(USERS.values())


# (role, method, path, form): each is refused with 403 and changes nothing.
REFUSED = [
    ("technician", "post", "/flags/{critical}/review", {"decision": "confirm"}),
    ("technician", "post", "/batch/B2/dispose", {"decision": "hold"}),
    ("technician", "get", "/users", None),
    ("reviewer", "post", "/flags/{critical}/review", {"decision": "verify"}),
    ("reviewer", "post", "/batch/B2/dispose", {"decision": "hold"}),
    ("reviewer", "post", "/inbox/upload", None),
    ("reviewer", "get", "/users", None),
    ("approver", "post", "/inbox/upload", None),
    ("approver", "post", "/users/add", {"name": "x.new", "role": "admin"}),
    ("regulator", "post", "/flags/{critical}/review", {"decision": "confirm"}),
    ("regulator", "post", "/batch/B2/dispose", {"decision": "hold"}),
    ("regulator", "post", "/inbox/upload", None),
    ("regulator", "post", "/users/r.rev/disable", {}),
    ("regulator", "get", "/users", None),
    ("admin", "post", "/flags/{critical}/review", {"decision": "confirm"}),
    ("admin", "post", "/batch/B2/dispose", {"decision": "release"}),
    ("admin", "post", "/inbox/upload", None),
]


@pytest.mark.parametrize(("role", "method", "path", "form"), REFUSED)
def test_each_role_is_refused_what_it_may_not_do(browser, where, role, method, path, form):
    critical = flag_of(where, "B1", "heavy_metal")
    path = path.format(critical=critical)
    user = browser(role)
    if method == "get":
        refused = user.get(path)
    elif path == "/inbox/upload":
        refused = user.client.post(
            path, data={"csrf": user.csrf}, files={"file": ("r.csv", b"a,b\n")}
        )
    else:
        refused = user.post(path, {**(form or {}), "password": PASSWORD, "note": "n"})
    assert refused.status_code == 403, (role, path)
    assert 'id="forbidden"' in refused.text and f"a {role}" in refused.text
    assert _decisions(where) == (0, 0, 0)
    assert list(where.inbox.iterdir()) == []
    assert query(where, "SELECT count(*) FROM users WHERE disabled_at IS NULL")[0][0] == 6
    assert query(where, "SELECT count(*) FROM users WHERE name = 'x.new'")[0][0] == 0


def test_every_signed_in_role_reads_findings_and_batches(browser):
    for role in USERS:
        user = browser(role)
        for path in ("/", "/findings", "/batch/B1", "/batch/B1/release-record", "/inbox"):
            page = user.get(path)
            assert page.status_code == 200, (role, path)
            assert f'id="user-login">{user.name}<' in page.text


def test_a_form_without_its_csrf_token_is_refused(browser, where):
    critical = flag_of(where, "B1", "heavy_metal")
    approver = browser("approver")
    form = {"decision": "confirm", "password": PASSWORD}
    missing = approver.client.post(f"/flags/{critical}/review", data=form)
    wrong = approver.client.post(f"/flags/{critical}/review", data={**form, "csrf": "x" * 43})
    assert missing.status_code == wrong.status_code == 403
    assert "security token" in missing.text
    dispose = approver.client.post("/batch/B2/dispose", data={"decision": "hold", **form})
    assert dispose.status_code == 403
    assert _decisions(where) == (0, 0, 0)
    technician = browser("technician")
    upload = technician.client.post("/inbox/upload", files={"file": ("r.csv", b"a,b\n")})
    assert upload.status_code == 403
    assert list(where.inbox.iterdir()) == []  # not even a hidden part is left
    # The sign-in form is protected too (no sign-in forced on a victim's browser).
    stranger = TestClient(make_app(where))
    forced = stranger.post("/signin", data={"name": "a.one", "password": PASSWORD})
    assert forced.status_code == 403 and COOKIE not in forced.cookies
    # With the token the same decision goes through: the token was the only thing missing.
    done = approver.post(f"/flags/{critical}/review", form)
    assert done.status_code == 200 and "signed by Full a.one" in done.text
    assert _decisions(where) == (1, 1, 0)


def test_five_wrong_passwords_lock_the_account(app, where):
    client = TestClient(app)
    for _ in range(5):
        wrong = sign_in(client, "r.rev", "not the password, not at all")
        assert wrong.status_code == 401 and "the name or the password is wrong" in wrong.text
    locked = sign_in(client, "r.rev")  # the right password, too late
    assert locked.status_code == 401
    assert "locked after 5 wrong passwords" in locked.text
    assert client.get("/", follow_redirects=False).status_code == 303
    # The lock is kept by the store: another client is refused as well.
    assert sign_in(TestClient(app), "r.rev").status_code == 401
    # An admin's new password lifts it.
    set_password(where.db, "r.rev", PASSWORD)
    assert sign_in(TestClient(app), "r.rev").status_code == 303


def test_lab_text_is_escaped_everywhere(browser, where):
    user = browser("regulator")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in ("/batch/B1", "/batch/B1/release-record"):
        page = user.get(path).text
        assert escaped in page, path
        assert SCRIPT_SAMPLE not in page, path
        assert "<script" not in page  # the batch page has no script at all
    inbox = user.get("/inbox").text
    assert "bad&lt;i&gt;.csv" in inbox and "&lt;b&gt;n/a&lt;/b&gt;" in inbox
    assert "<i>" not in inbox and "<b>" not in inbox
    # The sample is stored as the lab wrote it: only the page escapes it.
    assert query(where, "SELECT count(*) FROM results WHERE sample_id = ?", [SCRIPT_SAMPLE]) == [
        (1,)
    ]


def test_security_headers_on_every_response(browser):
    user = browser("regulator")
    for path in ("/", "/batch/B1", "/static/console.css", "/static/upload.js", "/no/such"):
        response = user.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert user.get("/findings").headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_the_session_cookie_is_httponly_strict_and_rotated_at_sign_in(app):
    client = TestClient(app)
    before = client.get("/signin").cookies[COOKIE]
    signed = sign_in(client, "a.one")
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1
    after = signed.cookies[COOKIE]
    assert after != before  # a new session id at sign-in
    fixed = TestClient(app, cookies={COOKIE: before})  # the id from before signing in
    assert fixed.get("/", follow_redirects=False).status_code == 303
    secure = TestClient(app, base_url="https://testserver")
    assert "Secure" in sign_in(secure, "a.one").headers["set-cookie"]
    forged = after.split(".")[0] + "." + "0" * 64
    assert (
        TestClient(app, cookies={COOKIE: forged}).get("/", follow_redirects=False).status_code
        == 303
    )


def test_a_signature_needs_the_signers_own_password(browser, where):
    other = "the second approver's own passphrase"
    set_password(where.db, "a.two", other)
    critical = flag_of(where, "B1", "heavy_metal")
    approver = browser("approver")
    # a.one signs with a.two's password, naming a.two in the form: refused.
    form = {"decision": "confirm", "password": other, "name": "a.two", "reviewer": "a.two"}
    refused = approver.post(f"/flags/{critical}/review", form)
    assert "not signed: the name or the password is wrong" in refused.text
    assert _decisions(where) == (0, 0, 0)
    done = approver.post(f"/flags/{critical}/review", {**form, "password": PASSWORD})
    assert "signed by Full a.one" in done.text
    assert query(where, "SELECT reviewer FROM flag_reviews") == [("a.one",)]
    assert query(where, "SELECT user_name, full_name FROM signatures") == [("a.one", "Full a.one")]


def test_a_signed_out_session_no_longer_works(browser, where):
    approver = browser("approver")
    cookie = approver.client.cookies[COOKIE]
    out = approver.post("/signout")
    assert out.status_code == 200 and 'id="signin"' in out.text and "signed out" in out.text
    replay = TestClient(approver.client.app, cookies={COOKIE: cookie})
    assert replay.get("/", follow_redirects=False).status_code == 303
    critical = flag_of(where, "B1", "heavy_metal")
    stale = replay.post(
        f"/flags/{critical}/review",
        data={"csrf": approver.csrf, "decision": "confirm", "password": PASSWORD},
    )
    assert stale.status_code == 401
    assert _decisions(where) == (0, 0, 0)


def test_an_idle_session_expires(app):
    now = [1000.0]
    app.state.console.sessions.clock = lambda: now[0]
    client = TestClient(app)
    assert sign_in(client, "g.reg").status_code == 303
    now[0] += 29 * 60  # used within the idle time: kept, and the clock restarts
    assert client.get("/", follow_redirects=False).status_code == 200
    now[0] += 29 * 60
    assert client.get("/", follow_redirects=False).status_code == 200
    now[0] += 31 * 60  # left alone for longer than 30 minutes: ended
    assert client.get("/", follow_redirects=False).status_code == 303
    now[0] += 1
    assert client.get("/", follow_redirects=False).status_code == 303  # gone for good


def test_a_disabled_user_is_signed_out_at_once(browser, where):
    reviewer = browser("reviewer")
    admin = browser("admin")
    done = admin.post("/users/r.rev/disable")
    assert "disabled r.rev" in done.text
    assert 'data-user-name="r.rev" data-role="reviewer" data-enabled="no"' in done.text
    assert query(where, "SELECT disabled_at IS NOT NULL FROM users WHERE name = 'r.rev'") == [
        (True,)
    ]
    assert reviewer.get("/", follow_redirects=False).status_code == 303
    assert sign_in(TestClient(admin.client.app), "r.rev").status_code == 401


def test_a_user_disabled_outside_the_console_is_signed_out_soon(app, where):
    now = [1000.0]
    app.state.console.sessions.clock = lambda: now[0]
    client = TestClient(app)
    assert sign_in(client, "r.rev").status_code == 303
    disable_user(where.db, "r.rev")  # as `kqc users disable r.rev` does
    now[0] += USER_RECHECK_SECONDS + 1
    assert client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(TestClient(app), "r.rev").status_code == 401
