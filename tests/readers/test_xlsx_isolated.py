"""The workbook reader runs in a worker process: when it dies (killed, out
of memory, overstaying), only that workbook is refused, with a sentence, and
the next one is read by a new worker. No worker outlives kqc."""

import os
import signal
import subprocess
import sys
import time

from kqc.core.records import SheetTables
from kqc.readers import isolated, read_bytes
from kqc.readers.isolated import HANG_FAULT
from tests.readers.books import RESULTS_HEADER, RESULTS_ROW, far_cell_workbook, workbook
from tests.readers.certificate import (
    METALS,
    METALS_HEADER_ROW,
    METALS_NOTE,
    MICRO,
    MICRO_HEADER_ROW,
    POTENCY,
    POTENCY_HEADER_ROW,
    multi_sheet_certificate,
)

SAVE_AGAIN = "save it again from Excel as .xlsx, or export the results as CSV"


def _good() -> bytes:
    return workbook({"Results": [RESULTS_HEADER, RESULTS_ROW]})


def _problem(outcome) -> str:
    assert isinstance(outcome, list), outcome
    [problem] = outcome
    return problem.problem


def _gone(pid: int, within: float = 10.0) -> bool:
    """Whether the process has exited (and been reaped, or is a zombie)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_one_warm_worker_reads_the_workbooks_one_after_another():
    assert not isinstance(read_bytes("a.xlsx", _good()), list)
    [pid] = isolated.worker_pids()
    assert not isinstance(read_bytes("b.xlsx", _good()), list)
    assert isolated.worker_pids() == [pid]


def test_every_sheet_of_a_workbook_is_read_in_one_request(monkeypatch):
    # A worker of its own (another memory limit), told to die at its second request.
    monkeypatch.setenv("KQC_MAX_XLSX_READER_BYTES", str(3 << 30))
    monkeypatch.setenv("KQC_FAULT", f"{isolated.FAULT_POINT}:2")
    book = read_bytes("coa.xlsx", multi_sheet_certificate())
    assert isinstance(book, SheetTables)
    analytes = [(t.sheet, t.header_row, t.frame[t.headers[0]].to_list()) for t in book.tables]
    assert analytes == [
        ("Potency", POTENCY_HEADER_ROW, [row[0] for row in POTENCY]),
        # The note under the metals is the normalizer's to leave out, not the reader's.
        ("Heavy Metals", METALS_HEADER_ROW, [row[0] for row in METALS] + [METALS_NOTE]),
        ("Microbiology", MICRO_HEADER_ROW, [row[0] for row in MICRO]),
    ]
    assert book.tables[0].metadata["Analyst"] == "S. Lim"
    assert book.tables[0].frame["Result"][0] == "1.52%"
    assert "killed by signal 9" in _problem(read_bytes("next.xlsx", _good()))


def test_a_killed_reader_rejects_that_workbook_and_the_next_is_read(monkeypatch):
    assert not isinstance(read_bytes("warm.xlsx", _good()), list)
    [before] = isolated.worker_pids()
    monkeypatch.setenv("KQC_FAULT", isolated.FAULT_POINT)
    assert _problem(read_bytes("crash.xlsx", _good())) == (
        f"the workbook could not be read: the reader was killed by signal 9 (SIGKILL); {SAVE_AGAIN}"
    )
    assert _gone(before) and isolated.worker_pids() == []
    monkeypatch.delenv("KQC_FAULT")
    table = read_bytes("next.xlsx", _good())
    assert table.frame["Analyte"].to_list() == ["Lead"]


def test_a_reader_out_of_memory_rejects_that_workbook_and_the_next_is_read(monkeypatch):
    # The check let through on purpose: the native reader then really asks for
    # 512 GiB, past the worker's memory limit, and the allocation failure
    # aborts the worker, not kqc.
    for setting in ("KQC_MAX_SHEET_CELLS", "KQC_MAX_SHEET_ROWS", "KQC_MAX_SHEET_COLUMNS"):
        monkeypatch.setenv(setting, str(1 << 40))
    monkeypatch.setenv("KQC_MAX_XLSX_READER_BYTES", str(2 << 30))
    assert _problem(read_bytes("poison.xlsx", far_cell_workbook())) == (
        "the workbook could not be read: the reader ran out of memory (the limit is"
        " 2,147,483,648 bytes (set KQC_MAX_XLSX_READER_BYTES to change it));"
        f" {SAVE_AGAIN}"
    )
    assert isolated.worker_pids() == []
    assert read_bytes("next.xlsx", _good()).frame.height == 1


def test_a_reader_that_overstays_is_stopped_and_the_workbook_rejected(monkeypatch):
    monkeypatch.setenv("KQC_MAX_XLSX_READ_SECONDS", "1")
    assert not isinstance(read_bytes("warm.xlsx", _good()), list)
    [pid] = isolated.worker_pids()
    monkeypatch.setenv("KQC_FAULT", HANG_FAULT)
    started = time.monotonic()
    assert _problem(read_bytes("slow.xlsx", _good())) == (
        "the workbook could not be read within 1 seconds (set KQC_MAX_XLSX_READ_SECONDS to"
        f" change it): {SAVE_AGAIN}"
    )
    assert time.monotonic() - started < 10
    assert _gone(pid)
    monkeypatch.delenv("KQC_FAULT")
    assert read_bytes("next.xlsx", _good()).frame.height == 1


_READ_AND_END = """
import os, sys, signal
from kqc.readers import isolated, read_bytes
from tests.readers.books import RESULTS_HEADER, RESULTS_ROW, workbook
read_bytes("a.xlsx", workbook({"Results": [RESULTS_HEADER, RESULTS_ROW]}))
print(*isolated.worker_pids(), flush=True)
if sys.argv[1] == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _worker_of_a_process_that(ends: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _READ_AND_END, ends],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert done.returncode == (-signal.SIGKILL if ends == "killed" else 0), done.stderr
    [pid] = [int(p) for p in done.stdout.split()]
    return pid


def test_no_worker_outlives_a_kqc_that_exits():
    assert _gone(_worker_of_a_process_that("exits"))


def test_no_worker_outlives_a_kqc_that_is_killed():
    # SIGKILL runs no exit handler: the kernel's parent-death signal ends the worker.
    assert _gone(_worker_of_a_process_that("killed"))


_MANY_FILES_OPEN = """
import os, resource
from kqc.readers import read_bytes
from tests.readers.books import RESULTS_HEADER, RESULTS_ROW, workbook
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
table = read_bytes("a.xlsx", workbook({"Results": [RESULTS_HEADER, RESULTS_ROW]}))
print(max(held), table.frame.height)
"""


def test_a_run_holding_many_files_open_still_reads_its_workbooks():
    # The worker's pipes then get descriptors past 1023, which select() cannot wait on.
    done = subprocess.run(
        [sys.executable, "-c", _MANY_FILES_OPEN],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert done.returncode == 0, done.stderr
    highest, rows = map(int, done.stdout.split())
    assert highest > 1024 and rows == 1
