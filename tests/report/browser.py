"""Headless Chromium driven from its command line: dump the DOM after the
page's scripts ran, or take a screenshot. No browser is downloaded here: the
system's Chromium (Debian package `chromium`) is used, or the test is skipped
— unless KQC_REQUIRE_BROWSER=1 (CI), where a missing browser fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags that let Chromium run headless as root in a container, offline and
# without touching any profile but a throwaway one.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    found = os.environ.get("KQC_CHROMIUM") or next(filter(None, map(shutil.which, _NAMES)), None)
    if found:
        return found
    message = "Chromium not found: apt-get install chromium (or set KQC_CHROMIUM)"
    if os.environ.get("KQC_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _run(page: Path, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="kqc-chromium-") as profile:
        return subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def dump_dom(page: Path) -> str:
    """The DOM as the browser holds it once the page loaded and its scripts ran."""
    done = _run(page, "--virtual-time-budget=5000", "--dump-dom")
    assert done.returncode == 0 and "<body" in done.stdout, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 4200) -> None:
    done = _run(page, f"--window-size={width},{height}", f"--screenshot={png}")
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
