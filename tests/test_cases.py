"""Every file under tests/cases/ against its expected outcome: the normalized
rows (`<file>.expected.csv`) or the problems (`<file>.problems.csv`).

A new lab format is two new files here. `pytest --write-expected` rewrites
the expectations from the current code: review that diff line by line. A
case that needs a house vocabulary has it beside it, `<file>.vocabulary.csv`
(docs/vocabulary.md), in force while that case is read.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from kqc.core.house_vocab import parse_house_vocabulary
from kqc.core.vocab import use_house_analytes
from kqc.pipeline.prepare import prepare

CASES = Path(__file__).parent / "cases"
INPUTS = sorted(
    p
    for p in CASES.rglob("*")
    if p.is_file()
    and not p.name.endswith((".expected.csv", ".problems.csv", ".vocabulary.csv", ".py"))
)
RESULT_COLUMNS = [
    "source_row",
    "lab_id",
    "batch_id",
    "sample_id",
    "sample_type",
    "unit_no",
    "analyte",
    "value",
    "unit",
    "qualifier",
    "bound",
    "test_portion_g",
    "lod",
    "loq",
    "reported_result",
    "reported_unit",
]
REGISTER_COLUMNS = [
    "source_row",
    "batch_id",
    "product_id",
    "product_name",
    "form",
    "label_claim_mg_per_serving",
    "serving_size_g",
    "servings_per_day",
    "units_per_serving",
    "markets",
]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _same(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    try:
        return math.isclose(float(expected), float(actual), rel_tol=1e-12)
    except ValueError:
        return False


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def test_there_are_enough_cases():
    assert len(INPUTS) >= 15
    assert {p.parent.name for p in INPUTS} >= {"long", "wide", "xlsx", "json", "register", "broken"}


@pytest.mark.parametrize("path", INPUTS, ids=[str(p.relative_to(CASES)) for p in INPUTS])
def test_case(path: Path, request):
    vocabulary = path.with_name(path.name + ".vocabulary.csv")
    if vocabulary.exists():
        use_house_analytes(parse_house_vocabulary(vocabulary.read_bytes(), vocabulary.name))
    try:
        outcome = prepare(path.name, path.read_bytes())
    finally:
        use_house_analytes(())
    expected_rows = path.with_name(path.name + ".expected.csv")
    expected_problems = path.with_name(path.name + ".problems.csv")
    if outcome.problems:
        actual = [["row", "column", "problem"]] + [
            [str(p.row), p.column, p.problem] for p in outcome.problems
        ]
        target, other = expected_problems, expected_rows
    else:
        columns = RESULT_COLUMNS if outcome.kind == "results" else REGISTER_COLUMNS
        actual = [columns] + [
            [_text(v) for v in row] for row in outcome.rows.select(columns).iter_rows()
        ]
        target, other = expected_rows, expected_problems
    if request.config.getoption("--write-expected"):
        target.write_text(_csv(actual), encoding="utf-8")
        other.unlink(missing_ok=True)
    assert target.exists(), f"{path.name} gave {'problems' if outcome.problems else 'rows'}"
    assert not other.exists(), f"{path.name} was expected to give {other.name.split('.')[-2]}"
    expected = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(actual) == len(expected), _csv(actual)
    for want, got in zip(expected, actual, strict=True):
        assert len(want) == len(got) and all(_same(w, g) for w, g in zip(want, got, strict=True)), (
            f"expected {want}\n     got {got}"
        )
