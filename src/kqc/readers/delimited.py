"""CSV, TSV and semicolon-separated text: encoding, delimiter, then the grid.

A semicolon file is the European spreadsheet export, where "1,42" means 1.42:
only there is a decimal comma read.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from array import array
from dataclasses import dataclass

import polars as pl

from kqc.config.input_limits import MAX_LINE_BYTES, described, limit
from kqc.core.problems import Problem, file_problem
from kqc.core.records import RawTable
from kqc.core.separators import CommaReading, comma_reading, decimal_mark
from kqc.readers.grid import (
    HEAD_ROWS,
    body_frame,
    build_table,
    find_header,
    header_score,
    metadata,
)

_DELIMITERS = (",", ";", "\t", "|")


def decode(data: bytes) -> str | Problem:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252."""
    decoded = decode_as(data)
    return decoded if isinstance(decoded, Problem) else decoded[0]


def decode_as(data: bytes) -> tuple[str, str] | Problem:
    """The text and the encoding it was read in (`utf-16`, `utf-8-sig` or
    `cp1252`), or why it cannot be read."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return file_problem("the file claims UTF-16 but is not: save it as CSV UTF-8")
    if b"\x00" in data[:8192]:
        return file_problem(
            "this is not a text file (it holds binary data): export the results as CSV,"
            " XLSX or JSON"
        )
    try:
        return data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as err:
        return cp1252_problem(err.start)


def cp1252_problem(start: int) -> Problem:
    return file_problem(
        f"the file is neither UTF-8 nor Windows-1252 (byte {start}): save it as CSV UTF-8"
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
    start = long_line_start(data)
    if start is None:
        return None
    end = data.find(b"\n", start)
    length = (len(data) if end == -1 else end) - start
    return long_line_problem(data.count(b"\n", 0, start) + 1, length, data[start : start + 60])


def long_line_start(data: bytes) -> int | None:
    """Where the first line over the limit starts in `data`, if one does."""
    most = limit(MAX_LINE_BYTES)
    start = 0
    while len(data) - start > most:
        last = data.rfind(b"\n", start, start + most + 1)
        if last == -1:
            return start
        start = last + 1
    return None


def long_line_problem(number: int, length: int, head: bytes) -> Problem:
    return Problem(
        number,
        "(row)",
        head.decode("utf-8", "replace") + "…",
        f"line {number} is {length:,} bytes long, over the limit of"
        f" {described(MAX_LINE_BYTES)}: a line holds one row of results, so check"
        " the file's line endings and quoting",
    )


def head_lines(text: str) -> list[str]:
    """The first HEAD_ROWS lines, split as `str.splitlines` splits the whole
    text, without splitting the whole text (a million-line file would be
    copied line by line only to look at its top)."""
    end = -1
    for _ in range(HEAD_ROWS):
        end = text.find("\n", end + 1)
        if end == -1:
            return text.splitlines()[:HEAD_ROWS]
    return text[: end + 1].splitlines()[:HEAD_ROWS]


@dataclass(frozen=True)
class Layout:
    """Where a clean table sits in a delimited file: the delimiter, the header
    (trimmed names, all present and distinct) on line `header_row`, and the
    metadata lines above it."""

    delimiter: str
    header: list[str]
    header_row: int
    metadata: dict[str, str]
    mark: str | None = None  # the decimal mark the rows under the header show

    @property
    def comma_reading(self) -> CommaReading:
        """RawTable's decimal_comma and thousands_comma for this file."""
        return comma_reading(self.delimiter, self.mark)


def layout(head: list[str], delim: str) -> Layout | None:
    """The layout of a file whose first lines are `head`, or None when the
    top needs the careful reader (a quoted cell spanning lines, no header, a
    header with an empty, repeated or reserved name)."""
    head_rows = list(csv.reader(head, delimiter=delim))
    if len(head_rows) != len(head):
        return None  # a quoted cell spans lines near the top
    index = find_header(head_rows)
    if index is None:
        return None
    header = [c.strip() for c in head_rows[index]]
    if not all(header) or len(set(header)) != len(header) or "source_row" in header:
        return None
    mark = decimal_mark(cell for row in head_rows[index + 1 :] for cell in row)
    return Layout(delim, header, index + 1, metadata(head_rows[:index]), mark)


def read(name: str, data: bytes) -> RawTable | list[Problem]:
    if b"\n" not in data and b"\r" in data:
        # Lines ended by CR alone, as Excel for Mac's "CSV (Macintosh)" writes
        # them: the same lines, one byte each, so every row keeps its number.
        data = data.replace(b"\r", b"\n")
    too_long = long_line(data)
    if too_long:
        return [too_long]
    # Plain ASCII text (most lab exports) is not decoded for the fast path:
    # its bytes go to Polars as they are, and only its top is read here.
    plain = data.isascii() and b"\x00" not in data[:8192]
    decoded = (_ascii_head(data), "ascii") if plain else decode_as(data)
    if isinstance(decoded, Problem):
        return [decoded]
    text, encoding = decoded
    head = head_lines(text)
    delim = sniff_delimiter(head)
    found = layout(head, delim)
    if found is not None:
        utf8 = as_utf8(data, text, encoding)
        frame = _fast_without_blank_lines(
            _after_line(utf8, found.header_row), found, found.header_row + 1
        )
        if frame is not None and frame.height:
            cut = cut_short(utf8, delim, len(found.header), found.header_row)
            if cut is not None:
                return [cut]
            return RawTable(
                frame,
                found.metadata,
                **found.comma_reading,
                header_row=found.header_row,
            )
    table = _careful(data.decode("ascii") if plain else text, delim)
    if isinstance(table, RawTable):
        whole = text.encode("utf-8") if encoding == "utf-16" else data
        cut = cut_short(whole, delim, len(table.headers), table.header_row)
        if cut is not None:
            return [cut]
    return table


def cut_short(
    data: bytes, delimiter: str, width: int, header_row: int | None, lines_before: int = 0
) -> Problem | None:
    """The last line, when it is a row cut short: fewer fields than the
    header's `width` and no line break after it. A lab's export ends every
    row with one; a file that ends mid-row is a copy still under way (or one
    that died), and its last result may be cut mid-number ("1.4" of "1.42"),
    so the file is refused whole rather than read with a row missing or
    wrong. A last row with every field and no final line break is whole.
    `data` may be the last chunk of a streamed file, `lines_before` the lines
    of the file before it, so the row keeps its number in the whole file."""
    if not data or data.endswith((b"\n", b"\r")):
        return None
    start = data.rfind(b"\n") + 1
    number = lines_before + data.count(b"\n", 0, start) + 1
    if header_row is not None and number <= header_row:
        return None  # the header itself, or the metadata above it
    last = data[start:].decode("utf-8", "replace")
    cells = next(csv.reader([last], delimiter=delimiter), [])
    if not any(c.strip() for c in cells) or len(cells) >= width:
        return None
    return Problem(
        number,
        "(row)",
        last[:200],
        f"row {number} has {len(cells)} of {width} fields and the file does not end with a"
        " line break: the file looks cut short (a copy still under way?); drop the whole"
        " file again",
    )


def blank_runs(delimiter: str) -> re.Pattern[bytes]:
    """Runs of blank lines (empty, or only spaces, tabs and delimiters): from
    a line's start, blank characters up to the last line break among them
    (or the end). One character class repeated, which the regex engine steps
    through without remembering each step: a group repeated per line would
    hold some 200 bytes a line while it matches (2.3 GB for ten million)."""
    cells = re.escape(delimiter.encode())
    return re.compile(rb"(?m)^[ \t\r\n" + cells + rb"]*(?:\n|\Z)")


def without_blank_lines(body: bytes, delimiter: str) -> tuple[bytes, pl.Series] | None:
    """`body` without its blank lines, and the 0-based line index in `body` of
    each line kept; None when it has none (nearly every file: one search).

    A blank line holds nothing, yet ten million of them (a 10 MB file) cost
    the careful reader a Python list each: some 1.4 GB. Here each run of
    blank lines is one regex match, the lines between runs are copied on as
    bytes and only two numbers a stretch are kept, so the rows keep the line
    numbers a spreadsheet shows."""
    runs = blank_runs(delimiter)
    first = runs.search(body)
    if first is None or (first.end() == first.start() == len(body)):
        return None
    kept = bytearray()
    starts = array("q")  # line index where each stretch of kept lines starts
    counts = array("q")  # lines in it
    line = 0
    done = 0
    for run in runs.finditer(body, first.start()):
        if run.end() == run.start():
            continue  # the empty match at the very end
        if run.start() > done:
            lines = body.count(b"\n", done, run.start())
            kept += body[done : run.start()]
            starts.append(line)
            counts.append(lines)
            line += lines
        line += body.count(b"\n", run.start(), run.end())
        done = run.end()
    if done < len(body):
        rest = body.count(b"\n", done) + (0 if body.endswith(b"\n") else 1)
        kept += body[done:]
        starts.append(line)
        counts.append(rest)
    begin = pl.Series(starts, dtype=pl.Int64)
    index = pl.int_ranges(begin, begin + pl.Series(counts, dtype=pl.Int64), dtype=pl.Int64)
    numbers = (
        pl.select(index.explode()).to_series() if len(starts) else pl.Series([], dtype=pl.Int64)
    )
    return bytes(kept), numbers


def _fast_without_blank_lines(body: bytes, found: Layout, first_row: int) -> pl.DataFrame | None:
    """`fast_frame` on `body` without its blank lines, each row numbered by
    its line in the file."""
    dropped = without_blank_lines(body, found.delimiter)
    if dropped is None:
        return fast_frame(body, found, first_row)
    kept, index = dropped
    frame = fast_frame(kept, found, first_row, lines=index.len())
    if frame is None or frame.height != index.len():
        return None
    return frame.with_columns((index + first_row).alias("source_row"))


def _ascii_head(data: bytes) -> str:
    """Enough of an ASCII file's start to find its header."""
    end = -1
    for _ in range(HEAD_ROWS + 1):
        end = data.find(b"\n", end + 1)
        if end == -1:
            return data.decode("ascii")
    return data[: end + 1].decode("ascii")


def as_utf8(data: bytes, text: str, encoding: str) -> bytes:
    """The file as UTF-8 without a byte order mark, copied only when it was
    in another encoding."""
    if encoding == "ascii":
        return data
    if encoding == "utf-8-sig":
        return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    return text.encode("utf-8")


def _after_line(data: bytes, number: int) -> bytes:
    """The bytes after line `number` (1-based, lines ended by \\n)."""
    offset = 0
    for _ in range(number):
        offset = data.index(b"\n", offset) + 1
    return data[offset:]


def fast_frame(
    body: bytes, found: Layout, first_row: int, lines: int | None = None
) -> pl.DataFrame | None:
    """Polars' reader for the common case: one record per line, no blank
    lines, no row wider than the header. Row numbers are then line numbers,
    from `first_row`. Anything else (None) goes through the careful reader,
    which can name every odd row. `body` is UTF-8, whole lines only (`lines`
    of them, counted here unless the caller has)."""
    if lines is None:
        lines = body.count(b"\n") + (0 if not body or body.endswith(b"\n") else 1)
    if lines == 0:
        return pl.DataFrame(
            schema={**{h: pl.String() for h in found.header}, "source_row": pl.Int64()}
        )
    try:
        frame = pl.read_csv(
            body,
            separator=found.delimiter,
            has_header=False,
            schema={h: pl.String() for h in found.header},
            raise_if_empty=False,
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None
    if frame.height != lines:
        return None
    # A row of empty or whitespace-only cells holds nothing: the careful
    # reader skips it, so leave such rows to it. Only rows whose first cell
    # is blank can be: the rest are looked at only then.
    if not _first_cells_filled(body, found.delimiter):
        blank = pl.all().str.strip_chars().fill_null("") == ""
        first = pl.col(found.header[0])
        maybe = frame.filter(first.is_null() | (first.str.strip_chars() == ""))
        if maybe.height and maybe.select(pl.all_horizontal(blank).any()).item():
            return None
    return frame.with_columns(
        pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias("source_row")
    )


def _first_cells_filled(body: bytes, delimiter: str) -> bool:
    """Whether every line of a small ASCII `body` starts with a character
    that is neither whitespace, a quote nor the delimiter: then no row's
    first cell is empty or blank, told by one search instead of a pass over
    the frame (sampled with a profiler: some 0.7 s of a thousand small
    files' run). A large body is left to the frame, which Polars filters on
    its threads without the GIL: a search of 1 GB held it for 8 s, stalling
    the insert beside it."""
    if len(body) > _SEARCHED_BYTES or not body.isascii():
        return False  # Unicode has more whitespace: the frame is looked at
    blank_start = b' \t\r\n\x0b\x0c"' + delimiter.encode()
    if body[:1] and body[0] in blank_start:
        return False
    # A search for a newline and what follows it, not for `(?m)^`: the
    # regular expression engine skips to each newline at once, ten times
    # faster than trying every position as a line start.
    starts = re.compile(b"\n[" + re.escape(blank_start) + b"]")
    return starts.search(body) is None


_SEARCHED_BYTES = 1 << 20


def careful_frame(text: str, found: Layout, first_row: int) -> pl.DataFrame | list[Problem]:
    """The careful reader on whole lines under the header: Python's csv module,
    row numbers from `first_row`, blank rows skipped, rows wider than the
    header named."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=found.delimiter)
    rows: list[list[str]] = []
    numbers: list[int] = []
    start = first_row
    try:
        for cells in reader:
            # A blank row is skipped here, not held: a million of them would
            # cost a Python list each.
            if any(c.strip() for c in cells):
                rows.append(cells)
                numbers.append(start)
            start = first_row + reader.line_num
    except csv.Error as err:
        return [_csv_problem(first_row - 1 + reader.line_num, err)]
    return body_frame(rows, numbers, found.header)


def _csv_problem(line: int, err: csv.Error) -> Problem:
    return Problem(line, "(row)", "", f"the file cannot be read as CSV: {err}")


def _careful(text: str, delim: str) -> RawTable | list[Problem]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[list[str]] = []
    numbers: list[int] = []
    start = 1
    try:
        for cells in reader:
            # line_num counts physical lines, so a quoted cell spanning lines
            # keeps later row numbers right: a row is numbered by its first line.
            # A blank row is skipped here, not held (see careful_frame).
            if any(c.strip() for c in cells):
                rows.append(cells)
                numbers.append(start)
            start = reader.line_num + 1
    except csv.Error as err:
        return [_csv_problem(reader.line_num, err)]
    return build_table(rows, numbers, delimiter=delim)
