"""Writing a file so that no reader sees half of it and a power cut leaves
the old file or the new one, never a mix: the bytes go to a temporary file
beside the target (same folder, so the rename cannot cross file systems),
are flushed to disk, then renamed over the target in one step."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def temp_copy(folder: Path, blocks: Iterable[bytes], *, prefix: str) -> str:
    """The blocks in a new file in `folder`, on disk; its path. The name
    starts with `prefix` (a dot: the inbox survey passes it over)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as handle:
            for block in blocks:
                handle.write(block)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def write_atomic(target: Path, data: bytes, *, prefix: str) -> None:
    """`target` holds `data`, whole, replacing what it held."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_copy(target.parent, [data], prefix=prefix)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
