"""The benchmark data generator: seeded (the same bytes every time), and what it
says it wrote is what kqc is expected to store."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import generate


@pytest.mark.parametrize(("layout", "fmt"), [("long", "csv"), ("wide", "csv"), ("long", "xlsx")])
def test_the_same_seed_gives_the_same_bytes(tmp_path: Path, layout: str, fmt: str) -> None:
    first = generate.write_one(tmp_path / f"1.{fmt}", 500, layout=layout, fmt=fmt)
    again = generate.write_one(tmp_path / f"2.{fmt}", 500, layout=layout, fmt=fmt)
    assert (tmp_path / f"1.{fmt}").read_bytes() == (tmp_path / f"2.{fmt}").read_bytes()
    assert first == again


def test_a_long_file_has_the_rows_asked_for_with_qc_and_qualifiers(tmp_path: Path) -> None:
    written = generate.write_one(tmp_path / "r.csv", 1000)
    with (tmp_path / "r.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == written.results == 1000
    assert {r["Sample Type"] for r in rows} == {"Sample", "Method Blank", "Spike"}
    assert {"<LOQ", "Absent"} <= {r["Result"] for r in rows}
    assert len({r["Batch No."] for r in rows}) == written.batches


def test_many_files_share_no_batch_and_no_content(tmp_path: Path) -> None:
    written = generate.write_many(tmp_path / "inbox", 5, 50)
    files = sorted((tmp_path / "inbox").iterdir())
    assert len(files) == 5 and len({f.read_bytes() for f in files}) == 5
    batches = [{line.split(",")[1] for line in f.read_text().splitlines()[1:]} for f in files]
    assert sum(len(b) for b in batches) == len(set().union(*batches)) == written.batches
    assert written.results == 250


def test_the_register_covers_the_batches_written(tmp_path: Path) -> None:
    written = generate.write_one(tmp_path / "r.csv", 2000, first_batch=40)
    n = generate.write_register(tmp_path / "reg.csv", [(written.first_batch, written.batches)])
    with (tmp_path / "reg.csv").open(newline="") as f:
        register = list(csv.DictReader(f))
    with (tmp_path / "r.csv").open(newline="") as f:
        batches = {r["Batch No."] for r in csv.DictReader(f)}
    assert n == len(register) and {r["Batch ID"] for r in register} == batches
    assert all(float(r["Label claim (mg/serving)"]) > 0 for r in register)
