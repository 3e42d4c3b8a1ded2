"""Golden tests for qc_failure (qc.py): a method blank at or above its LOQ, a
spike or CRM recovery outside 75-125 %, a duplicate RPD above 30 %."""

from __future__ import annotations

import pytest

from kqc.core.rules import qc
from tests.core.rules.helpers import batch, nd, only, register, result, thresholds


def run(rows):
    return qc.qc_failure(batch(rows, register()), thresholds())


# --- method blank: fails at or above its LOQ ------------------------------------


@pytest.mark.parametrize(
    ("value", "fails"),
    [
        (0.05, True),  # = LOQ 0.05: fails ('>=')
        (0.049, False),
        (0.051, True),
    ],
)
def test_blank_against_its_loq(value, fails):
    found = run([result(sample_id="BLK", sample_type="blank", value=value, loq=0.05)])
    if not fails:
        assert found == []
    else:
        f = only(found)
        assert (f.rule, f.analyte) == ("qc_failure", "lead")
        assert f.observed == pytest.approx(value)
        assert f.limit_value is None  # the limit is the blank's own LOQ
        assert "LOQ 0.05" in f.message
        assert f.evidence["qc_sample"] == "BLK"


def test_blank_non_detect_passes():
    assert run([nd("lead", 0.05, sample_type="blank")]) == []


def test_blank_without_loq_is_not_judged():
    assert run([result(sample_type="blank", value=0.5, loq=None)]) == []


# --- spike and CRM recovery: 75-125 % ------------------------------------------


@pytest.mark.parametrize("kind", ["spike", "crm"])
@pytest.mark.parametrize(
    ("measured", "recovery", "limit"),
    [
        # spiked / certified at 10 ug/g
        (10.0, 100.0, None),
        (7.5, 75.0, None),  # 7.5 / 10 = 75 %: at the limit, allowed ('<' 75 fails)
        (7.51, 75.1, None),
        (7.49, 74.9, 75.0),
        (12.5, 125.0, None),  # 125 %: at the limit, allowed ('>' 125 fails)
        (12.49, 124.9, None),
        (12.51, 125.1, 125.0),
    ],
)
def test_recovery(kind, measured, recovery, limit):
    found = run([result(sample_id="QC1", sample_type=kind, value=measured, spike_level=10.0)])
    if limit is None:
        assert found == []
    else:
        f = only(found)
        assert (f.rule, f.analyte) == ("qc_failure", "lead")
        assert f.observed == pytest.approx(recovery)
        assert f.limit_value == limit
        assert f.unit == "% recovery"
        assert f.severity == "major"


def test_recovery_exactly_75_percent_of_a_decimal_spike_passes():
    # Lead spiked at 0.4 ug/g, recovered 0.3 ug/g: 0.3 / 0.4 = 75 % exactly, allowed.
    assert run([result(sample_type="spike", value=0.3, spike_level=0.4)]) == []


def test_one_flag_per_failing_qc_sample():
    rows = [
        result(sample_id="SPK1", sample_type="spike", value=5.0, spike_level=10.0),  # 50 %
        result(sample_id="CRM1", sample_type="crm", value=15.0, spike_level=10.0),  # 150 %
        result(sample_id="SPK2", sample_type="spike", value=10.0, spike_level=10.0),  # 100 %
    ]
    found = run(rows)
    assert sorted((f.evidence["qc_sample"], f.observed, f.limit_value) for f in found) == [
        ("CRM1", 150.0, 125.0),
        ("SPK1", 50.0, 75.0),
    ]
    assert len({f.flag_id() for f in found}) == 2


def test_spike_without_level_is_not_judged():
    assert run([result(sample_type="spike", value=1.0, spike_level=None)]) == []


def test_spike_not_recovered_at_all_fails():
    # Spiked at 1.0 ug/g, reported '<LOQ' with LOQ 0.1: recovery < 0.1 / 1.0 = 10 % < 75 %.
    f = only(run([nd("lead", 0.1, sample_type="spike", spike_level=1.0)]))
    assert f.rule == "qc_failure"
    assert f.limit_value == 75.0


# --- duplicate: RPD = |dup - sample| / mean(dup, sample) x 100, fails > 30 % ---------


@pytest.mark.parametrize(
    ("duplicate", "rpd"),
    [
        (11.5, None),  # |11.5 - 8.5| / 10.0 = 30.0 %: at the limit, allowed
        (11.4, None),  # 2.9 / 9.95 = 29.15 %
        (11.6, 3.1 / 10.05 * 100),  # 3.1 / 10.05 = 30.85 %
        (5.5, 3.0 / 7.0 * 100),  # below the sample: 3.0 / 7.0 = 42.86 %
    ],
)
def test_duplicate_rpd(duplicate, rpd):
    rows = [result(value=8.5), result(sample_id="DUP", sample_type="duplicate", value=duplicate)]
    found = run(rows)
    if rpd is None:
        assert found == []
    else:
        f = only(found)
        assert (f.rule, f.analyte) == ("qc_failure", "lead")
        assert f.observed == pytest.approx(rpd)
        assert f.limit_value == 30.0
        assert f.unit == "% RPD"


def test_duplicate_compares_with_the_same_unit_number():
    # Capsule 2 (unit_no 2) is 8.5; its duplicate 11.6 -> RPD 30.85 % fails, though the
    # mean of both capsules (11.6 and 8.5 -> 10.05) would be close to the duplicate.
    rows = [
        result(value=11.6, unit="mg/unit", analyte="mitragynine", unit_no=1),
        result(value=8.5, unit="mg/unit", analyte="mitragynine", unit_no=2),
        result(
            sample_id="DUP",
            sample_type="duplicate",
            value=11.6,
            unit="mg/unit",
            analyte="mitragynine",
            unit_no=2,
        ),
    ]
    f = only(run(rows))
    assert f.analyte == "mitragynine"
    assert f.observed == pytest.approx(3.1 / 10.05 * 100)


def test_duplicate_without_a_measured_sample_is_not_judged():
    rows = [nd("lead", 0.1), result(sample_type="duplicate", value=5.0)]
    assert run(rows) == []


def test_production_results_are_never_qc():
    assert run([result(value=50.0, spike_level=10.0, loq=0.01)]) == []
