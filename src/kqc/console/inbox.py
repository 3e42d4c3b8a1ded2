"""The inbox page (`/inbox`): files waiting to be read, the files the watch
took (ingested, duplicate, rejected) and, for a rejected one, its errors as a
table with the fix (the `<name>.errors.csv` beside it in quarantine/); and
the upload (`/inbox/upload`, technicians) into the same pipeline.

An errors list is read only from inside the quarantine folder and only its
first rows: the page stays small however long a rejected file's list is.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kqc.config.settings import Locations
from kqc.console.access import Viewer, csrf_refused, guarded
from kqc.console.sessions import csrf_matches
from kqc.console.uploads import UploadRefused, receive
from kqc.files.names import errors_path
from kqc.files.survey import temporary_reason
from kqc.store.console_queries import recent_files

FILES_SHOWN = 100
REJECTIONS_DETAILED = 20  # the most recent rejected files whose errors are shown
ERROR_ROWS_SHOWN = 200
_ERRORS_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Rejection:
    file_name: str
    errors: list[dict[str, str]]  # row, column, value, problem (with its fix)
    more: bool  # the list has more rows than shown
    missing: bool  # no errors list found beside the file


@dataclass(frozen=True)
class InboxView:
    waiting: list[str]
    files: list[dict[str, Any]]
    rejections: dict[int, Rejection]  # file_id -> its errors


def read_errors(stored_as: str | None, quarantine: Path, file_name: str) -> Rejection:
    """The first rows of a quarantined file's errors list: looked up by the
    stored file's name in the quarantine folder (never by a path from the
    database: a moved site still finds it, and nothing outside is read)."""
    stored = Path(stored_as).name if stored_as else ""
    listed = errors_path(quarantine / stored) if stored not in ("", ".", "..") else None
    if listed is None or not listed.is_file():
        return Rejection(file_name, [], False, True)
    with listed.open("rb") as handle:
        data = handle.read(_ERRORS_BYTES + 1)
    text = data[:_ERRORS_BYTES].decode("utf-8-sig", "replace")
    reader = csv.DictReader(io.StringIO(text))
    found: list[dict[str, str]] = []
    for row in reader:
        if len(found) == ERROR_ROWS_SHOWN:
            return Rejection(file_name, found, True, False)
        found.append({k: row.get(k) or "" for k in ("row", "column", "value", "problem")})
    return Rejection(file_name, found, len(data) > _ERRORS_BYTES, False)


def waiting_files(inbox: Path, cap: int = 200) -> list[str]:
    """Names in the inbox the watch will read (hidden and temporary ones not)."""
    if not inbox.is_dir():
        return []
    names = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and temporary_reason(Path(entry.name)) is None:
                names.append(entry.name)
                if len(names) >= cap:
                    break
    return sorted(names)


def read_inbox(where: Locations) -> InboxView:
    files = recent_files(where.db, FILES_SHOWN)
    rejected = [f for f in files if f["status"] == "rejected"][:REJECTIONS_DETAILED]
    rejections = {
        f["file_id"]: read_errors(f["stored_as"], where.quarantine, f["file_name"])
        for f in rejected
    }
    return InboxView(waiting_files(where.inbox), files, rejections)


@guarded()
async def inbox_page(request: Request, viewer: Viewer) -> Response:
    found = await viewer.console.call(read_inbox, viewer.console.where)
    return viewer.page("inbox.html", inbox=found)


@guarded("upload", page=False, form=False)
async def upload(request: Request, viewer: Viewer) -> Response:
    """Files from the upload form, written into the inbox for the watch."""
    try:
        received = await receive(request, viewer.console.where.inbox)
    except UploadRefused as refused:
        return viewer.back("/inbox", f"nothing uploaded: {refused}", "error")
    if not csrf_matches(viewer.session, received.fields.get("csrf")):
        received.abandon()
        return csrf_refused()
    received.publish()
    if not received.files:
        viewer.session.flash("nothing uploaded: choose a file first", "error")
    for item in received.files:
        if item.problem is None:
            viewer.session.flash(
                f"uploaded {item.name} ({item.size:,} bytes): the watch reads it next"
            )
        else:
            viewer.session.flash(f"not uploaded: {item.problem}", "error")
    return RedirectResponse("/inbox", status_code=303)
