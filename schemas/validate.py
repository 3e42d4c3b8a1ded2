"""Run a schema and turn Pandera's failure cases into kqc Problems.

Pandera reports a 0-based index into the validated frame; people need the row
their spreadsheet shows, which the frame carries as `source_row`. This is the
one place that mapping happens.
"""

from __future__ import annotations

import copy
import functools

import pandera.polars as pa
import polars as pl

from kqc.core.problems import Problem
from kqc.schemas.register import RegisterSchema
from kqc.schemas.results import ResultsSchema

DUPLICATE_RESULT = (
    "the same result appears more than once in this file (same lab, sample, analyte,"
    " unit, sample type and unit number): remove the repeat"
)

_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "results": ResultsSchema,
    "register": RegisterSchema,
}


def validate(
    frame: pl.DataFrame,
    kind: str,
    headers: dict[str, str],
    cell_columns: list[str] | None = None,
    *,
    repeats: bool = True,
) -> list[Problem]:
    """Every problem the schema finds in `frame`, at once; [] when it passes.
    `cell_columns` (wide files) names the analyte column each row came from.
    `repeats=False` leaves out the schema's `unique` check: a file checked
    chunk by chunk has its repeats checked across the whole file instead
    (kqc.pipeline.prepare)."""
    key = list(_SCHEMAS[kind].to_schema().unique or [])
    found = _run(
        _without_unique(kind) if key else _SCHEMAS[kind].to_schema(),
        frame,
        kind,
        headers,
        cell_columns,
    )
    if repeats and key:
        found = sorted(set(found) | set(repeated(frame, kind, headers, cell_columns)))
    return found


def repeated(
    frame: pl.DataFrame,
    kind: str,
    headers: dict[str, str],
    cell_columns: list[str] | None = None,
) -> list[Problem]:
    """The schema's `unique` check, run on the rows that can fail it: those
    whose key shares a 64-bit hash with another row's (comparing one number a
    row, not six texts). The schema itself then decides, so a hash shared by
    chance names no row."""
    key = list(_SCHEMAS[kind].to_schema().unique or [])
    shared = frame.select(key).hash_rows(seed=_SEED).is_duplicated()
    if not shared.any():
        return []
    rows = frame.filter(shared)
    cells = None
    if cell_columns is not None:
        cells = [c for c, keep in zip(cell_columns, shared.to_list(), strict=True) if keep]
    found = _run(_SCHEMAS[kind].to_schema(), rows, kind, headers, cells)
    return [p for p in found if p.problem == DUPLICATE_RESULT]


_SEED = 20_261_129


def _run(
    schema: pa.DataFrameSchema,
    frame: pl.DataFrame,
    kind: str,
    headers: dict[str, str],
    cell_columns: list[str] | None,
) -> list[Problem]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return _problems(errors.failure_cases, frame, _SCHEMAS[kind], headers, cell_columns)
    return []


@functools.cache
def _without_unique(kind: str) -> pa.DataFrameSchema:
    schema = copy.deepcopy(_SCHEMAS[kind].to_schema())
    schema.unique = None
    return schema


def _problems(
    failures: pl.DataFrame,
    frame: pl.DataFrame,
    schema: type[pa.DataFrameModel],
    headers: dict[str, str],
    cell_columns: list[str] | None,
) -> list[Problem]:
    rows = frame["source_row"].to_list()
    messages = _check_messages(schema)
    found: set[Problem] = set()
    for case in failures.iter_rows(named=True):
        index = case.get("index")
        row = rows[index] if index is not None and 0 <= index < len(rows) else 1
        column = case.get("column") or ""
        check = str(case.get("check") or "")
        field = column if column in frame.columns else ""
        value = "" if case.get("failure_case") is None else str(case["failure_case"])
        if not field and index is not None and 0 <= index < len(rows):
            value = ""
        text = messages.get((field, check)) or messages.get(("", check)) or _default(field, check)
        source_field = _REPORTED_AS.get(field, field)
        column = headers.get(source_field, field or "(row)")
        in_frame = index is not None and 0 <= index < len(rows)
        if source_field == "result" and "reported_result" in frame.columns and in_frame:
            # the cell as the lab wrote it ('-0.002' in %), not its canonical -0.02 mg/g
            value = frame["reported_result"][index] or value
        in_cell = cell_columns is not None and index is not None and 0 <= index < len(rows)
        if in_cell and source_field in ("result", "unit", "analyte"):
            column = cell_columns[index]  # type: ignore[index]
        found.add(Problem(row, column, value, text))
    return sorted(found)


# Canonical fields come from the lab's result or unit column: report those.
_REPORTED_AS = {
    "value": "result",
    "qualifier": "result",
    "bound": "result",
    "test_portion_g": "result",
    "reported_result": "result",
    "reported_unit": "unit",
    "reported_analyte": "analyte",
}


def _check_messages(schema: type[pa.DataFrameModel]) -> dict[tuple[str, str], str]:
    """(field, check name) -> the sentence a technician reads. A field's
    `title` is its message for every value check that fails on it."""
    messages: dict[tuple[str, str], str] = {}
    built = schema.to_schema()
    for name, column in built.columns.items():
        if column.title:
            for check in column.checks:
                messages[(name, str(check))] = column.title
                messages[(name, check.name)] = column.title
                messages[(name, str(check.error))] = column.title
    for check in built.checks:
        if check.error:
            messages[("", check.error)] = check.error
            messages[("", str(check.name))] = check.error
    return messages


def _default(field: str, check: str) -> str:
    if check.startswith("isin"):
        return f"{field} is not one of the allowed values"
    if "unique" in check:
        return DUPLICATE_RESULT
    if check in ("not_nullable", "nullable"):
        return f"{field} is empty: fill it in"
    if check.startswith(("greater_than", "less_than", "in_range")):
        return f"{field} is out of range ({check})"
    return f"{field or 'row'} fails check {check}"
