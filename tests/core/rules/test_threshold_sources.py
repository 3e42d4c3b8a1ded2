"""The shipped thresholds cite the primary text each limit comes from, with
its section and version date, and the thresholds file refuses what the rules
could not read (a misspelt form, a dry-weight unit a rule never converts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kqc.schemas.thresholds import ThresholdsError, load_thresholds
from tests.core.rules.helpers import thresholds

SHIPPED = Path(__file__).resolve().parents[3] / "schemas" / "thresholds.csv"


def test_nickel_cites_ich_q3d_r2_and_usp_232_not_a_paper():
    [ni] = [t for t in thresholds() if t.analyte == "nickel" and t.basis == "per_day"]
    assert (ni.limit_value, ni.unit, ni.fails_when) == (200, "ug/day", ">")
    assert ni.source.startswith("ICH Q3D(R2)") and "26-Apr-2022" in ni.source
    assert "Table A.2.1" in ni.source and "USP <232>" in ni.source
    assert ni.confirmed and "Caroti" not in ni.source


def test_every_utah_row_carries_its_section_and_version():
    utah = [t for t in thresholds() if t.profile == "UT" or "Utah" in t.source]
    assert len(utah) >= 12
    for t in utah:
        if "R70-580-5" in t.source:
            assert "R70-580-5(1)" in t.source and "1-Dec-2024" in t.source, t.source
            assert "figures unchanged" in t.note
        else:  # the statute: 4-45-104 as enacted in 2019
            assert "4-45-104" in t.source and "2019" in t.source, t.source


def test_the_utah_two_percent_row_is_the_2019_text_and_says_what_changed():
    [ut] = [t for t in thresholds() if t.profile == "UT" and t.rule == "7oh_ratio"]
    assert "as enacted by 2019" in ut.source and "14-May-2019" in ut.source
    assert not ut.confirmed  # not the statute in force
    assert "pure leaf kratom" in ut.note and "6-Mar-2027" in ut.note


def _house(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "house.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [
        ("capsule;tablet,default", "capsules;tablet,default", "forms"),
        ("0.4,mg/g dry,per_g,>,", "0.4,mg/g dry,per_g,<,", "unit"),
        ("heavy_metal,lead,1.2,ug/g,per_g", "heavy_metal,lead,1.2,ug/g dry,per_g", "unit"),
    ],
)
def test_what_no_rule_reads_is_refused_with_its_row_and_column(tmp_path, old, new, column):
    text = SHIPPED.read_text()
    assert old in text
    with pytest.raises(ThresholdsError) as refused:
        load_thresholds(_house(tmp_path, text.replace(old, new, 1)))
    message = str(refused.value)
    assert f"column {column}:" in message and "row " in message and "fix the file" in message
    assert "{" not in message  # the column's value, never the whole row as JSON


def test_the_shipped_file_loads():
    frame, version = load_thresholds(SHIPPED)
    assert frame.height == len(thresholds()) and version


def test_a_house_copy_of_the_shipped_file_keeps_its_own_version(tmp_path, monkeypatch):
    """The validated thresholds are kept for the next load; one file's
    version is never given for another with the same bytes."""
    house = tmp_path / "house.csv"
    house.write_bytes(SHIPPED.read_bytes())
    monkeypatch.setenv("KQC_THRESHOLDS", str(house))
    _, house_version = load_thresholds()
    monkeypatch.delenv("KQC_THRESHOLDS")
    _, shipped_version = load_thresholds()
    assert house_version.startswith("house-")
    assert shipped_version.startswith("2026.11-")
    assert house_version.split("-")[-1] == shipped_version.split("-")[-1]
    # An edit is a new version: the cache is keyed by the bytes too.
    edited = house.read_bytes().replace(b"2026", b"2027", 1)
    house.write_bytes(edited)
    monkeypatch.setenv("KQC_THRESHOLDS", str(house))
    assert load_thresholds()[1] != house_version
