"""Golden tests for the single-result limit rules (limits.py): heavy_metal per
gram and per day, microbial counts and presence tests, residual_solvent,
adulterant, synthetic_alkaloid, and the `inconclusive` verdict of a non-detect
whose LOQ sits above the limit. Every number below is computed by hand in the
comments against schemas/thresholds.csv."""

from __future__ import annotations

import pytest

from kqc.core.qualifiers import ABOVE_ULOQ, DETECTED, NOT_DETECTED, TNTC
from kqc.core.rules import limits
from tests.core.rules.helpers import batch, nd, only, register, result, select, thresholds


def run(results, reg=None):
    return limits.evaluate(batch(results, reg), thresholds())


# A register whose daily exposure is tiny (1 g x 1 a day): the per-day metal
# limits stay out of the way of the per-gram tests.
ONE_G_A_DAY = {"serving_size_g": 1.0, "servings_per_day": 1.0}


# --- heavy metals, per gram (Utah R70-580-5 Table 2 / RI: fails when >= limit) -----

PER_G = [  # analyte, limit ug/g, just below, just above
    ("lead", 1.2, 1.19, 1.21),
    ("arsenic", 2.0, 1.99, 2.01),
    ("cadmium", 0.82, 0.81, 0.83),
    ("mercury", 0.4, 0.39, 0.41),
]


@pytest.mark.parametrize(("analyte", "limit", "below", "above"), PER_G)
def test_metal_per_gram_exactly_at_limit_fails(analyte, limit, below, above):
    # "Pb < 1.2 ppm" is the allowed range, so 1.2 ug/g itself fails ('>=').
    found = run([result(analyte=analyte, value=limit)], register(**ONE_G_A_DAY))
    f = only(found, rule="heavy_metal", analyte=analyte, basis="per_g")
    assert f.observed == pytest.approx(limit)
    assert f.limit_value == pytest.approx(limit)
    assert f.unit == "ug/g"
    assert f.severity == "critical"
    assert f.profile == "default"
    assert not select(found, rule="inconclusive")


@pytest.mark.parametrize(("analyte", "limit", "below", "above"), PER_G)
def test_metal_per_gram_just_below_passes(analyte, limit, below, above):
    found = run([result(analyte=analyte, value=below)], register(**ONE_G_A_DAY))
    assert found == []


@pytest.mark.parametrize(("analyte", "limit", "below", "above"), PER_G)
def test_metal_per_gram_just_above_fails(analyte, limit, below, above):
    found = run([result(analyte=analyte, value=above)], register(**ONE_G_A_DAY))
    f = only(found, rule="heavy_metal", analyte=analyte, basis="per_g")
    assert f.observed == pytest.approx(above)
    assert f.limit_value == pytest.approx(limit)


def test_metal_per_gram_reports_the_worst_result_once():
    # Two lead results over 1.2: one finding, observed = max(1.3, 1.5) = 1.5.
    rows = [result(value=1.3, sample_id="S1"), result(value=1.5, sample_id="S2")]
    found = run([*rows, result(value=0.2, sample_id="S3")], register(**ONE_G_A_DAY))
    f = only(found, rule="heavy_metal", analyte="lead", basis="per_g")
    assert f.observed == pytest.approx(1.5)
    assert f.evidence["n_failing"] == 2
    assert set(f.evidence["result_ids"]) == {r["result_id"] for r in rows}


@pytest.mark.parametrize("loq", [0.5, 1.2])
def test_metal_non_detect_with_loq_at_or_below_limit_passes(loq):
    # '<LOQ' with LOQ 1.2: the true value is below 1.2, so Pb < 1.2 holds.
    assert run([nd("lead", loq)], register(**ONE_G_A_DAY)) == []


def test_metal_non_detect_bound_in_the_cell_is_used():
    # '< 0.5' carries its own bound (0.5 <= 1.2): a pass even without a LOQ column.
    row = result(value=None, qualifier="<LOQ", bound=0.5, reported_result="< 0.5")
    assert run([row], register(**ONE_G_A_DAY)) == []


def test_metal_non_detect_with_loq_above_limit_is_inconclusive():
    # '<LOQ' with LOQ 1.5 ug/g: the lead could be anywhere in [0, 1.5) -> cannot
    # show Pb < 1.2. Not a finding, not a pass.
    found = run([nd("lead", 1.5)], register(**ONE_G_A_DAY))
    assert not select(found, rule="heavy_metal")
    f = only(found, rule="inconclusive", analyte="lead", basis="per_g")
    assert f.observed is None
    assert f.limit_value == pytest.approx(1.2)
    assert f.severity == "minor"
    assert f.evidence["for_rule"] == "heavy_metal"
    # per day: 1.5 ug/g x 1 g/day = 1.5 ug/day <= 5: no per-day doubt.
    assert not select(found, basis="per_day")


def test_metal_non_detect_without_any_loq_is_inconclusive():
    found = run([nd("cadmium", None)], register(**ONE_G_A_DAY))
    assert not select(found, rule="heavy_metal")
    assert select(found, rule="inconclusive", analyte="cadmium", basis="per_g")


def test_metal_non_detect_is_never_a_zero_even_when_detected_qualifier():
    # 'detected' with no number cannot be compared with 1.2 ug/g: inconclusive.
    found = run([result(value=None, qualifier=DETECTED)], register(**ONE_G_A_DAY))
    assert not select(found, rule="heavy_metal")
    assert select(found, rule="inconclusive", analyte="lead", basis="per_g")


# --- heavy metals: profiles ---------------------------------------------------


@pytest.mark.parametrize(
    ("markets", "profile"),
    [
        (None, "default"),
        ("GA", "default"),  # Georgia has no metal limits
        ("UT", "default;UT"),
        ("ut", "default;UT"),
        ("UT;RI", "default;UT;RI"),
        # profiles are named in the thresholds file's order, whatever the register's
        # order: the same batch always gets the same flag
        ("RI, UT", "default;UT;RI"),
    ],
)
def test_identical_metal_limits_in_several_profiles_give_one_flag(markets, profile):
    # default, UT and RI all say Pb < 1.2 ug/g: judged once, named by every profile.
    reg = register(markets=markets, **ONE_G_A_DAY)
    found = run([result(value=1.2)], reg)
    f = only(found, rule="heavy_metal", analyte="lead", basis="per_g")
    assert f.profile == profile


# --- heavy metals, per day (USP <2232> PDE: fails only when > limit) -----------

# serving 4 g x 5 servings a day = 20 g of product a day
TWENTY_G_A_DAY = {"serving_size_g": 4.0, "servings_per_day": 5.0}


@pytest.mark.parametrize(
    ("analyte", "ug_per_g", "pde", "verdict"),
    [
        ("lead", 0.25, 5.0, "pass"),  # 0.25 x 20 = 5.0 ug/day, at the PDE: allowed
        ("lead", 0.24, 5.0, "pass"),  # 4.8 ug/day
        ("lead", 0.26, 5.0, "fail"),  # 5.2 ug/day
        ("cadmium", 0.25, 5.0, "pass"),  # 5.0
        ("cadmium", 0.26, 5.0, "fail"),  # 5.2
        ("arsenic", 0.75, 15.0, "pass"),  # 15.0
        ("arsenic", 0.74, 15.0, "pass"),  # 14.8
        ("arsenic", 0.76, 15.0, "fail"),  # 15.2
        ("mercury", 0.75, 15.0, "pass"),  # 15.0 (fails per gram, checked elsewhere)
        ("mercury", 0.76, 15.0, "fail"),  # 15.2
        ("nickel", 10.0, 200.0, "pass"),  # 200.0
        ("nickel", 10.1, 200.0, "fail"),  # 202.0
    ],
)
def test_metal_per_day(analyte, ug_per_g, pde, verdict):
    found = run([result(analyte=analyte, value=ug_per_g)], register(**TWENTY_G_A_DAY))
    per_day = select(found, rule="heavy_metal", analyte=analyte, basis="per_day")
    assert not select(found, rule="inconclusive")
    if verdict == "pass":
        assert per_day == []
    else:
        (f,) = per_day
        assert f.observed == pytest.approx(ug_per_g * 20)
        assert f.limit_value == pytest.approx(pde)
        assert f.unit == "ug/day"
        assert f.profile == "default"


def test_lead_at_concentration_limit_fails_both_bases():
    # 1.2 ug/g: per gram fails (>= 1.2); per day 1.2 x 20 = 24 ug/day > 5 fails.
    found = run([result(value=1.2)], register(**TWENTY_G_A_DAY))
    assert only(found, basis="per_g").observed == pytest.approx(1.2)
    f = only(found, basis="per_day")
    assert f.observed == pytest.approx(24.0)
    assert f.limit_value == pytest.approx(5.0)


def test_lead_under_concentration_limit_can_fail_the_daily_exposure():
    # 1.0 ug/g < 1.2 passes per gram; at 20 g a day it is 20 ug/day > 5.
    found = run([result(value=1.0)], register(**TWENTY_G_A_DAY))
    assert not select(found, basis="per_g")
    assert only(found, rule="heavy_metal", basis="per_day").observed == pytest.approx(20.0)


def test_per_day_non_detect_judged_by_its_loq_in_ug_per_day():
    # LOQ 0.25 ug/g x 20 g/day = 5.0 ug/day: at the PDE, a pass.
    assert run([nd("lead", 0.25)], register(**TWENTY_G_A_DAY)) == []
    # LOQ 0.3 ug/g x 20 = 6.0 ug/day > 5: per day cannot be shown; per gram 0.3 <= 1.2 passes.
    found = run([nd("lead", 0.3)], register(**TWENTY_G_A_DAY))
    assert not select(found, rule="heavy_metal")
    f = only(found, rule="inconclusive")
    assert (f.analyte, f.basis, f.limit_value) == ("lead", "per_day", 5.0)


def test_per_day_without_register_is_inconclusive_not_a_pass():
    # No serving size: ug/g cannot become ug/day. Per gram 0.1 ug/g still passes.
    found = run([result(value=0.1)], None)
    f = only(found)
    assert (f.rule, f.analyte, f.basis) == ("inconclusive", "lead", "per_day")
    assert "register" in f.message


# --- microbial counts (USP <2023> Table 2, Utah Table 1) ------------------------


@pytest.mark.parametrize(
    ("form", "analyte", "count", "limit"),
    [
        # dried/powdered botanicals: TAMC <= 1e5, TYMC <= 1e3, BTGN <= 1e3 CFU/g ('>' fails)
        ("powder", "tamc", 100_000, None),
        ("powder", "tamc", 99_999, None),
        ("powder", "tamc", 100_001, 100_000),
        # capsules, tablets and teas have their own rows: test_usp2023_forms.py
        ("powder", "tymc", 1_000, None),
        ("powder", "tymc", 1_001, 1_000),
        ("powder", "btgn", 1_000, None),
        ("powder", "btgn", 1_001, 1_000),
        # extracts: TAMC <= 1e4
        ("extract", "tamc", 10_000, None),
        ("extract", "tamc", 9_999, None),
        ("extract", "tamc", 10_001, 10_000),
        ("extract", "tymc", 1_001, 1_000),
        # no BTGN row for extracts in the default profile
        ("extract", "btgn", 5_000, None),
    ],
)
def test_microbial_counts(form, analyte, count, limit):
    found = run([result(analyte=analyte, value=float(count), unit="CFU/g")], register(form=form))
    if limit is None:
        assert found == []
    else:
        f = only(found, rule="microbial", analyte=analyte)
        assert f.observed == pytest.approx(count)
        assert f.limit_value == pytest.approx(limit)
        assert f.unit == "CFU/g"
        assert f.severity == "major"


def test_microbial_count_without_register_judged_as_powder():
    # No form known: the powder row (TAMC <= 1e5) applies, not the extract one (1e4).
    assert run([result(analyte="tamc", value=50_000.0, unit="CFU/g")]) == []
    found = run([result(analyte="tamc", value=100_001.0, unit="CFU/g")])
    assert only(found, rule="microbial").limit_value == 100_000


def test_microbial_mpn_counts_are_judged_too():
    found = run([result(analyte="tamc", value=200_000.0, unit="MPN/g")], register())
    assert only(found, rule="microbial", analyte="tamc").observed == pytest.approx(200_000)


@pytest.mark.parametrize(
    ("count", "profiles"),
    [
        (9_999, set()),  # < 1e4
        (10_000, {"UT"}),  # Utah BTGN "< 10^4": 1e4 itself fails ('>=')
        (10_001, {"UT"}),
    ],
)
def test_utah_btgn_fails_at_limit(count, profiles):
    # An extract: the default BTGN row (powders only) does not apply; Utah's applies to all forms.
    reg = register(form="extract", markets="UT")
    found = run([result(analyte="btgn", value=float(count), unit="CFU/g")], reg)
    assert {f.profile for f in select(found, rule="microbial")} == profiles
    for f in found:
        assert f.limit_value == 10_000
        assert f.observed == pytest.approx(count)


def test_utah_tamc_only_flags_above_its_own_limit():
    # Powder sold in UT: default TAMC <= 1e5, Utah TAMC <= 1e7 (two limits: two flags possible).
    reg = register(markets="UT")
    at_utah = run([result(analyte="tamc", value=1e7, unit="CFU/g")], reg)
    f = only(at_utah, rule="microbial")
    assert (f.profile, f.limit_value) == ("default", 100_000)
    above = run([result(analyte="tamc", value=1.1e7, unit="CFU/g")], reg)
    assert {(f.profile, f.limit_value) for f in above} == {("default", 1e5), ("UT", 1e7)}


def test_tntc_count_fails():
    found = run([result(analyte="tamc", value=None, qualifier=TNTC, unit="CFU/g")], register())
    f = only(found, rule="microbial", analyte="tamc")
    assert f.observed is None
    assert f.limit_value == 100_000


def test_above_range_count_fails_when_its_bound_is_over_the_limit():
    # '>300000' CFU/g: at least 3e5 > 1e5.
    row = result(analyte="tamc", value=None, qualifier=ABOVE_ULOQ, bound=300_000.0, unit="CFU/g")
    f = only(run([row], register()), rule="microbial")
    assert f.observed == pytest.approx(300_000)


def test_above_range_count_with_bound_under_the_limit_is_inconclusive():
    # '>50000' CFU/g: could be 6e4 (pass) or 1e6 (fail).
    row = result(analyte="tamc", value=None, qualifier=ABOVE_ULOQ, bound=50_000.0, unit="CFU/g")
    found = run([row], register())
    assert not select(found, rule="microbial")
    assert only(found, rule="inconclusive").analyte == "tamc"


@pytest.mark.parametrize(("loq", "verdict"), [(10.0, "pass"), (1_000.0, "pass"), (2_000.0, "?")])
def test_count_non_detect_judged_by_loq(loq, verdict):
    # TYMC limit 1e3 CFU/g: '<10' and '<1000' pass, '<2000' cannot show <= 1000.
    found = run([nd("tymc", loq, unit="CFU/g")], register())
    assert not select(found, rule="microbial")
    if verdict == "pass":
        assert found == []
    else:
        assert only(found, rule="inconclusive").limit_value == 1_000


# --- microbial presence (absent in N g) ---------------------------------------


@pytest.mark.parametrize("portion", [10.0, 25.0])
def test_absent_in_at_least_ten_grams_passes(portion):
    rows = [
        result(analyte=a, value=None, qualifier=NOT_DETECTED, unit=None, test_portion_g=portion)
        for a in ("salmonella", "e_coli")
    ]
    assert run(rows, register()) == []


@pytest.mark.parametrize("portion", [1.0, 9.9, None])
def test_absent_in_less_than_ten_grams_is_inconclusive(portion):
    # "absent in 1 g" does not satisfy "absent in 10 g": not a pass, not a finding.
    row = result(
        analyte="salmonella", value=None, qualifier=NOT_DETECTED, unit=None, test_portion_g=portion
    )
    found = run([row], register())
    assert not select(found, rule="microbial")
    f = only(found, rule="inconclusive", analyte="salmonella")
    assert f.limit_value == 10
    assert f.basis == "presence_in_g"
    assert "10 g required" in f.message


def test_pathogen_detected_fails():
    row = result(analyte="salmonella", value=None, qualifier=DETECTED, unit=None, test_portion_g=25)
    f = only(run([row], register()), rule="microbial", analyte="salmonella")
    assert f.severity == "critical"
    assert f.basis == "presence_in_g"
    assert f.limit_value == 10
    assert f.observed is None


def test_pathogen_count_above_zero_is_a_detection():
    found = run([result(analyte="e_coli", value=10.0, unit="CFU/g")], register())
    assert only(found, rule="microbial", analyte="e_coli").basis == "presence_in_g"


def test_utah_needs_absence_in_100_g():
    # Absent in 25 g: enough for the default 10 g, not for Utah's 100 g.
    reg = register(markets="UT")
    row = result(
        analyte="e_coli", value=None, qualifier=NOT_DETECTED, unit=None, test_portion_g=25.0
    )
    found = run([row], reg)
    assert not select(found, rule="microbial")
    f = only(found, rule="inconclusive", analyte="e_coli")
    assert (f.profile, f.limit_value) == ("UT", 100)
    # Absent in 100 g satisfies both.
    row100 = {**row, "test_portion_g": 100.0}
    assert run([row100], reg) == []


def test_pathogen_detected_in_utah_batch_fails_both_profiles():
    # The two presence limits differ (10 g and 100 g): one flag each.
    row = result(analyte="salmonella", value=None, qualifier=DETECTED, unit=None)
    found = run([row], register(markets="UT"))
    assert {(f.profile, f.limit_value) for f in select(found, rule="microbial")} == {
        ("default", 10),
        ("UT", 100),
    }


@pytest.mark.parametrize(
    ("qualifier", "bound"), [(TNTC, None), (ABOVE_ULOQ, 1000.0)], ids=["TNTC", ">ULOQ"]
)
def test_uncountable_pathogen_count_is_a_detection(qualifier, bound):
    # E. coli too numerous to count (or '>1000 CFU/g') is certainly present: must fail.
    row = result(analyte="e_coli", value=None, qualifier=qualifier, bound=bound, unit="CFU/g")
    found = run([row], register())
    assert only(found, rule="microbial", analyte="e_coli").basis == "presence_in_g"


# --- residual solvents (ICH Q3C / USP <467>: fails when > limit) ---------------


@pytest.mark.parametrize(
    ("analyte", "limit", "below", "above"),
    [
        ("ethanol", 5000.0, 4999.0, 5001.0),
        ("methanol", 3000.0, 2999.0, 3001.0),
        ("dichloromethane", 600.0, 599.0, 601.0),
        ("hexane", 290.0, 289.0, 291.0),
        ("chloroform", 60.0, 59.0, 61.0),
        ("benzene", 2.0, 1.9, 2.1),
    ],
)
def test_residual_solvent(analyte, limit, below, above):
    reg = register(form="extract")
    assert run([result(analyte=analyte, value=limit)], reg) == []  # at the limit: allowed
    assert run([result(analyte=analyte, value=below)], reg) == []
    f = only(run([result(analyte=analyte, value=above)], reg), rule="residual_solvent")
    assert f.analyte == analyte
    assert f.observed == pytest.approx(above)
    assert f.limit_value == pytest.approx(limit)
    assert f.unit == "ug/g"


def test_unconfirmed_solvent_limit_says_so():
    f = only(run([result(analyte="chloroform", value=61.0)], register()), rule="residual_solvent")
    assert "[unconfirmed: a house setting]" in f.source


@pytest.mark.parametrize(("loq", "inconclusive"), [(1.0, False), (2.0, False), (5.0, True)])
def test_solvent_non_detect(loq, inconclusive):
    # Benzene <= 2 ug/g: '<LOQ' with LOQ 1 or 2 passes; with LOQ 5 proves nothing.
    found = run([nd("benzene", loq)], register())
    assert not select(found, rule="residual_solvent")
    assert bool(select(found, rule="inconclusive", analyte="benzene")) is inconclusive


# --- adulterants (any detection fails) -------------------------------------------


def test_adulterant_measured_amount_fails():
    found = run([result(analyte="o_desmethyltramadol", value=0.05)], register())
    f = only(found, rule="adulterant", analyte="o_desmethyltramadol")
    assert f.observed == pytest.approx(0.05)
    assert f.limit_value is None
    assert f.severity == "critical"
    assert "detected" in f.message


def test_adulterant_detected_without_amount_fails():
    row = result(analyte="fentanyl", value=None, qualifier=DETECTED, unit=None)
    f = only(run([row], register()), rule="adulterant")
    assert (f.analyte, f.observed) == ("fentanyl", None)


def test_minor_adulterant_severity():
    f = only(run([result(analyte="phenylethylamine", value=1.0)], register()), rule="adulterant")
    assert f.severity == "major"


@pytest.mark.parametrize(
    "row",
    [
        result(analyte="morphine", value=0.0),
        result(analyte="morphine", value=None, qualifier=NOT_DETECTED),
        # a high LOQ does not matter: the rule is "any detection", and none was made
        nd("morphine", 50.0),
    ],
    ids=["zero", "ND", "<LOQ"],
)
def test_adulterant_not_detected_passes(row):
    assert run([row], register()) == []


# --- synthetic alkaloids -------------------------------------------------------


def test_pseudoindoxyl_detected_fails():
    row = result(analyte="mitragynine_pseudoindoxyl", value=0.2, unit="mg/g")
    f = only(run([row], register()), rule="synthetic_alkaloid")
    assert f.analyte == "mitragynine_pseudoindoxyl"
    assert f.observed == pytest.approx(0.2)


def test_pseudoindoxyl_not_detected_passes():
    row = result(analyte="mitragynine_pseudoindoxyl", value=None, qualifier=NOT_DETECTED)
    assert run([row], register()) == []


def alkaloids(seven_oh, mitragynine, sample="S1", unit="mg/g", **kw):
    oh = result(analyte="7_hydroxymitragynine", value=seven_oh, unit=unit, sample_id=sample, **kw)
    mg = result(analyte="mitragynine", value=mitragynine, unit=unit, sample_id=sample, **kw)
    return [oh, mg]


@pytest.mark.parametrize(
    ("seven_oh", "mitragynine", "ratio"),
    [
        (1.0, 1.0, None),  # 7-OH / mitragynine = 1.0: not above ('>' 1)
        (0.99, 1.0, None),  # 0.99
        (1.01, 1.0, 1.01),  # 1.01 > 1
        (30.0, 4.0, 7.5),  # Brown et al. profile: 30 / 4 = 7.5
    ],
)
def test_synthetic_ratio(seven_oh, mitragynine, ratio):
    found = select(run(alkaloids(seven_oh, mitragynine), register()), rule="synthetic_alkaloid")
    if ratio is None:
        assert found == []
    else:
        (f,) = found
        assert f.analyte == "7_hydroxymitragynine"
        assert f.observed == pytest.approx(ratio)
        assert f.limit_value == 1
        assert f.unit == "ratio"
        assert "[unconfirmed" in f.source


def test_synthetic_ratio_with_mitragynine_non_detect_well_below_7oh():
    # 7-OH 0.5 mg/g, mitragynine '<LOQ' 0.1 mg/g: ratio > 0.5 / 0.1 = 5 > 1.
    rows = [
        result(analyte="7_hydroxymitragynine", value=0.5, unit="mg/g"),
        nd("mitragynine", 0.1, unit="mg/g"),
    ]
    f = only(run(rows, register()), rule="synthetic_alkaloid")
    assert f.observed == pytest.approx(5.0)  # the least the ratio can be
    assert "ratio at least 5.00" in f.message


def test_synthetic_ratio_pairs_only_within_a_sample_and_unit():
    # 7-OH 2 in S1 and mitragynine 1 in S2 (or in another unit) prove nothing about a ratio.
    rows = [
        result(analyte="7_hydroxymitragynine", value=2.0, unit="mg/g", sample_id="S1"),
        result(analyte="mitragynine", value=1.0, unit="mg/g", sample_id="S2"),
        result(analyte="mitragynine", value=1.0, unit="mg/unit", sample_id="S1"),
    ]
    assert select(run(rows, register()), rule="synthetic_alkaloid") == []


def test_synthetic_ratio_with_mitragynine_loq_above_7oh_is_inconclusive():
    # 7-OH 0.05 mg/g, mitragynine '<LOQ' 0.1 mg/g: mitragynine is anywhere in [0, 0.1), so
    # the ratio is anywhere above 0.5: it may be 0.6 (pass) or 50 (fail). Inconclusive.
    rows = [
        result(analyte="7_hydroxymitragynine", value=0.05, unit="mg/g"),
        nd("mitragynine", 0.1, unit="mg/g"),
    ]
    found = run(rows, register())
    assert not select(found, rule="synthetic_alkaloid")
    assert select(found, rule="inconclusive", analyte="7_hydroxymitragynine")


def test_synthetic_ratio_judges_every_capsule():
    # Capsule 1: 7-OH 2.0 / mitragynine 1.0 mg/unit = 2.0 > 1 (fails).
    # Capsule 2: 0.1 / 10.0 = 0.01 (passes). The batch must be flagged for capsule 1.
    rows = [
        *alkaloids(2.0, 1.0, unit="mg/unit", unit_no=1),
        *alkaloids(0.1, 10.0, unit="mg/unit", unit_no=2),
    ]
    f = only(run(rows, register(form="capsule")), rule="synthetic_alkaloid")
    assert f.observed == pytest.approx(2.0)


# --- the non-production results never count ------------------------------------


def test_qc_samples_are_not_judged_against_product_limits():
    rows = [
        result(value=5.0, sample_type="spike", spike_level=5.0),
        result(value=5.0, sample_type="crm", spike_level=5.0),
        result(analyte="fentanyl", value=1.0, sample_type="spike", spike_level=1.0),
    ]
    assert run(rows, register(**ONE_G_A_DAY)) == []
