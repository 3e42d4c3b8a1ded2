"""CSV, TSV and semicolon-separated text: encoding, delimiter, header row.

The header is found by its content (the first row whose cells name known
fields), so a title or a block of `Key: value` lines above the table is read
as metadata instead of breaking the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re

import polars as pl

from kqc.core import columns as cols
from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable

_DELIMITERS = (",", ";", "\t", "|")
_HEAD_LINES = 60
_META_LINE = re.compile(r"^\s*([^:=]{1,60}?)\s*[:=]\s*(.*?)\s*$")


def decode(data: bytes) -> str | Problem:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return file_problem("the file claims UTF-16 but is not: save it as CSV UTF-8")
    if b"\x00" in data[:8192]:
        return file_problem(
            "this is not a text file (it holds binary data): export the results as CSV,"
            " XLSX or JSON"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as err:
        return file_problem(
            f"the file is neither UTF-8 nor Windows-1252 (byte {err.start}): save it as CSV UTF-8"
        )


def _recognized(cells: list[str]) -> int:
    return sum(
        1
        for c in cells
        if c.strip() and (cols.result_field(c) is not None or cols.register_field(c) is not None)
    )


def _find_header(lines: list[str]) -> tuple[str, int] | None:
    """(delimiter, index of the header line) with the most recognized fields."""
    best: tuple[int, str, int] | None = None
    for delim in _DELIMITERS:
        rows = list(csv.reader(lines, delimiter=delim))
        for i, cells in enumerate(rows):
            score = _recognized(cells)
            if score >= 2 and (best is None or score > best[0]):
                best = (score, delim, i)
                break
    return (best[1], best[2]) if best else None


def _metadata(lines: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in lines:
        cells = [c.strip() for c in re.split(r"[,;\t|]", line) if c.strip()]
        if not cells:
            continue
        m = _META_LINE.match(cells[0])
        if m and m.group(2):
            meta[m.group(1)] = m.group(2)
        elif m and len(cells) >= 2:
            meta[m.group(1)] = cells[1]
    return meta


def read(name: str, data: bytes) -> RawTable | list[Problem]:
    text = decode(data)
    if isinstance(text, Problem):
        return [text]
    lines = text.splitlines()
    found = _find_header(lines[:_HEAD_LINES])
    if found is None:
        first = next((ln for ln in lines if ln.strip()), "")
        return [
            file_problem(
                "no header row with recognizable columns in the first "
                f"{_HEAD_LINES} lines: a results file needs "
                + ", ".join(cols.RESULT_REQUIRED)
                + "; a batch register needs "
                + ", ".join(cols.REGISTER_REQUIRED)
                + f"; the first line reads '{first[:200]}'",
                column="(header)",
            )
        ]
    delim, header_index = found
    meta = _metadata(lines[:header_index])
    body = "\n".join(lines[header_index:])
    rows = list(csv.reader(io.StringIO(body), delimiter=delim))
    header = [h.strip() for h in rows[0]]
    problems = _header_problems(header, header_index + 1)
    width = len(header)
    records: list[list[str]] = []
    source_rows: list[int] = []
    # csv.reader tracks physical lines, so a quoted cell spanning lines keeps
    # later row numbers right; recompute them from line_num.
    reader = csv.reader(io.StringIO(body), delimiter=delim)
    next(reader)
    for cells in reader:
        line_no = header_index + reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            problems.append(
                Problem(
                    line_no,
                    "(row)",
                    delim.join(cells)[:200],
                    f"row has {len(cells)} cells but the header has {width}: check for an"
                    " unquoted delimiter inside a value",
                )
            )
            continue
        records.append((cells + [""] * width)[:width])
        source_rows.append(line_no)
    if problems:
        return problems
    if not records:
        return [file_problem("the file has a header but no data rows", column="(header)")]
    frame = pl.DataFrame(
        records, schema={h: pl.String() for h in header}, orient="row"
    ).with_columns(pl.Series("source_row", source_rows, dtype=pl.Int64))
    return RawTable(frame, meta, decimal_comma=delim == ";")


def _header_problems(header: list[str], row: int) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for h in header:
        if h in seen:
            problems.append(Problem(row, h, h, f"column '{h}' appears twice: rename or remove one"))
        seen.add(h)
    if "source_row" in seen:
        problems.append(Problem(row, "source_row", "source_row", "reserved column name"))
    return problems
