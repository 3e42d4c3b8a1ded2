"""A real headless Chromium driven through its chromedriver (Selenium), both
from Debian (packages `chromium` and `chromium-driver`): nothing is
downloaded. Missing, the test is skipped, unless KQC_REQUIRE_BROWSER=1 (CI),
where it fails."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.report.browser import chromium

_DRIVERS = ("chromedriver", "chromium-driver")


def chromedriver() -> str:
    found = os.environ.get("KQC_CHROMEDRIVER") or next(
        filter(None, map(shutil.which, _DRIVERS)), None
    )
    if found:
        return found
    message = "chromedriver not found: apt-get install chromium-driver (or set KQC_CHROMEDRIVER)"
    if os.environ.get("KQC_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def browser(width: int = 1280, height: int = 1000) -> Iterator[object]:
    """A Selenium WebDriver on a throwaway profile, closed at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="kqc-selenium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(chromedriver()), options=options)
        try:
            driver.set_page_load_timeout(60)
            yield driver
        finally:
            driver.quit()
