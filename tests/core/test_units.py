"""Every conversion factor against a golden table: a 1000x slip between
ug/g and mg/g must fail here, not in a regulator's query."""

import pytest

from kqc.core.units import Conversion, conversion, spelling, unit_key
from kqc.core.vocab import ANALYTES

# (analyte, reported unit, reported value, canonical value, canonical unit)
GOLDEN = [
    ("mitragynine", "%", 1.42, 14.2, "mg/g"),
    ("mitragynine", "% w/w", 1.0, 10.0, "mg/g"),
    ("mitragynine", "mg/g", 14.2, 14.2, "mg/g"),
    ("mitragynine", "mg/kg", 14200, 14.2, "mg/g"),
    ("mitragynine", "ppm", 14200, 14.2, "mg/g"),
    ("mitragynine", "µg/g", 14200, 14.2, "mg/g"),
    ("mitragynine", "μg/g", 14200, 14.2, "mg/g"),  # Greek mu, not the micro sign
    ("7_hydroxymitragynine", "ppm", 400, 0.4, "mg/g"),
    ("mitragynine", "mg/capsule", 7.1, 7.1, "mg/unit"),
    ("mitragynine", "mg / tablet", 7.1, 7.1, "mg/unit"),
    ("mitragynine", "mg/serving", 42, 42, "mg/unit"),
    ("mitragynine", "mg/shot", 12.8, 12.8, "mg/unit"),
    ("mitragynine", "mg/mL", 2.5, 2.5, "mg/mL"),
    ("lead", "ppb", 250, 0.25, "ug/g"),
    ("lead", "ppm", 0.25, 0.25, "ug/g"),
    ("lead", "mg/kg", 0.25, 0.25, "ug/g"),
    ("lead", "ug/kg", 250, 0.25, "ug/g"),
    ("lead", "ng/g", 250, 0.25, "ug/g"),
    ("lead", "mcg/g", 0.25, 0.25, "ug/g"),
    ("lead", "µg/g", 0.25, 0.25, "ug/g"),
    ("nickel", "mg/g", 0.001, 1.0, "ug/g"),
    ("ethanol", "%", 0.5, 5000, "ug/g"),
    ("ethanol", "ppm", 5000, 5000, "ug/g"),
    ("o_desmethyltramadol", "ppb", 1, 0.001, "ug/g"),
    ("tamc", "CFU/g", 32000, 32000, "CFU/g"),
    ("tamc", "cfu/g", 32000, 32000, "CFU/g"),
    ("tamc", "log10 CFU/g", 4, 10000, "CFU/g"),
    ("coliforms", "MPN/g", 23, 23, "MPN/g"),
]


@pytest.mark.parametrize(("analyte", "unit", "reported", "expected", "canonical"), GOLDEN)
def test_golden_conversions(analyte, unit, reported, expected, canonical):
    conv = conversion(ANALYTES[analyte], unit)
    assert isinstance(conv, Conversion), conv
    assert conv.unit == canonical
    value = (10**reported if conv.log10 else reported) * conv.factor
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("analyte", "unit", "fragment"),
    [
        ("lead", "CFU/g", "does not fit lead"),
        ("salmonella", "ppm", "does not fit salmonella"),
        ("tamc", "%", "does not fit tamc"),
        ("lead", "mg/capsule", "does not fit lead"),
        ("lead", "furlongs", "unknown unit 'furlongs'"),
        ("mitragynine", "mg/gg", "did you mean"),
    ],
)
def test_units_that_do_not_fit_are_problems(analyte, unit, fragment):
    result = conversion(ANALYTES[analyte], unit)
    assert isinstance(result, str)
    assert fragment in result


def test_presence_units_carry_the_test_portion():
    from kqc.core.units import test_portion_g

    assert conversion(ANALYTES["salmonella"], "/25g") == Conversion(None, 1.0, presence=True)
    assert test_portion_g("/25g") == 25.0
    assert test_portion_g("per 10 g") == 10.0
    assert test_portion_g("in 1 g") == 1.0
    # One gram, as certificates write it for E. coli and S. aureus.
    assert test_portion_g("/g") == test_portion_g("per g") == test_portion_g("per gram") == 1.0
    assert conversion(ANALYTES["e_coli"], "per g") == Conversion(None, 1.0, presence=True)
    # A bare gram is no test portion: lead in 'g' is still an unknown unit.
    assert test_portion_g("g") is None
    assert isinstance(conversion(ANALYTES["lead"], "g"), str)


def test_unit_key_folds_micro_sign_and_spaces():
    assert unit_key("µg / g") == unit_key("μg/g") == unit_key("mcg/g") == "ug/g"


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("wt%", "%"),
        ("wt. %", "%"),
        ("ug/gm", "ug/g"),
        ("mg/gm", "mg/g"),
        ("ppm (mg/kg)", "ppm"),
        ("µg/g (ppm)", "ug/g"),
        # the SI way, a negative power for 'per'
        ("mg g-1", "mg/g"),
        ("mg·g⁻¹", "mg/g"),
        ("µg kg^-1", "ug/kg"),
        ("mg mL-1", "mg/mL"),
        # amounts per dosage unit
        ("mg/scoop", "mg/unit"),
        ("mg/vial", "mg/unit"),
        ("mg/each", "mg/unit"),
    ],
)
def test_units_as_us_certificates_write_them(text, same_as):
    assert spelling(text) is not None
    assert spelling(text) == spelling(same_as)


def test_a_unit_with_an_equivalent_that_is_not_equal_is_unknown():
    # 'ppm (ppb)' says two sizes: neither is chosen
    assert spelling("ppm (ppb)") is None
    # 1 mg in 100 g is 10 mg/kg
    lead = ANALYTES["lead"]
    assert conversion(lead, "mg/100g") == Conversion("ug/g", 10.0)
