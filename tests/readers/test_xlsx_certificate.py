"""A certificate of several sheets through the ingest flow, on a real DuckDB
file under a real Prefect backend: every result of every sheet is stored as
one file's results, or the file is quarantined whole with each problem naming
its sheet and the sheet's own row."""

import csv
import hashlib
import io
from pathlib import Path

import duckdb
import pytest

from kqc.flows.ingest import ingest_flow
from kqc.pipeline.prepare import prepare
from kqc.pipeline.prepare_many import prepare_many
from tests.readers.certificate import (
    COVER_BATCH,
    COVER_LAB,
    COVER_SAMPLE,
    METALS,
    METALS_HEADER_ROW,
    MICRO,
    MICRO_HEADER_ROW,
    POTENCY,
    POTENCY_HEADER_ROW,
    multi_sheet_certificate,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")

POTENCY_CODES = {"mitragynine", "paynantheine", "speciogynine", "speciociliatine"}
POTENCY_CODES |= {"7_hydroxymitragynine"}
METAL_CODES = {"lead", "arsenic", "cadmium", "mercury"}
MICRO_CODES = {"tamc", "tymc", "salmonella", "e_coli"}


def _ingest(site, name: str, data: bytes):
    (site.db.parent / "inbox" / name).write_bytes(data)
    return ingest_flow([site.db.parent / "inbox"], site)


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _rows_under(header_row: int, count: int) -> list[int]:
    return list(range(header_row + 1, header_row + 1 + count))


def test_every_result_of_every_sheet_is_stored_as_one_file(site):
    data = multi_sheet_certificate()
    [outcome] = _ingest(site, "coa.xlsx", data)
    assert outcome.status == "ingested", outcome.reason
    total = len(POTENCY) + len(METALS) + len(MICRO)
    assert outcome.rows == total
    sha = hashlib.sha256(data).hexdigest()
    assert _query(site.db, "SELECT sha256, status, row_count FROM source_files") == [
        (sha, "ingested", total)
    ]
    stored = _query(
        site.db,
        "SELECT analyte, source_row, source_sha256, lab_id, batch_id, sample_id"
        " FROM results ORDER BY result_id",
    )
    # In sheet order, each sheet's results under its own header, by its own rows.
    analytes = [r[0] for r in stored]
    assert set(analytes[: len(POTENCY)]) == POTENCY_CODES
    assert set(analytes[len(POTENCY) : len(POTENCY) + len(METALS)]) == METAL_CODES
    assert set(analytes[len(POTENCY) + len(METALS) :]) == MICRO_CODES
    by_sheet = {
        "Potency": [r[1] for r in stored if r[0] in POTENCY_CODES],
        "Heavy Metals": [r[1] for r in stored if r[0] in METAL_CODES],
        "Microbiology": [r[1] for r in stored if r[0] in MICRO_CODES],
    }
    assert by_sheet == {
        "Potency": _rows_under(POTENCY_HEADER_ROW, len(POTENCY)),
        "Heavy Metals": _rows_under(METALS_HEADER_ROW, len(METALS)),
        "Microbiology": _rows_under(MICRO_HEADER_ROW, len(MICRO)),
    }
    # One source file; the cover's Lab, Batch and Sample ID stand for every sheet.
    assert {r[2:] for r in stored} == {(sha, COVER_LAB, COVER_BATCH, COVER_SAMPLE)}
    values = dict(
        _query(site.db, "SELECT analyte, coalesce(value::VARCHAR, qualifier) FROM results")
    )
    assert values["mitragynine"] == "15.2"  # the cell shown as 1.52 %, in mg/g
    assert values["mercury"] == "not_detected" and values["salmonella"] == "not_detected"
    assert (site.archive / "coa.xlsx").read_bytes() == data


def test_the_flow_prepares_the_workbook_as_prepare_does():
    data = multi_sheet_certificate()
    [together] = prepare_many([("coa.xlsx", data)])
    alone = prepare("coa.xlsx", data)
    assert together.problems == alone.problems == []
    assert together.rows.equals(alone.rows)


def _errors(site, name: str) -> list[dict[str, str]]:
    report = (site.quarantine / f"{name}.errors.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(report)))


def test_a_bad_cell_on_the_third_sheet_is_named_with_its_sheet_and_row_and_nothing_stored(site):
    metals = [list(row) for row in METALS]
    metals[2][1] = "see note 3"  # cadmium, the third result under the header
    data = multi_sheet_certificate(metals=metals)
    [outcome] = _ingest(site, "coa.xlsx", data)
    assert outcome.status == "rejected"
    [line] = _errors(site, "coa.xlsx")
    assert line["row"] == str(METALS_HEADER_ROW + 3)
    assert (line["column"], line["value"]) == ("Result", "see note 3")
    assert line["problem"].endswith("(sheet 'Heavy Metals')")
    assert _query(site.db, "SELECT count(*) FROM results") == [(0,)]
    assert _query(site.db, "SELECT status FROM source_files") == [("rejected",)]
    assert (site.quarantine / "coa.xlsx").read_bytes() == data


def test_a_sheet_whose_table_kqc_cannot_read_rejects_the_file_naming_it(site):
    data = multi_sheet_certificate(micro_header=("Organism", "Count", "Units", "Method"))
    [outcome] = _ingest(site, "coa.xlsx", data)
    assert outcome.status == "rejected"
    [line] = _errors(site, "coa.xlsx")
    assert line["column"] == "(header)"
    assert line["problem"].startswith("no recognizable columns")
    assert line["problem"].endswith("(sheet 'Microbiology')")
    assert _query(site.db, "SELECT count(*) FROM results") == [(0,)]
