"""A lab's full ICP-MS panel and its own analytes, through the `kqc` command
as a person runs it: every result of a 14-element panel stored; a house
vocabulary (KQC_VOCABULARY) that adds an analyte which then ingests; and
each kind of bad vocabulary file stopping the run with exit 2 and one
sentence before any file moves."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.cli.test_cli import kqc

CASES = Path(__file__).parents[1] / "cases"
PANEL = CASES / "long" / "icpms_14_element_panel.csv"
ZINC_FILE = (
    b"Lab Name,Lot #,Lab Sample ID,Analyte,Result,Units,LOQ\n"
    b"Pacific Elemental Labs,KR-2613-ICP,PEL-26-04431,Lead,0.27,ppm,0.002\n"
    b"Pacific Elemental Labs,KR-2613-ICP,PEL-26-04431,Zinc (Zn),24.6,ppm,0.1\n"
    b"Pacific Elemental Labs,KR-2613-ICP,PEL-26-04432,66Zn,<LOQ,ppb,50\n"
)
VOCABULARY = "code,group,canonical_unit,aliases\nzinc,heavy metals,ug/g,Zn;Zinc (Zn);66Zn\n"


def _results(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT batch_id, analyte, value, unit, qualifier, loq, reported_analyte"
            " FROM results ORDER BY batch_id, analyte"
        ).fetchall()


def test_a_14_element_icpms_panel_is_ingested_with_every_result(tmp_path):
    (tmp_path / "inbox").mkdir()
    shutil.copyfile(PANEL, tmp_path / "inbox" / PANEL.name)
    done = kqc("ingest", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"status": "ingested"' in done.stdout
    rows = _results(tmp_path / "kqc.duckdb")
    with PANEL.open(encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert len(rows) == len(lines) == 28
    assert {r[1] for r in rows} == {
        "arsenic", "cadmium", "mercury", "lead", "cobalt", "vanadium", "nickel",
        "thallium", "selenium", "silver", "antimony", "barium", "copper", "chromium",
    }  # fmt: skip
    by_key = {(r[0], r[1]): r for r in rows}
    # 1.84 ppm is 1.84 ug/g; 176 ppb is 0.176 ug/g; a non-detect keeps its LOQ, never a zero.
    assert by_key[("KR-2611-ICP", "chromium")][2:4] == (1.84, "ug/g")
    assert by_key[("KR-2611-ICP", "cobalt")][2] == pytest.approx(0.176)
    thallium = by_key[("KR-2611-ICP", "thallium")]
    assert (thallium[2], thallium[4], thallium[5]) == (None, "not_detected", pytest.approx(0.001))
    mercury = by_key[("KR-2611-ICP", "mercury")]
    assert (mercury[2], mercury[4], mercury[5]) == (None, "<LOQ", pytest.approx(0.0025))


def test_a_house_vocabulary_adds_an_analyte_that_then_ingests(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "zinc.csv").write_bytes(ZINC_FILE)
    refused = kqc("ingest", "--json", cwd=tmp_path)
    assert refused.returncode == 1
    errors = (tmp_path / "quarantine" / "zinc.csv.errors.csv").read_text(encoding="utf-8-sig")
    problems = list(csv.DictReader(errors.splitlines()))
    assert [p["row"] for p in problems] == ["3", "4"]
    for problem in problems:
        assert problem["problem"].startswith("unknown analyte '")
        assert "KQC_VOCABULARY" in problem["problem"]
        assert "docs/vocabulary.md" in problem["problem"]

    vocabulary = tmp_path / "house-vocabulary.csv"
    vocabulary.write_text(VOCABULARY, encoding="utf-8")
    (tmp_path / "inbox" / "zinc.csv").write_bytes(ZINC_FILE)
    done = kqc("ingest", "--json", cwd=tmp_path, env={"KQC_VOCABULARY": str(vocabulary)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r[1:6] for r in _results(tmp_path / "kqc.duckdb")] == [
        ("lead", 0.27, "ug/g", None, pytest.approx(0.002)),
        ("zinc", 24.6, "ug/g", None, pytest.approx(0.1)),
        ("zinc", None, "ug/g", "<LOQ", pytest.approx(0.05)),
    ]


BAD_VOCABULARIES = [
    (
        "code,group,canonical_unit\nzinc,heavy metals,ug/g\n",
        "lacks the column(s) aliases: its header must read code,group,canonical_unit,aliases",
    ),
    (
        VOCABULARY + "lead,heavy metals,ug/g,Pb\n",
        "row 3, column code: 'lead' is a built-in analyte: take the row out",
    ),
    (
        "code,group,canonical_unit,aliases\nzinc,trace elements,ug/g,Zn\n",
        "row 2, column group 'trace elements' is not a group: write one of alkaloid, metal",
    ),
    (
        "code,group,canonical_unit,aliases\nzinc,heavy metals,ppm,Zn\n",
        "row 2, column canonical_unit 'ppm' is not the canonical unit of group metal: write ug/g",
    ),
    (
        "code,group,canonical_unit,aliases\nzinc,heavy metals,ug/g,Zn;Ni\n",
        "row 2, column aliases: 'Ni' already means nickel: remove it from the aliases of zinc",
    ),
]


@pytest.mark.parametrize(("text", "sentence"), BAD_VOCABULARIES)
def test_a_bad_vocabulary_stops_ingest_before_any_file_moves(tmp_path, text, sentence):
    vocabulary = tmp_path / "house-vocabulary.csv"
    vocabulary.write_text(text, encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "zinc.csv").write_bytes(ZINC_FILE)
    done = kqc("ingest", cwd=tmp_path, env={"KQC_VOCABULARY": str(vocabulary)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"the vocabulary file {vocabulary}" in done.stderr
    assert sentence in done.stderr
    assert "KQC_VOCABULARY" in done.stderr
    assert (tmp_path / "inbox" / "zinc.csv").read_bytes() == ZINC_FILE
    assert not (tmp_path / "archive").exists() and not (tmp_path / "quarantine").exists()
    assert not (tmp_path / "kqc.duckdb").exists()


def test_a_vocabulary_file_that_cannot_be_read_stops_ingest(tmp_path):
    missing = tmp_path / "no-such-vocabulary.csv"
    done = kqc("ingest", cwd=tmp_path, env={"KQC_VOCABULARY": str(missing)})
    assert done.returncode == 2
    assert f"cannot read the vocabulary file {missing} (No such file" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_house_threshold_may_judge_a_house_analyte(tmp_path):
    shipped = Path(__file__).parents[2] / "schemas" / "thresholds.csv"
    house = tmp_path / "thresholds.csv"
    house.write_text(
        shipped.read_text(encoding="utf-8")
        + "heavy_metal,zinc,25000,ug/day,per_day,>,,default,minor,"
        '"House limit for zinc, QA decision of 2026-11 (an example)",false,\n',
        encoding="utf-8",
    )
    vocabulary = tmp_path / "house-vocabulary.csv"
    vocabulary.write_text(VOCABULARY, encoding="utf-8")
    env = {"KQC_THRESHOLDS": str(house), "KQC_VOCABULARY": str(vocabulary)}
    listed = kqc("thresholds", "--analyte", "zinc", "--format", "csv", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "heavy_metal,zinc,25000" in listed.stdout
    without = kqc("thresholds", cwd=tmp_path, env={"KQC_THRESHOLDS": str(house)})
    assert without.returncode == 2
    assert "column analyte: 'zinc'" in without.stderr
