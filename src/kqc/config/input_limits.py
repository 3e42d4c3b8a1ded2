"""Limits on what a dropped file may cost to read. Each is generous for a lab
report and small enough that a hostile or broken file is refused before it
can fill the memory or the disk. Each can be raised with its environment
variable, read when a file is checked, so a running watcher and the tests
see the current value."""

from __future__ import annotations

import os

from kqc.errors import UsageError

# A results file is a few megabytes; a 1 GiB file is an accident (a database
# dump, a video) and would be held in memory several times over while read.
# This is the limit for a file read whole: XLSX, JSON, and text that cannot
# be streamed.
MAX_FILE_BYTES = ("KQC_MAX_FILE_BYTES", 1 << 30)
# A long CSV, TSV or semicolon file that is streamed (read in chunks of whole
# lines, never held whole: kqc.readers.stream) costs memory by the chunk, not
# by the file, so it may be larger: 16 GiB is some 150 million results.
MAX_STREAMED_FILE_BYTES = ("KQC_MAX_STREAMED_FILE_BYTES", 16 << 30)
# Smaller files are read whole (one frame is faster than chunks, and a file
# this size costs little memory even held several times); larger ones are
# hashed as they stream by and read from their path, a long CSV in chunks.
STREAM_FROM_BYTES = 64 << 20
# The XML inside a workbook, all members together, as its zip directory declares.
MAX_XLSX_UNPACKED_BYTES = ("KQC_MAX_XLSX_UNPACKED_BYTES", 1 << 30)
# One line of a CSV: a wide file of 500 analytes is some 20 kB.
MAX_LINE_BYTES = ("KQC_MAX_LINE_BYTES", 1 << 20)
# One cell: Excel's own limit on the characters of a cell.
MAX_CELL_CHARS = ("KQC_MAX_CELL_CHARS", 32_767)

Limit = tuple[str, int]

# Every limit above, checked together at the start of a command
# (`check_all`): a bad value stops the run before any file moves, where
# otherwise the first file read under it would be quarantined for it. A
# reader module that adds a limit registers it here (`register`).
LIMITS: list[Limit] = [
    MAX_FILE_BYTES,
    MAX_STREAMED_FILE_BYTES,
    MAX_XLSX_UNPACKED_BYTES,
    MAX_LINE_BYTES,
    MAX_CELL_CHARS,
]


def register(setting: Limit) -> Limit:
    """Add `setting` to the limits `check_all` checks; returns it, so a module
    can write `MAX_X = register(("KQC_MAX_X", 100))`."""
    if setting[0] not in {name for name, _ in LIMITS}:
        LIMITS.append(setting)
    return setting


def limit(setting: Limit) -> int:
    name, default = setting
    raw = os.environ.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(
            f"{name}={os.environ[name]!r} is not a whole number: set it to a positive"
            f" whole number such as {default} (the default), or unset it"
        ) from None
    if value <= 0:
        raise UsageError(
            f"{name}={os.environ[name]!r} must be above 0: set it to a positive whole"
            f" number such as {default} (the default), or unset it"
        )
    return value


def check_all() -> None:
    """Every registered limit and every setting of kqc.config.settings read once:
    the first bad one raises UsageError (exit 2) with one sentence naming it.
    Called at the start of `kqc ingest`, `kqc watch` and `kqc demo`, before
    any file moves. The house vocabulary ($KQC_VOCABULARY) is read here too
    and put in force, so every name of the run is resolved by it."""
    from kqc.config import house_vocabulary, settings  # neither imports this module

    for setting in LIMITS:
        limit(setting)
    settings.check_environment()
    house_vocabulary.use_environment()


def described(setting: Limit) -> str:
    """'1,073,741,824 bytes (set KQC_MAX_FILE_BYTES to change it)'."""
    unit = "characters" if setting[0].endswith("_CHARS") else "bytes"
    return f"{limit(setting):,} {unit} (set {setting[0]} to change it)"


class UnreadBytes(bytes):
    """Stands for the content of a file too large to read: empty, remembering
    the file's real size, so a reader can refuse it with a sentence."""

    size: int

    def __new__(cls, size: int) -> UnreadBytes:
        made = super().__new__(cls, b"")
        made.size = size
        return made

    def __reduce__(self) -> tuple[type[UnreadBytes], tuple[int]]:
        # Kept whole if a task runner pickles it between processes.
        return (UnreadBytes, (self.size,))
