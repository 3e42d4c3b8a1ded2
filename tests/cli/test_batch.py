"""`kqc batch` (the dossier) and the exports of `kqc flags` / `kqc batch`, as a
QA lead runs them: real processes on the demo database, outputs and exit
codes pinned, files read back, no Prefect on the read-only path and no Polars
for a dossier shown in a terminal or as json."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from kqc.store import batch_statuses, read_dossier, read_dossier_rows, record_review
from tests.cli.test_cli import kqc
from tests.conftest import copy_demo
from tests.signers import PASSWORD, signer

EVIL = '=HYPERLINK("http://evil.example","open")'
# A lab file whose cells would run as formulas in a spreadsheet program.
EVIL_FILE = (
    "Lab,Batch,Sample,Analyte,Result,Unit,Method\n"
    f'Acme,EVIL-1,"{EVIL.replace(chr(34), chr(34) * 2)}",Lead,250,ppb,@SUM(1)\n'
    "Acme,EVIL-1,S2,Mitragynine,1.42,%,+cmd\n"
)
WIDE = {"COLUMNS": "250"}  # the flags table as wide as a QA lead's screen


@pytest.fixture(scope="session")
def demo_db(demo_folder, tmp_path_factory) -> Path:
    """The demo database (sample_data/), plus the formula-laden file: built once."""
    home = tmp_path_factory.mktemp("dossier")
    db = copy_demo(demo_folder, home)
    (home / "evil.csv").write_text(EVIL_FILE)
    ingested = kqc("ingest", "evil.csv", "--db", str(db), cwd=home)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    return db


@pytest.fixture
def db(demo_db, tmp_path) -> Path:
    """A private copy, for tests that write (a review)."""
    copy = tmp_path / "kqc.duckdb"
    shutil.copyfile(demo_db, copy)
    return copy


def dossier(db: Path, batch_id: str, cwd: Path) -> tuple[int, dict]:
    done = kqc("batch", batch_id, "--db", str(db), "--format", "json", cwd=cwd)
    [dossier] = json.loads(done.stdout)  # an array of the one dossier
    return done.returncode, dossier


def test_failing_batch_dossier_as_a_table(demo_db, tmp_path):
    done = kqc("batch", "KR-2611-B", "--db", str(demo_db), cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # open flags: something to act on
    assert done.stderr == ""
    out = done.stdout
    assert out.startswith("KR-2611-B — Green Malay Powder 250 g (GRN-PWD-250), powder: FAIL")
    for title in ("batch register", "results (as reported, and canonical)", "statistics", "flags"):
        assert title in out
    assert "reviews: none" in out
    lines = out.splitlines()
    # the reported text beside its canonical value, on one row
    assert any(line.split()[3:7] == ["410", "ppb", "0.41", "ug/g"] for line in lines if line)
    # a non-detect is shown with its qualifier and bound, never as a zero
    assert any("<0.005 ppm" in line and "<LOQ (≤ 0.005)" in line for line in lines)
    # statistics beside their limits: 117.9 % of the claim against 110 %
    assert any("% of label claim" in line and "117.9" in line and "fail" in line for line in lines)
    assert "tamc 110000 CFU/g; allowed <= 100000 CFU/g" in out


def test_passing_batch_exits_zero(demo_db, tmp_path):
    done = kqc("batch", "KR-2605-A", "--db", str(demo_db), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Red Maeng Da Capsules 500 mg (RMD-CAP-500), capsule: PASS" in done.stdout
    assert "flags: none" in done.stdout


def test_json_dossier_shape(demo_db, tmp_path):
    code, whole = dossier(demo_db, "KR-2611-C", tmp_path)
    assert code == 1
    assert list(whole) == ["batch", "results", "statistics", "flags", "reviews"]
    head = whole["batch"]
    assert head["batch_id"] == "KR-2611-C" and head["status"] == "FAIL"
    assert head["registered"] is True and head["label_claim_mg_per_serving"] == 7.0
    assert head["open_flags"] == len([f for f in whole["flags"] if f["status"] == "open"])
    capsules = [r for r in whole["results"] if r["unit"] == "mg/unit"]
    assert len(capsules) == 10
    assert all(r["reported_result"] and r["source_file"] for r in whole["results"])
    av = next(s for s in whole["statistics"] if s["statistic"] == "acceptance value")
    flag = next(f for f in whole["flags"] if f["rule"] == "content_uniformity")
    assert av["value"] == pytest.approx(flag["observed"])  # the dossier agrees with the flag
    assert (av["limit_value"], av["verdict"]) == (15.0, "fail")
    assert whole["reviews"] == []


def test_unregistered_batch_says_so(demo_db, tmp_path):
    code, whole = dossier(demo_db, "GL-2611-F", tmp_path)
    assert code == 1
    assert whole["batch"]["registered"] is False and whole["batch"]["status"] == "INCOMPLETE"
    per_day = [s for s in whole["statistics"] if s["statistic"] == "per day"]
    assert per_day and {s["verdict"] for s in per_day} == {"inconclusive"}


def test_a_review_appears_in_the_dossier(db, tmp_path):
    _, before = dossier(db, "KR-2611-G", tmp_path)
    flag_id = before["flags"][0]["flag_id"]
    decided = kqc(
        "review", flag_id, "--db", str(db), "--decision", "dismiss",
        "--reviewer", signer(db).name, "--note", "new chart", cwd=tmp_path, stdin=PASSWORD,
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    at = decided.stdout.splitlines()[0].split(" at ")[-1].removesuffix(" UTC")
    # The finding is major: its dismissal counts once a second approver verifies it.
    verified = kqc(
        "review", flag_id, "--db", str(db), "--decision", "verify",
        "--reviewer", signer(db, "r.other").name, cwd=tmp_path, stdin=PASSWORD,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    # Shown in UTC, as labelled, on a machine set to another zone.
    away = {"TZ": "America/New_York"}
    shown = kqc("batch", "KR-2611-G", "--db", str(db), cwd=tmp_path, env=away)
    assert f"{at}" in shown.stdout.split("reviews")[-1]
    as_json = kqc("batch", "KR-2611-G", "--db", str(db), "--format", "json", cwd=tmp_path, env=away)
    assert json.loads(as_json.stdout)[0]["reviews"][0]["reviewed_at"].endswith("+00:00")
    code, after = dossier(db, "KR-2611-G", tmp_path)
    assert code == 0  # the only flag is dismissed: nothing left open
    assert after["flags"][0]["status"] == "dismissed"
    review = after["reviews"][0]
    assert (review["flag_id"], review["decision"], review["reviewer"], review["note"]) == (
        flag_id,
        "dismiss",
        "q.lead",
        "new chart",
    )
    assert after["batch"]["status"] == "PASS"


@pytest.mark.parametrize(
    ("batch_id", "hint"),
    [
        ("KR-2611-Z", "did you mean KR-2611-"),
        ("nothing-like-it", "list the flagged batches with `kqc flags`"),
    ],
)
def test_unknown_batch_is_one_sentence_and_exit_2(demo_db, tmp_path, batch_id, hint):
    done = kqc("batch", batch_id, "--db", str(demo_db), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"no batch '{batch_id}' in the database" in done.stderr and hint in done.stderr


def test_missing_database(tmp_path):
    done = kqc("batch", "KR-2611-B", "--db", "nowhere.duckdb", cwd=tmp_path)
    assert done.returncode == 2  # configuration, as the contract says
    assert "no database at" in done.stderr and done.stderr.count("\n") == 1


def test_dossier_to_xlsx_is_safe_against_formulas(demo_db, tmp_path):
    done = kqc("batch", "EVIL-1", "--db", str(demo_db), "--out", "evil.xlsx", cwd=tmp_path)
    assert done.stdout == f"wrote {tmp_path / 'evil.xlsx'}\n", done.stderr
    book = openpyxl.load_workbook(tmp_path / "evil.xlsx")
    assert book.sheetnames == ["batch", "results", "statistics", "flags", "reviews"]
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row]
    assert cells and all(c.data_type != "f" for c in cells)
    texts = {c.value for c in cells if c.data_type == "s"}
    assert "'" + EVIL in texts and "'@SUM(1)" in texts and "'+cmd" in texts
    assert not any(str(t).startswith(("=", "+", "-", "@")) for t in texts)
    results = book["results"]
    header = [c.value for c in results[1]]
    value = header.index("value") + 1
    assert {results.cell(row, value).value for row in (2, 3)} == {0.25, 14.2}  # numbers


def test_dossier_to_csv_is_one_file_per_section(demo_db, tmp_path):
    done = kqc("batch", "EVIL-1", "--db", str(demo_db), "--out", "d.csv", cwd=tmp_path)
    names = ["batch", "results", "statistics", "flags", "reviews"]
    assert done.stdout.splitlines() == [f"wrote {tmp_path / f'd.{n}.csv'}" for n in names]
    with (tmp_path / "d.results.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["sample_id"] for r in rows} == {"'" + EVIL, "S2"}
    assert {r["method"] for r in rows} == {"'@SUM(1)", "'+cmd"}


def test_flags_export_holds_every_flag(demo_db, tmp_path):
    listed = kqc("flags", "--db", str(demo_db), "--format", "json", cwd=tmp_path)
    rows = json.loads(listed.stdout)
    done = kqc("flags", "--db", str(demo_db), "--out", "flags.xlsx", cwd=tmp_path)
    assert done.returncode == 1  # open flags, as without --out
    sheet = openpyxl.load_workbook(tmp_path / "flags.xlsx")["flags"]
    assert sheet.max_row == len(rows) + 1
    header = [c.value for c in sheet[1]]
    assert [sheet.cell(2, header.index("flag_id") + 1).value] == [rows[0]["flag_id"]]
    as_csv = kqc("flags", "--db", str(demo_db), "--out", "flags.csv", cwd=tmp_path)
    assert as_csv.stdout == f"wrote {tmp_path / 'flags.csv'}\n"
    with (tmp_path / "flags.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)


def test_flags_table_shows_a_page(demo_db, tmp_path):
    done = kqc("flags", "--db", str(demo_db), "--limit", "3", cwd=tmp_path, env=WIDE)
    assert done.returncode == 1
    assert "more of" in done.stdout and "--limit 0 shows all" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["batch", "KR-2611-B", "--out", "dossier.pdf"],
        ["flags", "--out", "flags.txt"],
    ],
)
def test_unknown_export_extension_is_exit_2(demo_db, tmp_path, args):
    done = kqc(*args, "--db", str(demo_db), cwd=tmp_path)
    assert done.returncode == 2
    assert ".csv or .xlsx" in done.stderr and done.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _modules_loaded_by(args: list[str], db: Path, cwd: Path) -> tuple[set[str], object]:
    """The top-level packages a command imported, and its exit code."""
    script = (
        "import json, sys\n"
        "from kqc.cli import main\n"
        f"sys.argv = ['kqc', *{args!r}, '--db', {str(db)!r}]\n"
        "code = 0\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules})\n"
        "print('LOADED', json.dumps([loaded, code]), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("LOADED ")), None)
    assert line is not None, done.stderr
    loaded, code = json.loads(line.removeprefix("LOADED "))
    return set(loaded), code


@pytest.mark.parametrize(
    "args",
    [
        ["flags"],
        ["flags", "--batch", "KR-2611-B", "--format", "json"],
        ["batch", "KR-2611-B"],
        ["batch", "KR-2611-B", "--format", "json"],
    ],
)
def test_read_only_commands_never_import_prefect(demo_db, tmp_path, args):
    loaded, code = _modules_loaded_by(args, demo_db, tmp_path)
    assert code == 1
    assert not {"prefect", "pandera"} & loaded, sorted(loaded)


def test_a_page_of_flags_starts_without_polars(demo_db, tmp_path):
    """polars, pyarrow and pydantic are most of a read-only command's start;
    the terminal's page of flags needs none of them."""
    loaded, code = _modules_loaded_by(["flags"], demo_db, tmp_path)
    assert code == 1
    assert "duckdb" in loaded
    assert not {"polars", "pyarrow", "pydantic"} & loaded, sorted(loaded)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_dossier_starts_without_polars(demo_db, tmp_path, fmt):
    """The dossier in a terminal or as json reads a few hundred rows: polars,
    pyarrow and pydantic would be a third of its time. An export (--out)
    still writes frames typed as stored."""
    loaded, code = _modules_loaded_by(["batch", "KR-2611-B", "--format", fmt], demo_db, tmp_path)
    assert code == 1
    assert "duckdb" in loaded
    assert not {"polars", "pyarrow", "pydantic"} & loaded, sorted(loaded)


def test_the_shown_dossier_and_the_export_read_the_same(db):
    """A terminal's dossier is read as plain rows, an export's as frames:
    every batch, a reviewed one too, reads the same values in the same order."""
    flag_id = read_dossier_rows(db, "KR-2611-B").flags[0]["flag_id"]
    record_review(db, flag_id, "confirm", signer(db), None)
    batch_ids = [row["batch_id"] for row in batch_statuses(db).to_dicts()]
    assert "EVIL-1" in batch_ids
    for batch_id in batch_ids:
        frames, rows = read_dossier(db, batch_id), read_dossier_rows(db, batch_id)
        assert (rows.register, rows.status, rows.open_flags) == (
            frames.register,
            frames.status,
            frames.open_flags,
        )
        for part in ("results", "flags", "reviews", "current", "thresholds", "history"):
            assert getattr(rows, part) == getattr(frames, part).to_dicts(), (batch_id, part)
    assert read_dossier_rows(db, "KR-2611-B").reviews[0]["flag_id"] == flag_id
