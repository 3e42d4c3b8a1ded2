"""JSON results: an array of objects, one object per line (JSON Lines), or an
object holding such an array beside report-level fields (lab, batch…).

`row` in a JSON file is the line where the object starts for JSON Lines, and
the object's position (first = 1) in an array, so a technician can find it.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable
from kqc.core.separators import comma_reading, decimal_mark
from kqc.readers.delimited import decode


def _text(value: Any) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, int | str):
        return str(value)
    return None  # nested object or list: not a cell


def _records(text: str) -> tuple[list[tuple[int, Any]], dict[str, str]] | Problem:
    stripped = text.strip()
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, list):
        return list(enumerate(document, start=1)), {}
    if isinstance(document, dict):
        arrays = {k: v for k, v in document.items() if isinstance(v, list)}
        if len(arrays) == 1:
            [(key, items)] = arrays.items()
            meta = {k: t for k, v in document.items() if k != key and (t := _text(v))}
            return list(enumerate(items, start=1)), meta
        if not arrays:
            return [(1, document)], {}
        return file_problem(
            f"the JSON object holds several arrays ({', '.join(arrays)}): send one array of results"
        )
    records: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            return Problem(
                number,
                "(row)",
                line[:200],
                f"not valid JSON ({err.msg} at column {err.colno}): send an array of objects"
                " or one object per line",
            )
    return records, {}


# Strings looked at for the decimal mark: those of the first records, as a
# delimited file's first lines (kqc.core.separators).
_MARK_CELLS = 1_000


def read(name: str, data: bytes) -> RawTable | list[Problem]:
    text = decode(data)
    if isinstance(text, Problem):
        return [text]
    found = _records(text)
    if isinstance(found, Problem):
        return [found]
    records, meta = found
    problems: list[Problem] = []
    headers: dict[str, None] = {}
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    typed: list[str] = []  # strings the lab wrote, not numbers kqc prints
    for number, record in records:
        if not isinstance(record, dict):
            problems.append(
                Problem(number, "(row)", str(record)[:200], "expected an object with named fields")
            )
            continue
        cells: dict[str, str] = {}
        for key, value in record.items():
            cell = _text(value)
            if cell is None:
                problems.append(
                    Problem(
                        number,
                        str(key),
                        json.dumps(value)[:200],
                        "a nested object or list is not a cell: give a plain value",
                    )
                )
                continue
            headers.setdefault(str(key).strip(), None)
            cells[str(key).strip()] = cell
            if isinstance(value, str) and len(typed) < _MARK_CELLS:
                typed.append(value)
        rows.append(cells)
        numbers.append(number)
    if problems:
        return problems
    if not rows:
        return [file_problem("the JSON holds no results")]
    if "source_row" in headers:
        return [file_problem("'source_row' is reserved: rename that field", column="source_row")]
    columns = {h: [r.get(h, "") for r in rows] for h in headers}
    frame = pl.DataFrame(columns, schema={h: pl.String() for h in headers})
    frame = frame.with_columns(pl.Series("source_row", numbers, dtype=pl.Int64))
    # As a workbook's text cells: the strings show the lab's decimal mark.
    mark = decimal_mark(typed)
    return RawTable(frame, meta, **comma_reading("", mark))
