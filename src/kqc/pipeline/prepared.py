"""What preparing one dropped file gives when it is read whole: its kind,
its validated rows and its problems (`Prepared`), and the problem of a file
that holds no results at all. Shared by preparing one file, many files side
by side and a large file streamed chunk by chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from kqc.core.columns import Kind
from kqc.core.normalize import Normalized
from kqc.core.problems import Problem


@dataclass(frozen=True)
class Prepared:
    kind: Kind | None
    rows: pl.DataFrame
    problems: list[Problem]
    # Columns holding values kqc does not read: named in the file's outcome.
    unused_columns: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.problems and self.kind is not None


NO_RESULTS = Problem(0, "", "", "the file holds no results: every row was empty or not tested")


def finish(normalized: Normalized, schema_problems: list[Problem]) -> Prepared:
    """A normalized file and its schema's problems, as one outcome."""
    problems = sorted(set(normalized.problems) | set(schema_problems))
    if not problems and normalized.rows.height == 0:
        problems = [NO_RESULTS]
    return Prepared(normalized.kind, normalized.rows, problems, normalized.unused_columns)
