"""One `kqc ingest` over an inbox of hostile and broken files, as a real
process on a real DuckDB file: every dropped file ends byte for byte in
archive/ or quarantine/ (with its errors.csv) or stays in the inbox, rejected
files load no rows, SQL in cells is stored as text, no traceback, memory
bounded while a 2 GiB file and a 50 MB line go by. The snapshot it publishes
opens with external access disabled and answers the documented queries."""

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from kqc.files.inbox import printable_name

HEADER = b"Lab,Batch,Sample,Analyte,Result,Unit\n"
DROP = "'); DROP TABLE results; --"
READ_FILE = "SELECT * FROM read_csv('/etc/passwd')"
MB = 1 << 20
GOOD_NAMES = [
    b"new\nline.csv",
    b"back\\slash..csv",
    b"reports\\..\\..\\escape.csv",
    b"esc\x1b[31mred.csv",
    "\u202egnp.csv".encode(),
    "é".encode() * 120 + b".csv",  # 244 bytes, near the 255-byte limit
]
NON_UTF8 = b"bad\xff\xfename.csv"


def valid(sample: str) -> bytes:
    return HEADER + f'Acme,B1,"{sample}",Lead,0.1,ppm\n'.encode()


def workbook_bomb() -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w") as sheet,
    ):
        for _ in range(100):
            sheet.write(b"0" * MB)
    return buffer.getvalue()


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return buffer.getvalue()


def sha_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("hostile")
    box = home / "inbox"
    box.mkdir()
    dropped: dict[bytes, bytes | None] = {}
    for i, name in enumerate(GOOD_NAMES):
        dropped[name] = valid(f"S{i}")
    dropped[NON_UTF8] = valid("S-non-utf8")
    dropped[b"sql_text.csv"] = HEADER + (
        f'Acme,B2,"{DROP}",Lead,0.1,ppm\nAcme,B2,"{READ_FILE}",Mitragynine,1.42,%\n'.encode()
    )
    dropped[b"sql_rejected.csv"] = HEADER + f'Acme,B3,S1,"{DROP}",0.1,ppm\n'.encode()
    dropped[b"long_line.csv"] = HEADER.rstrip(b"\n") + b"," + b"A" * (50 * MB)
    dropped[b"big_cell.json"] = json.dumps(
        [{"Lab": "Acme", "Batch": "B4", "Sample": "x" * (10 * MB), "Analyte": "Lead"}]
    ).encode()
    dropped[b"bomb.xlsx"] = workbook_bomb()
    dropped[b"not_a_zip.xlsx"] = valid("S-xlsx")
    dropped[b"not_a_workbook.xlsx"] = plain_zip()
    dropped[b"huge.csv"] = None  # 2 GiB sparse, written below
    for name, data in dropped.items():
        path = os.path.join(os.fsencode(box), name)
        with open(path, "wb") as handle:
            if data is None:
                handle.truncate(2 << 30)
            else:
                handle.write(data)
    before = {sha_of(p): p.name for p in files_in(box)}
    assert len(before) == len(dropped)
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    with (home / "out.txt").open("wb") as out, (home / "err.txt").open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "kqc", "ingest", "--json"],
            cwd=home,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    stdout = (home / "out.txt").read_bytes().decode("utf-8", "surrogateescape")
    stderr = (home / "err.txt").read_bytes().decode("utf-8", "surrogateescape")
    assert "Traceback" not in stdout + stderr, stderr
    print(f"kqc ingest over the hostile inbox: peak RSS {usage.ru_maxrss / 1024:.0f} MB")
    return {
        "home": home,
        "before": before,
        "code": child.returncode,
        "lines": [json.loads(line) for line in stdout.splitlines()],
        "stderr": stderr,
        "peak_mb": usage.ru_maxrss / 1024,
    }


def by_file(run, name: str) -> dict:
    # The outcome names the file as recorded: printable, faithful.
    [line] = [line for line in run["lines"] if line["file"] == printable_name(name)]
    return line


def test_every_dropped_file_is_kept_byte_for_byte_somewhere(run):
    home = run["home"]
    after: dict[str, str] = {}
    for folder in ("archive", "quarantine", "inbox"):
        for path in files_in(home / folder):
            if not path.name.endswith(".errors.csv"):
                after[sha_of(path)] = folder
    assert set(after) == set(run["before"])
    assert run["code"] == 1 and len(run["lines"]) == len(run["before"])


def test_rejected_files_each_have_a_sentence_and_an_errors_csv_and_load_no_rows(run):
    expected = {
        "long_line.csv": "line 1 is 52,428,837 bytes long, over the limit of 1,048,576 bytes",
        "big_cell.json": "the cell holds 10,485,760 characters, over the limit of 32,767",
        "huge.csv": "the file is 2,147,483,648 bytes, over the limit of 1,073,741,824",
        "bomb.xlsx": "the workbook would unpack to 104,857,600 bytes",
        "not_a_zip.xlsx": "the workbook is damaged or truncated",
        "not_a_workbook.xlsx": "this zip file holds no worksheet",
        "sql_rejected.csv": "",
    }
    for name, sentence in expected.items():
        line = by_file(run, name)
        assert line["status"] == "rejected" and line["rows"] == 0, line
        assert line["reason"].startswith(sentence), line["reason"]
        report = Path(line["errors_csv"])
        assert report.parent == run["home"] / "quarantine" and report.is_file()
        assert Path(line["stored_as"]).parent == run["home"] / "quarantine"
    with duckdb.connect(str(run["home"] / "kqc.duckdb"), read_only=True) as con:
        loaded = con.execute("SELECT count(*) FROM results WHERE batch_id IN ('B3', 'B4')")
        assert loaded.fetchone() == (0,)


def test_the_oversized_file_was_never_read_whole(run):
    # Read whole, the 2 GiB file alone would take over 2,048 MB. The whole
    # run (its Prefect server and workbook reader included) peaks at some
    # 370 MB, yet twice in many full-suite runs at 1,030-1,080 MB, never
    # seen alone; the bound stays well under the file's size.
    assert run["peak_mb"] < 1536, f"peak RSS {run['peak_mb']:.0f} MB for a 2 GiB file"


def test_sql_in_cells_is_stored_as_text_and_never_run(run):
    assert by_file(run, "sql_text.csv")["status"] == "ingested"
    with duckdb.connect(str(run["home"] / "kqc.duckdb"), read_only=True) as con:
        samples = con.execute(
            "SELECT sample_id FROM results WHERE batch_id = 'B2' ORDER BY sample_id"
        ).fetchall()
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] >= 2
    assert samples == [(DROP,), (READ_FILE,)]
    assert {"results", "source_files", "flags", "batches"} <= tables
    rejected = by_file(run, "sql_rejected.csv")
    assert DROP in Path(rejected["errors_csv"]).read_text(encoding="utf-8-sig")


def test_odd_names_are_stored_under_safe_names(run):
    home = run["home"]
    for folder in ("archive", "quarantine"):
        for path in files_in(home / folder):
            assert path.parent == home / folder
            assert path.name.isprintable() and not path.name.startswith(".")
            assert "\\" not in path.name and len(os.fsencode(path.name)) <= 255
    for raw in GOOD_NAMES:
        line = by_file(run, os.fsdecode(raw))
        assert line["status"] == "ingested", line
        assert Path(line["stored_as"]).parent == home / "archive"
    long_name = by_file(run, os.fsdecode(GOOD_NAMES[-1]))["stored_as"]
    assert long_name.endswith(".csv") and len(os.fsencode(Path(long_name).name)) <= 226


def test_the_non_utf8_name_is_never_lost(run):
    """A name that is not UTF-8 is recorded escaped (\\xff) and the file
    archived under a safe name, like any other."""
    line = by_file(run, os.fsdecode(NON_UTF8))
    assert line["status"] == "ingested"
    assert "\\x" in line["file"]
    assert not (run["home"] / "inbox" / os.fsdecode(NON_UTF8)).exists()


def test_names_are_recorded_faithfully_and_printably(run):
    with duckdb.connect(str(run["home"] / "kqc.duckdb"), read_only=True) as con:
        names = {n for (n,) in con.execute("SELECT file_name FROM source_files").fetchall()}
    for raw in [*GOOD_NAMES, NON_UTF8]:
        assert printable_name(os.fsdecode(raw)) in names


def test_the_oversized_file_is_recorded_with_its_real_size(run):
    with duckdb.connect(str(run["home"] / "kqc.duckdb"), read_only=True) as con:
        recorded = con.execute(
            "SELECT size_bytes FROM source_files WHERE file_name = 'huge.csv'"
        ).fetchone()
    assert recorded == (2 << 30,)


def test_the_snapshot_opens_with_external_access_disabled(run):
    snapshot = run["home"] / "kqc.snapshot.duckdb"
    doc = (Path(__file__).parents[2] / "docs" / "regulators.md").read_text(encoding="utf-8")
    queries = re.findall(r"```sql\n(.*?)```", doc, re.S)
    assert len(queries) >= 12
    config = {"enable_external_access": False}
    with duckdb.connect(str(snapshot), read_only=True, config=config) as con:
        for sql in queries:
            con.execute(sql).fetchall()
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] >= 2
        for outside in (READ_FILE, "ATTACH 'other.duckdb'", "COPY results TO 'x.csv'"):
            with pytest.raises(duckdb.PermissionException):
                con.execute(outside)
    assert 'config={"enable_external_access": False}' in doc
    # The command-line way: switched off at the prompt, for good.
    with duckdb.connect(str(snapshot), read_only=True) as con:
        con.execute("SET enable_external_access = false")
        for sql in queries:
            con.execute(sql).fetchall()
        with pytest.raises(duckdb.PermissionException):
            con.execute("INSTALL httpfs")
        with pytest.raises(duckdb.InvalidInputException):
            con.execute("SET enable_external_access = true")
    assert "`SET enable_external_access = false;`" in doc
