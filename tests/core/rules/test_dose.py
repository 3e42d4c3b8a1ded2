"""Golden tests for the dosing rules (dose.py): label_claim (90-110 % house
tolerance, GA/RI 150 mg per serving cap), content_uniformity (USP <905>
acceptance value, stage-2 0.75 M-1.25 M, RSD below 10 units) and 7oh_ratio
(share of the five alkaloids, GA/RI per gram and per serving caps). Numbers
are computed by hand in the comments."""

from __future__ import annotations

import math

import pytest

from kqc.core.rules import dose
from tests.core.rules.helpers import batch, nd, only, register, result, select, thresholds

OH = "7_hydroxymitragynine"


def label(results, reg):
    return dose.label_claim(batch(results, reg), thresholds())


def cu(results, reg):
    return dose.content_uniformity(batch(results, reg), thresholds())


def seven_oh(results, reg):
    return dose.seven_oh(batch(results, reg), thresholds())


def mg_per_g(value, analyte="mitragynine", **kw):
    return result(analyte=analyte, value=value, unit="mg/g", **kw)


def mg_per_unit(value, analyte="mitragynine", **kw):
    return result(analyte=analyte, value=value, unit="mg/unit", **kw)


# --- label claim: mean mg per serving as % of the claim (fails < 90 or > 110) ----

# powder: 100 mg mitragynine claimed in a 5 g serving -> mg/g x 5 = mg per serving
POWDER = register(label_claim_mg_per_serving=100.0, serving_size_g=5.0)
# capsules: 100 mg claimed per serving of 2 capsules -> mg/unit x 2 = mg per serving
CAPSULES = register(form="capsule", label_claim_mg_per_serving=100.0, units_per_serving=2)


@pytest.mark.parametrize(
    ("reg", "rows", "percent", "limit"),
    [
        # 20 mg/g x 5 g = 100 mg = 100 %
        (POWDER, [mg_per_g(20.0)], 100.0, None),
        # 18 mg/g x 5 g = 90 mg = 90 %: at the lower limit, allowed ('<' 90 fails)
        (POWDER, [mg_per_g(18.0)], 90.0, None),
        # 17.9 x 5 = 89.5 mg = 89.5 %
        (POWDER, [mg_per_g(17.9)], 89.5, 90.0),
        # 18.1 x 5 = 90.5 %
        (POWDER, [mg_per_g(18.1)], 90.5, None),
        # 21.9 x 5 = 109.5 %
        (POWDER, [mg_per_g(21.9)], 109.5, None),
        # 22.1 x 5 = 110.5 %
        (POWDER, [mg_per_g(22.1)], 110.5, 110.0),
        # mean of 17 and 19 mg/g = 18 -> 90 mg = 90 %: the mean is judged, not each result
        (POWDER, [mg_per_g(17.0, sample_id="S1"), mg_per_g(19.0, sample_id="S2")], 90.0, None),
        # 45 mg/unit x 2 = 90 mg = 90 %
        (CAPSULES, [mg_per_unit(45.0)], 90.0, None),
        # 44.5 x 2 = 89 mg = 89 %
        (CAPSULES, [mg_per_unit(44.5)], 89.0, 90.0),
        # 55.5 x 2 = 111 mg = 111 %
        (CAPSULES, [mg_per_unit(55.5)], 111.0, 110.0),
    ],
)
def test_label_claim_tolerance(reg, rows, percent, limit):
    found = label(rows, reg)
    if limit is None:
        assert found == []
    else:
        f = only(found, rule="label_claim")
        assert f.analyte == "mitragynine"
        assert f.observed == pytest.approx(percent)
        assert f.limit_value == limit
        assert f.unit == "% of label claim"
        assert f.profile == "default"
        assert f.severity == "major"
        assert "[unconfirmed: a house setting]" in f.source


@pytest.mark.parametrize(
    ("reg", "row"),
    [(POWDER, mg_per_g(22.0)), (CAPSULES, mg_per_unit(55.0))],
    ids=["22 mg/g x 5 g", "55 mg/unit x 2"],
)
def test_label_claim_exactly_110_percent_passes(reg, row):
    # 22 mg/g x 5 g = 110 mg; 55 mg/unit x 2 = 110 mg: 110 % of 100 mg, at the limit: allowed.
    assert label([row], reg) == []


def test_per_unit_results_are_preferred_over_concentrations():
    # mg/unit: 50 x 2 = 100 mg = 100 % (pass). The mg/g result (10 x 5 g = 50 %) is not used.
    reg = register(
        form="capsule", label_claim_mg_per_serving=100.0, units_per_serving=2, serving_size_g=5.0
    )
    assert label([mg_per_unit(50.0), mg_per_g(10.0)], reg) == []


def test_units_per_serving_defaults_to_one():
    # No units_per_serving: 92 mg/unit x 1 = 92 % of 100 mg (pass); 88 -> 88 % (fail).
    reg = register(form="capsule", units_per_serving=None)
    assert label([mg_per_unit(92.0)], reg) == []
    assert only(label([mg_per_unit(88.0)], reg)).observed == pytest.approx(88.0)


def test_label_claim_non_detect_counts_as_half_loq_in_the_mean():
    # 17 mg/g and '<LOQ' (LOQ 2 mg/g -> 1 mg/g): mean 9 mg/g x 5 g = 45 mg = 45 %.
    f = only(label([mg_per_g(17.0), nd("mitragynine", 2.0, unit="mg/g")], POWDER))
    assert f.observed == pytest.approx(45.0)
    assert f.evidence["substitution"] == "1 non-detect(s) counted as LOQ/2"


def test_label_claim_without_register_is_inconclusive():
    # No serving size: mg/g cannot become mg per serving. One doubt per limit (90 % and 110 %).
    found = label([mg_per_g(20.0)], None)
    assert {f.rule for f in found} == {"inconclusive"}
    assert sorted(f.limit_value for f in found) == [90.0, 110.0]
    assert all(f.evidence["for_rule"] == "label_claim" for f in found)


def test_label_claim_without_mitragynine_results_says_nothing():
    assert label([result(value=0.5)], POWDER) == []


# --- GA / RI cap: mitragynine <= 150 mg per serving -----------------------------


@pytest.mark.parametrize(
    ("markets", "rows", "observed", "profile"),
    [
        # 30 mg/g x 5 g = 150 mg: at the cap, allowed ('>' 150 fails); 100 % of a 150 mg claim
        ("GA", [mg_per_g(30.0)], None, None),
        ("GA", [mg_per_g(29.9)], None, None),  # 149.5 mg
        # 30.1 x 5 = 150.5 mg > 150 (100.33 % of the claim: no tolerance flag)
        ("GA", [mg_per_g(30.1)], 150.5, "GA"),
        ("RI", [mg_per_g(30.1)], 150.5, "RI"),
        # identical caps in GA and RI: one flag naming both
        ("GA;RI", [mg_per_g(30.1)], 150.5, "GA;RI"),
        # no GA/RI market: no cap
        (None, [mg_per_g(30.1)], None, None),
        ("UT;TX", [mg_per_g(30.1)], None, None),
        # mg/unit x units: 75 x 2 = 150 (pass); 76 x 2 = 152 (fail)
        ("GA", [mg_per_unit(75.0)], None, None),
        ("GA", [mg_per_unit(76.0)], 152.0, "GA"),
    ],
)
def test_georgia_rhode_island_mitragynine_cap(markets, rows, observed, profile):
    reg = register(
        form="capsule",
        markets=markets,
        label_claim_mg_per_serving=150.0,
        serving_size_g=5.0,
        units_per_serving=2,
    )
    found = label(rows, reg)
    if observed is None:
        assert found == []
    else:
        f = only(found)
        assert f.rule == "label_claim"
        assert f.observed == pytest.approx(observed)
        assert f.limit_value == 150.0
        assert f.unit == "mg/serving"
        assert f.profile == profile
        assert f.severity == "critical"


# --- USP <905> acceptance value -------------------------------------------------


def spread(mean, n_low, d, n_mid, n_high=None):
    """n_low values at mean - d, n_mid at mean, n_high (= n_low) at mean + d."""
    n_high = n_low if n_high is None else n_high
    return [mean - d] * n_low + [mean] * n_mid + [mean + d] * n_high


def test_usp_905_faq_example():
    # 10 units: 2 at 105.9 - 7.5, 6 at 105.9, 2 at 105.9 + 7.5.
    # mean = 105.9; SS = 4 x 7.5^2 = 225; s = sqrt(225 / 9) = 5.0.
    # mean > 101.5 -> M = 101.5; AV = |101.5 - 105.9| + 2.4 x 5.0 = 4.4 + 12.0 = 16.4 > L1 15.
    x = spread(105.9, 2, 7.5, 6)
    av = dose.acceptance_value(x)
    assert av["n"] == 10
    assert av["mean"] == pytest.approx(105.9)
    assert av["sd"] == pytest.approx(5.0)
    assert av["k"] == 2.4
    assert av["M"] == pytest.approx(101.5)
    assert av["av"] == pytest.approx(16.4)


@pytest.mark.parametrize(
    ("mean", "M"),
    [
        (100.2, 100.2),  # 98.5 <= mean <= 101.5: M = mean, AV = k s
        (98.5, 98.5),
        (101.5, 101.5),
        (95.0, 98.5),  # below 98.5: M = 98.5
        (104.5, 101.5),  # above 101.5: M = 101.5
    ],
)
def test_acceptance_value_reference_m(mean, M):
    x = spread(mean, 2, 7.5, 6)  # s = 5.0 as above
    av = dose.acceptance_value(x)
    assert av["M"] == pytest.approx(M)
    assert av["av"] == pytest.approx(abs(M - mean) + 2.4 * 5.0)


def test_acceptance_value_thirty_units_uses_k_2():
    # 15 at 93, 15 at 107: mean 100 (M = 100), s = sqrt(30 x 49 / 29) = 7.1197.
    # AV = 2.0 x 7.1197 = 14.239 (with k = 2.4 it would be 17.09)
    x = [93.0] * 15 + [107.0] * 15
    av = dose.acceptance_value(x)
    s = math.sqrt(30 * 49 / 29)
    assert av["k"] == 2.0
    assert av["sd"] == pytest.approx(s)
    assert av["av"] == pytest.approx(2.0 * s)


def test_acceptance_value_at_l1_exactly():
    # 2 at 97, 6 at 104.5, 2 at 112: mean 104.5, s 5.0, M 101.5: AV = 3.0 + 12.0 = 15.0.
    av = dose.acceptance_value(spread(104.5, 2, 7.5, 6))
    assert av["av"] == pytest.approx(15.0)


# --- content uniformity through the rule --------------------------------------

# capsules, 100 mg claimed per capsule: mg/unit reads directly as % of claim
ONE_CAPSULE = register(form="capsule", label_claim_mg_per_serving=100.0, units_per_serving=1)


def capsules(values):
    return [mg_per_unit(v, unit_no=i + 1) for i, v in enumerate(values)]


def test_content_uniformity_usp_faq_batch_fails_l1():
    # Same ten units as the FAQ, in mg/unit of a 100 mg capsule: AV 16.4 > 15.
    f = only(cu(capsules(spread(105.9, 2, 7.5, 6)), ONE_CAPSULE))
    assert f.rule == "content_uniformity"
    assert f.analyte == "mitragynine"
    assert f.observed == pytest.approx(16.4)
    assert f.limit_value == 15.0
    assert f.unit == "% of label claim"
    assert f.evidence["k"] == 2.4
    assert f.evidence["M"] == pytest.approx(101.5)


def test_content_uniformity_claim_per_unit_divides_by_units_per_serving():
    # 200 mg per serving of 2 capsules = 100 mg per capsule: the same FAQ batch.
    reg = register(form="capsule", label_claim_mg_per_serving=200.0, units_per_serving=2)
    f = only(cu(capsules(spread(105.9, 2, 7.5, 6)), reg))
    assert f.observed == pytest.approx(16.4)


@pytest.mark.parametrize(
    ("mean", "av"),
    [
        (104.4, None),  # AV = 2.9 + 12 = 14.9: pass
        (104.6, 15.1),  # AV = 3.1 + 12 = 15.1 > 15: fail
        (100.0, None),  # M = mean: AV = 12.0
    ],
)
def test_content_uniformity_around_l1(mean, av):
    found = cu(capsules(spread(mean, 2, 7.5, 6)), ONE_CAPSULE)
    if av is None:
        assert found == []
    else:
        assert only(found).observed == pytest.approx(av)


def test_content_uniformity_av_exactly_l1_passes():
    # 97, 104.5 x 6, 112 mg of a 100 mg capsule: AV = |101.5 - 104.5| + 2.4 x 5 = 15.0 <= L1.
    assert cu(capsules(spread(104.5, 2, 7.5, 6)), ONE_CAPSULE) == []


def test_content_uniformity_thirty_units_uses_k_2():
    # 15 at 93 and 15 at 107 mg: AV = 2.0 x 7.1197 = 14.24 <= 15 passes (k 2.4 would fail).
    assert cu(capsules([93.0] * 15 + [107.0] * 15), ONE_CAPSULE) == []
    # 15 at 92.5 and 15 at 107.5: s = 7.5 sqrt(30/29) = 7.6283, AV = 15.26 > 15.
    f = only(cu(capsules([92.5] * 15 + [107.5] * 15), ONE_CAPSULE))
    assert f.observed == pytest.approx(2.0 * 7.5 * math.sqrt(30 / 29))
    assert f.evidence["k"] == 2.0


@pytest.mark.parametrize(
    ("low", "high", "observed"),
    [
        # 28 at 100, one at 75, one at 125: mean 100 = M; 0.75 M = 75, 1.25 M = 125:
        # both on the boundary, allowed. AV = 2 x sqrt(1250 / 29) = 13.13 (passes L1).
        (75.0, 125.0, None),
        (75.1, 124.9, None),
        # one at 74.9, one at 125.1 (mean still 100): 74.9 < 75 -> |74.9 - 100| / 100 = 25.1 %.
        # AV = 2 x sqrt(2 x 25.1^2 / 29) = 13.18 (passes L1).
        (74.9, 125.1, 25.1),
    ],
)
def test_content_uniformity_stage_2_unit_limits(low, high, observed):
    found = cu(capsules([low, *[100.0] * 28, high]), ONE_CAPSULE)
    if observed is None:
        assert found == []
    else:
        f = only(found)
        assert f.limit_value == 25.0
        assert f.unit == "% of M"
        assert f.observed == pytest.approx(observed)
        assert f.evidence["M"] == pytest.approx(100.0)
        assert len(f.evidence["outside"]) == 2


def test_stage_2_unit_limits_need_thirty_units():
    # 10 units, one at 70 %: mean 97.0 -> M 98.5, below 0.75 M = 73.875, but with 10 units
    # only L1 applies: SS = 27^2 + 9 x 3^2 = 810, s = sqrt(90) = 9.487,
    # AV = 1.5 + 2.4 x 9.487 = 24.27 > 15: one L1 flag, no unit-limit flag.
    found = cu(capsules([70.0, *[100.0] * 9]), ONE_CAPSULE)
    assert [f.unit for f in found] == ["% of label claim"]
    assert found[0].observed == pytest.approx(1.5 + 2.4 * 90**0.5)


@pytest.mark.parametrize(
    ("values", "rsd"),
    [
        # mean 100, s = sqrt((36 + 0 + 36) / 2) = 6.0 -> RSD 6.0 %: at the limit, allowed
        ([94.0, 100.0, 106.0], None),
        ([94.1, 100.0, 105.9], None),  # RSD 5.9 %
        ([93.9, 100.0, 106.1], 6.1),  # s = 6.1 -> RSD 6.1 % > 6
        # nine units (still < 10): 4 at 93, 1 at 100, 4 at 107: s = sqrt(8 x 49 / 8) = 7.0
        ([93.0] * 4 + [100.0] + [107.0] * 4, 7.0),
    ],
)
def test_content_uniformity_fewer_than_ten_units_uses_rsd(values, rsd):
    found = cu(capsules(values), ONE_CAPSULE)
    if rsd is None:
        assert found == []
    else:
        f = only(found)
        assert f.unit == "% RSD"
        assert f.limit_value == 6.0
        assert f.observed == pytest.approx(rsd)
        assert f.severity == "minor"
        assert f.evidence["n"] == len(values)


def test_rsd_setting_not_used_from_ten_units():
    # 10 units: 5 at 93, 5 at 107: RSD = 7.379 % (> 6) but the AV decides:
    # s = 7 sqrt(10/9) = 7.379, M = 100, AV = 2.4 x 7.379 = 17.7 > 15 -> an L1 flag only.
    found = cu(capsules([93.0] * 5 + [107.0] * 5), ONE_CAPSULE)
    f = only(found)
    assert f.unit == "% of label claim"
    assert f.observed == pytest.approx(2.4 * 7 * math.sqrt(10 / 9))


def test_content_uniformity_only_for_dosage_forms():
    # A powder's mg/unit results are not a content-uniformity test (forms: capsule, tablet, ...).
    wild = capsules([50.0, 150.0, 60.0, 140.0])
    assert cu(wild, register(form="powder", label_claim_mg_per_serving=100.0)) == []
    assert cu(wild, None) == []  # no register: judged as a powder
    assert only(cu(wild, ONE_CAPSULE)).unit == "% RSD"


def test_content_uniformity_needs_two_units():
    assert cu(capsules([50.0]), ONE_CAPSULE) == []


def test_content_uniformity_without_label_claim_is_inconclusive():
    reg = register(form="capsule", label_claim_mg_per_serving=None)
    f = only(cu(capsules([90.0, 100.0, 110.0]), reg))
    assert f.rule == "inconclusive"
    assert f.evidence["for_rule"] == "content_uniformity"


def test_content_uniformity_keeps_a_non_detect_unit():
    # 9 capsules at 100 mg, 1 '<LOQ' (LOQ 1 mg -> LOQ/2 = 0.5 mg = 0.5 %): 10 units,
    # mean = (900 + 0.5) / 10 = 90.05, M = 98.5, s = 31.5, AV = 8.45 + 2.4 x 31.5 = 84 > 15.
    rows = [*capsules([100.0] * 9), nd("mitragynine", 1.0, unit="mg/unit", unit_no=10)]
    f = only(cu(rows, ONE_CAPSULE))
    assert f.rule == "content_uniformity"
    assert f.unit == "% of label claim"
    assert f.observed > 15


# --- 7-OH share of the five alkaloids (> 2 % fails) ---------------------------


def five(seven_oh, mitragynine=7.0, speciociliatine=1.0, speciogynine=1.0, paynantheine=0.8):
    rows = [
        mg_per_g(mitragynine),
        mg_per_g(speciociliatine, analyte="speciociliatine"),
        mg_per_g(speciogynine, analyte="speciogynine"),
        mg_per_g(paynantheine, analyte="paynantheine"),
    ]
    if seven_oh is not None:
        rows.append(mg_per_g(seven_oh, analyte=OH))
    return rows


@pytest.mark.parametrize(
    ("oh", "share"),
    [
        (0.2, None),  # 0.2 / (7 + 1 + 1 + 0.8 + 0.2 = 10.0) = 2.0 %: at the cap, allowed
        (0.19, None),  # 0.19 / 9.99 = 1.90 %
        (0.21, 0.21 / 10.01 * 100),  # 0.21 / 10.01 = 2.098 % > 2
        (1.0, 1.0 / 10.8 * 100),  # 9.26 %
    ],
)
def test_seven_oh_share(oh, share):
    found = seven_oh(five(oh), POWDER)
    if share is None:
        assert found == []
    else:
        f = only(found)
        assert (f.rule, f.analyte, f.basis) == ("7oh_ratio", OH, "pct_of_alkaloids")
        assert f.observed == pytest.approx(share)
        assert f.limit_value == 2.0
        assert f.unit == "%"
        assert f.profile == "default"
        assert f.evidence["sum"] == pytest.approx(9.8 + oh)
        assert "non-detects as zero" in f.message


def test_seven_oh_share_counts_non_detect_alkaloids_as_zero():
    # mitragynine 9.8; speciociliatine, speciogynine, paynantheine '<LOQ' (LOQ 1.0 mg/g).
    # As zero: 0.21 / (9.8 + 0.21) = 2.098 % -> fails. (LOQ/2 would give 0.21 / 11.51 = 1.82 %,
    # LOQ 0.21 / 12.81 = 1.64 %: both would pass, so a flag proves zero was used.)
    rows = [
        mg_per_g(9.8),
        *(nd(a, 1.0, unit="mg/g") for a in ("speciociliatine", "speciogynine", "paynantheine")),
        mg_per_g(0.21, analyte=OH),
    ]
    f = only(seven_oh(rows, POWDER))
    assert f.observed == pytest.approx(0.21 / 10.01 * 100)


def test_seven_oh_share_sums_only_the_five_alkaloids():
    # Mitraphylline (5 mg/g) and corynantheidine are not in the OK SB 891 sum:
    # 0.21 / (9.8 + 0.21) = 2.098 % (with them it would be 0.21 / 16.01 = 1.31 %).
    rows = [
        mg_per_g(9.8),
        mg_per_g(0.21, analyte=OH),
        mg_per_g(5.0, analyte="mitraphylline"),
        mg_per_g(1.0, analyte="corynantheidine"),
    ]
    assert only(seven_oh(rows, POWDER)).observed == pytest.approx(0.21 / 10.01 * 100)


def test_seven_oh_share_judged_per_sample():
    # S1: 0.1 / 10 = 1 %; S2: 0.3 / 10 = 3 %: the worst sample fails.
    rows = [
        mg_per_g(9.9, sample_id="S1"),
        mg_per_g(0.1, analyte=OH, sample_id="S1"),
        mg_per_g(9.7, sample_id="S2"),
        mg_per_g(0.3, analyte=OH, sample_id="S2"),
    ]
    f = only(seven_oh(rows, POWDER))
    assert f.observed == pytest.approx(3.0)
    assert f.evidence["sample"] == "S2"


@pytest.mark.parametrize(
    ("loq", "doubt"),
    [
        (0.1, False),  # at most 0.1 / (9.9 + 0.1) = 1 %
        (0.2, False),  # at most 0.2 / (9.8 + 0.2) = 2.0 %: at the cap, allowed
        (0.5, True),  # at most 0.5 / 10.3 = 4.85 %: cannot show <= 2 %
    ],
)
def test_seven_oh_share_non_detect_judged_by_its_loq(loq, doubt):
    rows = [mg_per_g(10.0 - loq), nd(OH, loq, unit="mg/g")]
    found = seven_oh(rows, POWDER)
    assert not select(found, rule="7oh_ratio")
    if doubt:
        f = only(found, rule="inconclusive")
        assert f.analyte == OH
        assert f.evidence["for_rule"] == "7oh_ratio"
    else:
        assert found == []


def test_seven_oh_without_mitragynine_minor_alkaloids_all_absent():
    # 7-OH 0.5 mg/g, mitragynine 2.0 mg/g, the rest '<LOQ': 0.5 / 2.5 = 20 %.
    rows = [
        mg_per_g(2.0),
        *(nd(a, 0.1, unit="mg/g") for a in ("speciociliatine", "speciogynine", "paynantheine")),
        mg_per_g(0.5, analyte=OH),
    ]
    assert only(seven_oh(rows, POWDER)).observed == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("markets", "profile"),
    [
        ("UT", "default;UT"),
        ("UT;OK;TX", "default;UT;OK;TX"),
        ("GA", "default"),
        ("FL", "default"),
    ],
)
def test_seven_oh_share_profiles_merge(markets, profile):
    # 0.21 / 10.01 = 2.098 % (0.21 mg/g is under every per-gram cap: GA 0.5, FL 0.4)
    found = seven_oh(five(0.21), register(markets=markets, serving_size_g=1.0))
    assert only(found, basis="pct_of_alkaloids").profile == profile


# --- 7-OH per gram (GA/RI 0.5 mg/g, FL 0.4 mg/g) and per serving (GA/RI 1 mg) ----

# lots of mitragynine so that the share stays far under 2 % (0.6 / 40.6 = 1.5 %)
BIG = 40.0


@pytest.mark.parametrize(
    ("markets", "oh", "profile", "limit"),
    [
        ("GA", 0.5, None, None),  # 0.5 mg/g: at the cap, allowed ('>' 0.5)
        ("GA", 0.49, None, None),
        ("GA", 0.51, "GA", 0.5),
        ("RI", 0.51, "RI", 0.5),
        ("GA;RI", 0.51, "GA;RI", 0.5),  # identical caps: one flag
        (None, 0.51, None, None),  # no GA/RI market: no per-gram cap
        ("UT", 0.51, None, None),
        # Florida's 400 ppm is on a dry-weight basis: tests/core/rules/test_dry_weight.py
    ],
)
def test_seven_oh_per_gram_caps(markets, oh, profile, limit):
    # serving 1 g: per serving = the per-gram figure, under 1 mg; only the per-gram cap can fail.
    reg = register(markets=markets, serving_size_g=1.0)
    found = seven_oh([mg_per_g(BIG), mg_per_g(oh, analyte=OH)], reg)
    if profile is None:
        assert found == []
    else:
        f = only(found)
        assert (f.rule, f.basis, f.unit) == ("7oh_ratio", "per_g", "mg/g")
        assert f.observed == pytest.approx(oh)
        assert f.limit_value == limit
        assert f.profile == profile


@pytest.mark.parametrize(
    ("serving_g", "observed"),
    [
        (2.5, None),  # 0.4 mg/g x 2.5 g = 1.0 mg: at the cap, allowed
        (2.4, None),  # 0.96 mg
        (2.6, 1.04),  # 1.04 mg > 1
    ],
)
def test_seven_oh_per_serving_cap_from_concentration(serving_g, observed):
    # 0.4 mg/g is under the 0.5 mg/g cap: only the per-serving cap can fail.
    reg = register(markets="GA", serving_size_g=serving_g)
    found = seven_oh([mg_per_g(BIG), mg_per_g(0.4, analyte=OH)], reg)
    if observed is None:
        assert found == []
    else:
        f = only(found)
        assert (f.rule, f.basis, f.unit) == ("7oh_ratio", "per_serving", "mg/serving")
        assert f.observed == pytest.approx(observed)
        assert f.limit_value == 1.0
        assert f.profile == "GA"


@pytest.mark.parametrize(
    ("oh_mg_per_unit", "observed"),
    [(0.5, None), (0.55, 1.1)],  # x 2 capsules: 1.0 mg (allowed), 1.1 mg (fails)
)
def test_seven_oh_per_serving_cap_from_units(oh_mg_per_unit, observed):
    reg = register(form="capsule", markets="RI", units_per_serving=2)
    found = seven_oh([mg_per_unit(BIG), mg_per_unit(oh_mg_per_unit, analyte=OH)], reg)
    if observed is None:
        assert found == []
    else:
        f = only(found)
        assert (f.basis, f.profile) == ("per_serving", "RI")
        assert f.observed == pytest.approx(observed)


def test_seven_oh_per_serving_without_register_is_inconclusive():
    # A GA batch whose register lacks a serving size: 7-OH per serving cannot be judged.
    reg = register(markets="GA", serving_size_g=None)
    found = seven_oh([mg_per_g(BIG), mg_per_g(0.1, analyte=OH)], reg)
    f = only(found)
    assert (f.rule, f.basis) == ("inconclusive", "per_serving")


@pytest.mark.parametrize(("loq", "doubt"), [(0.3, False), (0.5, False), (0.6, True)])
def test_seven_oh_per_gram_non_detect(loq, doubt):
    # GA 0.5 mg/g: '<LOQ' with LOQ 0.3 or 0.5 passes; with LOQ 0.6 proves nothing.
    reg = register(markets="GA", serving_size_g=1.0)  # LOQ/2 x 1 g stays under 1 mg
    found = seven_oh([mg_per_g(BIG), nd(OH, loq, unit="mg/g")], reg)
    assert not select(found, rule="7oh_ratio")
    assert bool(select(found, rule="inconclusive", basis="per_g")) is doubt


@pytest.mark.parametrize(
    "loq",
    [
        0.3,  # LOQ x 5 g = 1.5 mg > 1 (code: 0.15 x 5 = 0.75 mg -> silent pass)
        0.5,  # LOQ x 5 g = 2.5 mg > 1 (code: 0.25 x 5 = 1.25 mg -> a finding from a non-detect)
    ],
)
def test_seven_oh_per_serving_non_detect_with_loq_above_cap_is_inconclusive(loq):
    reg = register(markets="GA", serving_size_g=5.0)
    found = seven_oh([mg_per_g(BIG), nd(OH, loq, unit="mg/g")], reg)
    assert not select(found, rule="7oh_ratio")
    f = only(found, rule="inconclusive", basis="per_serving")
    assert f.limit_value == 1.0
