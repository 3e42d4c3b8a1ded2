"""Preparing many files at once gives each exactly what `prepare` gives it."""

from pathlib import Path

import pytest

from kqc.pipeline.prepare import prepare
from kqc.pipeline.prepare_many import prepare_many

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(
    p
    for folder in (ROOT / "tests" / "cases", ROOT / "sample_data")
    for p in folder.rglob("*")
    if p.is_file() and not p.name.endswith((".expected.csv", ".problems.csv", ".py"))
)

HEADER = "Lab,Batch,Sample ID,Analyte,Result,Unit,LOQ\n"


def certificate(sample: int, *, lead: str = "0.12") -> bytes:
    return (
        HEADER
        + f"Acme,KR-1,S-{sample},Mitragynine,1.42,%,0.01\n"
        + f"Acme,KR-1,S-{sample},Lead,{lead},ppm,0.05\n"
    ).encode()


def assert_same(files: list[tuple[str, bytes]]) -> None:
    together = prepare_many(files)
    assert len(together) == len(files)
    for (name, data), got in zip(files, together, strict=True):
        alone = prepare(name, data)
        assert got.kind == alone.kind, name
        assert got.problems == alone.problems, name
        assert got.rows.equals(alone.rows), name


def test_every_case_file_and_sample_file_together():
    assert len(CASES) > 25
    assert_same([(p.name, p.read_bytes()) for p in CASES])


@pytest.mark.parametrize("bad", [0, 3, 5])
def test_a_bad_row_in_one_file_blames_that_file_only(bad):
    files = [(f"c{i}.csv", certificate(i)) for i in range(6)]
    files[bad] = (f"c{bad}.csv", certificate(bad, lead="-5"))
    together = prepare_many(files)
    assert [bool(p.problems) for p in together] == [i == bad for i in range(6)]
    assert_same(files)


def test_a_result_repeated_in_two_files_is_no_problem_of_either():
    # The second file re-reports the first one's results: an amendment for
    # the store to record, not a repeat inside one file.
    files = [("a.csv", certificate(1)), ("b.csv", certificate(1, lead="0.20"))]
    assert all(p.accepted for p in prepare_many(files))
    assert_same(files)


def test_a_repeat_inside_one_file_is_still_found():
    repeated = certificate(7) + b"Acme,KR-1,S-7,Lead,0.13,ppm,0.05\n"
    files = [("ok.csv", certificate(1)), ("repeat.csv", repeated), ("ok2.csv", certificate(2))]
    together = prepare_many(files)
    assert [p.accepted for p in together] == [True, False, True]
    assert_same(files)


@pytest.mark.parametrize("count", [0, 1])
def test_no_file_or_one_file(count):
    assert_same([(f"c{i}.csv", certificate(i)) for i in range(count)])


def test_files_of_one_layout_with_problems_of_every_kind():
    no_lab = b"Batch,Sample ID,Analyte,Result,Unit\nKR-1,S-1,Lead,0.1,ppm\n"
    files = [
        ("ok.csv", certificate(1)),
        ("unknown.csv", HEADER.encode() + b"Acme,KR-1,S-2,Unobtainium,1,ppm,0.1\n"),
        ("no_unit.csv", HEADER.encode() + b"Acme,KR-1,S-3,Lead,0.1,,0.05\n"),
        ("empty_result.csv", HEADER.encode() + b"Acme,KR-1,S-4,Lead,,ppm,0.05\n"),
        ("no_lab_a.csv", no_lab),
        ("no_lab_b.csv", no_lab.replace(b"S-1", b"S-9")),
        ("ok2.csv", certificate(2)),
    ]
    together = prepare_many(files)
    assert [p.accepted for p in together] == [True, False, False, False, False, False, True]
    # A header problem belongs to each file of the layout, named on its header row.
    assert together[4].problems == together[5].problems
    assert_same(files)
