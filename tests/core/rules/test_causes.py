"""One cause, one finding (causes.py): the inconclusive findings one missing
thing causes (a batch's register row, a large enough test portion, a lower
LOQ, an LOQ, an amount, a convertible unit) are reported as one finding that
lists every judgement it blocks and says what to send. Pure rules over the
shipped thresholds; figures computed by hand in the comments."""

from __future__ import annotations

import json

import polars as pl
import pytest

from kqc.core.qualifiers import ABOVE_ULOQ, DETECTED, NOT_DETECTED
from kqc.core.rules import causes, limits
from kqc.core.rules.evaluate import batch_findings, evaluate
from kqc.core.rules.model import Batch
from tests.core.rules.helpers import (
    batch,
    nd,
    only,
    register,
    result,
    select,
    threshold,
    thresholds,
)

METALS = {"lead": 0.5, "arsenic": 0.1, "cadmium": 0.05, "nickel": 1.0}
PER_DAY = {"lead": 5, "arsenic": 15, "cadmium": 5, "mercury": 15, "nickel": 200}  # ug/day


def complete_panel(batch_id: str = "B1") -> list[dict]:
    """A powder's full certificate that passes every per-gram limit: metals,
    mitragynine 14 mg/g, 7-OH 0.7 % of the alkaloids, both pathogens absent in 25 g."""
    rows = [result(batch_id=batch_id, analyte=a, value=v) for a, v in METALS.items()]
    rows.append(nd("mercury", 0.005, batch_id=batch_id))
    rows.append(result(batch_id=batch_id, analyte="mitragynine", value=14.0, unit="mg/g"))
    rows.append(result(batch_id=batch_id, analyte="7_hydroxymitragynine", value=0.1, unit="mg/g"))
    for pathogen in ("salmonella", "e_coli"):
        rows.append(absent(pathogen, 25.0, batch_id=batch_id))
    return rows


def absent(analyte: str, portion: float | None, **overrides) -> dict:
    return result(
        analyte=analyte,
        value=None,
        qualifier=NOT_DETECTED,
        unit=None,
        test_portion_g=portion,
        reported_result="Absent",
        **overrides,
    )


def judged(rows: list[dict], reg: dict | None = None) -> list:
    b = batch(rows, reg)
    return batch_findings(b, thresholds(), [])


def one_sentence(text: str) -> bool:
    """One line, one clause saying what to send, as the other flags end (no full stop)."""
    return "\n" not in text and text.count(": send ") == 1 and not text.endswith(".")


# --- a batch without a register ----------------------------------------------


def test_seven_blocked_limits_make_one_finding_that_lists_them():
    rows = complete_panel()
    # The rules still say each judgement they cannot make: five per-day
    # limits and the two label-claim limits (90 % and 110 %).
    alone = Batch("B1", rows, None)
    assert len(select(limits.evaluate(alone, thresholds()), rule="inconclusive")) == 5
    found = judged(rows)
    [f] = found  # nothing else: every per-gram limit passes, every panel is there
    assert (f.rule, f.analyte, f.severity, f.profile) == ("inconclusive", None, "minor", "default")
    assert f.observed is None and f.limit_value is None
    blocked = f.evidence["blocked"]
    assert f.evidence["cause"] == causes.NO_REGISTER and f.evidence["n_blocked"] == 7
    per_day = {b["analyte"]: b["limit_value"] for b in blocked if b["basis"] == "per_day"}
    assert per_day == PER_DAY
    label = sorted(b["limit_value"] for b in blocked if b["rule"] == "label_claim")
    assert label == [90.0, 110.0]
    assert "USP <2232>" in f.source and "House setting" in f.source
    assert {"serving_size_g", "servings_per_day"} <= set(blocked[0]["register_columns"])
    assert f.evidence["send"]["register_row"] == list(causes.REGISTER_COLUMNS)
    assert f.evidence["judged_as"] == {"form": "powder", "profiles": ["default"]}
    assert one_sentence(f.message)
    assert f.message.startswith("batch B1 has no register row, so 7 judgements cannot be made")
    for text in ("lead <= 5 ug/day", "nickel <= 200 ug/day", ">= 90 % of label claim"):
        assert text in f.message
    assert "send its register row (product_id," in f.message
    assert "serving_size_g, servings_per_day" in f.message


def test_the_finding_of_a_missing_register_keeps_its_id_and_evidence():
    first, again = judged(complete_panel()), judged(complete_panel())
    assert [f.flag_id() for f in first] == [f.flag_id() for f in again]
    # The evidence hash (store.evaluation) reads the evidence as JSON: unchanged.
    assert json.dumps(first[0].evidence, sort_keys=True, default=str) == json.dumps(
        again[0].evidence, sort_keys=True, default=str
    )
    # A result that blocks nothing more leaves the finding as it was.
    more = judged([*complete_panel(), result(analyte="ethanol", value=100.0)])
    assert [f.flag_id() for f in more] == [f.flag_id() for f in first]
    assert more[0].evidence["blocked"] == first[0].evidence["blocked"]


def test_one_blocked_limit_is_still_the_register_finding():
    [f] = select(judged([result(analyte="lead", value=0.5)]), rule="inconclusive")
    assert f.evidence["n_blocked"] == 1 and f.key == "cause:no_register"
    assert "so 1 judgement cannot be made (lead <= 5 ug/day)" in f.message


def test_a_capsule_batch_without_register_lists_its_label_rules():
    # mg/capsule needs no serving size, but only the register gives the claim:
    # the label rules cannot be judged, and say so rather than pass.
    rows = [result(analyte="mitragynine", value=40.0, unit="mg/unit", unit_no=str(i)) for i in "12"]
    [f] = select(judged(rows), rule="inconclusive")
    assert f.evidence["cause"] == causes.NO_REGISTER
    assert sorted(b["limit_value"] for b in f.evidence["blocked"]) == [90.0, 110.0]
    assert "label_claim_mg_per_serving" in f.evidence["blocked"][0]["register_columns"]


def test_the_register_brings_the_real_judgements():
    # 0.6 ug/g lead x 3 g x 3 servings = 5.4 ug/day > 5 (USP <2232>).
    rows = [*complete_panel(), result(analyte="lead", value=0.6, sample_id="S2")]
    assert {f.rule for f in judged(rows)} == {"inconclusive"}
    found = judged(rows, register(serving_size_g=3.0, servings_per_day=3.0))
    assert not select(found, rule="inconclusive")
    lead = only(found, rule="heavy_metal", analyte="lead", basis="per_day")
    assert lead.observed == pytest.approx(5.4)


def test_many_batches_without_registers_give_one_finding_each():
    """The trial report: 12 batches with results and no register rows, each
    blocked on seven judgements, give 12 open findings, not 84."""
    batch_ids = [f"T-{n:02d}" for n in range(12)]
    rows = []
    for batch_id in batch_ids:
        for r in complete_panel(batch_id):
            r["batch_id"] = batch_id
            rows.append(r)
    results = pl.DataFrame(rows, infer_schema_length=None)
    no_register = pl.DataFrame(schema={"batch_id": pl.String, "form": pl.String})
    history = pl.DataFrame(
        schema={
            "product_id": pl.String,
            "batch_id": pl.String,
            "made": pl.String,
            "unit": pl.String,
            "mean_value": pl.Float64,
        }
    )
    for screened in (False, True):
        flags = evaluate(
            batch_ids, results, no_register, thresholds(), history, "v", screened=screened
        )
        assert flags.height == 12, flags
        assert flags["batch_id"].sort().to_list() == batch_ids
        assert set(flags["rule"]) == {"inconclusive"}
        assert flags["flag_id"].n_unique() == 12
        for evidence in flags["evidence"]:
            assert json.loads(evidence)["n_blocked"] == 7


# --- a test portion too small, under several profiles ------------------------


def test_e_coli_in_too_small_a_portion_under_two_profiles_is_one_finding():
    # USP <2023> (default) asks for absence in 10 g, Utah R70-580-5 (UT) in 100 g.
    rows = [r for r in complete_panel() if r["analyte"] != "e_coli"]
    rows.append(absent("e_coli", 1.0))
    found = judged(rows, register(markets="UT", serving_size_g=3.0, servings_per_day=3.0))
    f = only(found, rule="inconclusive", analyte="e_coli")
    assert f.profile == "default;UT"
    assert (f.limit_value, f.unit) == (100.0, "g")  # the one portion that satisfies both
    asks = {b["profile"]: b["needs"] for b in f.evidence["blocked"]}
    assert asks == {"default": 10.0, "UT": 100.0}
    assert f.evidence["send"] == {"test_portion_g": 100.0}
    assert one_sentence(f.message)
    assert f.message.startswith("e_coli absence is shown in 1 g, where default (USP <2023>")
    assert "asks for 10 g and UT (Utah" in f.message and "asks for 100 g" in f.message
    assert f.message.endswith("send a test in 100 g, which satisfies both")
    # Salmonella in 25 g meets USP's 10 g but not Utah's 100 g: one limit, one
    # finding, as the rule wrote it.
    salmonella = only(found, rule="inconclusive", analyte="salmonella")
    assert salmonella.profile == "UT" and salmonella.evidence["for_rule"] == "microbial"


def test_absence_with_no_portion_stated_says_so():
    rows = [r for r in complete_panel() if r["analyte"] != "e_coli"]
    rows.append(absent("e_coli", None))
    found = judged(rows, register(markets="UT"))
    f = only(found, rule="inconclusive", analyte="e_coli")
    assert "absence is shown with no test portion stated" in f.message


def test_a_portion_that_satisfies_one_profile_leaves_the_other():
    rows = [r for r in complete_panel() if r["analyte"] != "e_coli"]
    rows.append(absent("e_coli", 25.0))
    f = only(judged(rows, register(markets="UT")), rule="inconclusive", analyte="e_coli")
    assert f.profile == "UT" and f.limit_value == 100.0
    assert f.message == (
        "cannot show e_coli meets any detection (microbial): absence shown in 25 g, 100 g required"
    )


# --- one result blocking several limits --------------------------------------


def test_one_loq_above_two_limits_asks_for_the_lower_loq():
    # Cadmium '<1' (LOQ 1 ug/g): per gram it could reach 1 >= 0.82 (Utah), per
    # day 1 x 3 g x 3 = 9 > 5 ug/day (USP <2232>). An LOQ at or below 5/9 =
    # 0.5556 ug/g meets both; shown rounded down, 0.555.
    rows = [r for r in complete_panel() if r["analyte"] != "cadmium"]
    rows.append(nd("cadmium", 1.0, reported_result="<1"))
    found = judged(rows, register(serving_size_g=3.0, servings_per_day=3.0))
    f = only(found, rule="inconclusive")
    assert f.analyte == "cadmium" and f.evidence["cause"] == causes.LOQ_ABOVE
    assert f.limit_value == pytest.approx(5 / 9) and f.unit == "ug/g"
    assert {b["basis"] for b in f.evidence["blocked"]} == {"per_g", "per_day"}
    assert f.message == (
        "cadmium '<1' has an LOQ too high to show 2 limits are met (<= 5 ug/day and"
        " < 0.82 ug/g): send a cadmium result with an LOQ at or below 0.555 ug/g,"
        " which satisfies both"
    )


def test_non_detects_in_two_units_are_two_causes():
    # 7-OH '<LOQ' per gram (LOQ 1 mg/g) and per capsule (LOQ 3 mg): each
    # blocks its own two hand-made limits, and each is one finding.
    def oh(**overrides):
        return threshold(rule="7oh_ratio", analyte="7_hydroxymitragynine", **overrides)

    limits_in_force = [
        oh(limit_value=0.5, unit="mg/g", basis="per_g"),
        oh(limit_value=0.4, unit="mg/g", basis="per_g", fails_when=">="),
        oh(limit_value=1.0, unit="mg/serving", basis="per_serving"),
        oh(limit_value=2.0, unit="mg/serving", basis="per_serving"),
    ]
    rows = [
        nd("7_hydroxymitragynine", 1.0, unit="mg/g", reported_result="<1"),
        nd("7_hydroxymitragynine", 3.0, unit="mg/unit", reported_result="<3", sample_id="S2"),
    ]
    found = batch_findings(batch(rows, register(form="capsule")), limits_in_force, [])
    inconclusive = select(found, rule="inconclusive")
    assert [(f.unit, f.limit_value) for f in inconclusive] == [
        ("mg/g", 0.4),  # the LOQ that meets 0.5 and 0.4 mg/g
        ("mg/unit", 1.0),  # one capsule a serving: 1 mg meets 1 and 2 mg/serving
    ]
    assert len({f.flag_id() for f in inconclusive}) == 2


def test_a_non_detect_without_its_loq_is_one_finding():
    rows = [r for r in complete_panel() if r["analyte"] != "lead"]
    rows.append(nd("lead", None, reported_result="ND"))
    f = only(judged(rows, register()), rule="inconclusive")
    assert f.evidence["cause"] == causes.NO_LOQ and f.evidence["n_blocked"] == 2
    assert f.message.startswith("lead 'ND' is reported without its LOQ, so 2 limits cannot")
    assert f.message.endswith("send that LOQ")


def test_a_detection_without_an_amount_is_one_finding():
    rows = [r for r in complete_panel() if r["analyte"] != "lead"]
    rows.append(result(analyte="lead", value=None, qualifier=DETECTED, reported_result="Detected"))
    f = only(judged(rows, register()), rule="inconclusive")
    assert f.evidence["cause"] == causes.NO_AMOUNT and f.evidence["n_blocked"] == 2
    assert f.message.endswith("send the measured amount")


def test_a_result_above_the_range_is_one_finding():
    rows = [r for r in complete_panel() if r["analyte"] != "lead"]
    rows.append(result(analyte="lead", value=None, qualifier=ABOVE_ULOQ, reported_result=">ULOQ"))
    f = only(judged(rows, register()), rule="inconclusive")
    assert f.evidence["cause"] == causes.ABOVE_RANGE
    assert "'>ULOQ' is above the measuring range" in f.message


def test_a_unit_no_register_turns_into_a_serving_is_one_finding():
    # A liquid whose mitragynine is reported in mg/mL: a serving is in g or
    # in dosage units, so the label rules wait on results the register can use.
    rows = [r for r in complete_panel() if r["analyte"] != "mitragynine"]
    rows.append(result(analyte="mitragynine", value=2.0, unit="mg/mL"))
    f = only(judged(rows, register(form="liquid")), rule="inconclusive")
    assert f.evidence["cause"] == causes.UNIT and f.analyte == "mitragynine"
    assert "no register row" not in f.message
    assert f.message.startswith("mitragynine is reported in mg/mL, which no register column")


def test_grouping_leaves_every_other_finding_in_place():
    rows = [r for r in complete_panel() if r["analyte"] != "lead"]
    rows.append(result(analyte="lead", value=2.0))  # fails Utah's 1.2 ug/g
    found = judged(rows)
    assert sorted(f.rule for f in found) == ["heavy_metal", "inconclusive"]
    assert causes.group(batch(rows), found) == found  # grouping twice changes nothing


@pytest.mark.parametrize(
    ("x", "shown"), [(5 / 9, "0.555"), (0.5, "0.5"), (1.2, "1.2"), (200.0, "200"), (1 / 3, "0.333")]
)
def test_a_figure_to_send_is_rounded_down(x, shown):
    assert causes.at_most(x) == shown and float(shown) <= x
