"""The first files of a cold run, read and prepared while Prefect's server boots.

A `kqc ingest` without a running server launches Prefect's embedded one and
waits a second or more for it to answer (kqc.service.server_start), with one
core idle. In that time a thread reads the run's first group of files
through one descriptor each, hashes them and prepares them (parsing,
normalizing, validating: pure work). Nothing is moved, stored or written
here, and no lock is taken: the flow run does all of that, as before.

The flow's own tasks take what was read here only for a file whose inbox
entry is still that very file (the same identity check the store makes
before its commit): anything else, and any file not reached, is read again
by the flow. What was prepared is kept by the bytes it was prepared from
(the same bytes object, or the same open descriptor and hash), so a result
is only ever used for exactly what it was made of. Fault points stay in the
flow's tasks, where the crash tests expect them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from kqc.config.input_limits import check_all
from kqc.config.settings import stable_seconds
from kqc.core import vocab
from kqc.files import inbox
from kqc.pipeline import triage
from kqc.pipeline.prepare import Prepared, Streamed, prepare_path
from kqc.pipeline.prepare_many import prepare_many

_log = logging.getLogger(__name__)

LargeKey = tuple[str, str, str | None]  # name, the descriptor's path, the file's BLAKE3


class EarlyRead:
    """One cold run's early reading: started before the flow, taken from by
    its tasks, closed when the run ends."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loaded: dict[Path, inbox.DroppedFile] = {}
        self._small: dict[int, tuple[bytes, Prepared]] = {}
        self._large: dict[LargeKey, Prepared | Streamed] = {}
        # The house analytes in force when the files were prepared: should the
        # vocabulary file change before the flow reads it, nothing prepared
        # early is used.
        self._vocabulary: tuple[object, ...] | None = None

    def start(self, paths: list[Path], exclude: list[Path]) -> None:
        self._thread = threading.Thread(
            target=self._read, args=(paths, exclude), name="kqc-early-read", daemon=True
        )
        self._thread.start()

    def _read(self, paths: list[Path], exclude: list[Path]) -> None:
        try:
            check_all()  # a bad KQC_* limit: the flow says so, nothing is read here
            self._vocabulary = tuple(vocab.house_analytes())
            entries = inbox.survey(paths, exclude=exclude).entries
            first = next(triage.groups(entries), [])
            quiet_for = stable_seconds()
            for path in first:
                if self._stop.is_set():
                    return
                if not inbox.settled(path, quiet_for):
                    continue
                dropped = inbox.read_complete(path)
                if isinstance(dropped, inbox.DroppedFile):
                    self._loaded[path] = dropped
            held = [d for d in self._loaded.values() if not d.by_path]
            if held and not self._stop.is_set():
                prepared = prepare_many([(d.path.name, d.data) for d in held])
                for dropped, one in zip(held, prepared, strict=True):
                    self._small[id(dropped.data)] = (dropped.data, one)
            for dropped in self._loaded.values():
                if dropped.by_path and not self._stop.is_set():
                    name, source = dropped.path.name, dropped.source
                    self._large[(name, str(source), dropped.fingerprint)] = prepare_path(
                        name, source, fingerprint=dropped.fingerprint
                    )
        except Exception:  # nothing lost: the flow reads and reports it all itself
            _log.debug("early reading stopped", exc_info=True)

    def _finished(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _same_vocabulary(self) -> bool:
        return self._vocabulary == tuple(vocab.house_analytes())

    def take_loaded(self, path: Path) -> inbox.DroppedFile | None:
        """The file read early at `path`, if its inbox entry is still it."""
        self._finished()
        dropped = self._loaded.pop(path, None)
        if dropped is None:
            return None
        if dropped.still_as_read() is not None:
            dropped.release()
            return None
        return dropped

    def take_prepared_bytes(self, data: bytes) -> Prepared | None:
        """What `prepare_many` made of these very bytes, if it was made early."""
        self._finished()
        found = self._small.pop(id(data), None)
        if found is None or found[0] is not data or not self._same_vocabulary():
            return None
        return found[1]

    def take_prepared_path(
        self, name: str, path: Path, fingerprint: str | None
    ) -> Prepared | Streamed | None:
        """What `prepare_path` made of this descriptor and hash, if made early."""
        self._finished()
        found = self._large.pop((name, str(path), fingerprint), None)
        return found if self._same_vocabulary() else None

    def close(self) -> None:
        """Stop (the file under way is finished) and let go of every file read
        early and not taken."""
        self._stop.set()
        self._finished()
        for dropped in self._loaded.values():
            dropped.release()
        self._loaded.clear()
        self._small.clear()
        self._large.clear()


# The cold run of this process, if one reads early: set by the command that
# runs the flow (the flow's parameters go to Prefect's API, this cannot).
_current: EarlyRead | None = None


def begin(paths: list[Path], exclude: list[Path]) -> EarlyRead:
    global _current
    early = EarlyRead()
    _current = early
    early.start(paths, exclude)
    return early


def current() -> EarlyRead | None:
    return _current


def end() -> None:
    global _current
    early, _current = _current, None
    if early is not None:
        early.close()
