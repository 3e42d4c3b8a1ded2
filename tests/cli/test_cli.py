"""The `kqc` command as a person runs it: a real process, real files, exit
codes pinned, and never a traceback on stderr."""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.signers import PASSWORD, signer

KQC = [sys.executable, "-m", "kqc"]
CLEAN = (
    b"Lab,Batch,Sample,Analyte,Result,Unit\n"
    b"Acme,B1,S1,Mitragynine,1.42,%\n"
    b"Acme,B1,S1,Lead,250,ppb\n"
)
BAD = b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B1,S1,Mitragynin,1.42,%\n"


def kqc(
    *args: str, cwd: Path, env: dict | None = None, stdin: str = ""
) -> subprocess.CompletedProcess:
    """`kqc ARGS` as a process; `stdin` is what it reads (a signer's password)."""
    full_env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    full_env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **(env or {})})
    done = subprocess.run(
        [*KQC, *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout, done.stdout
    return done


def test_ingest_json_and_exit_codes(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.csv").write_bytes(CLEAN)
    (inbox / "bad.csv").write_bytes(BAD)
    done = kqc("ingest", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    by_file = {line["file"]: line for line in lines}
    assert by_file["good.csv"]["status"] == "ingested"
    assert by_file["good.csv"]["rows"] == 2
    assert by_file["bad.csv"]["status"] == "rejected"
    assert by_file["bad.csv"]["errors"] == 1
    for line in lines:
        assert set(line) >= {"file", "sha256", "status", "rows", "errors"}
        assert len(line["sha256"]) == 64
    assert done.stderr == ""
    with duckdb.connect(str(tmp_path / "kqc.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM results").fetchone() == (2,)


def test_clean_ingest_exits_zero_and_duplicate_too(tmp_path):
    (tmp_path / "a.csv").write_bytes(CLEAN)
    assert kqc("ingest", "a.csv", "--db", "x.duckdb", cwd=tmp_path).returncode == 0
    (tmp_path / "b.csv").write_bytes(CLEAN)
    done = kqc("ingest", "b.csv", "--db", "x.duckdb", "--json", cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout)["status"] == "duplicate"


def test_kqc_db_environment_variable(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "a.csv").write_bytes(CLEAN)
    done = kqc("ingest", "a.csv", cwd=tmp_path, env={"KQC_DB": str(tmp_path / "data" / "q.duckdb")})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "q.duckdb").exists()
    assert (tmp_path / "data" / "archive" / "a.csv").read_bytes() == CLEAN


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ingest", "nowhere.csv"], "no such file or folder"),
        (["ingest", "--db", "missing/dir/x.duckdb"], "does not exist"),
        (["ingest", "--bogus"], "--bogus"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_usage_is_one_sentence_and_exit_2(tmp_path, args, fragment):
    done = kqc(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_demo_runs_and_says_where_to_look(tmp_path):
    done = kqc("demo", "--dir", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Database:" in done.stdout
    assert done.stderr == ""
    db = tmp_path / "demo" / "kqc.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = dict(
            con.execute("SELECT status, count(*) FROM source_files GROUP BY 1").fetchall()
        )
        batches = con.execute("SELECT count(*) FROM batches").fetchone()
    assert statuses["ingested"] >= 3 and statuses["rejected"] >= 1
    assert batches == (13,)
    assert "FAIL" in done.stdout and "PASS" in done.stdout

    # The flags QA reads: exit 1 while any is open; filters; machine formats.
    listed = kqc("flags", "--db", str(db), "--format", "json", cwd=tmp_path)
    assert listed.returncode == 1, listed.stderr
    rows = json.loads(listed.stdout)  # one JSON document: an array of flags
    assert {r["rule"] for r in rows} >= {"heavy_metal", "content_uniformity", "potency_drift"}
    one = kqc("flags", "--db", str(db), "--batch", "KR-2611-G", "--format", "csv", cwd=tmp_path)
    assert one.stdout.count("\n") == 2 and "potency_drift" in one.stdout
    clean = kqc("flags", "--db", str(db), "--batch", "KR-2611-A", cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout
    bad = kqc("flags", "--db", str(db), "--status", "opne", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown status 'opne'" in bad.stderr

    # A QA decision, signed by a console user: unknown flag and a dismissal
    # without a reason are usage errors.
    flag_id = next(r["flag_id"] for r in rows if r["batch_id"] == "KR-2611-G")
    signer(db, "q.lead")
    signer(db, "r.other")
    base = ("review", "--db", str(db), "--reviewer", "q.lead")
    missing = kqc(*base, "0000", "--decision", "confirm", cwd=tmp_path, stdin=PASSWORD)
    assert missing.returncode == 2 and "no flag 0000" in missing.stderr
    silent = kqc(*base, flag_id, "--decision", "dismiss", cwd=tmp_path, stdin=PASSWORD)
    assert silent.returncode == 2 and "needs a reason" in silent.stderr
    assert silent.stderr.count("\n") == 1
    dismissed = kqc(
        *base, flag_id, "--decision", "dismiss", "--note", "new chart", cwd=tmp_path, stdin=PASSWORD
    )
    assert dismissed.returncode == 0 and "dismissed by q.lead" in dismissed.stdout
    # A major finding's dismissal waits for a second approver's verification.
    after = kqc("flags", "--db", str(db), "--batch", "KR-2611-G", "--format", "csv", cwd=tmp_path)
    assert after.returncode == 1 and ",open," in after.stdout
    verified = kqc(
        "review", flag_id, "--db", str(db), "--decision", "verify", "--reviewer", "r.other",
        cwd=tmp_path, stdin=PASSWORD,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    after = kqc("flags", "--db", str(db), "--batch", "KR-2611-G", "--format", "csv", cwd=tmp_path)
    assert after.returncode == 0 and ",dismissed," in after.stdout

    # A second demo replaces the first one cleanly.
    assert kqc("demo", "--dir", "demo", cwd=tmp_path).returncode == 0


def test_thresholds_lists_limits_with_sources(tmp_path):
    done = kqc("thresholds", "--profile", "GA", "--format", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("rule,analyte,limit_value,unit,basis")
    assert any("label_claim,mitragynine,150.0,mg/serving,per_serving" in x for x in lines)
    assert all(",GA," in x for x in lines[1:]) and len(lines) == 4
    unknown = kqc("thresholds", "--profile", "XX", cwd=tmp_path)
    assert unknown.returncode == 2 and "use one of" in unknown.stderr


def test_broken_house_thresholds_stop_ingest_before_any_file_moves(tmp_path):
    house = tmp_path / "house.csv"
    house.write_text("rule,analyte\nheavy_metal,lead\n")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "good.csv").write_bytes(CLEAN)
    done = kqc("ingest", cwd=tmp_path, env={"KQC_THRESHOLDS": str(house)})
    assert done.returncode == 2
    assert "lacks the column(s) limit_value" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert (tmp_path / "inbox" / "good.csv").exists()
    assert not (tmp_path / "kqc.duckdb").exists()


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    done = kqc("demo", "--dir", "mine", cwd=tmp_path)
    assert done.returncode == 2
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"


def test_lab_text_prints_as_written_never_as_terminal_markup(tmp_path):
    # Square brackets are markup to a rich console: a lab's "[red]" in a file
    # name or a batch id must reach the terminal as the lab wrote it.
    (tmp_path / "[red]acme[bold].csv").write_bytes(CLEAN.replace(b"B1", b"[bold]B1[/bold]"))
    done = kqc("ingest", "[red]acme[bold].csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[red]acme[bold].csv" in done.stdout
    listed = kqc("flags", "--batch", "[bold]B1[/bold]", cwd=tmp_path)
    assert listed.returncode == 1
    assert "[bold]B1[/bold]" in listed.stdout
