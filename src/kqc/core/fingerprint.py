"""The second hash a large file is read with.

A file too large to hold in memory is read twice: once to take its SHA-256
(what `source_files.sha256` and every duplicate check name), and again as it
is parsed. The bytes parsed must be the bytes hashed, so the second reading
is hashed too, and compared. It is compared with a BLAKE3 hash taken in the
first reading rather than with the SHA-256: BLAKE3 is a cryptographic hash
as well (no two different files are known to share one), and it costs some
0.5 s a gigabyte where SHA-256 costs 1.5 s, on the path every large ingest
waits on.
"""

from __future__ import annotations

from typing import Protocol

import blake3


class Hasher(Protocol):
    """What a reader feeds the bytes it reads into."""

    def update(self, data: bytes, /) -> object: ...

    def hexdigest(self) -> str: ...


def hasher() -> Hasher:
    return blake3.blake3()


def of(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()
