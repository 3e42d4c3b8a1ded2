"""A large CSV read in chunks of whole lines, in bounded memory.

`kqc.readers.delimited.read` holds the whole file (bytes, text, frames); a
file of ten million rows does not fit that way. Here the file is read twice:
first a scan in blocks that settles everything `read` decides on the whole
file (the first line over the length limit, the encoding, whether every
record sits on one line), then the rows under the header, chunk after chunk.
The same layout, fast reader and careful reader as `read` make each chunk's
rows, so a streamed file gives the rows and problems `read` would give.

A file is not streamed (`plan` returns None) when its top needs the careful
reader (no clean header), when it is UTF-16 or binary, or when a quoted cell
may span lines or a line ends with a bare carriage return: where a record
starts is then known only by parsing from the top.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import polars as pl

from kqc.config.input_limits import MAX_LINE_BYTES, limit
from kqc.core.fingerprint import Hasher
from kqc.core.problems import Problem
from kqc.core.records import RawTable
from kqc.readers import long_cells
from kqc.readers.delimited import (
    Layout,
    careful_frame,
    cp1252_problem,
    cut_short,
    fast_frame,
    head_lines,
    layout,
    long_line_problem,
    long_line_start,
    sniff_delimiter,
)
from kqc.readers.grid import HEAD_ROWS

SCAN_BYTES = 16 << 20
# Bytes Windows-1252 leaves undefined: a file holding one is neither encoding.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")


@dataclass(frozen=True)
class Plan:
    path: Path
    layout: Layout
    encoding: str  # of the body: "utf-8" or "cp1252"
    body_offset: int  # the byte where the line under the header starts


@dataclass(frozen=True)
class Span:
    """`lines` whole lines of the file: `length` bytes from `offset`, the
    first of them line `first_row`."""

    offset: int
    first_row: int
    length: int
    lines: int


@dataclass(frozen=True)
class Unreadable:
    """A chunk's reading problems. `long_cells` says they are cells over the
    length limit, which `read` checks only once every row has been read."""

    problems: list[Problem]
    long_cells: bool


def plan(path: Path) -> Plan | list[Problem] | None:
    """How to stream `path`; the file's only problem when one decides it
    (a line too long, bytes in no encoding); None when it must be read whole."""
    with path.open("rb") as handle:
        top = handle.read(8192)
        if top.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in top:
            return None
        handle.seek(0)
        head = _head_bytes(handle)
        # A top that needs the careful reader is known before the whole file is scanned.
        if _layout(head, "utf-8" if _is_utf8(head) else "cp1252") is None:
            return None
        handle.seek(0)
        scanned = _scan(handle)
        if not isinstance(scanned, str):
            return scanned
    found = _layout(head, scanned)
    if found is None:
        return None
    offset = 0
    for _ in range(found.header_row):
        offset = head.find(b"\n", offset) + 1
        if offset == 0:  # the header is the last line: no rows under it
            offset = len(head)
            break
    return Plan(path, found, scanned, offset)


def _layout(head: bytes, encoding: str) -> Layout | None:
    if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError:  # in no encoding: `read` names the byte
        return None
    lines = head_lines(text)
    return layout(lines, sniff_delimiter(lines))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _head_bytes(handle: BinaryIO) -> bytes:
    most = limit(MAX_LINE_BYTES)
    return b"".join(handle.readline(most + 1) for _ in range(HEAD_ROWS + 1))


def _scan(handle: BinaryIO) -> str | list[Problem] | None:
    """The body's encoding, or the file's only problem, or None when a record
    may span lines. Reads the file once, in blocks of whole lines."""
    most = limit(MAX_LINE_BYTES)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = True
    undefined: int | None = None  # first byte Windows-1252 cannot read
    offset, carry = 0, b""
    while True:
        block = handle.read(SCAN_BYTES)
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1 if block else len(data)
        whole, carry = data[:cut], data[cut:]
        if len(carry) > most:  # no newline in more than a line's limit
            return [_long_line(handle, offset + len(whole))]
        start = long_line_start(whole)
        if start is not None:
            return [_long_line(handle, offset + start)]
        if b'"' in whole and any(row.count(b'"') % 2 for row in whole.split(b"\n")):
            return None  # a quoted cell may hold a line break
        if b"\r" in whole and whole.count(b"\r") != whole.count(b"\r\n"):
            return None  # a bare CR ends a row for the careful reader only
        if not whole.isascii():
            if is_utf8:
                try:
                    utf8.decode(whole)
                except UnicodeDecodeError:
                    is_utf8 = False
            if undefined is None:
                found = [p for p in (whole.find(b) for b in _CP1252_UNDEFINED) if p != -1]
                undefined = offset + min(found) if found else None
        offset += len(whole)
        if not block:
            break
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if is_utf8:
        return "utf-8"
    return "cp1252" if undefined is None else [cp1252_problem(undefined)]


def _long_line(handle: BinaryIO, start: int) -> Problem:
    """The problem `long_line` names, measured without holding the line."""
    handle.seek(0)
    number = 1
    while handle.tell() < start:
        number += handle.read(min(SCAN_BYTES, start - handle.tell())).count(b"\n")
    head = handle.read(60)
    handle.seek(start)
    length = 0
    while True:
        piece = handle.read(SCAN_BYTES)
        end = piece.find(b"\n")
        if end != -1 or not piece:
            return long_line_problem(number, length + (end if end != -1 else 0), head)
        length += len(piece)


def spans(
    found: Plan, chunk_bytes: int, digest: Hasher | None = None
) -> Iterator[tuple[Span, bytes]]:
    """The body in chunks of about `chunk_bytes`, each ending at a line end.
    Given a `digest`, every byte of the file read here (the top above the body
    first) goes into it: once the last chunk is out it holds the hash of what
    was parsed, to be compared with the hash the file was taken with."""
    row = found.layout.header_row + 1
    with found.path.open("rb") as handle:
        if digest is not None:
            digest.update(handle.read(found.body_offset))
        handle.seek(found.body_offset)
        offset = found.body_offset
        while True:
            data = handle.read(chunk_bytes)
            if not data:
                return
            if not data.endswith(b"\n"):
                # The plan's scan found no line over the limit; the bound
                # holds memory even if the file changed since.
                data += handle.readline(limit(MAX_LINE_BYTES) + 1)
            if digest is not None:
                digest.update(data)
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            yield Span(offset, row, len(data), lines), data
            offset += len(data)
            row += lines


def read_span(found: Plan, span: Span) -> bytes:
    with found.path.open("rb") as handle:
        handle.seek(span.offset)
        return handle.read(span.length)


def table(found: Plan, span: Span, data: bytes) -> RawTable | Unreadable:
    """One chunk's rows, as `read` would give them from the whole file."""
    shape = found.layout
    utf8 = data if found.encoding == "utf-8" else data.decode("cp1252").encode("utf-8")
    if not data.endswith((b"\n", b"\r")):  # only the last chunk can end mid-line
        cut = cut_short(
            utf8, shape.delimiter, len(shape.header), None, lines_before=span.first_row - 1
        )
        if cut is not None:
            return Unreadable([cut], long_cells=False)
    frame: pl.DataFrame | list[Problem] | None = fast_frame(utf8, shape, span.first_row, span.lines)
    if frame is None:
        frame = careful_frame(utf8.decode("utf-8"), shape, span.first_row)
    if isinstance(frame, list):
        return Unreadable(frame, long_cells=False)
    raw = RawTable(
        frame,
        shape.metadata,
        **shape.comma_reading,
        header_row=shape.header_row,
    )
    checked = long_cells(raw)
    return checked if isinstance(checked, RawTable) else Unreadable(checked, long_cells=True)
