"""Golden tests of the USP <2023> Table 2 row each product form is judged by,
through the real limit rules and the shipped thresholds file:

- powder, leaf: dried or powdered botanicals (TAMC 10^5, TYMC 10^3, BTGN 10^3);
- capsule, tablet: nutritional supplements with botanicals (TAMC 10^4,
  TYMC 10^3, no BTGN row);
- tea: botanicals to be treated with boiling water before use (TAMC 10^6,
  TYMC 10^4, BTGN 10^2);
- every form: Salmonella and E. coli absent in 10 g.

Counts are CFU/g; every limit is "NMT", so the limit itself passes and one
CFU/g more fails ('>')."""

from __future__ import annotations

import pytest

from kqc.core.products import FORMS
from kqc.core.qualifiers import DETECTED, NOT_DETECTED
from kqc.core.rules import limits
from kqc.core.rules.applicable import applicable
from tests.core.rules.helpers import batch, only, register, result, select, thresholds

DRIED, SUPPLEMENT, BOILED = "dried or powdered", "nutritional supplements", "boiling water"

# (form, analyte, limit CFU/g, the Table 2 row the source must name)
ROWS = [
    ("powder", "tamc", 100_000, DRIED),
    ("powder", "tymc", 1_000, DRIED),
    ("powder", "btgn", 1_000, DRIED),
    ("leaf", "tamc", 100_000, DRIED),
    ("leaf", "btgn", 1_000, DRIED),
    ("capsule", "tamc", 10_000, SUPPLEMENT),
    ("capsule", "tymc", 1_000, SUPPLEMENT),
    ("tablet", "tamc", 10_000, SUPPLEMENT),
    ("tablet", "tymc", 1_000, SUPPLEMENT),
    ("tea", "tamc", 1_000_000, BOILED),
    ("tea", "tymc", 10_000, BOILED),
    ("tea", "btgn", 100, BOILED),
]


def counts(form: str, analyte: str, count: float, markets: str | None = None):
    row = result(analyte=analyte, value=float(count), unit="CFU/g")
    return limits.evaluate(batch([row], register(form=form, markets=markets)), thresholds())


@pytest.mark.parametrize(("form", "analyte", "limit", "row"), ROWS)
def test_at_the_limit_passes(form, analyte, limit, row):
    assert select(counts(form, analyte, limit), rule="microbial") == []


@pytest.mark.parametrize(("form", "analyte", "limit", "row"), ROWS)
def test_below_the_limit_passes(form, analyte, limit, row):
    assert select(counts(form, analyte, limit * 0.9), rule="microbial") == []


@pytest.mark.parametrize(("form", "analyte", "limit", "row"), ROWS)
def test_above_the_limit_fails_citing_its_row(form, analyte, limit, row):
    f = only(counts(form, analyte, limit + 1), rule="microbial", analyte=analyte)
    assert f.observed == pytest.approx(limit + 1)
    assert f.limit_value == pytest.approx(limit)
    assert (f.unit, f.basis, f.profile, f.severity) == ("CFU/g", "per_g", "default", "major")
    assert "USP <2023> Microbiological Attributes" in f.source and "Table 2" in f.source
    assert row in f.source
    assert f"{limit + 1:g} CFU/g" in f.message


@pytest.mark.parametrize(
    ("form", "count"),
    [
        # The old dried-botanical row wrongly applied to these forms:
        ("tea", 500_000),  # over 10^5, under the tea row's 10^6: passes
        ("capsule", 50_000),  # under 10^5, over the supplement row's 10^4: fails
        ("tablet", 50_000),
    ],
)
def test_tamc_between_the_old_and_the_new_row(form, count):
    found = select(counts(form, "tamc", count), rule="microbial")
    if form == "tea":
        assert found == []
    else:
        assert [f.limit_value for f in found] == [10_000]


def test_tea_btgn_is_ten_times_stricter_than_the_powder_row():
    # 500 CFU/g BTGN: within 10^3 for a powder, above 10^2 for a tea.
    assert select(counts("powder", "btgn", 500), rule="microbial") == []
    f = only(counts("tea", "btgn", 500), rule="microbial")
    assert f.limit_value == 100


@pytest.mark.parametrize("form", ["capsule", "tablet"])
def test_the_supplement_row_sets_no_btgn_limit(form):
    # USP's nutritional-supplement row limits TAMC and TYMC only: a capsule's
    # BTGN is judged only where a market sets a limit (Utah: < 10^4).
    assert select(counts(form, "btgn", 5_000), rule="microbial") == []
    f = only(counts(form, "btgn", 10_000, markets="UT"), rule="microbial")
    assert (f.profile, f.limit_value) == ("UT", 10_000)


@pytest.mark.parametrize("form", ["capsule", "tea"])
def test_utah_counts_still_apply_on_top(form):
    # 2 x 10^6 TAMC: over the default row (10^4 or 10^6), within Utah's 10^7.
    found = counts(form, "tamc", 2_000_000, markets="UT")
    assert [f.profile for f in select(found, rule="microbial")] == ["default"]
    over_utah = counts(form, "tamc", 1.1e7, markets="UT")
    assert {f.profile for f in select(over_utah, rule="microbial")} == {"default", "UT"}


@pytest.mark.parametrize("form", ["tea", "capsule", "tablet", "powder"])
@pytest.mark.parametrize("analyte", ["salmonella", "e_coli"])
def test_pathogens_absent_in_ten_grams_for_every_row(form, analyte):
    reg = register(form=form)
    detected = result(analyte=analyte, value=None, qualifier=DETECTED, unit=None)
    f = only(limits.evaluate(batch([detected], reg), thresholds()), rule="microbial")
    assert (f.analyte, f.limit_value, f.basis) == (analyte, 10, "presence_in_g")
    # Absent in 10 g passes; absent in 1 g shows too little.
    absent = result(
        analyte=analyte, value=None, qualifier=NOT_DETECTED, unit=None, test_portion_g=10.0
    )
    assert limits.evaluate(batch([absent], reg), thresholds()) == []
    small = {**absent, "test_portion_g": 1.0}
    found = limits.evaluate(batch([small], reg), thresholds())
    assert only(found, rule="inconclusive").analyte == analyte


@pytest.mark.parametrize("form", FORMS)
def test_every_form_has_one_count_row_of_each_kind(form):
    """No form falls through the table, and none is judged by two rows."""
    probe = batch([], register(form=form))
    rows = [t for t in applicable(thresholds(), probe, "microbial") if t.basis == "per_g"]
    analytes = [t.analyte for t in rows]
    assert "tamc" in analytes and "tymc" in analytes
    assert len(analytes) == len(set(analytes))


def test_every_usp_count_row_says_which_table_row_it_is():
    usp = [
        t
        for t in thresholds()
        if t.rule == "microbial" and t.profile == "default" and t.basis == "per_g"
    ]
    named = {
        "dried or powdered botanicals",
        "nutritional supplements with botanicals",
        "botanicals to be treated with boiling water before use",
        "powdered botanical extracts / tinctures",
    }
    for t in usp:
        assert t.forms, f"{t.analyte} row applies to no form in particular"
        assert any(n in t.source for n in named), t.source
