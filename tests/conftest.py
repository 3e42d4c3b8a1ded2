import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture(scope="session")
def prefect_harness():
    """One real (temporary, local) Prefect backend for every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def site(tmp_path: Path):
    """A lab's folders: the database beside inbox/, archive/, quarantine/."""
    from kqc.flows.ingest import Places

    (tmp_path / "inbox").mkdir()
    return Places(
        db=tmp_path / "kqc.duckdb",
        archive=tmp_path / "archive",
        quarantine=tmp_path / "quarantine",
    )


def pytest_addoption(parser):
    parser.addoption(
        "--write-expected",
        action="store_true",
        help="rewrite tests/cases expected files from the current output (review the diff!)",
    )


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory) -> Path:
    """`kqc demo` run once, as a person runs it, for every test that reads its
    database; a test that changes it works on a copy (`copy_demo`)."""
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "kqc", "demo", "--dir", "demo"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home / "demo"


def copy_demo(demo_folder: Path, into: Path) -> Path:
    """A private copy of the demo folder; returns its database."""
    import shutil

    shutil.copytree(demo_folder, into / "demo")
    return into / "demo" / "kqc.duckdb"
