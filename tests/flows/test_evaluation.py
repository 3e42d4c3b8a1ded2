"""Evaluation inside the ingest flow, on a real DuckDB file under a real
Prefect backend: the sample set's flags against a reviewed golden file, files
arriving in any order, re-evaluation that neither duplicates a flag nor loses
a review, and a thresholds change that re-evaluates every batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kqc.flows.ingest import ingest_flow
from kqc.pipeline.evaluate import evaluate_pending
from tests.conftest import SAMPLE_DATA

pytestmark = pytest.mark.usefixtures("prefect_harness")

GOLDEN = Path(__file__).parent / "golden"
FLAG_COLUMNS = [
    "batch_id",
    "rule",
    "analyte",
    "basis",
    "profile",
    "status",
    "observed",
    "limit_value",
    "message",
]

RESULTS = (
    b"Lab,Batch,Sample,Analyte,Result,Unit,LOQ\n"
    b"Acme,B-1,S1,Mitragynine,1.40,%,0.01\n"
    b"Acme,B-1,S1,Lead,1.5,ppm,0.005\n"
    b"Acme,B-1,S1,Arsenic,0.1,ppm,0.02\n"
    b"Acme,B-1,S1,Cadmium,0.05,ppm,0.01\n"
    b"Acme,B-1,S1,Mercury,<0.005,ppm,0.005\n"
    b"Acme,B-1,S1,Salmonella,Not detected in 25 g,,\n"
    b"Acme,B-1,S1,E. coli,Absent in 10 g,,\n"
)
REGISTER = (
    b"Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),"
    b"Serving size (g),Servings per day\n"
    b"B-1,P-1,Test powder,powder,42,3,3\n"
)


def query(db: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).pl()


def flags(db: Path) -> pl.DataFrame:
    return query(db, "SELECT * FROM flags ORDER BY batch_id, rule, analyte, profile, flag_id")


def ingest(site, *files: tuple[str, bytes]):
    inbox = site.db.parent / "inbox"
    for name, data in files:
        (inbox / name).write_bytes(data)
    return ingest_flow([inbox], site)


def _golden_frame(db: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    status = query(db, "SELECT batch_id, status, open_flags FROM batch_status ORDER BY batch_id")
    found = (
        flags(db)
        .select(FLAG_COLUMNS)
        .with_columns(pl.col("observed", "limit_value").round_sig_figs(6))
        .sort(FLAG_COLUMNS, nulls_last=True)
    )
    return status, found


def test_sample_data_gives_the_reviewed_flags(site, request):
    """The demo's sample set against checked-in expectations: a change in any
    rule or threshold shows up here as a reviewable diff
    (`pytest --write-expected` rewrites the files)."""
    inbox = site.db.parent / "inbox"
    for sample in SAMPLE_DATA.iterdir():
        if sample.is_file() and not sample.name.startswith(("_", ".")):
            shutil.copyfile(sample, inbox / sample.name)
    ingest_flow([inbox], site)
    status, found = _golden_frame(site.db)
    if request.config.getoption("--write-expected"):
        GOLDEN.mkdir(exist_ok=True)
        status.write_csv(GOLDEN / "sample_data.batch_status.csv")
        found.write_csv(GOLDEN / "sample_data.flags.csv")
    expected_status = pl.read_csv(GOLDEN / "sample_data.batch_status.csv")
    expected_flags = pl.read_csv(GOLDEN / "sample_data.flags.csv", schema=found.schema)
    assert status.to_dicts() == expected_status.to_dicts()
    assert found.to_dicts() == expected_flags.to_dicts()
    # Every rule code is shown by the sample set, and some batches pass.
    rules = set(found["rule"])
    assert rules == {
        "content_uniformity",
        "label_claim",
        "potency_drift",
        "7oh_ratio",
        "synthetic_alkaloid",
        "heavy_metal",
        "microbial",
        "residual_solvent",
        "adulterant",
        "missing_panel",
        "qc_failure",
        "inconclusive",
    }
    assert {"PASS", "FAIL", "INCOMPLETE"} <= set(status["status"])


def test_every_flag_carries_what_a_reviewer_needs(site):
    ingest(site, ("results.csv", RESULTS), ("register.csv", REGISTER))
    lead = flags(site.db).filter((pl.col("rule") == "heavy_metal") & (pl.col("basis") == "per_g"))
    [row] = lead.to_dicts()
    assert row["analyte"] == "lead" and row["observed"] == 1.5 and row["limit_value"] == 1.2
    assert row["unit"] == "ug/g" and row["profile"] == "default" and row["status"] == "open"
    assert "R70-580-5" in row["source"] and row["threshold_version"].startswith("2026.11-")
    assert "1.5 ug/g" in row["message"]
    result_ids = query(site.db, "SELECT result_id FROM results WHERE analyte = 'lead'")
    assert f"[{result_ids.item()}]" in row["evidence"]
    daily = flags(site.db).filter(
        (pl.col("rule") == "heavy_metal") & (pl.col("basis") == "per_day")
    )
    # 1.5 ug/g x 3 g x 3 servings = 13.5 ug/day > 5 ug/day (USP <2232>).
    assert daily["observed"].to_list() == [13.5]


def test_register_after_results_gives_the_same_flags(site, tmp_path):
    """Results first (one run), register later (another run) ends where both
    files in one run end: no stale 'no register' finding left open."""
    ingest(site, ("results.csv", RESULTS))
    before = flags(site.db)
    assert "inconclusive" in before["rule"].to_list()  # no serving size yet
    ingest(site, ("register.csv", REGISTER))
    later = flags(site.db)

    from kqc.flows.ingest import Places

    together = Places(
        db=tmp_path / "together" / "kqc.duckdb",
        archive=tmp_path / "together" / "archive",
        quarantine=tmp_path / "together" / "quarantine",
    )
    (tmp_path / "together" / "inbox").mkdir(parents=True)
    ingest(together, ("register.csv", REGISTER), ("results.csv", RESULTS))
    both = flags(together.db)

    def still_open(frame: pl.DataFrame) -> list[tuple]:
        kept = frame.filter(pl.col("status") != "resolved")
        return sorted(kept.select("flag_id", "rule", "observed").rows())

    assert still_open(later) == still_open(both)
    stale = later.filter(pl.col("rule") == "inconclusive")
    assert set(stale["status"]) == {"resolved"}


def _review(db: Path, flag_id: str, status: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE flags SET status = ? WHERE flag_id = ?", [status, flag_id]).fetchall()


def test_reevaluation_never_duplicates_and_keeps_a_review(site):
    ingest(site, ("results.csv", RESULTS), ("register.csv", REGISTER))
    first = flags(site.db)
    lead = first.filter((pl.col("analyte") == "lead") & (pl.col("basis") == "per_g"))
    flag_id = lead["flag_id"].item()
    _review(site.db, flag_id, "confirmed")

    # New, unrelated evidence for the same batch: the lead finding is unchanged.
    extra = b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B-1,S2,Ethanol,100,ppm\n"
    ingest(site, ("extra.csv", extra))
    second = flags(site.db)
    assert second.height == first.height
    assert second["flag_id"].n_unique() == second.height
    assert second.filter(pl.col("flag_id") == flag_id)["status"].item() == "confirmed"

    # Changed evidence behind the same finding reopens it for review.
    worse = b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B-1,S3,Lead,2.5,ppm\n"
    ingest(site, ("worse.csv", worse))
    third = flags(site.db).filter(pl.col("flag_id") == flag_id)
    assert third["status"].item() == "open" and third["observed"].item() == 2.5


def test_changed_thresholds_reevaluate_every_batch(site, tmp_path, monkeypatch):
    ingest(site, ("results.csv", RESULTS), ("register.csv", REGISTER))
    assert evaluate_pending(site.db).batches == []  # nothing queued, nothing changed

    house = tmp_path / "house.csv"
    shipped = (Path(__file__).parents[2] / "schemas" / "thresholds.csv").read_text()
    # A stricter house lead limit: 1.5 ug/g now fails 1.0 as well as 1.2.
    house.write_text(
        shipped.replace(
            "heavy_metal,lead,1.2,ug/g,per_g,>=,,default",
            "heavy_metal,lead,1.0,ug/g,per_g,>=,,default",
        )
    )
    monkeypatch.setenv("KQC_THRESHOLDS", str(house))
    done = evaluate_pending(site.db)
    assert done.thresholds_changed and done.batches == ["B-1"]
    assert done.version.startswith("house-")
    limits = flags(site.db).filter(
        (pl.col("analyte") == "lead") & (pl.col("basis") == "per_g") & (pl.col("status") == "open")
    )
    assert limits["limit_value"].to_list() == [1.0]  # the same finding, judged anew
    assert set(limits["threshold_version"]) == {done.version}
    stored = query(site.db, "SELECT DISTINCT version FROM thresholds")
    assert stored["version"].to_list() == [done.version]


def _lots(batches: list[tuple[str, float]]) -> bytes:
    lines = ["Lab,Batch,Sample,Analyte,Result,Unit"]
    lines += [f"Acme,{b},{b}-S,Mitragynine,{v},mg/g" for b, v in batches]
    return ("\n".join(lines) + "\n").encode()


def test_history_arriving_late_still_flags_a_drifting_batch(site):
    """The drifting batch's own results come first; the five earlier lots of
    its product come in a later run. The later run must judge it again."""
    register = [
        "Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),"
        "Serving size (g),Servings per day,Manufactured on"
    ]
    months = ["B-01", "B-02", "B-03", "B-04", "B-05", "B-06"]
    register += [f"{b},P-9,Capsules,capsule,7,0.5,6,2026-0{i + 1}-01" for i, b in enumerate(months)]
    history = [("B-01", 14.0), ("B-02", 14.2), ("B-03", 13.9), ("B-04", 14.1), ("B-05", 14.0)]
    ingest(
        site,
        ("register.csv", ("\n".join(register) + "\n").encode()),
        ("drifted.csv", _lots([("B-06", 16.0)])),
    )
    assert "potency_drift" not in flags(site.db)["rule"].to_list()  # no history yet
    ingest(site, ("history.csv", _lots(history)))
    drift = flags(site.db).filter(pl.col("rule") == "potency_drift")
    # centre 14.04, SD 0.114 -> 16.0 is 17 SD away; limit 14.04 + 3 x 0.114 = 14.38.
    assert drift["batch_id"].to_list() == ["B-06"]
    assert drift["observed"].item() == 16.0
    assert drift["limit_value"].item() == pytest.approx(14.04 + 3 * 0.114018, abs=1e-4)


def test_a_review_is_appended_and_survives_until_the_evidence_changes(site):
    from kqc.errors import UsageError
    from kqc.store import record_review
    from tests.signers import signer

    ingest(site, ("results.csv", RESULTS), ("register.csv", REGISTER))
    lead = flags(site.db).filter((pl.col("analyte") == "lead") & (pl.col("basis") == "per_g"))
    flag_id = lead["flag_id"].item()
    reviewer = signer(site.db, "a.reviewer", "reviewer")
    with pytest.raises(UsageError, match="a dismissal needs a reason"):
        record_review(site.db, flag_id, "dismiss", reviewer, "  ")
    with pytest.raises(UsageError, match="no flag nope"):
        record_review(site.db, "nope", "confirm", reviewer, None)
    record_review(site.db, flag_id, "dismiss", reviewer, "retest on file R-7 shows 0.4 ppm")
    record_review(site.db, flag_id, "confirm", signer(site.db, "b.lead"), "retest was another lot")
    reviews = query(
        site.db, "SELECT decision, reviewer, note FROM flag_reviews ORDER BY reviewed_at"
    )
    assert reviews.rows() == [
        ("dismiss", "a.reviewer", "retest on file R-7 shows 0.4 ppm"),
        ("confirm", "b.lead", "retest was another lot"),
    ]
    # Unrelated new evidence: the decision stands. Changed evidence: reopened,
    # and the earlier decisions stay on record.
    ingest(
        site, ("extra.csv", b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B-1,S2,Ethanol,90,ppm\n")
    )
    assert flags(site.db).filter(pl.col("flag_id") == flag_id)["status"].item() == "confirmed"
    ingest(site, ("worse.csv", b"Lab,Batch,Sample,Analyte,Result,Unit\nAcme,B-1,S3,Lead,3,ppm\n"))
    assert flags(site.db).filter(pl.col("flag_id") == flag_id)["status"].item() == "open"
    assert query(site.db, "SELECT count(*) AS n FROM flag_reviews")["n"].item() == 2


def _capsule_results(batch: str, result: str, unit: str, n: int = 10) -> list[str]:
    return [f"Acme,{batch},{batch}-S{i},{i},Mitragynine,{result},{unit}" for i in range(1, n + 1)]


def test_an_amount_per_serving_of_two_capsules_is_judged_once(site):
    """mg/serving is stored as mg/unit (the contract's canonical amount per
    dosage unit), and the rules take mg/unit x units_per_serving for a
    serving: a result the lab reported per serving must not be doubled."""
    register = (
        b"Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),"
        b"Serving size (g),Servings per day,Capsules per serving\n"
        b"C-1,P-7,Two-capsule serving,capsule,100,1.0,2,2\n"
        b"C-2,P-7,Two-capsule serving,capsule,100,1.0,2,2\n"
        b"C-3,P-7,Two-capsule serving,capsule,100,1.0,2,2\n"
    )
    rows = ["Lab,Batch,Sample,Capsule,Analyte,Result,Unit"]
    rows += _capsule_results("C-1", "100", "mg/serving")  # 100 % of the claim
    rows += _capsule_results("C-2", "50", "mg/capsule")  # 50 x 2 = 100 %
    rows += _capsule_results("C-3", "100", "mg per capsule")  # 100 x 2 = 200 %
    ingest(site, ("register.csv", register), ("results.csv", ("\n".join(rows) + "\n").encode()))

    stored = query(site.db, "SELECT DISTINCT batch_id, value, unit FROM results ORDER BY 1")
    assert stored.rows() == [
        ("C-1", 100.0, "mg/unit"),
        ("C-2", 50.0, "mg/unit"),
        ("C-3", 100.0, "mg/unit"),
    ]
    claims = flags(site.db).filter(pl.col("rule") == "label_claim")
    assert claims["batch_id"].to_list() == ["C-3"]
    assert claims["observed"].item() == pytest.approx(200.0)
    # The control chart's points are per capsule, whichever way the lab wrote them.
    points = query(site.db, "SELECT batch_id, mean_value FROM batch_potency ORDER BY 1")
    assert points.rows() == [("C-1", 50.0), ("C-2", 50.0), ("C-3", 100.0)]
    # Ten servings of two capsules are not ten capsules: content uniformity
    # (USP <905>) judges C-2 and C-3, whose results are capsule by capsule.
    from kqc.core.rules.applicable import thresholds_from_rows
    from kqc.core.rules.statistics import statistic_rows
    from kqc.store import read_dossier_rows

    def statistics_of(batch: str) -> list[dict]:
        stored = read_dossier_rows(site.db, batch)
        thresholds = thresholds_from_rows(stored.thresholds)
        args = (batch, stored.current, stored.register, thresholds, stored.history)
        return statistic_rows(*args)

    one = statistics_of("C-1")
    assert not [r for r in one if r["rule"] == "content_uniformity"]
    [mean] = [r for r in one if r["rule"] == "label_claim" and r["statistic"] == "mean per serving"]
    assert mean["value"] == pytest.approx(100.0)
    assert "results reported per serving count as reported" in mean["note"]
    [two] = [
        r
        for r in statistics_of("C-2")
        if r["rule"] == "label_claim" and r["statistic"] == "mean per serving"
    ]
    assert "per serving count" not in two["note"]
    # The report's uniformity chart reads what the rule reads.
    from kqc.store.report_data import gather

    charted = gather(site.db)
    assert sorted(charted.uniformity.ids) == ["C-2", "C-3"]
    assert charted.uniformity_results["per_serving_of"].null_count() == 20
    assert [r for r in statistics_of("C-2") if r["rule"] == "content_uniformity"]
