"""Uploads into the inbox: the same pipeline as a file dropped in the folder.
The watch running beside the console takes each file like any other.

Each uploaded file is streamed to disk as it arrives (never held in
memory) under a hidden name the watch leaves alone, `.<name>.part` in the
inbox, then linked to its final name in one step, so the watch never sees
half a file; a name already in the inbox is refused, never replaced. Names
with a path separator, a leading dot, a control or invisible character, or
one the watch would skip (`*.tmp`, `*.part`, ...) are refused with the
reason. A request may carry at most MAX_UPLOAD_BYTES.

The CSRF token is a field of the same form: it may arrive after the file,
so the files are published only once the whole request has been read and
the token checked; until then they are hidden parts, removed on refusal.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from kqc.files.survey import temporary_reason

MAX_UPLOAD_BYTES = 256 * 1024 * 1024
MAX_NAME_BYTES = 200  # room in a folder entry for what archive/ and quarantine/ add
_MAX_FIELD_BYTES = 4096
_MAX_PARTS = 50


class UploadRefused(Exception):
    """The whole request is refused (too large, not a form, cut off)."""


def name_problem(name: str, inbox: Path) -> str | None:
    """Why `name` cannot be written into the inbox, or None when it can."""
    if not name:
        return "no file was chosen"
    if "/" in name or "\\" in name:
        return f"'{name}' has a path separator: upload the file under its own name only"
    if name.startswith("."):
        return f"'{name}' starts with a dot (a hidden file): rename it without the dot"
    if any(not c.isprintable() for c in name):
        shown = name.encode("unicode_escape").decode("ascii")
        return f"'{shown}' has a control or invisible character: rename the file"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"the name is longer than {MAX_NAME_BYTES} bytes: shorten it"
    skipped = temporary_reason(Path(name))
    if skipped is not None:
        return f"'{name}' would be left alone in the inbox: {skipped}"
    if (inbox / name).exists() or (inbox / f".{name}.part").exists():
        return f"'{name}' is already in the inbox: wait until it is taken, or rename yours"
    return None


@dataclass
class Received:
    """One file part: its name, and where it was written (None if refused)."""

    name: str
    part: Path | None = None
    size: int = 0
    problem: str | None = None


@dataclass
class _Parsing:
    inbox: Path
    limit: int
    files: list[Received] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    total: int = 0
    _header_field: bytes = b""
    _header_value: bytes = b""
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _field_name: str | None = None
    _field_value: bytearray = field(default_factory=bytearray)
    _current: Received | None = None
    _fd: int | None = None
    parts: int = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > _MAX_PARTS:
            raise UploadRefused(f"at most {_MAX_PARTS} files at once")
        self._headers = {}
        self._field_name, self._current = None, None
        self._field_value = bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        try:
            field_name = options.get(b"name", b"").decode("utf-8")
            file_name = options.get(b"filename")
            name = None if file_name is None else file_name.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UploadRefused("a field or file name is not UTF-8") from err
        if name is None:
            self._field_name = field_name
            return
        if not name:  # a file input left empty: browsers send it with no name
            self._current = Received(name, problem="no file was chosen")
            return
        received = Received(name)
        received.problem = name_problem(name, self.inbox)
        if received.problem is None:
            part = self.inbox / f".{name}.part"
            try:
                self._fd = os.open(
                    part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644
                )
                received.part = part
            except FileExistsError:
                received.problem = f"'{name}' is already being uploaded"
        self._current = received
        self.files.append(received)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        self.total += size
        if self.total > self.limit:
            raise UploadRefused(f"the upload is larger than {self.limit // (1024 * 1024)} MiB")
        if self._current is not None:
            if self._fd is not None:
                view = memoryview(data)[start:end]
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                self._current.size += size
        elif self._field_name is not None:
            if len(self._field_value) + size > _MAX_FIELD_BYTES:
                raise UploadRefused("a form field is too long")
            self._field_value += data[start:end]

    def part_end(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        elif self._current is None and self._field_name is not None:
            self.fields[self._field_name] = self._field_value.decode("utf-8", "replace")

    def abandon(self) -> None:
        """Remove every part written (a refused or failed request)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        for received in self.files:
            if received.part is not None:
                with contextlib.suppress(FileNotFoundError):
                    received.part.unlink()
                received.part = None


@dataclass(frozen=True)
class Upload:
    """What a request carried: its form fields (the CSRF token) and files.
    `publish` or `abandon` it."""

    fields: dict[str, str]
    files: list[Received]
    _parsing: _Parsing

    def abandon(self) -> None:
        self._parsing.abandon()

    def publish(self) -> None:
        """Each written part under its final name, never over another file:
        a hard link fails when the name is taken (on a file system without
        hard links, a rename after a last check)."""
        for received in self.files:
            if received.part is None:
                continue
            final = received.part.with_name(received.name)
            try:
                os.link(received.part, final, follow_symlinks=False)
                received.part.unlink()
            except FileExistsError:
                received.problem = f"'{received.name}' arrived in the inbox meanwhile: not replaced"
                received.part.unlink()
            except OSError:
                if final.exists():
                    received.problem = f"'{received.name}' is already in the inbox: not replaced"
                    received.part.unlink()
                else:
                    os.replace(received.part, final)
            received.part = None


async def receive(request: Request, inbox: Path, limit: int | None = None) -> Upload:
    """Stream a multipart upload into hidden parts in `inbox`, at most
    `limit` bytes of files (MAX_UPLOAD_BYTES when None)."""
    limit = MAX_UPLOAD_BYTES if limit is None else limit
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadRefused("an upload is sent as a multipart form")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise UploadRefused(f"the upload is larger than {limit // (1024 * 1024)} MiB")
    await run_in_threadpool(inbox.mkdir, parents=True, exist_ok=True)
    parsing = _Parsing(inbox, limit)
    parser = MultipartParser(boundary, parsing.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (UploadRefused, ClientDisconnect, OSError, ValueError) as err:
        parsing.abandon()
        if isinstance(err, UploadRefused):
            raise
        raise UploadRefused(f"the upload did not arrive whole ({type(err).__name__})") from err
    except Exception:
        parsing.abandon()
        raise
    return Upload(parsing.fields, parsing.files, parsing)
