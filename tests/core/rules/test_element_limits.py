"""Golden tests for the ICH Q3D(R2) elements beside lead, arsenic, cadmium,
mercury and nickel: each judged per day against its oral PDE in the shipped
thresholds (schemas/thresholds.csv), at, below and above it. Every figure
is computed by hand in the comments."""

from __future__ import annotations

import pytest

from kqc.core.rules import limits
from tests.core.rules.helpers import batch, nd, only, register, result, select, thresholds

# serving 4 g x 5 servings a day = 20 g of product a day
TWENTY_G_A_DAY = {"serving_size_g": 4.0, "servings_per_day": 5.0}

# ICH Q3D(R2) Appendix 2 Table A.2.1, oral PDE in ug/day, and the severity
# the thresholds file gives each class.
PDE = {
    "cobalt": (50.0, "major"),
    "vanadium": (100.0, "major"),
    "thallium": (8.0, "critical"),
    "gold": (300.0, "major"),
    "palladium": (100.0, "major"),
    "iridium": (100.0, "major"),
    "osmium": (100.0, "major"),
    "rhodium": (100.0, "major"),
    "ruthenium": (100.0, "major"),
    "selenium": (150.0, "major"),
    "silver": (150.0, "major"),
    "platinum": (100.0, "major"),
    "lithium": (550.0, "minor"),
    "antimony": (1200.0, "minor"),
    "barium": (1400.0, "minor"),
    "molybdenum": (3000.0, "minor"),
    "copper": (3000.0, "minor"),
    "tin": (6000.0, "minor"),
    "chromium": (11000.0, "minor"),
}


def run(results, reg=None):
    return limits.evaluate(batch(results, reg), thresholds())


def per_day(found, analyte):
    return select(found, rule="heavy_metal", analyte=analyte, basis="per_day")


@pytest.mark.parametrize(
    ("analyte", "ug_per_g", "verdict"),
    [
        ("chromium", 550.0, "pass"),  # 550 x 20 = 11000 ug/day: at the PDE, allowed
        ("chromium", 549.0, "pass"),  # 10980
        ("chromium", 551.0, "fail"),  # 11020 > 11000
        ("copper", 150.0, "pass"),  # 150 x 20 = 3000: at the PDE
        ("copper", 149.5, "pass"),  # 2990
        ("copper", 150.5, "fail"),  # 3010 > 3000
        ("thallium", 0.4, "pass"),  # 0.4 x 20 = 8.0: at the PDE
        ("thallium", 0.39, "pass"),  # 7.8
        ("thallium", 0.41, "fail"),  # 8.2 > 8
        ("cobalt", 2.5, "pass"),  # 50.0
        ("cobalt", 2.55, "fail"),  # 51.0 > 50
        ("barium", 70.0, "pass"),  # 1400
        ("barium", 70.5, "fail"),  # 1410 > 1400
    ],
)
def test_element_per_day_at_below_and_above_its_pde(analyte, ug_per_g, verdict):
    found = run([result(analyte=analyte, value=ug_per_g)], register(**TWENTY_G_A_DAY))
    assert not select(found, rule="inconclusive")
    judged = per_day(found, analyte)
    if verdict == "pass":
        assert judged == []
        return
    (f,) = judged
    pde, severity = PDE[analyte]
    assert f.observed == pytest.approx(ug_per_g * 20)
    assert (f.limit_value, f.unit, f.profile, f.severity) == (pde, "ug/day", "default", severity)
    assert "ICH Q3D(R2)" in f.source and "Table A.2.1" in f.source


@pytest.mark.parametrize("analyte", sorted(PDE))
def test_every_element_has_its_oral_pde_per_day(analyte):
    pde, severity = PDE[analyte]
    at = pde / 20  # ug/g that makes exactly the PDE at 20 g a day
    assert (
        per_day(run([result(analyte=analyte, value=at)], register(**TWENTY_G_A_DAY)), analyte) == []
    )
    over = run([result(analyte=analyte, value=at * 1.01)], register(**TWENTY_G_A_DAY))
    f = only(over, rule="heavy_metal", analyte=analyte, basis="per_day")
    assert (f.limit_value, f.severity) == (pde, severity)
    assert f.observed == pytest.approx(pde * 1.01)


def test_a_real_panel_at_ten_grams_a_day_passes():
    # 5 g x 2 a day = 10 g: Cr 1.84 ug/g is 18.4 ug/day, Cu 10.2 is 102, Ba 21.3 is 213,
    # Co 0.176 is 1.76, V 0.0635 is 0.635, Sb 0.0084 is 0.084: all far below their PDEs.
    panel = [
        result(analyte="chromium", value=1.84),
        result(analyte="copper", value=10.2),
        result(analyte="barium", value=21.3),
        result(analyte="cobalt", value=0.176),
        result(analyte="vanadium", value=0.0635),
        result(analyte="antimony", value=0.0084),
        nd("thallium", 0.001),
        nd("silver", 0.001),
    ]
    assert select(run(panel, register()), rule="heavy_metal") == []


def test_a_non_detect_whose_loq_is_above_the_pde_proves_nothing():
    # Thallium LOQ 0.5 ug/g x 20 g a day = 10 ug/day > 8: cannot be shown to pass.
    found = run([nd("thallium", 0.5)], register(**TWENTY_G_A_DAY))
    assert not select(found, rule="heavy_metal")
    f = only(found, rule="inconclusive", analyte="thallium")
    assert (f.basis, f.limit_value) == ("per_day", 8.0)
    # LOQ 0.4 x 20 = 8.0: at the PDE, shown.
    assert run([nd("thallium", 0.4)], register(**TWENTY_G_A_DAY)) == []
