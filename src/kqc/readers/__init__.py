"""Readers: bytes in, a RawTable (every cell as text, with source_row) or
problems out. A reader never raises for bad input; the format is told by the
content, with the file name only as a hint.

A new format is one module with a `read(name, data)` function and one line in
`read_bytes`.
"""

from __future__ import annotations

from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable
from kqc.readers import delimited, json_records, xlsx

ReadOutcome = RawTable | list[Problem]

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and .doc)


def read_bytes(name: str, data: bytes) -> ReadOutcome:
    try:
        return _dispatch(name, data)
    except Exception as err:  # a reader bug must reject the file, never stop the run
        return [file_problem(f"the file could not be read ({type(err).__name__}: {err})")]


def _dispatch(name: str, data: bytes) -> ReadOutcome:
    if not data.strip():
        return [file_problem("the file is empty: export the results again and drop the new file")]
    lowered = name.lower()
    if data.startswith(_ZIP_MAGIC) or lowered.endswith((".xlsx", ".xlsm")):
        return xlsx.read(name, data)
    if data.startswith(_OLE_MAGIC) or lowered.endswith(".xls"):
        return [
            file_problem(
                "old Excel (.xls) workbooks are not read: save the sheet as .xlsx or CSV UTF-8"
            )
        ]
    if lowered.endswith((".json", ".jsonl", ".ndjson")) or _looks_like_json(data):
        return json_records.read(name, data)
    return delimited.read(name, data)


def _looks_like_json(data: bytes) -> bool:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head in (b"[", b"{")
