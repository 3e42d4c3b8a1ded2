"""Florida's 7-OH limit, golden tests through the real 7-OH rules (dose.seven_oh
with the shipped thresholds): Schedule I "above four hundred parts per
million on a dry-weight basis" (emergency rule 2ER25-2).

400 ppm = 400 ug/g = 0.4 mg/g. Labs report 7-OH as is (mg/g of the sample
as received); the dry-weight figure is as-is / (1 - moisture % / 100). So:
exactly 400 ppm dry passes, 400.1 ppm fails; the moisture result decides a
result under the limit as is; without one, only a result already above it
as is can be judged (drying only raises it). Every figure below is worked by
hand in its comment."""

from __future__ import annotations

import polars as pl
import pytest

from kqc.core.qualifiers import BELOW_LOQ
from kqc.core.rules import dose, evaluate
from kqc.core.rules.dry_weight import dry_scale, is_dry_weight, moisture_for
from kqc.core.rules.evaluate import HISTORY_COLUMNS
from kqc.core.rules.model import RESULT_FIELDS
from tests.core.rules.helpers import batch, only, register, result, select, thresholds

OH = "7_hydroxymitragynine"
# Lots of mitragynine: 7-OH stays far under 2 % of the alkaloids and under
# mitragynine, and a 1 g serving keeps the other caps away (FL has none).
FLORIDA = register(markets="FL", serving_size_g=1.0)


def oh(value, sample="S1", **kw):
    return result(analyte=OH, value=value, unit="mg/g", sample_id=sample, **kw)


def moisture(value, sample="S1", **kw):
    return result(analyte="moisture", value=value, unit="%", sample_id=sample, **kw)


def florida(rows, reg=FLORIDA):
    """The FL findings of the 7-OH rules (the per-gram, dry-weight ones)."""
    rows = [result(analyte="mitragynine", value=40.0, unit="mg/g"), *rows]
    found = dose.seven_oh(batch(rows, reg), thresholds())
    return [f for f in found if "FL" in f.profile.split(";") and f.basis == "per_g"]


def test_the_shipped_florida_row_is_dry_weight_and_strict_above():
    [t] = [t for t in thresholds() if t.profile == "FL"]
    assert (t.limit_value, t.unit, t.basis, t.fails_when) == (0.4, "mg/g dry", "per_g", ">")
    assert is_dry_weight(t.unit) and not t.confirmed
    assert "2ER25-2" in t.source and "four hundred parts per million" in t.source
    assert "0.4 mg/g" in t.note and "400 ppm" in t.note


# --- with a moisture result -------------------------------------------------------


@pytest.mark.parametrize(
    ("as_is", "moisture_pct", "dry"),
    [
        (0.4, 0.0, None),  # 0.4 / (1 - 0) = 0.4 mg/g = exactly 400 ppm: passes
        (0.4001, 0.0, 0.4001),  # 400.1 ppm dry: fails
        (0.38, 5.0, None),  # 0.38 / 0.95 = 0.4 exactly: passes
        (0.36, 10.0, None),  # 0.36 / 0.90 = 0.4 exactly: passes
        (0.36, 12.0, 0.36 / 0.88),  # = 0.409091 mg/g dry (409.1 ppm): fails
        (0.38, 5.1, 0.38 / 0.949),  # = 0.400421 mg/g dry: fails
        (0.3, 20.0, None),  # 0.3 / 0.8 = 0.375: passes
        (0.39, 2.0, None),  # 0.39 / 0.98 = 0.397959: passes
        (0.39, 3.0, 0.39 / 0.97),  # = 0.402062: fails
    ],
)
def test_dry_weight_at_below_and_above_400_ppm(as_is, moisture_pct, dry):
    found = florida([oh(as_is), moisture(moisture_pct)])
    if dry is None:
        assert found == []
    else:
        f = only(found, rule="7oh_ratio")
        assert f.observed == pytest.approx(dry)
        assert (f.limit_value, f.unit, f.severity) == (0.4, "mg/g dry", "critical")
        assert f"{dry:.4g} mg/g dry" in f.message and f"{dry * 1000:.4g} ppm" in f.message
        assert f"(1 - {moisture_pct:g} % moisture / 100)" in f.message
        assert "(400 ppm)" in f.message and "2ER25-2" in f.message
        [sample] = f.evidence["samples"]
        assert sample["moisture_pct"] == moisture_pct and sample["as_is_mg_per_g"] == as_is
        assert sample["dry_mg_per_g"] == pytest.approx(dry)


def test_the_conversion_by_hand():
    # 12 % moisture: 1 g as received holds 0.88 g of dry matter.
    assert dry_scale(12.0) == pytest.approx(1 / 0.88)
    assert dry_scale(0.0) == 1.0
    assert 0.36 * dry_scale(12.0) == pytest.approx(0.4090909, rel=1e-6)


def test_the_samples_own_moisture_is_used_first():
    # S1: 0.38 as is, own moisture 4 % -> 0.395833 (passes); the batch's other
    # sample has 12 % moisture, which would make S1 0.431818 (fails).
    rows = [oh(0.38), moisture(4.0), moisture(12.0, sample="S2")]
    assert florida(rows) == []


def test_a_batch_moisture_result_stands_for_a_sample_without_its_own():
    # A composite moisture of 10 % (sample COMP): S1 0.37 -> 0.411111 fails.
    f = only(florida([oh(0.37), moisture(10.0, sample="COMP")]))
    assert f.observed == pytest.approx(0.37 / 0.9)


def test_moisture_results_either_side_are_inconclusive():
    # 0.37 as is with 5 % and 12 % for the same sample: 0.389474 to 0.420455.
    f = only(florida([oh(0.37), moisture(5.0), moisture(12.0)]))
    assert f.rule == "inconclusive"
    assert "either side of the limit" in f.message and "5-12 %" in f.message
    assert f.evidence["send"] == "one moisture result (%) of sample S1"
    # Both ends above the limit: fails at the lower one, 0.42 / 0.95 = 0.442105.
    f = only(florida([oh(0.42), moisture(5.0), moisture(12.0)]))
    assert f.rule == "7oh_ratio" and f.observed == pytest.approx(0.42 / 0.95)


def test_a_moisture_non_detect_is_at_most_its_loq():
    # moisture '<1 %' (LOQ 1): 0.39 as is is 0.39 to 0.393939 dry: passes.
    below = moisture(None, qualifier=BELOW_LOQ, loq=1.0)
    assert florida([oh(0.39), below]) == []
    assert moisture_for(batch([below]), "S1").high == 1.0


def test_a_moisture_of_100_percent_or_more_is_no_moisture():
    f = only(florida([oh(0.3), moisture(100.0)]))
    assert f.rule == "inconclusive" and "no moisture result" in f.message


# --- without a moisture result ---------------------------------------------------


def test_without_moisture_a_result_under_the_limit_is_inconclusive():
    # 0.38 as is could be above 0.4 dry at any moisture over 5 %: kqc never
    # assumes 0 % moisture; it asks for the result.
    f = only(florida([oh(0.38)]))
    assert (f.rule, f.analyte, f.profile) == ("inconclusive", OH, "FL")
    assert f.evidence["for_rule"] == "7oh_ratio"
    assert "no moisture result" in f.message and "loss on drying" in f.message
    assert f.evidence["send"] == "moisture (%) of sample S1"


def test_without_moisture_exactly_400_ppm_as_is_is_inconclusive():
    # 400 ppm as is is 400 ppm dry only at 0 % moisture, which no one measured.
    assert only(florida([oh(0.4)])).rule == "inconclusive"


def test_without_moisture_a_result_above_the_limit_as_is_fails():
    # 0.4001 mg/g as is: the dry figure is at least that, above 0.4.
    f = only(florida([oh(0.4001)]))
    assert f.rule == "7oh_ratio" and f.observed == pytest.approx(0.4001)
    assert "at least 0.4001 mg/g dry" in f.message and "no moisture result" in f.message


def test_a_non_detect_passes_only_when_its_loq_stays_under_the_limit_dry():
    # '<LOQ' with LOQ 0.1 mg/g and 8 % moisture: at most 0.108696 dry: passes.
    row = oh(None, qualifier=BELOW_LOQ, loq=0.1)
    assert florida([row, moisture(8.0)]) == []
    # With no moisture it proves nothing; with LOQ 0.39 and 5 % it could be 0.410526.
    assert only(florida([row])).rule == "inconclusive"
    high = oh(None, qualifier=BELOW_LOQ, loq=0.39)
    assert only(florida([high, moisture(5.0)])).rule == "inconclusive"


def test_a_non_detect_without_a_loq_proves_nothing_whatever_the_moisture():
    f = only(florida([oh(None, qualifier=BELOW_LOQ), moisture(5.0)]))
    assert f.rule == "inconclusive" and "without a LOQ" in f.message


def test_the_worst_sample_is_reported():
    rows = [oh(0.41), moisture(0.0), oh(0.5, sample="S2"), moisture(0.0, sample="S2")]
    f = only(florida(rows))
    assert f.observed == pytest.approx(0.5) and f.evidence["n_failing"] == 2
    assert "sample S2" in f.message


def test_only_florida_batches_are_judged_on_dry_weight():
    assert florida([oh(0.45)], register(markets="GA", serving_size_g=1.0)) == []


# --- the screen hands every Florida batch to the rule -----------------------------


def _row(batch_id: str, n: int, analyte: str, value: float, unit: str) -> dict:
    row = result(batch_id=batch_id, analyte=analyte, value=value, unit=unit)
    row.update(result_id=n, per_serving_of=None)
    return {k: row.get(k) for k in RESULT_FIELDS}


def test_the_screen_lets_through_what_only_moisture_decides():
    """Under the limit as is, over it dry: a screen that judged the as-is
    figure alone would hold these batches back."""
    cases = {"B-dry-fail": (0.38, 10.0), "B-no-moisture": (0.39, None), "B-pass": (0.3, 5.0)}
    rows, regs = [], []
    for batch_id, (as_is, water) in cases.items():
        regs.append({**register(batch_id=batch_id, markets="FL", serving_size_g=1.0)})
        rows.append(_row(batch_id, len(rows), "mitragynine", 40.0, "mg/g"))
        rows.append(_row(batch_id, len(rows), OH, as_is, "mg/g"))
        if water is not None:
            rows.append(_row(batch_id, len(rows), "moisture", water, "%"))
    results = pl.DataFrame(rows, infer_schema_length=None)
    reg = pl.DataFrame(regs, infer_schema_length=None)
    history = pl.DataFrame(schema={c: pl.String for c in HISTORY_COLUMNS})
    args = (list(cases), results, reg, thresholds(), history, "v")
    reference = evaluate(*args, screened=False)
    screened = evaluate(*args, screened=True)
    cols = ["batch_id", "rule", "analyte", "profile", "observed", "message"]
    assert screened.select(cols).sort(cols).equals(reference.select(cols).sort(cols))
    fl = screened.filter(pl.col("profile").str.contains("FL"))
    by_batch = dict(zip(fl["batch_id"], fl["rule"], strict=True))
    assert by_batch == {"B-dry-fail": "7oh_ratio", "B-no-moisture": "inconclusive"}
    # 0.38 / 0.9 = 0.422222 mg/g dry.
    assert fl.filter(pl.col("batch_id") == "B-dry-fail")["observed"].item() == pytest.approx(
        0.38 / 0.9
    )


def test_a_per_gram_cap_elsewhere_stays_as_is():
    # A GA batch's 7-OH per-gram cap (0.5 mg/g, as is) is untouched by moisture.
    found = dose.seven_oh(
        batch(
            [result(analyte="mitragynine", value=40.0, unit="mg/g"), oh(0.45), moisture(50.0)],
            register(markets="GA", serving_size_g=1.0),
        ),
        thresholds(),
    )
    assert select(found, basis="per_g") == []
