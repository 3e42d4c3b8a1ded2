"""Golden tests for what every rule shares (model.py, applicable.py) and for
evaluate() over frames: limit comparisons, non-detect verdicts, profiles,
forms, and the flag frame."""

from __future__ import annotations

import json

import polars as pl
import pytest

from kqc.core.qualifiers import ABOVE_ULOQ, BELOW_LOD, DETECTED, NOT_DETECTED, TNTC
from kqc.core.rules import Finding, batch_profiles, evaluate
from kqc.core.rules.applicable import applicable
from kqc.core.rules.evaluate import HISTORY_COLUMNS
from kqc.core.rules.frames import FLAG_SCHEMA
from kqc.core.rules.model import judge, to_frame
from tests.core.rules.helpers import (
    batch,
    nd,
    register,
    result,
    threshold,
    thresholds,
)

# --- Threshold.fails: the operator is the one written in thresholds.csv --------


@pytest.mark.parametrize(
    ("op", "below", "at", "above"),
    [
        (">", False, False, True),
        (">=", False, True, True),
        ("<", True, False, False),
        ("<=", True, True, False),
    ],
)
def test_fails_operators(op, below, at, above):
    t = threshold(limit_value=1.2, fails_when=op)
    assert (t.fails(1.19), t.fails(1.2), t.fails(1.21)) == (below, at, above)


def test_fails_detected():
    t = threshold(limit_value=None, fails_when="detected", unit="")
    assert (t.fails(0.0), t.fails(1e-9)) == (False, True)


@pytest.mark.parametrize(
    ("op", "text"),
    [(">", "<= 5 ug/day"), (">=", "< 5 ug/day"), ("<", ">= 5 ug/day"), ("<=", "> 5 ug/day")],
)
def test_describe_states_what_is_allowed(op, text):
    assert threshold(limit_value=5.0, unit="ug/day", fails_when=op).describe() == text


def test_citation_marks_unconfirmed_limits():
    assert threshold(source="S", confirmed=True).citation() == "S"
    assert threshold(source="S", confirmed=False).citation() == ("S [unconfirmed: a house setting]")


# --- judge: one result against one limit ----------------------------------------

LEAD_PER_G = threshold(limit_value=1.2, fails_when=">=")  # Utah: Pb < 1.2 ug/g
LEAD_PER_DAY = threshold(limit_value=5.0, unit="ug/day", basis="per_day", fails_when=">")


@pytest.mark.parametrize(
    ("row", "t", "scale", "verdict", "observed"),
    [
        (result(value=1.2), LEAD_PER_G, 1.0, "fail", 1.2),
        (result(value=1.19), LEAD_PER_G, 1.0, "pass", 1.19),
        # 0.25 ug/g x 20 g/day = 5.0 ug/day: allowed ('>' 5)
        (result(value=0.25), LEAD_PER_DAY, 20.0, "pass", 5.0),
        (result(value=0.26), LEAD_PER_DAY, 20.0, "fail", 5.2),
        # non-detects: pass when LOQ <= limit (even = limit), else inconclusive
        (nd("lead", 1.2), LEAD_PER_G, 1.0, "pass", None),
        (nd("lead", 1.21), LEAD_PER_G, 1.0, "inconclusive", None),
        (nd("lead", 0.25), LEAD_PER_DAY, 20.0, "pass", None),  # 5.0 ug/day
        (nd("lead", 0.26), LEAD_PER_DAY, 20.0, "inconclusive", None),  # 5.2 ug/day
        (nd("lead", None), LEAD_PER_G, 1.0, "inconclusive", None),
        # '<LOD' with only an LOD, ND with only an LOQ
        (result(value=None, qualifier=BELOW_LOD, lod=0.5), LEAD_PER_G, 1.0, "pass", None),
        (
            result(value=None, qualifier=NOT_DETECTED, loq=2.0),
            LEAD_PER_G,
            1.0,
            "inconclusive",
            None,
        ),
        # a stated bound ('< 0.5') wins over the LOQ column
        (nd("lead", 5.0, bound=0.5), LEAD_PER_G, 1.0, "pass", None),
        # 'detected' without an amount cannot meet a numeric limit
        (result(value=None, qualifier=DETECTED), LEAD_PER_G, 1.0, "inconclusive", None),
        # above the range: '>2' ug/g is certainly >= 1.2; '>1' could be 1.1
        (result(value=None, qualifier=ABOVE_ULOQ, bound=2.0), LEAD_PER_G, 1.0, "fail", 2.0),
        (
            result(value=None, qualifier=ABOVE_ULOQ, bound=1.0),
            LEAD_PER_G,
            1.0,
            "inconclusive",
            None,
        ),
        (result(value=None, qualifier=TNTC), LEAD_PER_G, 1.0, "fail", None),
    ],
)
def test_judge(row, t, scale, verdict, observed):
    got, seen, _ = judge(t, row, scale)
    assert got == verdict
    assert seen == (None if observed is None else pytest.approx(observed))


def test_judge_detected_rule():
    t = threshold(limit_value=None, fails_when="detected", unit="")
    assert judge(t, result(value=None, qualifier=DETECTED), 1.0)[0] == "fail"
    assert judge(t, result(value=0.01), 1.0)[0] == "fail"
    assert judge(t, result(value=0.0), 1.0)[0] == "pass"
    assert judge(t, nd("lead", 100.0), 1.0)[0] == "pass"


def test_judge_lower_limit_with_non_detect_is_inconclusive():
    # A minimum (fails '<' 90): '<LOQ' says nothing about being above it.
    t = threshold(limit_value=90.0, fails_when="<")
    assert judge(t, nd("lead", 1.0), 1.0)[0] == "inconclusive"


# --- profiles and forms ----------------------------------------------------------


@pytest.mark.parametrize(
    ("markets", "profiles"),
    [
        (None, ("default",)),
        ("", ("default",)),
        ("UT", ("default", "UT")),
        ("UT;GA", ("default", "UT", "GA")),
        ("ut, ga", ("default", "UT", "GA")),
        ("UT;UT", ("default", "UT")),
    ],
)
def test_batch_profiles(markets, profiles):
    assert batch_profiles({"markets": markets}) == profiles


def test_batch_profiles_without_register():
    assert batch_profiles(None) == ("default",)


def test_market_profile_applies_only_when_named():
    b_default = batch([], register())
    b_ga = batch([], register(markets="GA"))
    caps = [t for t in applicable(thresholds(), b_ga, "label_claim") if t.unit == "mg/serving"]
    assert [t.profile for t in caps] == ["GA"]
    assert all(t.profile == "default" for t in applicable(thresholds(), b_default, "label_claim"))


def test_same_limit_in_two_profiles_is_judged_once():
    b = batch([], register(markets="UT;RI"))
    lead = [
        t
        for t in applicable(thresholds(), b, "heavy_metal")
        if t.analyte == "lead" and t.basis == "per_g"
    ]
    assert [(t.profile, t.limit_value) for t in lead] == [("default;UT;RI", 1.2)]


def test_forms_select_the_limit():
    # TAMC: 1e5 CFU/g for powders, 1e4 for extracts; a batch with no register is a powder.
    def tamc(reg):
        b = batch([], reg)
        return sorted(
            t.limit_value for t in applicable(thresholds(), b, "microbial") if t.analyte == "tamc"
        )

    assert tamc(register(form="powder")) == [100_000]
    assert tamc(register(form="extract")) == [10_000]
    assert tamc(None) == [100_000]
    assert tamc(register(form="extract", markets="UT")) == [10_000, 10_000_000]


# --- findings as flags -----------------------------------------------------------


def test_flag_ids_tell_findings_apart_and_are_stable():
    def make(profile, key=""):
        return Finding(
            "B1",
            "heavy_metal",
            "lead",
            "critical",
            1.3,
            1.2,
            "ug/g",
            "per_g",
            profile,
            "src",
            "msg",
            {},
            key,
        )

    assert make("default").flag_id() == make("default").flag_id()
    assert make("default").flag_id() != make("default;UT").flag_id()
    assert make("default", ">=").flag_id() != make("default", ">").flag_id()


def test_to_frame_rounds_computed_figures():
    f = Finding(
        "B1",
        "label_claim",
        "mitragynine",
        "major",
        110.00000000000001,
        110.0,
        "% of label claim",
        "per_serving",
        "default",
        "src",
        "msg",
        {"n": 1},
    )
    frame = to_frame([f], "v1")
    assert dict(frame.schema) == FLAG_SCHEMA
    row = frame.row(0, named=True)
    assert row["observed"] == 110.0
    assert row["threshold_version"] == "v1"
    assert json.loads(row["evidence"]) == {"n": 1}


# --- evaluate() over frames ------------------------------------------------------


def _frame(rows):
    return pl.DataFrame(rows, infer_schema_length=None)


EMPTY_HISTORY = pl.DataFrame(schema={c: pl.String for c in HISTORY_COLUMNS})


def _complete(batch_id, **lead):
    """A full panel that passes every shipped limit (a powder, 5 g twice a day)."""
    rows = [
        result(batch_id=batch_id, analyte="mitragynine", value=20.0, unit="mg/g"),
        result(batch_id=batch_id, analyte="7_hydroxymitragynine", value=0.1, unit="mg/g"),
        result(batch_id=batch_id, analyte="lead", value=0.2, **lead),
        result(batch_id=batch_id, analyte="arsenic", value=0.2),
        result(batch_id=batch_id, analyte="cadmium", value=0.1),
        result(batch_id=batch_id, analyte="mercury", value=0.05),
    ]
    rows += [
        result(
            batch_id=batch_id,
            analyte=a,
            value=None,
            qualifier=NOT_DETECTED,
            unit=None,
            test_portion_g=25.0,
        )
        for a in ("salmonella", "e_coli")
    ]
    return rows


def test_evaluate_clean_batch_has_no_flags():
    # lead 0.2 ug/g x 5 g x 2 = 2 ug/day <= 5; mitragynine 20 mg/g x 5 g = 100 mg = 100 %;
    # 7-OH 0.1 / 20.1 = 0.5 % of the alkaloids.
    flags = evaluate(
        ["B1"], _frame(_complete("B1")), _frame([register()]), thresholds(), EMPTY_HISTORY, "v"
    )
    assert flags.height == 0
    assert dict(flags.schema) == FLAG_SCHEMA


def test_evaluate_profiles_from_register_markets():
    # Lead 1.2 ug/g in B1 (sold in UT) and B2 (no market): one per-gram flag each, the UT
    # batch's naming both profiles. Per day: 1.2 x 10 = 12 ug/day > 5 in both.
    rows = _complete("B1") + _complete("B2")
    rows = [{**r, "value": 1.2} if r["analyte"] == "lead" else r for r in rows]
    regs = [register(batch_id="B1", markets="UT"), register(batch_id="B2")]
    flags = evaluate(["B1", "B2"], _frame(rows), _frame(regs), thresholds(), EMPTY_HISTORY, "v")
    per_g = flags.filter(pl.col("basis") == "per_g").sort("batch_id")
    assert per_g.select(
        "batch_id", "rule", "analyte", "profile", "observed", "limit_value"
    ).rows() == [
        ("B1", "heavy_metal", "lead", "default;UT", 1.2, 1.2),
        ("B2", "heavy_metal", "lead", "default", 1.2, 1.2),
    ]
    per_day = flags.filter(pl.col("basis") == "per_day").sort("batch_id")
    assert per_day["observed"].to_list() == [pytest.approx(12.0)] * 2
    assert set(flags["threshold_version"]) == {"v"}


def test_evaluate_batch_without_results_misses_every_panel():
    flags = evaluate(
        ["B9"], _frame(_complete("B1")), _frame([register()]), thresholds(), EMPTY_HISTORY, "v"
    )
    assert flags["rule"].to_list() == ["missing_panel"] * 3
    assert set(flags["batch_id"]) == {"B9"}
