"""What kqc prints of a lab's text is safe for a terminal and a spreadsheet:
an ESC, OSC, BEL, C1 control or bidi override in a lab, batch or sample cell
is shown escaped (never sent raw) by `kqc ingest`, `kqc flags` and
`kqc batch`, in tables and in JSON; CSV on stdout is made inert as an
exported file is."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from kqc.core.terminal import json_safe, shown
from kqc.files.inbox import printable_name
from tests.cli.test_cli import kqc

# Everything a terminal acts on, or that hides text: C0 but the line break,
# DEL, C1, bidi overrides and isolates.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

LAB = "Ac\x1b]0;owned\x07me"  # OSC: retitles the terminal window, ended by BEL
BATCH = "B1\x1b[31m\u202e"  # CSI: red from here on; then a right-to-left override
SAMPLE = "S1\x1b[2J\u009bx\u2066"  # clear the screen; the C1 CSI; an isolate


def hostile_file() -> bytes:
    rows = [
        ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"],
        [LAB, BATCH, SAMPLE, "Mitragynine", "1.42", "%"],
        [LAB, BATCH, SAMPLE, "Lead", "250", "ppb"],
    ]
    return "".join(",".join(r) + "\n" for r in rows).encode()


def formula_file() -> bytes:
    return (
        "Lab,Batch,Sample,Analyte,Result,Unit\n"
        'Acme,"=HYPERLINK(""http://x"")",  =1+1,Mitragynine,1.42,%\n'
        "Acme,＝SUM(1),\t@A1,Lead,250,ppb\n"
    ).encode()


def assert_no_raw_control(text: str) -> None:
    found = RAW.search(text)
    assert found is None, f"raw {found.group()!r}: {text[found.start() - 40 :]!r}"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("hostile")
    (home / "hostile.csv").write_bytes(hostile_file())
    (home / "formula.csv").write_bytes(formula_file())
    done = kqc("ingest", "hostile.csv", "formula.csv", cwd=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_raw_control(done.stdout + done.stderr)
    return home


def test_the_stored_text_is_the_lab_s_own(site):
    import duckdb

    with duckdb.connect(str(site / "kqc.duckdb"), read_only=True) as con:
        stored = con.execute(
            "SELECT DISTINCT lab_id, batch_id, sample_id FROM results WHERE lab_id <> 'Acme'"
        ).fetchall()
    assert stored == [(LAB, BATCH, SAMPLE)]  # kept as dropped; escaped only when shown


def test_flags_table_and_json_show_control_characters_escaped(site):
    table = kqc("flags", "--limit", "0", cwd=site)
    assert table.returncode == 1
    assert_no_raw_control(table.stdout)
    assert "B1\\x1b[31m\\u202e" in table.stdout
    as_json = kqc("flags", "--format", "json", "--batch", BATCH, cwd=site)
    assert_no_raw_control(as_json.stdout)
    rows = json.loads(as_json.stdout)  # one document, an array
    assert rows and {row["batch_id"] for row in rows} == {BATCH}  # the same text once parsed


def test_batch_dossier_table_and_json_show_control_characters_escaped(site):
    table = kqc("batch", BATCH, cwd=site)
    assert table.returncode == 1, table.stderr
    assert_no_raw_control(table.stdout)
    assert "S1\\x1b[2J\\u009bx\\u2066" in table.stdout
    assert "Ac\\x1b]0;owned\\x07me" in table.stdout
    as_json = kqc("batch", BATCH, "--format", "json", cwd=site)
    assert_no_raw_control(as_json.stdout)
    [whole] = json.loads(as_json.stdout)
    assert {r["sample_id"] for r in whole["results"]} == {SAMPLE}
    assert {r["lab_id"] for r in whole["results"]} == {LAB}


def test_a_rejected_file_s_reasons_are_shown_escaped(tmp_path):
    bad = hostile_file().replace(b"Mitragynine", "Mitra\x1b[5mgynin\u009b".encode())
    (tmp_path / "bad.csv").write_bytes(bad)
    table = kqc("ingest", "bad.csv", cwd=tmp_path)
    assert table.returncode == 1
    assert "rejected" in table.stdout
    assert_no_raw_control(table.stdout + table.stderr)
    errors = (tmp_path / "quarantine" / "bad.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "\x1b" in errors  # the errors file quotes the cell as it is
    (tmp_path / "bad2.csv").write_bytes(bad.replace(b"S1", b"S2"))
    as_json = kqc("ingest", "bad2.csv", "--json", cwd=tmp_path)
    assert_no_raw_control(as_json.stdout)
    assert json.loads(as_json.stdout)["status"] == "rejected"


def test_csv_on_stdout_is_made_inert_like_an_exported_file(site):
    done = kqc("flags", "--format", "csv", cwd=site)
    assert done.returncode == 1
    batches = {row["batch_id"] for row in csv.DictReader(io.StringIO(done.stdout))}
    assert '\'=HYPERLINK("http://x")' in batches
    assert "'＝SUM(1)" in batches
    assert not any(b.startswith(("=", "＝", "+", "-", "@")) for b in batches)
    exported = site / "flags.csv"
    assert kqc("flags", "--out", str(exported), cwd=site).returncode == 1
    assert exported.read_text(encoding="utf-8-sig") == done.stdout


def test_thresholds_csv_on_stdout_is_made_inert(tmp_path):
    import polars as pl

    from kqc.schemas.thresholds import load_thresholds

    frame, _ = load_thresholds()
    house = tmp_path / "house.csv"
    frame.with_columns(source=pl.lit(" =cmd|' /C calc'!A0")).write_csv(house)
    done = kqc("thresholds", "--format", "csv", cwd=tmp_path, env={"KQC_THRESHOLDS": str(house)})
    assert done.returncode == 0, done.stderr
    sources = {row["source"] for row in csv.DictReader(io.StringIO(done.stdout))}
    assert sources == {"' =cmd|' /C calc'!A0"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B1", "B1"),
        ("B1\x1b[31m", "B1\\x1b[31m"),
        ("\x07\x7f", "\\x07\\x7f"),
        ("a\u009bb", "a\\u009bb"),
        ("\u202aA\u202b\u202c\u202d\u202e", "\\u202aA\\u202b\\u202c\\u202d\\u202e"),
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
        ("µg/g — Ré", "µg/g — Ré"),
        ("C:\\lab", "C:\\lab"),
    ],
)
def test_shown(text, expected):
    assert shown(text) == expected
    assert shown(shown(text)) == shown(text)  # text already shown is left as it is


@pytest.mark.parametrize("name", ["a\x1bb.csv", "r\u202egpj.csv", "C:\\x.csv", "\udcff.csv", "ok"])
def test_faithful_shown_is_printable_name(name):
    assert shown(name, faithful=True) == printable_name(name)


def test_json_safe_escapes_what_json_dumps_leaves_raw():
    document = json.dumps({"batch": "B1\u009b\u202e\x7f", "µ": "ok"}, ensure_ascii=False)
    assert RAW.search(document)  # json.dumps leaves these raw
    safe = json_safe(document)
    assert_no_raw_control(safe)
    assert json.loads(safe) == json.loads(document)
    assert "µ" in safe
