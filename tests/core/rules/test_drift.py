"""Golden tests for potency_drift (drift.py): a batch mean outside the centre
+/- 3 SD of at least five earlier batches of the same product fails ('>' 3 SD)."""

from __future__ import annotations

import polars as pl
import pytest

from kqc.core.rules import drift, evaluate
from tests.core.rules.helpers import batch, nd, only, register, result, select, thresholds

# Five earlier batch means 9, 11, 9, 11, 10 mg/g:
# centre = 50 / 5 = 10; SS = 1 + 1 + 1 + 1 + 0 = 4; SD = sqrt(4 / 4) = 1.0.
# Control limits: 10 - 3 = 7 and 10 + 3 = 13 mg/g.
EARLIER = [("E1", 9.0, "mg/g"), ("E2", 11.0, "mg/g"), ("E3", 9.0, "mg/g")]
EARLIER += [("E4", 11.0, "mg/g"), ("E5", 10.0, "mg/g")]


def drift_of(values, earlier=EARLIER, unit="mg/g"):
    rows = [
        result(analyte="mitragynine", value=v, unit=unit, sample_id=f"S{i}")
        for i, v in enumerate(values)
    ]
    return drift.potency_drift(batch(rows, register()), thresholds(), earlier)


@pytest.mark.parametrize(
    ("mean", "limit"),
    [
        (13.0, None),  # |13 - 10| / 1 = 3.0 SD: on the control limit, allowed
        (12.99, None),
        (13.01, 13.0),  # 3.01 SD above
        (7.0, None),  # 3.0 SD below
        (7.01, None),
        (6.99, 7.0),  # 3.01 SD below: the lower control limit
    ],
)
def test_drift_around_three_sd(mean, limit):
    found = drift_of([mean])
    if limit is None:
        assert found == []
    else:
        f = only(found)
        assert (f.rule, f.analyte) == ("potency_drift", "mitragynine")
        assert f.observed == pytest.approx(mean)
        assert f.limit_value == pytest.approx(limit)
        assert f.unit == "mg/g"
        assert f.evidence["centre"] == pytest.approx(10.0)
        assert f.evidence["sd"] == pytest.approx(1.0)
        assert f.evidence["n_earlier"] == 5
        assert f.evidence["distance_sd"] == pytest.approx(3.01)


def test_drift_uses_the_batch_mean():
    # (12.9 + 13.13) / 2 = 13.015 > 13; neither needs to be the judged figure alone.
    f = only(drift_of([12.9, 13.13]))
    assert f.observed == pytest.approx(13.015)


def test_drift_needs_five_earlier_batches():
    # Four earlier batches (9, 11, 9, 11): no control chart yet, even for a mean of 100.
    assert drift_of([100.0], earlier=EARLIER[:4]) == []


def test_drift_ignores_the_batch_itself_and_other_units():
    # B1 (the batch judged) and a mg/unit mean are not history: only 4 mg/g batches remain.
    earlier = [*EARLIER[:4], ("B1", 100.0, "mg/g"), ("E9", 10.0, "mg/unit")]
    assert drift_of([100.0], earlier=earlier) == []


def test_drift_on_per_unit_means_when_no_concentration():
    # Capsules measured in mg/unit: history in mg/unit (50, 52, 48, 50, 50: centre 50,
    # SD = sqrt((0 + 4 + 4 + 0 + 0) / 4) = sqrt(2) = 1.414; upper limit 50 + 4.243 = 54.243).
    earlier = [(f"E{i}", m, "mg/unit") for i, m in enumerate([50.0, 52.0, 48.0, 50.0, 50.0])]
    assert drift_of([54.2], earlier=earlier, unit="mg/unit") == []
    f = only(drift_of([54.3], earlier=earlier, unit="mg/unit"))
    assert f.unit == "mg/unit"
    assert f.limit_value == pytest.approx(50 + 3 * 2**0.5)


def test_drift_mean_counts_a_non_detect_as_half_loq():
    # 26 mg/g and '<LOQ' (LOQ 0.04 -> 0.02): mean 13.01 > 13.
    rows = [
        result(analyte="mitragynine", value=26.0, unit="mg/g"),
        nd("mitragynine", 0.04, unit="mg/g", sample_id="S2"),
    ]
    f = only(drift.potency_drift(batch(rows, register()), thresholds(), EARLIER))
    assert f.observed == pytest.approx(13.01)


def test_batch_mean_prefers_concentration():
    rows = [
        result(analyte="mitragynine", value=12.0, unit="mg/g"),
        result(analyte="mitragynine", value=50.0, unit="mg/unit"),
        result(analyte="mitragynine", value=99.0, unit="mg/g", sample_type="spike"),
    ]
    assert drift.batch_mean(rows) == (12.0, "mg/g")


# --- through evaluate(): "earlier" means made before, per product ---------------


def _frame(rows):
    return pl.DataFrame(rows, infer_schema_length=None)


def _history_row(product, batch_id, made, value):
    """One control-chart point (what the store keeps per batch)."""
    return dict(product_id=product, batch_id=batch_id, made=made, unit="mg/g", mean_value=value)


def _run(history_rows, value=13.01):
    own = result(batch_id="B6", analyte="mitragynine", value=value, unit="mg/g")
    reg = register(batch_id="B6", manufactured_on="2026-06-01", label_claim_mg_per_serving=65.0)
    frame = evaluate(
        ["B6"],
        _frame([own]),
        _frame([reg]),
        thresholds(),
        _frame(history_rows),
        "test-version",
    )
    return frame.filter(pl.col("rule") == "potency_drift")


EARLIER_HISTORY = [
    _history_row("P1", f"E{i}", f"2026-0{i}-01", m)
    for i, m in enumerate([9.0, 11.0, 9.0, 11.0, 10.0], start=1)
]


def test_evaluate_flags_drift_against_earlier_batches():
    flags = _run([*EARLIER_HISTORY, _history_row("P1", "B6", "2026-06-01", 13.01)])
    assert flags.height == 1
    row = flags.row(0, named=True)
    assert row["observed"] == pytest.approx(13.01)
    assert row["limit_value"] == pytest.approx(13.0)
    assert row["threshold_version"] == "test-version"


def test_evaluate_drift_at_the_limit_passes():
    assert _run(EARLIER_HISTORY, value=13.0).height == 0


def test_evaluate_drift_ignores_later_batches_and_other_products():
    # Only four batches made before B6; a later batch and another product do not count.
    history = [
        *EARLIER_HISTORY[:4],
        _history_row("P1", "L1", "2026-07-01", 10.0),
        _history_row("P2", "X1", "2026-05-01", 10.0),
    ]
    assert _run(history).height == 0


def test_drift_not_judged_without_mitragynine():
    rows = [result(value=0.5)]
    assert select(drift.potency_drift(batch(rows, register()), thresholds(), EARLIER)) == []


def test_batch_means_count_non_detects_as_half_the_loq_and_prefer_mg_per_g():
    rows = [
        result(batch_id="B1", analyte="mitragynine", value=14.0, unit="mg/g"),
        nd("mitragynine", 2.0, batch_id="B1", unit="mg/g"),  # counts as 1.0
        result(batch_id="B1", analyte="mitragynine", value=7.0, unit="mg/unit"),
        result(batch_id="B2", analyte="mitragynine", value=7.0, unit="mg/unit"),
        result(batch_id="B3", analyte="lead", value=0.2, unit="ug/g"),
    ]
    means = drift.batch_means(_frame(rows))
    assert means.rows() == [("B1", "mg/g", 7.5, 2), ("B2", "mg/unit", 7.0, 1)]
