"""Reading the console's small forms (sign-in, decisions, users): URL-encoded
or multipart without files, a few short fields. Anything larger is refused
rather than read (a form field of a megabyte is not a note)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

MAX_FIELDS = 20
MAX_FIELD_BYTES = 64 * 1024
MAX_FORM_BYTES = 256 * 1024


async def read_form(request: Request) -> FormData | None:
    """The form of a POST, or None when it is not a small form."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        return None
    try:
        return await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)
    except (HTTPException, MultiPartException, ValueError, UnicodeDecodeError):
        return None
