"""The workbook reader's worker process finds a header by the names it holds:
with a house vocabulary ($KQC_VOCABULARY) those of the house analytes too,
as kqc itself does, so a sheet whose columns are house analytes is read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kqc.config import house_vocabulary
from kqc.core.records import RawTable
from kqc.core.vocab import use_house_analytes
from kqc.readers import read_bytes
from tests.readers.books import workbook

# One field the contract names (Sample ID) and two house analytes: without
# them the row names one known thing, too few to be a header.
SHEET = [
    ["Lab: Cascade Trace Metals"],
    ["Lot: KR-2701"],
    [],
    ["Sample ID", "Zn (ppm)", "Mn (ppm)"],
    ["CTM-5511-01", 24.6, 186],
]
VOCABULARY = (
    "code,group,canonical_unit,aliases\n"
    "zinc,heavy metals,ug/g,Zn;Zinc (Zn)\n"
    "manganese,heavy metals,ug/g,Mn;Manganese (Mn)\n"
)


@pytest.fixture(autouse=True)
def built_in_afterwards() -> Iterator[None]:
    yield
    use_house_analytes(())


def test_without_the_house_vocabulary_the_sheet_has_no_header(monkeypatch):
    monkeypatch.delenv(house_vocabulary.VOCABULARY_ENV, raising=False)
    outcome = read_bytes("metals.xlsx", workbook({"Results": SHEET}))
    assert isinstance(outcome, list)
    assert "no header row" in outcome[0].problem


def test_the_worker_reads_the_header_by_the_house_vocabulary(monkeypatch, tmp_path):
    vocabulary = tmp_path / "vocabulary.csv"
    vocabulary.write_text(VOCABULARY, encoding="utf-8")
    monkeypatch.setenv(house_vocabulary.VOCABULARY_ENV, str(vocabulary))
    outcome = read_bytes("metals.xlsx", workbook({"Results": SHEET}))
    assert isinstance(outcome, RawTable), outcome
    assert outcome.header_row == 4
    assert outcome.headers[:3] == ["Sample ID", "Zn (ppm)", "Mn (ppm)"]
