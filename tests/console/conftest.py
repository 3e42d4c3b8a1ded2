"""A small real site for the console's tests: a DuckDB file written through
the store (no Prefect), evaluated by the real rules, with a critical finding
(lead far over its limit) on a sample whose name is a script tag, a second
batch with only minor findings, a rejected file with its errors list, and a
user of every role, each with the same password."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from starlette.testclient import TestClient

from kqc.config.settings import Locations
from kqc.console.app import make_app
from kqc.pipeline.evaluate import evaluate_pending
from kqc.store import FileRecord, Incoming, store_files, store_rejected
from kqc.store.users import add_user
from tests.signers import PASSWORD
from tests.store.test_store import register_frame, results_frame

SCRIPT_SAMPLE = "<script>alert(1)</script>"
ERRORS_CSV = (
    "\ufeffrow,column,value,problem\r\n"
    "3,result,<b>n/a</b>,not a number: write the result as a number such as 0.12\r\n"
)

# One user of each role (and a second approver for the second person).
USERS = {
    "technician": "t.tech",
    "reviewer": "r.rev",
    "approver": "a.one",
    "approver2": "a.two",
    "regulator": "g.reg",
    "admin": "d.admin",
}


def _kept(site: Path, name: str, data: bytes, folder: str = "archive", **extra) -> FileRecord:
    path = site / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return FileRecord(name, sha, "results", datetime.now(UTC), len(data), 0, str(path), **extra)


def _build(site: Path) -> Locations:
    db = site / "kqc.duckdb"
    (site / "inbox").mkdir(parents=True)
    lead = results_frame(2, "B1").with_columns(
        pl.Series("sample_id", [SCRIPT_SAMPLE, "S2"]),
        pl.Series("value", [9.0, 8.0]),
        pl.Series("reported_result", ["9.0", "8.0"]),
    )
    store_files(
        db,
        [
            Incoming(_kept(site, "b1.csv", b"results b1"), lead),
            Incoming(_kept(site, "b2.csv", b"results b2"), results_frame(3, "B2")),
            Incoming(_kept(site, "reg1.csv", b"register b1"), register=register_frame("B1", 42.0)),
            Incoming(_kept(site, "reg2.csv", b"register b2"), register=register_frame("B2", 42.0)),
        ],
    )
    evaluate_pending(db)
    errors = ERRORS_CSV.encode("utf-8")
    bad = _kept(
        site,
        "bad<i>.csv",
        b"garbage",
        "quarantine",
        errors_sha256=hashlib.sha256(errors).hexdigest(),
    )
    (site / "quarantine" / "bad<i>.csv.errors.csv").write_bytes(errors)
    store_rejected(db, file=bad)
    for role, name in USERS.items():
        add_user(db, name, f"Full {name}", role.rstrip("2"), PASSWORD)
    return Locations(db, site / "inbox", site / "archive", site / "quarantine")


@pytest.fixture(scope="session")
def template_site(tmp_path_factory: pytest.TempPathFactory) -> Locations:
    return _build(tmp_path_factory.mktemp("console") / "site")


@pytest.fixture
def where(template_site: Locations, tmp_path: Path) -> Locations:
    """A fresh copy of the built site (database, credentials, folders) per test."""
    shutil.copytree(template_site.db.parent, tmp_path / "site")
    home = tmp_path / "site"
    return Locations(home / "kqc.duckdb", home / "inbox", home / "archive", home / "quarantine")


@pytest.fixture
def app(where: Locations):
    return make_app(where, secret=b"k" * 32)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


@dataclass
class Browser:
    """A TestClient signed in as one user, with the page's CSRF token."""

    client: TestClient
    name: str
    csrf: str

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs):
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)


def sign_in(client: TestClient, name: str, password: str = PASSWORD):
    page = client.get("/signin")
    return client.post(
        "/signin",
        data={"csrf": csrf_of(page.text), "name": name, "password": password},
        follow_redirects=False,
    )


@pytest.fixture
def browser(app) -> Iterator[Callable[[str], Browser]]:
    """`browser("approver")`: a new client signed in as that role's user."""
    clients: list[TestClient] = []

    def make(role: str) -> Browser:
        client = TestClient(app)
        clients.append(client)
        name = USERS[role]
        done = sign_in(client, name)
        assert done.status_code == 303, done.text
        return Browser(client, name, csrf_of(client.get("/").text))

    yield make
    for client in clients:
        client.close()


def query(where: Locations, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(where.db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def flag_of(where: Locations, batch: str, rule: str, severity: str | None = None) -> str:
    sql = "SELECT flag_id FROM flags WHERE batch_id = ? AND rule = ?"
    params: list = [batch, rule]
    if severity:
        sql += " AND severity = ?"
        params.append(severity)
    return query(where, sql + " ORDER BY flag_id LIMIT 1", params)[0][0]
