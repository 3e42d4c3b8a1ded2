"""Readers: bytes in, a RawTable (every cell as text, with source_row) or
problems out. A reader never raises for bad input; the format is told by the
content, with the file name only as a hint.

A new format is one module with a `read(name, data)` function and one line in
`read_bytes`.
"""

from __future__ import annotations

from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable
from kqc.readers import delimited

ReadOutcome = RawTable | list[Problem]

_XLSX_MAGIC = b"PK\x03\x04"


def read_bytes(name: str, data: bytes) -> ReadOutcome:
    if not data.strip():
        return [file_problem("the file is empty: export the results again and drop the new file")]
    if data.startswith(_XLSX_MAGIC) or name.lower().endswith((".xlsx", ".xlsm")):
        return [
            file_problem("XLSX files are not read yet: save the sheet as CSV (UTF-8) and drop that")
        ]
    return delimited.read(name, data)
