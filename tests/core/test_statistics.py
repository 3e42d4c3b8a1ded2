"""A batch's statistics (core/rules/statistics.py): the figures each rule
computes, worked by hand in the comments, and agreement with the findings the
rules raise on the same evidence. Non-detects are bounds, never zeros."""

from __future__ import annotations

import math

import polars as pl
import pytest

from kqc.core.rules import dose
from kqc.core.rules.evaluate import HISTORY_COLUMNS, batch_findings
from kqc.core.rules.frames import STATISTICS_SCHEMA
from kqc.core.rules.statistics import batch_statistics, worst_per_limit
from tests.core.rules.helpers import batch, nd, register, result, thresholds

OH = "7_hydroxymitragynine"
NO_HISTORY = pl.DataFrame(schema=dict.fromkeys(HISTORY_COLUMNS, pl.String)).with_columns(
    pl.col("mean_value").cast(pl.Float64)
)


def stats(results, reg, history=NO_HISTORY) -> pl.DataFrame:
    return batch_statistics("B1", pl.DataFrame(results), reg, thresholds(), history)


def one(frame: pl.DataFrame, **where) -> dict:
    found = frame.filter(*[pl.col(k) == v for k, v in where.items()])
    assert found.height == 1, f"expected one row for {where}, got {found}"
    return found.row(0, named=True)


def per_unit(value, unit_no):
    return result(analyte="mitragynine", value=value, unit="mg/unit", unit_no=str(unit_no))


# capsules: 100 mg claimed per serving of 2 capsules -> 50 mg per capsule is 100 %
CAPSULES = register(form="capsule", label_claim_mg_per_serving=100.0, units_per_serving=2)


def test_content_uniformity_figures_are_usp_905_and_the_rule_agrees():
    # Nine capsules at 50 mg (100 %) and one at 60 mg (120 %): mean 102 %,
    # SD sqrt((9 x 2^2 + 18^2) / 9) = sqrt(40) = 6.3246, M = 101.5 (mean above
    # 101.5), AV = |101.5 - 102| + 2.4 x 6.3246 = 15.679 > L1 15: fails.
    rows = [per_unit(50.0, i) for i in range(1, 10)] + [per_unit(60.0, 10)]
    found = stats(rows, CAPSULES).filter(pl.col("rule") == "content_uniformity")
    assert one(found, statistic="units")["value"] == 10
    assert one(found, statistic="mean")["value"] == pytest.approx(102.0)
    assert one(found, statistic="SD")["value"] == pytest.approx(math.sqrt(40))
    assert one(found, statistic="highest unit")["value"] == pytest.approx(120.0)
    assert one(found, statistic="k")["value"] == 2.4
    assert one(found, statistic="M")["value"] == 101.5
    av = one(found, statistic="acceptance value")
    assert av["value"] == pytest.approx(0.5 + 2.4 * math.sqrt(40))
    assert (av["limit_value"], av["verdict"]) == (15.0, "fail")
    assert av["ratio_to_limit"] == pytest.approx(av["value"] / 15.0)
    # the very figure the rule's finding reports
    finding = dose.content_uniformity(batch(rows, CAPSULES), thresholds())[0]
    assert finding.observed == pytest.approx(av["value"])


def test_few_units_are_judged_by_rsd_not_by_av():
    # 5 capsules: 100, 100, 100, 100, 120 % -> mean 104, SD sqrt(320/4) = 8.944,
    # RSD 8.6 % > 6 %: fails; no acceptance value below ten units.
    rows = [per_unit(50.0, i) for i in range(1, 5)] + [per_unit(60.0, 5)]
    found = stats(rows, CAPSULES).filter(pl.col("rule") == "content_uniformity")
    rsd = one(found, statistic="RSD")
    assert rsd["value"] == pytest.approx(math.sqrt(80) / 104 * 100)
    assert (rsd["limit_value"], rsd["verdict"]) == (6.0, "fail")
    assert found.filter(pl.col("statistic") == "acceptance value").is_empty()


@pytest.mark.parametrize(
    ("mg_per_g", "percent", "upper_verdict"),
    [
        (20.0, 100.0, "pass"),  # 20 mg/g x 5 g = 100 mg of a 100 mg claim
        (22.1, 110.5, "fail"),  # 22.1 x 5 = 110.5 mg: above 110 %
    ],
)
def test_label_claim_per_serving_and_the_band(mg_per_g, percent, upper_verdict):
    rows = [result(analyte="mitragynine", value=mg_per_g, unit="mg/g")]
    found = stats(rows, register()).filter(pl.col("rule") == "label_claim")
    assert one(found, statistic="mean per serving", unit="mg/serving")["value"] == pytest.approx(
        percent
    )
    assert one(found, statistic="label claim")["value"] == 100.0
    lower = one(found, statistic="% of label claim", limit_value=90.0)
    upper = one(found, statistic="% of label claim", limit_value=110.0)
    assert lower["value"] == upper["value"] == pytest.approx(percent)
    assert (lower["verdict"], upper["verdict"]) == ("pass", upper_verdict)
    assert lower["ratio_to_limit"] is None  # a ratio only means something for an upper limit
    assert upper["ratio_to_limit"] == pytest.approx(percent / 110)


def test_seven_oh_share_and_per_serving():
    # One sample: mitragynine 10, speciogynine 2, 7-OH 0.3 mg/g -> share
    # 0.3 / 12.3 = 2.439 % > 2 %: fails. In GA: 0.3 mg/g x 5 g = 1.5 mg per
    # serving > 1 mg: fails.
    rows = [
        result(analyte="mitragynine", value=10.0, unit="mg/g"),
        result(analyte="speciogynine", value=2.0, unit="mg/g"),
        result(analyte=OH, value=0.3, unit="mg/g"),
    ]
    found = stats(rows, register(markets="GA")).filter(pl.col("rule") == "7oh_ratio")
    share = found.filter(pl.col("statistic") == "share of alkaloids")
    assert share["value"].to_list() == [pytest.approx(0.3 / 12.3 * 100)]
    assert share["verdict"].to_list() == ["fail"]
    serving = one(found, statistic="per serving")
    assert serving["value"] == pytest.approx(1.5)
    assert (serving["unit"], serving["limit_value"], serving["verdict"]) == (
        "mg/serving",
        1.0,
        "fail",
    )


def test_a_non_detect_is_its_bound_with_its_qualifier_never_zero():
    # Lead <LOQ 0.005 ug/g: at most 0.005 per g, and 0.005 x (5 g x 2 a day) =
    # 0.05 ug per day; both below their limits, so both pass. Mercury 'ND' with
    # no LOQ proves nothing: no value, inconclusive.
    rows = [
        nd("lead", 0.005),
        result(analyte="mercury", value=None, qualifier="not_detected", reported_result="ND"),
    ]
    found = stats(rows, register())
    per_g = one(found, analyte="lead", statistic="per g", limit_value=1.2)
    assert (per_g["value"], per_g["qualifier"], per_g["verdict"]) == (0.005, "<LOQ", "pass")
    assert "at most" in per_g["note"]
    per_day = one(found, analyte="lead", statistic="per day")
    assert per_day["value"] == pytest.approx(0.05)
    assert per_day["qualifier"] == "<LOQ"
    mercury = found.filter((pl.col("analyte") == "mercury") & (pl.col("statistic") == "per g"))
    assert mercury["value"].to_list() == [None]
    assert mercury["verdict"].to_list() == ["inconclusive"]
    censored = found.filter(pl.col("qualifier").is_not_null())
    assert not censored.is_empty() and (censored["value"].fill_null(1.0) > 0).all()


def history(points: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [("P1", b, made, "mg/g", mean) for b, made, mean in points],
        schema=list(HISTORY_COLUMNS),
        orient="row",
    )


def test_potency_drift_against_earlier_batches_only():
    # Earlier batches 10, 10.2, 9.8, 10, 10.2, 9.8 mg/g: mean 10, SD
    # sqrt(0.16 / 5) = 0.17889; this batch 11 mg/g is 5.59 SD away (> 3): fails.
    # A batch made later (30 mg/g) is not part of this batch's chart.
    earlier = [10.0, 10.2, 9.8, 10.0, 10.2, 9.8]
    points = [(f"E{i}", f"2025-0{i + 1}-01", m) for i, m in enumerate(earlier)]
    points.append(("LATER", "2026-06-01", 30.0))
    rows = [result(analyte="mitragynine", value=11.0, unit="mg/g")]
    found = stats(rows, register(), history(points)).filter(pl.col("rule") == "potency_drift")
    sd = math.sqrt(0.16 / 5)
    assert one(found, statistic="earlier batches")["value"] == 6
    assert one(found, statistic="earlier mean")["value"] == pytest.approx(10.0)
    assert one(found, statistic="earlier SD")["value"] == pytest.approx(sd)
    assert one(found, statistic="upper control limit")["value"] == pytest.approx(10 + 3 * sd)
    distance = one(found, statistic="distance from earlier mean")
    assert distance["value"] == pytest.approx(1 / sd)
    assert (distance["limit_value"], distance["verdict"]) == (3.0, "fail")


def test_fewer_than_five_earlier_batches_give_no_control_limits():
    rows = [result(analyte="mitragynine", value=11.0, unit="mg/g")]
    points = [("E1", "2025-01-01", 10.0), ("E2", "2025-02-01", 10.4)]
    found = stats(rows, register(), history(points)).filter(pl.col("rule") == "potency_drift")
    assert "no control limits" in one(found, statistic="earlier batches")["note"]
    assert found.filter(pl.col("verdict").is_not_null()).is_empty()


def test_every_failing_figure_matches_a_finding_and_back():
    """The dossier cannot disagree with the flags: on one evidence, the rules
    with a failing statistic are the rules with a finding."""
    rows = [
        result(analyte="mitragynine", value=23.0, unit="mg/g"),  # 115 % of claim
        result(analyte="lead", value=1.5, unit="ug/g"),  # above 1.2 per g and 5 per day
        nd("cadmium", 0.01),
        result(analyte="tamc", value=2e5, unit="CFU/g"),  # above 10^5
        result(analyte="salmonella", value=None, qualifier="detected", unit=None),
        result(analyte="ethanol", value=100.0, unit="ug/g"),
    ]
    reg = register()
    found = stats(rows, reg)
    failing = {
        (r["rule"], r["analyte"])
        for r in found.filter(pl.col("verdict") == "fail").rows(named=True)
    }
    findings = {
        (f.rule, f.analyte)
        for f in batch_findings(batch(rows, reg), thresholds(), [])
        if f.rule not in ("missing_panel", "inconclusive", "qc_failure")
    }
    assert failing == findings
    assert failing >= {
        ("label_claim", "mitragynine"),
        ("heavy_metal", "lead"),
        ("microbial", "tamc"),
    }


def test_a_batch_without_register_or_results_has_a_typed_empty_table():
    found = stats([result(analyte="lead", value=0.1)], None)
    assert found.schema == pl.Schema(STATISTICS_SCHEMA)
    # no register: no daily intake, so per-day limits cannot be shown
    assert one(found, analyte="lead", statistic="per day")["verdict"] == "inconclusive"
    empty = batch_statistics("B1", pl.DataFrame([result()]).clear(), None, thresholds(), NO_HISTORY)
    assert empty.is_empty() and empty.schema == pl.Schema(STATISTICS_SCHEMA)


def test_worst_per_limit_keeps_the_failing_result_and_counts_the_rest():
    # tymc: one result passes (<10, at most 10), one fails (2300 > 1000 CFU/g).
    rows = [
        result(analyte="tymc", value=None, qualifier="<LOQ", loq=10.0, unit="CFU/g"),
        result(analyte="tymc", value=2300.0, unit="CFU/g", sample_id="S2"),
        result(analyte="mitragynine", value=20.0, unit="mg/g"),
    ]
    every = stats(rows, register())
    worst = worst_per_limit(every)
    tymc = one(worst, analyte="tymc", limit_value=1000.0)
    assert (tymc["sample_id"], tymc["value"], tymc["verdict"]) == ("S2", 2300.0, "fail")
    assert tymc["note"].startswith("worst of 2 results; ")
    # batch-level figures pass through in their order
    whole = every.filter(pl.col("sample_id").is_null())
    assert worst.filter(pl.col("sample_id").is_null()).equals(whole)
    assert worst.schema == every.schema
    assert worst_per_limit(every.clear()).is_empty()
