"""Exports a QA lead opens in a spreadsheet program (kqc/exports.py): real
files read back with openpyxl and the csv module."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import openpyxl
import polars as pl
import pytest

from kqc.errors import UsageError
from kqc.files.exports import check_target, write_sections

EVIL = '=HYPERLINK("http://evil.example","open")'


def sections() -> dict[str, pl.DataFrame]:
    results = pl.DataFrame(
        {
            "sample_id": [EVIL, "S2"],
            "method": ["@SUM(1)", "+cmd"],
            "value": [-0.25, 14.2],
            "result_id": [1, 2],
            "loaded_at": [datetime(2026, 11, 25, 10, 0, tzinfo=UTC)] * 2,
        }
    )
    return {"results": results, "reviews": pl.DataFrame(schema={"flag_id": pl.String})}


def test_xlsx_has_a_sheet_per_section_no_formula_and_numbers_as_numbers(tmp_path):
    target = tmp_path / "dossier.xlsx"
    assert write_sections(target, sections()) == [target]
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["results", "reviews"]
    sheet = book["results"]
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert sheet["A2"].value == "'" + EVIL and sheet["A2"].data_type == "s"
    assert sheet["B2"].value == "'@SUM(1)" and sheet["B3"].value == "'+cmd"
    assert sheet["C2"].value == -0.25 and sheet["C2"].data_type == "n"
    assert sheet["D3"].value == 2
    assert sheet["E2"].value == datetime(2026, 11, 25, 10, 0)  # UTC, as a date cell
    assert [c.value for c in book["reviews"][1]] == ["flag_id"]
    assert not list(tmp_path.glob(".incoming-*"))  # written beside, then renamed


def test_csv_is_one_file_per_section(tmp_path):
    written = write_sections(tmp_path / "dossier.csv", sections())
    assert [p.name for p in written] == ["dossier.results.csv", "dossier.reviews.csv"]
    with written[0].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["sample_id"] == "'" + EVIL
    assert rows[0]["value"] == "-0.25"  # a number, written as a number
    single = write_sections(tmp_path / "flags.csv", {"flags": sections()["results"]})
    assert [p.name for p in single] == ["flags.csv"]


@pytest.mark.parametrize("name", ["out.pdf", "out", "out.xls"])
def test_unknown_extensions_are_usage_errors(tmp_path, name):
    with pytest.raises(UsageError, match=r"\.csv or \.xlsx"):
        check_target(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
