"""A QA lead's day in a real headless Chromium, against a real `kqc serve`:
sign in, see the findings, dismiss a critical finding with a note and the
password, see it still open; sign in as a second user, an approver, and
verify the dismissal; release the batch; open the release record; sign out.
Each step checks the page and the database.

The screenshot README shows is taken here (set KQC_SCREENSHOT_OUT to a path
to keep it)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.console.browser import browser, chromedriver
from tests.report.browser import chromium

KQC = [sys.executable, "-m", "kqc"]
REVIEWER, APPROVER = "qa.reviewer", "qa.approver"
PASSWORDS = {REVIEWER: "reviewer pass phrase 1", APPROVER: "approver pass phrase 2"}
BATCH = "KR-2612-Z"
# One batch with its whole panel, every result in its limits but lead: one
# critical finding (lead 1.5 ug/g per g, over 1.2; per day 4.5 ug, under 5).
RESULTS = (
    "\n".join(
        [
            "Lab,Batch,Sample,Analyte,Result,Unit,LOQ,Method,Analyzed",
            *(
                f"Acme,{BATCH},{BATCH}-COMP,{analyte},{value},{unit},{loq},{method},2026-12-01"
                for analyte, value, unit, loq, method in [
                    ("Mitragynine", "14.1", "mg/g", "0.1", "AOAC 2017.14"),
                    ("7-Hydroxymitragynine", "<LOQ", "mg/g", "0.1", "AOAC 2017.14"),
                    ("Paynantheine", "3.95", "mg/g", "0.1", "AOAC 2017.14"),
                    ("Lead", "1.5", "ppm", "0.005", "AOAC 2015.01"),
                    ("Arsenic", "0.07", "ppm", "0.02", "AOAC 2015.01"),
                    ("Cadmium", "0.059", "ppm", "0.01", "AOAC 2015.01"),
                    ("Mercury", "<LOQ", "ppm", "0.005", "AOAC 2015.01"),
                    ("Nickel", "0.92", "ppm", "0.05", "AOAC 2015.01"),
                    ("TAMC", "3.7E3", "CFU/g", "10", "USP <2021>"),
                    ("TYMC", "<10", "CFU/g", "10", "USP <2021>"),
                    ("Salmonella", "Absent", "/25g", "", "USP <2022>"),
                    ("E. coli", "Absent", "/10g", "", "USP <2022>"),
                ]
            ),
        ]
    )
    + "\n"
)
REGISTER = (
    "Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),Serving size (g),"
    "Servings per day,Capsules per serving,Manufacturer,Manufacture date\n"
    f"{BATCH},RMD-CAP-500,Red Maeng Da Capsules 500 mg,capsule,7,0.5,6,1,"
    "Borneo Botanicals LLC,2026-11-28\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KQC_", "PREFECT_API_URL"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def _query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Read the live database as a regulator's script would, between the
    writers' short transactions (retried while one holds it)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                return con.execute(sql, params or []).fetchall()
        except duckdb.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def served(tmp_path):
    chromium()
    chromedriver()  # skipped (or failed in CI) before anything starts
    home = tmp_path / "lab"
    (home / "inbox").mkdir(parents=True)
    for name, role, full in [
        (REVIEWER, "reviewer", "Rae Viewer"),
        (APPROVER, "approver", "Abe Prover"),
    ]:
        done = subprocess.run(
            [*KQC, "users", "add", name, "--role", role, "--full-name", full],
            cwd=home, env=_env(), input=PASSWORDS[name], capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    port = _free_port()
    log = (home / "serve.out").open("w")
    proc = subprocess.Popen(
        [*KQC, "serve", "--port", str(port), "--settle", "0.3"],
        cwd=home,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = home / "serve.out"
    deadline = time.monotonic() + 180
    while "kqc serve: serving" not in out.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.2)
    # The lab's files arrive while the console serves.
    for name, text in [("register.csv", REGISTER), ("results.csv", RESULTS)]:
        tmp = home / "inbox" / f".{name}.part"
        tmp.write_text(text)
        tmp.rename(home / "inbox" / name)
    deadline = time.monotonic() + 120
    while "results.csv: ingested" not in out.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.2)
    yield home, f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=120) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert out.read_text().rstrip().endswith("kqc serve: stopped")


def _click_through(driver, element) -> None:
    """Click a submit button or link and wait for the page it leads to.
    Chromium may answer the click before the form's POST and its redirect
    have loaded: the old page must be gone and the new one loaded before the
    next step reads the URL or navigates (a navigation too early would
    cancel the POST)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old_page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    wait = WebDriverWait(driver, 60)
    wait.until(expected_conditions.staleness_of(old_page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def _sign_in(driver, base: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/")
    assert driver.current_url.startswith(f"{base}/signin"), driver.current_url
    driver.find_element(By.ID, "signin-name").send_keys(name)
    driver.find_element(By.ID, "signin-password").send_keys(PASSWORDS[name])
    _click_through(driver, driver.find_element(By.ID, "signin-submit"))
    assert driver.find_element(By.ID, "user-login").text == name


def _sign_out(driver, base: str) -> None:
    from selenium.webdriver.common.by import By

    _click_through(driver, driver.find_element(By.ID, "signout-submit"))
    assert driver.current_url.startswith(f"{base}/signin"), driver.current_url
    driver.get(f"{base}/batch/{BATCH}")  # the session is gone: back to sign-in
    assert driver.current_url.startswith(f"{base}/signin"), driver.current_url


def _sign_form(driver, form_id: str, decision: str, note: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    form = driver.find_element(By.ID, form_id)
    Select(form.find_element(By.NAME, "decision")).select_by_value(decision)
    if note:
        form.find_element(By.NAME, "note").send_keys(note)
    form.find_element(By.NAME, "password").send_keys(password)
    _click_through(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def test_a_qa_leads_day_in_the_console(served, tmp_path):
    from selenium.webdriver.common.by import By

    home, base = served
    db = home / "kqc.duckdb"
    [(flag_id, severity, status)] = _query(
        db,
        "SELECT flag_id, severity, status FROM flags WHERE batch_id = ? AND status != 'resolved'",
        [BATCH],
    )
    assert (severity, status) == ("critical", "open")
    with browser() as driver:
        # A reviewer signs in and sees the finding among what needs a decision.
        _sign_in(driver, base, REVIEWER)
        driver.get(f"{base}/findings")
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-flag-id='{flag_id}']")
        assert row.get_attribute("data-status") == "open"
        assert BATCH in driver.page_source

        # Dismissed with a note and the password: signed, but still open.
        driver.get(f"{base}/batch/{BATCH}")
        assert driver.find_element(By.ID, "batch-status").text == "FAIL"
        _sign_form(
            driver, f"review-{flag_id}", "dismiss", "Retest R-7 shows 0.4 ppm",
            PASSWORDS[REVIEWER],
        )  # fmt: skip
        driver.get(f"{base}/batch/{BATCH}")
        row = driver.find_element(By.ID, f"flag-{flag_id}")
        assert row.get_attribute("data-status") == "awaiting-verification"
        assert driver.find_element(By.ID, "batch-status").text == "FAIL"
        assert _query(db, "SELECT status FROM flags WHERE flag_id = ?", [flag_id]) == [("open",)]
        assert _query(
            db, "SELECT user_name, meaning, record_kind FROM signatures ORDER BY signature_id"
        ) == [(REVIEWER, "dismissed the finding", "flag")]
        _sign_out(driver, base)

        # A second person, an approver, verifies the dismissal.
        _sign_in(driver, base, APPROVER)
        driver.get(f"{base}/batch/{BATCH}")
        _sign_form(driver, f"review-{flag_id}", "verify", "", PASSWORDS[APPROVER])
        driver.get(f"{base}/batch/{BATCH}")
        row = driver.find_element(By.ID, f"flag-{flag_id}")
        assert row.get_attribute("data-status") == "dismissed"
        assert driver.find_element(By.ID, "batch-status").text == "PASS"
        assert _query(db, "SELECT status FROM flags WHERE flag_id = ?", [flag_id]) == [
            ("dismissed",)
        ]
        assert _query(db, "SELECT status FROM batch_status WHERE batch_id = ?", [BATCH]) == [
            ("PASS",)
        ]

        # Released, signed.
        _sign_form(driver, "dispose", "release", "All clear after retest", PASSWORDS[APPROVER])
        driver.get(f"{base}/batch/{BATCH}")
        assert driver.find_element(By.ID, "disposition-decision").text == "release"
        assert _query(
            db, "SELECT decision, decided_by FROM batch_disposition WHERE batch_id = ?", [BATCH]
        ) == [("release", APPROVER)]
        shot = tmp_path / "console.png"
        driver.set_window_size(1280, 1500)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("KQC_SCREENSHOT_OUT"):
            shutil.copyfile(shot, os.environ["KQC_SCREENSHOT_OUT"])

        # The release record: every signature's manifest, ready to print.
        _click_through(driver, driver.find_element(By.ID, "release-record-link"))
        record = driver.page_source
        for expected in (
            BATCH,
            "Red Maeng Da Capsules 500 mg",
            "Rae Viewer",
            "Abe Prover",
            "dismissed the finding",
            "verified the dismissal",
            "released the batch",
            "UTC",
        ):
            assert expected in record, expected
        driver.get(f"{base}/")
        _sign_out(driver, base)
    # Every signature is in the chain kqc verify checks.
    assert _query(db, "SELECT count(*) FROM signatures") == [(3,)]
