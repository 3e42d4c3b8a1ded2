"""`kqc` as a script runs it: real processes with stdout piped, on copies of
the demo database. Every `--format` parses as what it says (json one
document, jsonl one object a line, csv one table); exit codes are pinned per
command for a missing database, a bad option, success and a finding; a piped
table keeps every cell whole; and a QA decision reaches the regulators'
snapshot at once, without disturbing a regulator who holds it open."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.cli.test_cli import KQC, kqc
from tests.conftest import copy_demo
from tests.signers import PASSWORD, dismiss_for_good, signer

SNAPSHOT = "kqc.snapshot.duckdb"
SETTLED = "KR-2605-A"


@pytest.fixture(scope="module")
def demo_db(demo_folder, tmp_path_factory) -> Path:
    """One copy of the demo for the tests that only read it."""
    return copy_demo(demo_folder, tmp_path_factory.mktemp("scripting"))


@pytest.fixture(scope="module")
def settled_db(demo_folder, tmp_path_factory) -> Path:
    """A copy of the demo where QA has dismissed every flag of SETTLED: a
    batch with nothing left to act on, whatever limits the demo meets."""
    db = copy_demo(demo_folder, tmp_path_factory.mktemp("settled"))
    for flag_id in open_flag_ids(db, SETTLED):
        dismiss_for_good(db, flag_id, "retested by a second lab")
    assert not open_flag_ids(db, SETTLED)
    return db


@pytest.fixture
def own_db(demo_folder, tmp_path) -> Path:
    """A private copy (database, snapshot, heads, archive) for a test that
    writes, with two console users to sign (q.lead and r.other, approvers)."""
    db = copy_demo(demo_folder, tmp_path)
    signer(db, "q.lead")
    signer(db, "r.other")
    return db


def severity(db: Path, flag_id: str) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        (found,) = con.execute("SELECT severity FROM flags WHERE flag_id = ?", [flag_id]).fetchone()
    return str(found)


def open_flag_ids(db: Path, batch_id: str | None = None) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "SELECT flag_id FROM flags WHERE status = 'open' AND batch_id = coalesce(?, batch_id)"
            " ORDER BY flag_id",
            [batch_id],
        ).fetchall()
    return [flag_id for (flag_id,) in found]


def one_sentence(done: subprocess.CompletedProcess) -> str:
    assert done.stderr.startswith("kqc: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


# --- formats ---------------------------------------------------------------


def test_flags_json_is_read_whole_through_a_pipe(demo_db, tmp_path):
    """The tester's own command line, as a shell runs it."""
    reader = "import json,sys; rows = json.load(sys.stdin); print(len(rows), type(rows).__name__)"
    pipeline = (
        f"{shlex.join([*KQC, 'flags', '--db', str(demo_db), '--format', 'json'])}"
        f" | {shlex.join([sys.executable, '-c', reader])}"
    )
    env = {k: v for k, v in os.environ.items() if k != "KQC_DB"}
    done = subprocess.run(
        pipeline, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    count, kind = done.stdout.split()
    assert kind == "list" and int(count) == len(
        kqc("flags", "--db", str(demo_db), "--format", "jsonl", cwd=tmp_path).stdout.splitlines()
    )
    assert int(count) > 20  # every flag, not a page


@pytest.mark.parametrize("command", [["flags"], ["flags", "--status", "dismissed"], ["thresholds"]])
def test_listings_in_every_format_hold_the_same_rows(demo_db, tmp_path, command):
    # thresholds reads no database: only the others are given one
    where = [] if command == ["thresholds"] else ["--db", str(demo_db)]

    def listed(fmt: str) -> subprocess.CompletedProcess:
        done = kqc(*command, *where, "--format", fmt, cwd=tmp_path)
        assert done.returncode in (0, 1) and done.stderr == "", done.stderr
        return done

    as_json = json.loads(listed("json").stdout)
    assert isinstance(as_json, list)
    lines = [json.loads(line) for line in listed("jsonl").stdout.splitlines()]
    assert lines == as_json and all(isinstance(line, dict) for line in lines)
    rows = list(csv.DictReader(io.StringIO(listed("csv").stdout)))
    assert len(rows) == len(as_json)
    if as_json:
        assert list(rows[0]) == list(as_json[0])
    table = listed("table").stdout
    assert table.strip() and not table.lstrip().startswith(("[", "{"))


def test_no_flag_is_an_empty_array(demo_db, tmp_path):
    done = kqc(
        "flags", "--db", str(demo_db), "--batch", "NO-SUCH", "--format", "json", cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (0, "[]\n")
    lines = kqc(
        "flags", "--db", str(demo_db), "--batch", "NO-SUCH", "--format", "jsonl", cwd=tmp_path
    )
    assert (lines.returncode, lines.stdout) == (0, "")


def test_a_dossier_in_every_format(demo_db, tmp_path):
    def shown(fmt: str) -> str:
        done = kqc("batch", "KR-2611-B", "--db", str(demo_db), "--format", fmt, cwd=tmp_path)
        assert done.returncode == 1 and done.stderr == "", done.stderr  # open flags
        return done.stdout

    [whole] = json.loads(shown("json"))  # one document, an array: the dossier
    assert list(whole) == ["batch", "results", "statistics", "flags", "reviews"]
    lines = [json.loads(line) for line in shown("jsonl").splitlines()]
    by_section: dict[str, list[dict]] = {}
    for line in lines:
        by_section.setdefault(line.pop("section"), []).append(line)
    assert by_section["batch"] == [whole["batch"]]
    for name in ("results", "statistics", "flags"):
        assert by_section[name] == whole[name], name
    table = list(csv.DictReader(io.StringIO(shown("csv"))))
    assert next(iter(table[0])) == "section"
    for name in ("batch", "results", "statistics", "flags"):
        rows = [row for row in table if row["section"] == name]
        assert len(rows) == len(by_section[name]), name
    result = next(row for row in table if row["section"] == "results")
    assert result["reported_result"] and result["sample_id"] and result["analyte"]
    assert all(row["reported_result"] == "" for row in table if row["section"] == "flags")


# --- exit codes ------------------------------------------------------------

REVIEW = ["--decision", "confirm", "--reviewer", "q.lead"]
READS_THE_DATABASE = {
    "flags": ["flags"],
    "batch": ["batch", "KR-2611-B"],
    "review": ["review", "0001", *REVIEW],
    "report": ["report", "--out", "r.html"],
    "verify": ["verify"],
    "publish": ["publish"],
}


@pytest.mark.parametrize("command", list(READS_THE_DATABASE))
def test_a_missing_database_exits_2(tmp_path, command):
    done = kqc(*READS_THE_DATABASE[command], "--db", "none.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert one_sentence(done).startswith(f"kqc: no database at {tmp_path / 'none.duckdb'}: ")
    assert list(tmp_path.iterdir()) == []  # nothing was created on the way


@pytest.mark.parametrize("command", ["flags", "batch", "verify"])
def test_a_missing_database_named_by_kqc_db_exits_2(tmp_path, command):
    args = READS_THE_DATABASE[command]
    done = kqc(*args, cwd=tmp_path, env={"KQC_DB": str(tmp_path / "gone.duckdb")})
    assert done.returncode == 2 and "no database at" in one_sentence(done)


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "--db", "nowhere/x.duckdb"],
        ["watch", "--db", "nowhere/x.duckdb"],
        ["flags", "--db", "nowhere/x.duckdb"],
    ],
)
def test_a_database_in_a_missing_folder_exits_2(tmp_path, args):
    done = kqc(*args, cwd=tmp_path)
    assert done.returncode == 2 and "does not exist" in one_sentence(done)


@pytest.mark.parametrize(
    "args",
    [
        *([command, "--bogus"] for command in ("ingest", "watch", "thresholds", "demo")),
        *([*args, "--bogus"] for args in READS_THE_DATABASE.values()),
        ["flags", "--format", "xml"],
        ["batch", "KR-2611-B", "--format", "xml"],
        ["thresholds", "--format", "xml"],
        ["flags", "--limit", "many"],
        ["flags", "--limit", "-1"],
        ["flags", "--status", "opne"],
        ["flags", "--db"],
        ["batch"],
        ["review", "--decision", "confirm"],
        ["review", "0001", "--decision", "maybe", "--reviewer", "q.lead"],
        ["report"],
        ["verify", "--expect", "not-a-head"],
        ["thresholds", "--profile", "XX"],
        ["frobnicate"],
    ],
    ids=" ".join,
)
def test_a_bad_option_exits_2(demo_db, tmp_path, args):
    takes_db = args[0] in READS_THE_DATABASE and "--db" not in args
    done = kqc(*args, *(["--db", str(demo_db)] if takes_db else []), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    one_sentence(done)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["flags"], 1),  # open flags: someone must act
        (["flags", "--batch", SETTLED], 0),  # every flag decided: nothing to act on
        (["flags", "--format", "json"], 1),
        (["flags", "--batch", SETTLED, "--format", "csv"], 0),
        (["batch", "KR-2611-B"], 1),
        (["batch", SETTLED], 0),
        (["batch", "KR-2611-B", "--format", "jsonl"], 1),
        (["batch", SETTLED, "--format", "json"], 0),
        (["report", "--out", "r.html"], 0),
        (["verify"], 0),
        (["publish"], 0),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_success_and_findings(settled_db, tmp_path, args, code):
    done = kqc(*args, "--db", str(settled_db), cwd=tmp_path)
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stderr == ""


def test_a_review_exits_0_and_a_broken_chain_exits_1(own_db):
    flag_id = open_flag_ids(own_db)[0]
    done = kqc("review", flag_id, *REVIEW, "--db", str(own_db), cwd=own_db.parent, stdin=PASSWORD)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    with duckdb.connect(str(own_db)) as con:
        con.execute("UPDATE flag_reviews SET note = 'edited by hand'")
    broken = kqc("verify", "--db", str(own_db), cwd=own_db.parent)
    assert broken.returncode == 1 and "BROKEN" in broken.stdout


# --- piped tables ----------------------------------------------------------

LONG_BATCH = "KR-" + "-".join(f"LOT{n:02d}" for n in range(30))  # 182 characters
LONG_NAME = "certificate-of-analysis-" + "-".join(f"part{n:02d}" for n in range(20)) + ".csv"


def test_piped_tables_keep_every_cell_whole(tmp_path):
    (tmp_path / LONG_NAME).write_text(
        "Lab,Batch,Sample,Analyte,Result,Unit\n"
        f"Acme,{LONG_BATCH},S1,Mitragynine,1.42,%\n"
        f"Acme,{LONG_BATCH},S1,Lead,250,ppb\n"
    )
    ingested = kqc("ingest", LONG_NAME, cwd=tmp_path, env={"COLUMNS": "80"})
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    assert LONG_NAME in ingested.stdout and f"archive/{LONG_NAME}" in ingested.stdout
    assert "…" not in ingested.stdout
    flag_table = kqc("flags", cwd=tmp_path, env={"COLUMNS": "80"})
    assert flag_table.returncode == 1
    listed = json.loads(kqc("flags", "--format", "json", cwd=tmp_path).stdout)
    assert listed
    for flag in listed:  # each flag on one line, its message whole
        line = next(ln for ln in flag_table.stdout.splitlines() if ln.startswith(flag["flag_id"]))
        assert LONG_BATCH in line and line.rstrip().endswith(flag["message"])
    dossier = kqc("batch", LONG_BATCH, cwd=tmp_path, env={"COLUMNS": "80"})
    assert dossier.stdout.startswith(LONG_BATCH) and "…" not in dossier.stdout
    assert max(len(line) for line in flag_table.stdout.splitlines()) > 200


# --- the snapshot after a decision -----------------------------------------

# A regulator's session: opens the snapshot, reads, waits for a line on stdin,
# then reads again on the same connection.
REGULATOR = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
def seen():
    reviews = con.execute("SELECT count(*) FROM flag_reviews").fetchone()[0]
    opened = con.execute("SELECT count(*) FROM flags WHERE status = 'open'").fetchone()[0]
    return f"{reviews} {opened}"
print(seen(), flush=True)
sys.stdin.readline()
print(seen(), flush=True)
"""


def snapshot_seen(snapshot: Path, flag_ids: list[str]) -> tuple[list[tuple], list[str]]:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        reviews = con.execute(
            "SELECT flag_id, decision, reviewer, note FROM flag_reviews ORDER BY flag_id"
        ).fetchall()
        statuses = [
            con.execute("SELECT status FROM flags WHERE flag_id = ?", [f]).fetchone()[0]
            for f in flag_ids
        ]
    return reviews, statuses


def test_reviews_reach_the_snapshot_at_once_and_a_reader_is_left_alone(own_db):
    snapshot = own_db.with_name(SNAPSHOT)
    first, second = open_flag_ids(own_db)[:2]
    assert snapshot_seen(snapshot, [first, second]) == ([], ["open", "open"])
    regulator = subprocess.Popen(
        [sys.executable, "-c", REGULATOR, str(snapshot)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert regulator.stdout is not None and regulator.stdin is not None
        before = regulator.stdout.readline().split()
        decisions = [
            (first, REVIEW, (first, "confirm", "q.lead", None), "confirmed"),
            (
                second,
                ["--decision", "dismiss", "--reviewer", "r.other", "--note", "retested"],
                (second, "dismiss", "r.other", "retested"),
                # A critical or major finding's dismissal waits for a second person.
                "open" if severity(own_db, second) in ("critical", "major") else "dismissed",
            ),
        ]
        reviews: list[tuple] = []
        statuses = ["open", "open"]
        for n, (flag_id, options, review, status) in enumerate(decisions):
            started = time.monotonic()
            done = kqc(
                "review", flag_id, *options, "--db", str(own_db), cwd=own_db.parent, stdin=PASSWORD
            )
            assert done.returncode == 0 and done.stderr == "", done.stderr
            reviews.append(review)
            statuses[n] = status
            while (seen := snapshot_seen(snapshot, [first, second])) != (reviews, statuses):
                assert time.monotonic() - started < 5, seen
                time.sleep(0.1)
            assert time.monotonic() - started < 5  # from the command's start, its process too
        # The regulator's open session still reads its own snapshot, whole.
        regulator.stdin.write("again\n")
        regulator.stdin.flush()
        assert regulator.stdout.readline().split() == before
        assert regulator.wait(timeout=30) == 0
    finally:
        regulator.kill()
        regulator.wait()
    # The heads beside the snapshot pin the chain with both decisions in it.
    heads = json.loads(own_db.with_name("kqc.heads.json").read_text())["heads"]
    with duckdb.connect(str(own_db), read_only=True) as con:
        last = con.execute("SELECT max(review_id) FROM flag_reviews").fetchone()[0]
    assert heads["flag_reviews"]["id"] == last
    assert kqc("verify", "--db", str(own_db), cwd=own_db.parent).returncode == 0


def test_a_snapshot_that_cannot_be_renewed_keeps_the_decision_and_says_so(own_db):
    snapshot = own_db.with_name(SNAPSHOT)
    snapshot.unlink()
    snapshot.mkdir()  # a folder in its place: the renewal cannot rename over it
    (snapshot / "keep").write_text("a folder someone made")
    flag_id = open_flag_ids(own_db)[0]
    done = kqc("review", flag_id, *REVIEW, "--db", str(own_db), cwd=own_db.parent, stdin=PASSWORD)
    assert done.returncode == 1
    assert f"{flag_id} (" in done.stdout and "confirmed by q.lead" in done.stdout
    said = one_sentence(done)
    assert f"the decision on flag {flag_id} is recorded" in said
    assert f"snapshot for regulators {snapshot} is now stale" in said
    assert f"run `kqc publish --db {own_db}`" in said
    with duckdb.connect(str(own_db), read_only=True) as con:
        assert con.execute("SELECT status FROM flags WHERE flag_id = ?", [flag_id]).fetchone() == (
            "confirmed",
        )
    assert [p.name for p in own_db.parent.glob(".kqc.snapshot*")] == []  # no leftover
    # Fixed as the sentence says, the snapshot shows the decision.
    (snapshot / "keep").unlink()
    snapshot.rmdir()
    assert kqc("publish", "--db", str(own_db), cwd=own_db.parent).returncode == 0
    assert snapshot_seen(snapshot, [flag_id])[1] == ["confirmed"]
