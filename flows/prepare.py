"""Bytes of one dropped file to validated rows or problems: read, normalize,
validate. Pure composition, no Prefect, so tests and benchmarks call it
directly and the flow calls it as one task."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from kqc.core.columns import Kind
from kqc.core.normalize import normalize
from kqc.core.problems import Problem
from kqc.readers import read_bytes
from kqc.schemas.validate import validate


@dataclass(frozen=True)
class Prepared:
    kind: Kind | None
    rows: pl.DataFrame
    problems: list[Problem]

    @property
    def accepted(self) -> bool:
        return not self.problems and self.kind is not None


def prepare(name: str, data: bytes) -> Prepared:
    table = read_bytes(name, data)
    if isinstance(table, list):
        return Prepared(None, pl.DataFrame(), sorted(table))
    normalized = normalize(table)
    if normalized.kind is None:
        return Prepared(None, pl.DataFrame(), normalized.problems)
    schema_problems = validate(
        normalized.rows, normalized.kind, normalized.headers, normalized.cell_columns
    )
    problems = sorted(set(normalized.problems) | set(schema_problems))
    if not problems and normalized.rows.height == 0:
        problems = [
            Problem(0, "", "", "the file holds no results: every row was empty or not tested")
        ]
    return Prepared(normalized.kind, normalized.rows, problems)
