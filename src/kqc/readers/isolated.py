"""Workbooks read in a separate process, so a reader that dies takes down
only its file.

The native workbook reader can abort the whole process (a failed allocation
in Rust is an abort, not an exception) or crash on a damaged file. kqc runs
it in a worker process of its own, with a memory limit (RLIMIT_AS), and a
time limit the parent enforces: when the worker dies, runs out of memory or
overstays, that file gets a problem and the run goes on with a new worker.

One warm worker is reused for the run's workbooks (starting one costs what
importing Polars and fastexcel costs; a request costs little more than
copying the file in and the tables out as Arrow IPC: a workbook's sheets are
all read in its one request, never a worker a sheet). It is never forked from
kqc (whose Prefect threads make fork unsafe): it is a new interpreter,
started by `subprocess`. It never outlives kqc: it exits when its stdin
closes, the kernel kills it when the thread that started it ends
(PR_SET_PDEATHSIG; a dedicated thread that lives as long as kqc starts every
worker), and kqc kills it at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import json
import os
import queue
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import IO, Any

import polars as pl

from kqc.config.input_limits import described, limit, register
from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable, SheetTables
from kqc.process import faults
from kqc.readers.workbook_extent import SheetLimits

# Address space of the worker. Reading the benchmark's 50,000-row workbook
# peaks at about 250 MB, and a sheet at the cell limit (kqc.readers.
# workbook_extent) at about 1.3 GB; Polars and fastexcel reserve more
# address space than they touch, so the limit leaves room above both.
MAX_XLSX_READER_BYTES = register(("KQC_MAX_XLSX_READER_BYTES", 4 << 30))
# One workbook's reading, from the request to the table back: the 50,000-row
# workbook takes 2-5 s, a sheet at the cell limit about 25 s.
MAX_XLSX_READ_SECONDS = register(("KQC_MAX_XLSX_READ_SECONDS", 300))
# The fault point the worker reaches before each workbook (kqc.process.faults), so
# the tests can kill it there as a crash would.
FAULT_POINT = "xlsx_reader"
# KQC_FAULT set to this makes the worker hang there instead, for the tests of
# the time limit; like every fault, it is never set outside the tests.
HANG_FAULT = "xlsx_reader_hang"

_HEADER = struct.Struct("!IQ")  # header length, payload length
_SETTINGS = "KQC_"
_SAVE_AGAIN = "save it again from Excel as .xlsx, or export the results as CSV"
_PR_SET_PDEATHSIG = 1
_STARTED = b"kqc-workbook-reader ready\n"


@dataclass(frozen=True)
class Request:
    name: str
    limits: SheetLimits
    # kqc's own settings (KQC_*) as they are now: the worker started earlier,
    # and every limit is read when a file is checked.
    settings: dict[str, str]


class _WorkerGone(Exception):
    """The worker closed its pipe or died before answering."""


class _Overstayed(Exception):
    """The worker did not answer in time."""


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    memory: int
    stderr: IO[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Killed and reaped: no worker is ever left behind."""
        try:
            if self.process.stdin:
                self.process.stdin.close()
        except OSError:
            pass
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL is not ignored
            self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()

    def stderr_tail(self) -> str:
        try:
            self.stderr.seek(0, io.SEEK_END)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - 4096))
            return self.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""


class _Spawner:
    """One thread that starts every worker and lives as long as kqc, so the
    kernel's parent-death signal (tied to the starting thread, not the
    process) fires only when kqc itself ends."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="kqc-workbook-spawner", daemon=True
                )
                self._thread.start()
        done: Future[Any] = Future()
        self._jobs.put((job, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as err:  # handed to the caller, who turns it into a problem
                done.set_exception(err)


_spawner = _Spawner()
_idle: list[_Worker] = []
_all: list[_Worker] = []
_pool_lock = threading.Lock()


Outcome = RawTable | SheetTables | list[Problem]


def read_workbook(name: str, data: bytes) -> Outcome:
    """`kqc.readers.xlsx.read_here(name, data, limits)`, run in a worker:
    every sheet of the workbook in the one request."""
    settings = {k: v for k, v in os.environ.items() if k.startswith(_SETTINGS)}
    request = Request(name, SheetLimits.current(), settings)
    seconds = limit(MAX_XLSX_READ_SECONDS)
    try:
        worker = _take(limit(MAX_XLSX_READER_BYTES))
    except OSError as err:
        return [
            file_problem(
                f"the workbook reader could not be started ({type(err).__name__}: {err}):"
                " free some memory and drop the file again, or export the results as CSV"
            )
        ]
    try:
        outcome, retire = _ask(worker, request, data, seconds)
    except _Overstayed:
        _retire(worker)
        return [
            file_problem(
                f"the workbook could not be read within {seconds:,} seconds (set"
                f" {MAX_XLSX_READ_SECONDS[0]} to change it): {_SAVE_AGAIN}"
            )
        ]
    except (_WorkerGone, OSError, ValueError):
        worker.stop()
        problem = _death(worker)  # from its exit status and last words, before they go
        _retire(worker)
        return [problem]
    if retire:
        _retire(worker)
    else:
        _give_back(worker)
    return outcome


def _death(worker: _Worker) -> Problem:
    code = worker.process.returncode
    tail = worker.stderr_tail()
    if "memory allocation of" in tail or "MemoryError" in tail:
        cause = f"the reader ran out of memory (the limit is {described(MAX_XLSX_READER_BYTES)})"
    elif code is not None and code < 0:
        cause = f"the reader was killed by signal {-code} ({_signal_name(-code)})"
    else:
        cause = f"the reader stopped with exit code {code}"
    return file_problem(f"the workbook could not be read: {cause}; {_SAVE_AGAIN}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _take(memory: int) -> _Worker:
    with _pool_lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive() and worker.memory == memory:
                return worker
            _retire_locked(worker)
    worker = _spawner.run(lambda: _start(memory))
    with _pool_lock:
        _all.append(worker)
    return worker


def _give_back(worker: _Worker) -> None:
    with _pool_lock:
        _idle.append(worker)


def _retire(worker: _Worker) -> None:
    with _pool_lock:
        _retire_locked(worker)


def _retire_locked(worker: _Worker) -> None:
    worker.stop()
    worker.stderr.close()
    if worker in _all:
        _all.remove(worker)


def _start(memory: int) -> _Worker:
    import kqc

    source = os.path.dirname(os.path.dirname(os.path.abspath(kqc.__file__)))
    env = dict(os.environ)
    # The worker imports this kqc, wherever the parent found it.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    # Its last words (a Rust abort names the allocation that failed), kept
    # for as long as the worker lives.
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the worker is retired
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from kqc.readers.isolated import serve; serve()",
            str(os.getpid()),
            str(memory),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        close_fds=True,
    )
    worker = _Worker(process, memory, stderr)
    try:
        assert process.stdout is not None
        if _read_exact(process.stdout.fileno(), len(_STARTED), time.monotonic() + 120) != _STARTED:
            raise _WorkerGone
    except (_WorkerGone, _Overstayed):
        worker.stop()
        tail = worker.stderr_tail().strip().splitlines()
        stderr.close()
        raise OSError(tail[-1][:200] if tail else "it exited at once") from None
    return worker


def _ask(worker: _Worker, request: Request, data: bytes, seconds: int) -> tuple[Outcome, bool]:
    """The worker's outcome, and whether it asks to be retired."""
    header = json.dumps(
        {
            "name": request.name,
            "cells": request.limits.cells,
            "rows": request.limits.rows,
            "columns": request.limits.columns,
            "settings": request.settings,
        }
    ).encode()
    stdin, stdout = worker.process.stdin, worker.process.stdout
    assert stdin is not None and stdout is not None
    deadline = time.monotonic() + seconds
    try:
        stdin.write(_HEADER.pack(len(header), len(data)))
        stdin.write(header)
        stdin.write(data)
        stdin.flush()
    except (BrokenPipeError, OSError):
        raise _WorkerGone from None
    fd = stdout.fileno()
    head_length, payload_length = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    answer = json.loads(_read_exact(fd, head_length, deadline))
    payload = _read_exact(fd, payload_length, deadline)
    retire = bool(answer.get("retire"))
    if answer["kind"] == "problems":
        problems = [Problem(int(r), str(c), str(v), str(p)) for r, c, v, p in answer["problems"]]
        return problems, retire
    tables = []
    start = 0
    for told in answer["tables"]:  # each table's frame, one after the other
        frame = pl.read_ipc(payload[start : start + told["size"]])
        start += told["size"]
        tables.append(
            RawTable(
                frame,
                told["metadata"],
                decimal_comma=told["decimal_comma"],
                thousands_comma=told["thousands_comma"],
                header_row=told["header_row"],
                sheet=told["sheet"],
                hidden_sheet=told["hidden_sheet"],
            )
        )
    if answer["kind"] == "sheets":
        return SheetTables(tuple(tables)), retire
    return tables[0], retire


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    """`size` bytes from the pipe, waiting no later than the deadline."""
    chunks: list[bytes] = []
    wanted = size
    # poll, not select: select cannot wait on a descriptor numbered past 1023,
    # which a long run holding many files open may well hand out.
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    while wanted:
        left = deadline - time.monotonic()
        if left <= 0 or not waiting.poll(max(1, int(left * 1000))):
            raise _Overstayed
        chunk = os.read(fd, min(wanted, 1 << 20))
        if not chunk:
            raise _WorkerGone
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def worker_pids() -> list[int]:
    """The process ids of the live workers (for the tests that check none is
    left behind)."""
    with _pool_lock:
        return [w.process.pid for w in _all if w.alive()]


def _stop_all() -> None:
    with _pool_lock:
        for worker in list(_all):
            _retire_locked(worker)
        _idle.clear()


def _forget_after_fork() -> None:
    # A forked child does not own its parent's workers: it starts its own.
    global _pool_lock
    _pool_lock = threading.Lock()
    _idle.clear()
    _all.clear()


atexit.register(_stop_all)
os.register_at_fork(after_in_child=_forget_after_fork)


# --- the worker's side -------------------------------------------------------


def serve() -> None:
    """The worker's loop: one workbook per request, until stdin closes."""
    parent, memory = int(sys.argv[1]), int(sys.argv[2])
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for kqc, which stops the worker
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    # The answers go to a private copy of stdout; anything a library prints
    # goes to stderr, so it can never be mistaken for an answer.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    from kqc.config import house_vocabulary
    from kqc.readers import xlsx  # the imports cost most of a start: after the limits

    answers.write(_STARTED)
    answers.flush()
    while True:
        lengths = requests.read(_HEADER.size)
        if len(lengths) < _HEADER.size:
            return  # kqc closed the pipe, or is gone
        head_length, data_length = _HEADER.unpack(lengths)
        request = json.loads(requests.read(head_length))
        data = requests.read(data_length)
        for stale in [k for k in os.environ if k.startswith(_SETTINGS)]:
            del os.environ[stale]
        os.environ.update(request["settings"])
        faults.point(FAULT_POINT)
        if os.environ.get(faults.ENV) == HANG_FAULT:  # the tests' reader that never ends
            time.sleep(3600)
        limits = SheetLimits(request["cells"], request["rows"], request["columns"])
        try:
            # A header is found by the names it holds: those of the run's
            # vocabulary, a house one ($KQC_VOCABULARY) included.
            house_vocabulary.use_environment()
            outcome = xlsx.read_here(request["name"], data, limits)
        except MemoryError:
            # A heap that ran out is not trusted with the next workbook.
            _answer(answers, [file_problem(_memory_sentence())], retire=True)
            return
        except Exception as err:  # as in read_bytes: a reader bug rejects the file
            outcome = [file_problem(f"the file could not be read ({type(err).__name__}: {err})")]
        del data
        _answer(answers, outcome)


def _memory_sentence() -> str:
    return (
        "the workbook could not be read: the reader ran out of memory (the limit is"
        f" {described(MAX_XLSX_READER_BYTES)}); {_SAVE_AGAIN}"
    )


def _answer(answers: IO[bytes], outcome: Outcome, *, retire: bool = False) -> None:
    header: dict[str, Any]
    if isinstance(outcome, list):
        payload = b""
        header = {"kind": "problems", "problems": [list(astuple(p)) for p in outcome]}
    else:
        tables = [outcome] if isinstance(outcome, RawTable) else list(outcome.tables)
        frames = [_ipc(table.frame) for table in tables]
        payload = b"".join(frames)
        header = {
            "kind": "table" if isinstance(outcome, RawTable) else "sheets",
            "tables": [
                {
                    "size": len(frame),
                    "metadata": table.metadata,
                    "decimal_comma": table.decimal_comma,
                    "thousands_comma": table.thousands_comma,
                    "header_row": table.header_row,
                    "sheet": table.sheet,
                    "hidden_sheet": table.hidden_sheet,
                }
                for table, frame in zip(tables, frames, strict=True)
            ],
        }
    header["retire"] = retire
    encoded = json.dumps(header).encode()
    answers.write(_HEADER.pack(len(encoded), len(payload)))
    answers.write(encoded)
    answers.write(payload)
    answers.flush()


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def astuple(problem: Problem) -> tuple[int, str, str, str]:
    return (problem.row, problem.column, problem.value, problem.problem)


def _die_with(parent: int) -> None:
    """Ask the kernel to kill this worker when kqc's starting thread ends;
    exit now if kqc is already gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(0)
