"""What the `kqc` command sets for its own process: Polars' allocator keeps
freed pages (asked before Polars loads), and the exit skips the last walk of
every object."""

from __future__ import annotations

import os
import subprocess
import sys

from kqc.process import allocator

_SEEN = "print(os.environ.get('_RJEM_MALLOC_CONF'), 'polars' in sys.modules, file=sys.stderr)"
_CLI_RUN = (
    "import os, sys\n"
    "sys.argv = ['kqc', 'thresholds', '--format', 'json']\n"
    "from kqc import cli\n"
    "try:\n"
    "    cli.main()\n"
    "finally:\n"
    f"    {_SEEN}\n"
)


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != allocator.SETTING}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env}
    )


def test_the_command_sets_it_before_polars_loads_and_polars_then_loads():
    done = _python(_CLI_RUN)
    assert done.returncode == 0, done.stderr
    conf, loaded = done.stderr.split()
    # Polars puts its own first; what follows overrides it.
    assert conf.endswith("," + allocator.KEEP_FREED_PAGES) and loaded == "True"


def test_a_setting_given_to_the_process_is_kept():
    done = _python(_CLI_RUN, _RJEM_MALLOC_CONF="dirty_decay_ms:0")
    conf, _ = done.stderr.split()
    assert conf.endswith(",dirty_decay_ms:0") and allocator.KEEP_FREED_PAGES not in conf


def test_too_late_once_polars_is_loaded():
    code = (
        "import os, polars\n"
        "from kqc.process import allocator\n"
        "print(allocator.keep_freed_pages(), os.environ.get(allocator.SETTING))\n"
    )
    kept, conf = _python(code).stdout.split()
    assert kept == "False" and allocator.KEEP_FREED_PAGES not in conf


def test_the_command_leaves_its_objects_to_the_process_end():
    """`kqc` freezes what it loaded before exiting, so Python's last garbage
    collection does not walk it (1.1 s after an ingest)."""
    code = _CLI_RUN.replace(
        _SEEN, "import gc\n    print(gc.get_freeze_count() > 10_000, file=sys.stderr)"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stderr.split() == ["True"]
