"""Units: every spelling a lab uses, mapped to one canonical unit per dimension.

A unit never stands alone: "mg/kg" is 0.001 mg/g for an alkaloid and 1 ug/g for
lead, so conversion is looked up by (analyte group, unit). Factors are written
as exact fractions of a base (g/g for mass fractions) so that 1 % is exactly
10 mg/g and a 1000x slip cannot hide in a rounded constant (DOMAIN §5a units
crosswalk: 1 ppm = 1 ug/g = 1 mg/kg; 1 ppb = 1 ug/kg; 1 % = 10 mg/g).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from kqc.core.names import did_you_mean
from kqc.core.vocab import Analyte

Dimension = Literal[
    "mass_fraction", "mass_per_volume", "per_unit", "count", "log_count", "presence", "activity"
]

CANONICAL_UNITS: tuple[str, ...] = (
    "mg/g",
    "ug/g",
    "mg/unit",
    "mg/mL",
    "ug/mL",
    "CFU/g",
    "CFU/mL",
    "MPN/g",
    "%",  # moisture
    "aw",  # water activity
)


@dataclass(frozen=True)
class Spelling:
    dimension: Dimension
    # Size of one reported unit in the dimension's base (g/g, g/mL, mg/unit,
    # CFU or MPN per g or mL). For log_count the value is log10 of the base.
    factor: Fraction
    base: str = ""  # for counts: "CFU/g", "CFU/mL" or "MPN/g"


_F = Fraction
_MASS_FRACTION: dict[str, Fraction] = {
    "%": _F(1, 100),
    "%w/w": _F(1, 100),
    "%ww": _F(1, 100),
    "percent": _F(1, 100),
    "g/100g": _F(1, 100),
    "g/g": _F(1),
    "mg/g": _F(1, 10**3),
    "g/kg": _F(1, 10**3),
    "mg/kg": _F(1, 10**6),
    "ppm": _F(1, 10**6),
    "ug/g": _F(1, 10**6),
    "ng/mg": _F(1, 10**6),
    "ug/kg": _F(1, 10**9),
    "ppb": _F(1, 10**9),
    "ng/g": _F(1, 10**9),
    "ng/kg": _F(1, 10**12),
    "pg/g": _F(1, 10**12),
    # as US certificates also write them
    "wt%": _F(1, 100),
    "wt.%": _F(1, 100),
    "%wt": _F(1, 100),
    "%wt/wt": _F(1, 100),
    "w/w%": _F(1, 100),
    "mg/100g": _F(1, 10**5),
    "mg/gm": _F(1, 10**3),
    "ug/gm": _F(1, 10**6),
}
_MASS_PER_VOLUME: dict[str, Fraction] = {  # base g/mL
    "mg/ml": _F(1, 10**3),
    "g/l": _F(1, 10**3),
    "ug/ml": _F(1, 10**6),
    "mg/l": _F(1, 10**6),
    "ng/ml": _F(1, 10**9),
    "ug/l": _F(1, 10**9),
    "%w/v": _F(1, 100),
}
_PER_UNIT_NOUNS = (
    "unit",
    "capsule",
    "cap",
    "caps",
    "tablet",
    "tab",
    "serving",
    "shot",
    "dose",
    "gummy",
    "piece",
    "pouch",
    "softgel",
    "sachet",
    "teabag",
    "bag",
    "stick",
    "packet",
    "bottle",
    "vial",
    "scoop",
    "each",
    "lozenge",
    "chew",
)
_COUNTS: dict[str, str] = {
    "cfu/g": "CFU/g",
    "cfu/gram": "CFU/g",
    "cfu/ml": "CFU/mL",
    "mpn/g": "MPN/g",
}
# Canonical unit for each (group, dimension) a group may report in.
_CANONICAL: dict[tuple[str, Dimension], str] = {
    ("alkaloid", "mass_fraction"): "mg/g",
    ("alkaloid", "per_unit"): "mg/unit",
    ("alkaloid", "mass_per_volume"): "mg/mL",
    ("metal", "mass_fraction"): "ug/g",
    ("metal", "mass_per_volume"): "ug/mL",
    ("solvent", "mass_fraction"): "ug/g",
    ("adulterant", "mass_fraction"): "ug/g",
    ("adulterant", "per_unit"): "mg/unit",
    ("adulterant", "mass_per_volume"): "ug/mL",
    ("mycotoxin", "mass_fraction"): "ug/g",
    ("mycotoxin", "mass_per_volume"): "ug/mL",
    ("moisture", "mass_fraction"): "%",
    ("activity", "activity"): "aw",
}
_CANONICAL_BASE: dict[str, Fraction] = {
    "mg/g": _F(1, 10**3),
    "ug/g": _F(1, 10**6),
    "mg/mL": _F(1, 10**3),
    "ug/mL": _F(1, 10**6),
    "mg/unit": _F(1),
    "%": _F(1, 100),
    "aw": _F(1),
}

# The portion a presence test covered: '/25g', 'in 25 g', 'per 10 grams', and
# '/g' or 'per g' for one gram (a bare 'g' says nothing of a test).
_PORTION = re.compile(r"^(?:(?:/|in)(\d+(?:[.,]\d+)?)?|(\d+(?:[.,]\d+)?))(?:g|grams?|ml)$")


def unit_key(text: str) -> str:
    """Fold a unit spelling: NFKC, casefold, µ/mcg -> u, no spaces or brackets."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    folded = folded.replace("μ", "u").replace("mcg", "ug")
    folded = re.sub(r"\bper\b", "/", folded)
    # The SI way, a negative power for 'per': 'mg g-1', 'mg·g⁻¹', 'µg kg^-1'.
    folded = _NEGATIVE_POWER.sub(r"\1/\2", folded.replace("−", "-"))
    return re.sub(r"[\s()\[\]]+", "", folded)


_NEGATIVE_POWER = re.compile(r"^([a-z%]+)\s*[·.*\s]\s*([a-z]+)\s*\^?-1$")


# 'ppm (mg/kg)', 'µg/g (ppm)': a unit with its equivalent beside it.
_WITH_EQUIVALENT = re.compile(r"^\s*([^()]+?)\s*\(\s*([^()]+?)\s*\)\s*$")


def spelling(text: str) -> Spelling | None:
    """What a unit spelling measures and how big it is; None when unknown.
    A unit given with its equivalent ('ppm (mg/kg)') is known when both are
    and are one unit."""
    both = _WITH_EQUIVALENT.match(text)
    if both:
        first, second = _one_spelling(both.group(1)), _one_spelling(both.group(2))
        if first is not None and first == second:
            return first
    return _one_spelling(text)


def _one_spelling(text: str) -> Spelling | None:
    key = unit_key(text)
    if key in _MASS_FRACTION:
        return Spelling("mass_fraction", _MASS_FRACTION[key])
    if key in _MASS_PER_VOLUME:
        return Spelling("mass_per_volume", _MASS_PER_VOLUME[key])
    if key.startswith("mg/") and key[3:].rstrip("s") in _PER_UNIT_NOUNS:
        return Spelling("per_unit", _F(1))
    if key in _COUNTS:
        return Spelling("count", _F(1), _COUNTS[key])
    if key.startswith("log10") and key[5:] in _COUNTS:
        return Spelling("log_count", _F(1), _COUNTS[key[5:]])
    if key.startswith("log") and key[3:] in _COUNTS:
        return Spelling("log_count", _F(1), _COUNTS[key[3:]])
    if key in {"aw", "a_w", "a-w"}:
        return Spelling("activity", _F(1))
    if key in {"p/a", "pa", "presence/absence", "pos/neg", "detected/notdetected"}:
        return Spelling("presence", _F(1))
    if _PORTION.match(key):
        return Spelling("presence", _F(1))
    return None


# An amount per serving or per dose is of a whole serving, which for a capsule
# or tablet product may be several dosage units (the register's
# units_per_serving). Stored as mg/unit like any amount per dosage unit (the
# contract's canonical unit), such a result is told apart by the unit the lab
# wrote: the evidence the rules read (kqc.store.evaluation) matches this
# against the reported unit in lower case.
PER_SERVING_UNIT = r"(serving|dose)s?[\s)\]]*$"


def test_portion_g(text: str) -> float | None:
    """Grams a presence test covered, from a unit such as '/25g' or 'per 10 g'."""
    m = _PORTION.match(unit_key(text))
    if m is None:
        return None
    number = m.group(1) or m.group(2)
    return float(number.replace(",", ".")) if number else 1.0


@dataclass(frozen=True)
class Conversion:
    unit: str | None  # canonical unit; None for presence tests
    factor: float  # canonical = reported * factor (or 10 ** reported * factor for log counts)
    log10: bool = False
    presence: bool = False


_KNOWN_SPELLINGS = [
    *_MASS_FRACTION,
    *_MASS_PER_VOLUME,
    *_COUNTS,
    "log10 CFU/g",
    "mg/capsule",
    "mg/tablet",
    "mg/serving",
    "mg/shot",
    "mg/unit",
    "µg/g",
    "P/A",
    "/25g",
]


def conversion(analyte: Analyte, unit_text: str) -> Conversion | str:
    """How to bring a value for `analyte` reported in `unit_text` to canonical.

    Returns a problem sentence when the unit is unknown or does not fit the
    analyte (lead in CFU/g, Salmonella in ppm).
    """
    sp = spelling(unit_text)
    if sp is None:
        return f"unknown unit '{unit_text}'{did_you_mean(unit_text, _KNOWN_SPELLINGS)}"
    if analyte.group == "microbial":
        return _microbial_conversion(analyte, unit_text, sp)
    canonical = _CANONICAL.get((analyte.group, sp.dimension))
    if canonical is None:
        return f"unit '{unit_text}' does not fit {analyte.code} ({_expected(analyte)})"
    return Conversion(canonical, float(sp.factor / _CANONICAL_BASE[canonical]))


def _microbial_conversion(analyte: Analyte, unit_text: str, sp: Spelling) -> Conversion | str:
    if sp.dimension == "presence":
        if analyte.reporting in ("presence", "count_or_presence"):
            return Conversion(None, 1.0, presence=True)
    elif sp.dimension in ("count", "log_count") and analyte.reporting in (
        "count",
        "count_or_presence",
    ):
        return Conversion(sp.base, 1.0, log10=sp.dimension == "log_count")
    return f"unit '{unit_text}' does not fit {analyte.code} ({_expected(analyte)})"


def _expected(analyte: Analyte) -> str:
    if analyte.group == "microbial":
        if analyte.reporting == "presence":
            return (
                "a presence/absence test: leave the unit empty or give the test portion,"
                " e.g. '/25g'"
            )
        if analyte.reporting == "count":
            return "a count: CFU/g, CFU/mL, MPN/g or log10 CFU/g"
        return "a count (CFU/g, log10 CFU/g) or a presence/absence test with its portion ('/25g')"
    if analyte.group == "activity":
        return "water activity, a ratio: aw, or no unit"
    if analyte.group == "moisture":
        return "a mass fraction: %, g/100g, mg/g"
    if analyte.group == "alkaloid":
        return (
            "a concentration (%, mg/g, ppm …) or an amount per dosage unit"
            " (mg/capsule, mg/serving …)"
        )
    return "a concentration: ppm, ug/g, mg/kg, ppb, %"
