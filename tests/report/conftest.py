"""The demo database, built once for the report tests, and a drop of files
whose names try to break out of the HTML."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

KQC = [sys.executable, "-m", "kqc"]
HOSTILE_BATCH = 'KR-X<script>alert(1)</script>"onmouseover=alert(2) x="'
HOSTILE_PRODUCT = '"onmouseover=alert(3) x="<script>alert(4)</script> Capsules'
HOSTILE_LAB = "<img src=x onerror=alert(5)>Lab"


def kqc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    done = subprocess.run(
        [*KQC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="session")
def demo_db(demo_folder: Path) -> Path:
    return demo_folder / "kqc.duckdb"  # the report only reads it


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


@pytest.fixture(scope="session")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch whose id, product name and lab name carry markup, dropped and
    ingested like any other: per-unit results (uniformity chart), lead over
    its limit (contaminants chart) and a potency (control chart)."""
    where = tmp_path_factory.mktemp("report-hostile")
    inbox = where / "inbox"
    inbox.mkdir()
    _write_csv(
        inbox / "register.csv",
        [
            [
                "Batch ID",
                "Product ID",
                "Product Name",
                "Form",
                "Label claim (mg/serving)",
                "Serving size (g)",
                "Servings per day",
                "Capsules per serving",
                "Manufactured on",
            ],
            [
                HOSTILE_BATCH,
                "P<b>1</b>",
                HOSTILE_PRODUCT,
                "capsule",
                "7",
                "0.5",
                "6",
                "1",
                "2026-11-02",
            ],
        ],
    )
    header = [
        "Lab",
        "Batch No.",
        "Sample ID",
        "Sample Type",
        "Capsule",
        "Analyte",
        "Result",
        "Units",
        "LOQ",
    ]
    rows = [header]
    for unit in range(1, 11):
        value = "9.9" if unit == 3 else f"{7 + (unit % 3) * 0.1:.2f}"
        rows.append(
            [
                HOSTILE_LAB,
                HOSTILE_BATCH,
                f"S-{unit}",
                "Production",
                str(unit),
                "Mitragynine",
                value,
                "mg/capsule",
                "0.05",
            ]
        )
    rows += [
        [HOSTILE_LAB, HOSTILE_BATCH, "S-G", "Production", "", "Mitragynine", "1.4", "%", "0.01"],
        [HOSTILE_LAB, HOSTILE_BATCH, "S-G", "Production", "", "Lead", "2.5", "ppm", "0.05"],
        [HOSTILE_LAB, HOSTILE_BATCH, "S-G", "Production", "", "Mercury", "<0.05", "ppm", "0.05"],
    ]
    _write_csv(inbox / "results.csv", rows)
    done = kqc("ingest", "--db", str(where / "kqc.duckdb"), cwd=where)
    assert "ingested" in done.stdout or done.returncode in (0, 1), done.stdout + done.stderr
    return where / "kqc.duckdb"
