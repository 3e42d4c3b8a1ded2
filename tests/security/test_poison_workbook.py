"""A poison workbook stops only itself. One `kqc ingest`, as a real process,
over an inbox holding a 5 KB workbook with one cell at XFD1048576 (which
made the workbook reader ask for 512 GiB and abort the whole run, every run)
and a good CSV: the CSV is ingested, the workbook quarantined with its
errors.csv and one sentence, exit 1, no traceback, no worker left behind.
And a run where the workbook reader itself is killed: that workbook is
rejected, the others go on."""

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.readers.books import RESULTS_HEADER, RESULTS_ROW, far_cell_workbook, workbook

GOOD_CSV = b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B1,S1,Lead,0.1,ppm\n"
FAR = (
    "the sheet 'Results' reaches cell XFD1048576 (1,048,576 rows × 16,384 columns), over the"
    " limit of 20,000,000 cells (set KQC_MAX_SHEET_CELLS to change it): delete the stray cell"
    " far from the table (Ctrl+End shows it), save, and drop the file again"
)
KILLED = (
    "the workbook could not be read: the reader was killed by signal 9 (SIGKILL); save it"
    " again from Excel as .xlsx, or export the results as CSV"
)


def _workers_of(mark: str) -> list[int]:
    """Workbook readers still running that were started by the run carrying
    `mark` in its environment (other runs on this machine have their own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # ended while looked at, or not ours to read
            continue
        if b"kqc.readers.isolated" in cmdline and mark.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def _ingest(home: Path, files: dict[str, bytes], **env: str) -> dict:
    box = home / "inbox"
    box.mkdir(parents=True)
    for name, data in files.items():
        (box / name).write_bytes(data)
    mark = f"poison-{uuid.uuid4()}"
    run_env = {k: v for k, v in os.environ.items() if k not in ("KQC_DB", "KQC_FAULT")}
    run_env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", KQC_TEST_RUN_MARK=mark, **env)
    done = subprocess.run(
        [sys.executable, "-m", "kqc", "ingest", "--json"],
        cwd=home,
        env=run_env,
        capture_output=True,
        timeout=600,
    )
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    lines = {line["file"]: line for line in map(json.loads, stdout.splitlines())}
    return {
        "code": done.returncode,
        "output": stdout + stderr,
        "lines": lines,
        "left": _workers_of(mark),
    }


def _errors(line: dict) -> list[str]:
    with open(line["errors_csv"], encoding="utf-8-sig", newline="") as handle:
        return [row["problem"] for row in csv.DictReader(handle)]


def test_the_poison_workbook_is_quarantined_and_the_good_file_ingested(tmp_path):
    run = _ingest(tmp_path, {"poison.xlsx": far_cell_workbook(), "good.csv": GOOD_CSV})
    assert run["code"] == 1, run["output"]
    assert "Traceback" not in run["output"]
    assert run["lines"]["good.csv"]["status"] == "ingested"
    poison = run["lines"]["poison.xlsx"]
    assert poison["status"] == "rejected" and poison["rows"] == 0
    assert poison["reason"].startswith(FAR)
    assert Path(poison["stored_as"]).parent == tmp_path / "quarantine"
    assert _errors(poison) == [FAR]
    assert run["left"] == []


def test_a_reader_killed_rejects_its_workbook_and_the_run_goes_on(tmp_path):
    good_book = workbook({"Results": [RESULTS_HEADER, RESULTS_ROW]})
    run = _ingest(
        tmp_path,
        {"crash.xlsx": good_book, "good.csv": GOOD_CSV},
        KQC_FAULT="xlsx_reader",  # the worker kills itself before reading, as a crash would
    )
    assert run["code"] == 1, run["output"]
    assert "Traceback" not in run["output"]
    assert run["lines"]["good.csv"]["status"] == "ingested"
    crash = run["lines"]["crash.xlsx"]
    assert crash["status"] == "rejected" and crash["reason"].startswith(KILLED)
    assert _errors(crash) == [KILLED]
    assert run["left"] == []
