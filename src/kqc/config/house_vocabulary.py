"""The house vocabulary named by $KQC_VOCABULARY, read and put in force.

kqc.config.input_limits.check_all calls `use_environment` at the start of every
command that reads files, so a bad vocabulary stops the run (exit 2) before
any file moves; the workbook reader's worker process calls it too, with the
settings of the run that asks (kqc.readers.isolated), so a name in a header
is resolved there by the same vocabulary as in kqc itself. The parsing is
kqc.core.house_vocab's; this module only reads the file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from kqc.core import vocab
from kqc.core.house_vocab import HouseVocabularyError, parse_house_vocabulary
from kqc.core.vocab import Analyte
from kqc.errors import UsageError

VOCABULARY_ENV = "KQC_VOCABULARY"
# A vocabulary of a thousand analytes is some 100 kB: anything far larger is
# the wrong file (a results export, a database) named by mistake.
MAX_VOCABULARY_BYTES = 4 << 20


class VocabularyFileError(UsageError):
    """The house vocabulary cannot be used: configuration, exit 2."""


# The file put in force last and what it added, so a watcher's every run and
# a worker's every workbook re-read the file but rebuild the vocabulary only
# when it changed.
_read_last: tuple[Path, bytes, tuple[Analyte, ...]] | None = None
_lock = threading.Lock()


def vocabulary_file() -> Path | None:
    """The house vocabulary file $KQC_VOCABULARY names, else None."""
    named = os.environ.get(VOCABULARY_ENV, "").strip()
    return Path(named).expanduser().absolute() if named else None


def use_environment() -> None:
    """Put the built-in vocabulary plus $KQC_VOCABULARY's analytes in force
    (the built-in one alone when it is unset); raises VocabularyFileError
    with one sentence when the file cannot be read or used, leaving the
    vocabulary in force as it was."""
    global _read_last
    path = vocabulary_file()
    with _lock:
        if path is None:
            if vocab.house_analytes():
                vocab.use_house_analytes(())
            return
        data = _read(path)
        if _read_last is not None and _read_last[:2] == (path, data):
            analytes = _read_last[2]
        else:
            try:
                analytes = parse_house_vocabulary(data, f"the vocabulary file {path}")
            except HouseVocabularyError as err:
                raise VocabularyFileError(
                    f"{err.message} ({VOCABULARY_ENV} names this file; see docs/vocabulary.md)"
                ) from None
            _read_last = (path, data, analytes)
        if tuple(vocab.house_analytes()) != analytes:
            vocab.use_house_analytes(analytes)


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise VocabularyFileError(
                f"{VOCABULARY_ENV}={path} is a folder: name the vocabulary CSV file, or unset it"
            )
        if size > MAX_VOCABULARY_BYTES:
            raise VocabularyFileError(
                f"the vocabulary file {path} is {size:,} bytes, more than a vocabulary"
                f" holds ({MAX_VOCABULARY_BYTES:,}): check that {VOCABULARY_ENV} names"
                " the vocabulary CSV file"
            )
        return path.read_bytes()
    except OSError as err:
        raise VocabularyFileError(
            f"cannot read the vocabulary file {path} ({err.strerror}): fix"
            f" {VOCABULARY_ENV} or the file, or unset {VOCABULARY_ENV}"
        ) from None
