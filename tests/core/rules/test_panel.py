"""Golden tests for missing_panel (panel.py): a batch needs an alkaloid potency
result, the four Utah Table 2 metals and both pathogens."""

from __future__ import annotations

import pytest

from kqc.core.qualifiers import NOT_DETECTED
from kqc.core.rules import panel
from tests.core.rules.helpers import batch, nd, only, result

FULL = [
    "mitragynine",
    "7_hydroxymitragynine",
    "lead",
    "arsenic",
    "cadmium",
    "mercury",
    "salmonella",
    "e_coli",
]


def rows(analytes, **kw):
    return [result(analyte=a, value=1.0, **kw) for a in analytes]


def test_complete_panel_gives_no_flag():
    assert panel.missing_panel(batch(rows(FULL))) == []


def test_non_detects_count_as_tested():
    # A '<LOQ' lead and an absent salmonella are results: the panel is complete.
    found = [
        *rows(["mitragynine", "7_hydroxymitragynine", "arsenic", "cadmium", "mercury", "e_coli"]),
        nd("lead", 0.1),
        result(analyte="salmonella", value=None, qualifier=NOT_DETECTED, test_portion_g=25),
    ]
    assert panel.missing_panel(batch(found)) == []


@pytest.mark.parametrize(
    ("dropped", "panel_name"),
    [
        ("mitragynine", "alkaloid potency"),
        ("lead", "heavy metals"),
        ("mercury", "heavy metals"),
        ("salmonella", "pathogens"),
        ("e_coli", "pathogens"),
    ],
)
def test_one_missing_analyte(dropped, panel_name):
    f = only(panel.missing_panel(batch(rows([a for a in FULL if a != dropped]))))
    assert f.rule == "missing_panel"
    assert f.severity == "minor"
    assert f.evidence == {"panel": panel_name, "missing": [dropped]}
    assert dropped in f.message


def test_empty_batch_misses_three_panels():
    found = panel.missing_panel(batch([]))
    assert sorted(f.evidence["panel"] for f in found) == [
        "alkaloid potency",
        "heavy metals",
        "pathogens",
    ]
    metals = next(f for f in found if f.evidence["panel"] == "heavy metals")
    assert metals.evidence["missing"] == ["lead", "arsenic", "cadmium", "mercury"]
    assert len({f.flag_id() for f in found}) == 3


def test_qc_samples_do_not_complete_a_panel():
    # Lead measured only in a blank and a spike: the batch's own lead is still missing.
    found = [
        *rows([a for a in FULL if a != "lead"]),
        result(analyte="lead", value=0.0, sample_type="blank", loq=0.05),
        result(analyte="lead", value=1.0, sample_type="spike", spike_level=1.0),
    ]
    f = only(panel.missing_panel(batch(found)))
    assert f.evidence["missing"] == ["lead"]


def test_missing_7oh_is_a_missing_panel():
    f = only(panel.missing_panel(batch(rows([a for a in FULL if a != "7_hydroxymitragynine"]))))
    assert f.evidence["missing"] == ["7_hydroxymitragynine"]
