"""Every element of ICH Q3D(R2) / USP <232> as a full ICP-MS panel prints it:
name, symbol, symbol in brackets, method or cell mode in brackets, isotope
in either order. A species ('Chromium (VI)') or a mass the element has no
isotope of is never read as the element."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kqc.core.units import conversion
from kqc.core.vocab import ANALYTES, analyte_code, unknown_analyte_message
from tests.core.rules.helpers import thresholds

PAGE = Path(__file__).parents[2] / "docs" / "vocabulary.md"

# ICH Q3D(R2) Table 4.1 classes: every element with an oral PDE.
ELEMENTS = {
    # code: (symbol, an isotope an ICP-MS method measures)
    "cadmium": ("Cd", 111),
    "lead": ("Pb", 208),
    "arsenic": ("As", 75),
    "mercury": ("Hg", 202),
    "cobalt": ("Co", 59),
    "vanadium": ("V", 51),
    "nickel": ("Ni", 60),
    "thallium": ("Tl", 205),
    "gold": ("Au", 197),
    "palladium": ("Pd", 105),
    "iridium": ("Ir", 193),
    "osmium": ("Os", 189),
    "rhodium": ("Rh", 103),
    "ruthenium": ("Ru", 101),
    "selenium": ("Se", 78),
    "silver": ("Ag", 107),
    "platinum": ("Pt", 195),
    "lithium": ("Li", 7),
    "antimony": ("Sb", 121),
    "barium": ("Ba", 137),
    "molybdenum": ("Mo", 95),
    "copper": ("Cu", 63),
    "tin": ("Sn", 118),
    "chromium": ("Cr", 52),
}


def _spellings(code: str) -> list[str]:
    symbol, mass = ELEMENTS[code]
    name = code.capitalize()
    return [
        name,
        name.upper(),
        symbol,
        f"{name} ({symbol})",
        f"{name} {symbol}",
        f"{symbol} (ICP-MS)",
        f"{name} (ICP-MS)",
        f"Total {code}",
        f"{name}, total",
        f"{mass}{symbol}",
        f"{mass} {symbol}",
        f"{symbol} {mass}",
        f"{symbol}{mass}",
        f"{symbol}-{mass}",
        f"{symbol} ({mass})",
        f"{mass}{symbol} [He]",
        f"{symbol} {mass} (KED)",
        f"{mass}  {symbol}  [ He ]",
    ]


@pytest.mark.parametrize("code", sorted(ELEMENTS))
def test_every_element_is_known_by_the_names_labs_print(code):
    misread = {s: analyte_code(s) for s in _spellings(code) if analyte_code(s) != code}
    assert misread == {}


@pytest.mark.parametrize("code", sorted(ELEMENTS))
def test_every_element_is_a_heavy_metal_stored_in_ug_per_g(code):
    analyte = ANALYTES[code]
    assert (analyte.group, analyte.reporting) == ("metal", "amount")
    for unit, factor in (("ppb", 0.001), ("ppm", 1.0), ("mg/kg", 1.0), ("µg/g", 1.0)):
        conv = conversion(analyte, unit)
        assert not isinstance(conv, str), conv
        assert (conv.unit, conv.factor) == ("ug/g", pytest.approx(factor))


@pytest.mark.parametrize(
    "name",
    [
        "Chromium (VI)",  # hexavalent chromium is another analyte than total chromium
        "Cr(VI)",
        "Chromium (III)",
        "Cr (6+)",
        "Arsenic (III)",
        "Mercury (methyl)",
        "Cr (99)",  # chromium has no isotope of mass 99
        "Cr 99",
        "99Cr",
        "Pb 52",
        "Zinc",  # not an ICH Q3D element: a lab adds it in a house vocabulary
        "Zn",
    ],
)
def test_a_species_an_impossible_isotope_or_another_element_is_unknown(name):
    assert analyte_code(name) is None


def test_vanadium_in_brackets_is_its_symbol_not_a_valence():
    assert analyte_code("Vanadium (V)") == "vanadium"
    assert analyte_code("51V (KED)") == "vanadium"


def test_names_already_known_keep_their_meaning():
    assert analyte_code("MG") == "mitragynine"
    assert analyte_code("SC") == "speciociliatine"
    assert analyte_code("7-OH") == "7_hydroxymitragynine"
    assert analyte_code("Lead (Pb) total") == "lead"
    assert analyte_code("Mitragynine (HPLC)") == "mitragynine"


def test_the_unknown_analyte_sentence_says_how_a_lab_adds_one():
    far = unknown_analyte_message("Zinc")
    assert far.startswith("unknown analyte 'Zinc': write it as one of the analytes kqc knows")
    assert "KQC_VOCABULARY" in far and "docs/vocabulary.md" in far
    close = unknown_analyte_message("Chromiun")
    assert "did you mean 'chromium'?" in close.casefold()
    assert "KQC_VOCABULARY" in close and "docs/vocabulary.md" in close


def test_the_vocabulary_page_gives_every_element_its_shipped_pde_and_isotopes():
    rows = re.findall(
        r"^\| `(\w+)` \| (\w+) \| ([\d, ]+) \| \w+ \| (\d+)[^|]*\| (\w+) \|$",
        PAGE.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    documented = {code: (float(pde), severity) for code, _, _, pde, severity in rows}
    shipped = {
        t.analyte: (t.limit_value, t.severity)
        for t in thresholds()
        if (t.rule, t.basis, t.profile) == ("heavy_metal", "per_day", "default")
    }
    assert documented == shipped
    assert set(documented) == set(ELEMENTS)
    for code, symbol, isotopes, _, _ in rows:
        assert (ANALYTES[code].symbol, ANALYTES[code].isotopes) == (
            symbol,
            tuple(int(m) for m in isotopes.split(",")),
        )
