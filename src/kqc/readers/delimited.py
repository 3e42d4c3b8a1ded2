"""CSV, TSV and semicolon-separated text: encoding, delimiter, then the grid.

A semicolon file is the European spreadsheet export, where "1,42" means 1.42:
only there is a decimal comma read.
"""

from __future__ import annotations

import codecs
import csv
import io

import polars as pl

from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable
from kqc.limits_input import MAX_LINE_BYTES, described, limit
from kqc.readers.grid import HEAD_ROWS, build_table, find_header, header_score, metadata

_DELIMITERS = (",", ";", "\t", "|")


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


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter under which some early row reads best as a header."""
    best = (0, ",")
    for delim in _DELIMITERS:
        for cells in csv.reader(lines[:HEAD_ROWS], delimiter=delim):
            score = header_score(cells)
            if score > best[0]:
                best = (score, delim)
    return best[1]


def long_line(data: bytes) -> Problem | None:
    """The first line over the length limit, found without copying the data:
    a 50 MB line would otherwise be decoded, split and parsed several times.
    Each step looks at a window one byte longer than the limit: a window with
    no newline holds part of a line that is too long; otherwise the next step
    starts after its last newline, so a file takes about size/limit steps."""
    most = limit(MAX_LINE_BYTES)
    start = 0
    while len(data) - start > most:
        last = data.rfind(b"\n", start, start + most + 1)
        if last == -1:
            end = data.find(b"\n", start)
            length = (len(data) if end == -1 else end) - start
            number = data.count(b"\n", 0, start) + 1
            return Problem(
                number,
                "(row)",
                data[start : start + 60].decode("utf-8", "replace") + "…",
                f"line {number} is {length:,} bytes long, over the limit of"
                f" {described(MAX_LINE_BYTES)}: a line holds one row of results, so check"
                " the file's line endings and quoting",
            )
        start = last + 1
    return None


def read(name: str, data: bytes) -> RawTable | list[Problem]:
    too_long = long_line(data)
    if too_long:
        return [too_long]
    text = decode(data)
    if isinstance(text, Problem):
        return [text]
    delim = sniff_delimiter(text.splitlines()[:HEAD_ROWS])
    fast = _fast_table(text, delim)
    if fast is not None:
        return fast
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[list[str]] = []
    numbers: list[int] = []
    start = 1
    try:
        for cells in reader:
            # line_num counts physical lines, so a quoted cell spanning lines
            # keeps later row numbers right: a row is numbered by its first line.
            rows.append(cells)
            numbers.append(start)
            start = reader.line_num + 1
    except csv.Error as err:
        return [Problem(reader.line_num, "(row)", "", f"the file cannot be read as CSV: {err}")]
    return build_table(rows, numbers, decimal_comma=delim == ";")


def _fast_table(text: str, delim: str) -> RawTable | None:
    """Polars' reader for the common case: one record per line, no blank
    lines, a clean header. Row numbers are then line numbers. Anything else
    (None) goes through the careful reader, which can name every odd row."""
    head_lines = text.splitlines()[:HEAD_ROWS]
    head_rows = list(csv.reader(head_lines, delimiter=delim))
    if len(head_rows) != len(head_lines):
        return None  # a quoted cell spans lines near the top
    index = find_header(head_rows)
    if index is None:
        return None
    header = [c.strip() for c in head_rows[index]]
    if not all(header) or len(set(header)) != len(header) or "source_row" in header:
        return None
    offset = 0
    for _ in range(index):
        offset = text.index("\n", offset) + 1
    body = text[offset:]
    lines = body.count("\n") + (0 if body.endswith("\n") else 1)
    try:
        frame = pl.read_csv(
            io.BytesIO(body.encode("utf-8")),
            separator=delim,
            infer_schema=False,
            has_header=True,
            raise_if_empty=False,
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None
    if frame.height != lines - 1 or frame.width != len(header) or frame.height == 0:
        return None
    # A row of empty or whitespace-only cells holds nothing: the careful
    # reader skips it, so leave such files to it.
    blank = pl.all().str.strip_chars().fill_null("") == ""
    blank_rows = frame.select(pl.all_horizontal(blank).any()).item()
    if blank_rows:
        return None
    header_row = index + 1
    frame = frame.rename(dict(zip(frame.columns, header, strict=True))).with_columns(
        pl.int_range(header_row + 1, header_row + 1 + frame.height, dtype=pl.Int64).alias(
            "source_row"
        )
    )
    return RawTable(
        frame, metadata(head_rows[:index]), decimal_comma=delim == ";", header_row=header_row
    )
