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
