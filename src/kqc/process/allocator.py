"""How long Polars' allocator keeps freed memory before handing it back.

Polars allocates through its own jemalloc and sets it to hand freed pages back
to the system within 0.5-1 s (`polars/__init__.py`), then adds whatever the
process's _RJEM_MALLOC_CONF asks for. A large ingest or re-evaluation frees
and allocates hundreds of MB per chunk, one chunk every second or two, and
every page handed back is faulted in again by the next chunk: 1.5 million
page faults, 4.5 s of system time, in a 10 s re-evaluation of 10,000,000
results. Pages kept for 2 s are there for the next chunk. Keeping them longer
costs memory: kept for 10 s, a 200,000-row wide file peaked at 2.8 GB
against 2.3 GB for 2 s and 2.0 GB for Polars' own setting.
"""

from __future__ import annotations

import os
import sys

# jemalloc's settings, read once when Polars loads (Polars' build prefixes the
# variable's name with _RJEM_); what is given later overrides its own.
SETTING = "_RJEM_MALLOC_CONF"
KEEP_FREED_PAGES = "dirty_decay_ms:2000,muzzy_decay_ms:2000"


def keep_freed_pages() -> bool:
    """Ask for KEEP_FREED_PAGES unless the process was given its own setting;
    False when Polars is loaded already (its allocator has read its settings)."""
    if "polars" in sys.modules:
        return False
    os.environ.setdefault(SETTING, KEEP_FREED_PAGES)
    return True
