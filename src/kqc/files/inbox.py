"""The file side of ingestion: finding dropped files, reading them only once
they are complete, and moving them atomically to archive/ or quarantine/.

Files are moved, never rewritten: what lands in archive/ or quarantine/ is the
dropped file byte for byte. Everything that appears in a folder appears whole
(written beside, then os.replace), so a crash never leaves half a file.

This is the one name the rest of kqc imports; the work is done behind it by
kqc.files.survey (what is in the inbox, and what is left alone for now),
kqc.files.dropped (reading a file through one descriptor, and its identity),
kqc.files.names (names shown, made safe and kept apart) and kqc.files.filing
(moving or writing a file into archive/ or quarantine/, and errors.csv).
"""

from __future__ import annotations

from kqc.files.dropped import (
    DroppedFile,
    FileChanged,
    Identity,
    Refused,
    identity_now,
    read_complete,
    refusal,
    settled,
)
from kqc.files.filing import errors_csv, file_into, linked_into, write_atomic
from kqc.files.names import errors_path, printable_name, safe_name, target_for
from kqc.files.survey import LeftAlone, Survey, discover, survey, temporary_reason

__all__ = [
    "DroppedFile",
    "FileChanged",
    "Identity",
    "LeftAlone",
    "Refused",
    "Survey",
    "discover",
    "errors_csv",
    "errors_path",
    "file_into",
    "identity_now",
    "linked_into",
    "printable_name",
    "read_complete",
    "refusal",
    "safe_name",
    "settled",
    "survey",
    "target_for",
    "temporary_reason",
    "write_atomic",
]
