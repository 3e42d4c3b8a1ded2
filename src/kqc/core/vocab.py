"""Canonical analyte codes, their groups, and the names labs use for them.

Every analyte is stored under one code. A lab name is folded with
`names.name_key` and looked up here; a name not found is a problem for its row
(with the closest code suggested), never passed through.

The vocabulary in force is the built-in one below plus, when a lab keeps
one, its house vocabulary (`KQC_VOCABULARY`, parsed by
`kqc.core.house_vocab`): the shell puts that in force once at a command's
start (`use_house_analytes`), before any name is resolved.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from kqc.core.names import did_you_mean, name_key

Group = Literal[
    "alkaloid", "metal", "microbial", "solvent", "adulterant", "mycotoxin", "moisture", "activity"
]

# How a microbial test reports: a count (CFU/g), presence/absence, or either;
# water activity is a ratio with no unit to give (aw).
Reporting = Literal["amount", "count", "presence", "count_or_presence", "ratio"]


@dataclass(frozen=True)
class Analyte:
    code: str
    group: Group
    reporting: Reporting
    aliases: tuple[str, ...] = ()
    # An element's symbol and the mass numbers of its natural isotopes: an
    # ICP-MS export names the isotope it measured ('52Cr', 'Cr 52', 'Pb208').
    # A mass the element has no isotope of is no name of it.
    symbol: str | None = None
    isotopes: tuple[int, ...] = ()


def _element(code: str, symbol: str, isotopes: tuple[int, ...], *aliases: str) -> Analyte:
    """A metal as ICP-MS panels print it: its name, its symbol ('Cr'), both
    ('Chromium Cr'; 'Chromium (Cr)' and 'Cr (ICP-MS)' lose their bracket when
    looked up), its total ('Total chromium', 'Chromium, total') and each
    isotope ('52Cr', 'Cr 52', '52Cr [He]')."""
    name = code.capitalize()
    return Analyte(
        code,
        "metal",
        "amount",
        (symbol, f"{name} {symbol}", f"Total {code}", f"{name}, total", *aliases),
        symbol=symbol,
        isotopes=isotopes,
    )


# The analytes the rules name, as constants: a code typed by hand in a rule is
# a typo waiting to happen (a misspelt code matches no row and the rule stays
# silent), and these are checked against the vocabulary by a test.
MITRAGYNINE = "mitragynine"
SEVEN_OH = "7_hydroxymitragynine"
LEAD = "lead"
ARSENIC = "arsenic"
CADMIUM = "cadmium"
MERCURY = "mercury"
NICKEL = "nickel"

_ANALYTES: tuple[Analyte, ...] = (
    # Alkaloids (CONTRACT §2; DOMAIN §7).
    Analyte(MITRAGYNINE, "alkaloid", "amount", ("MG", "MIT", "Mitragynine (MG)")),
    Analyte(
        SEVEN_OH,
        "alkaloid",
        "amount",
        (
            "7-OH",
            "7OH",
            "7-OH-MG",
            "7-OHMG",
            "7-hydroxy mitragynine",
            "7-hydroxy-mitragynine",
            "7-Hydroxymitragynine (7-OH)",
            "7-HMG",
            # The spellings certificates of analysis use most.
            "7-OH-Mitragynine",
            "7-OH-MIT",
            "7-Hydroxy-7H-mitragynine",
            "7α-Hydroxy-7H-mitragynine",
            "7α-Hydroxymitragynine",
        ),
    ),
    Analyte("paynantheine", "alkaloid", "amount", ("PAY", "PAYN")),
    Analyte("speciogynine", "alkaloid", "amount", ("SG", "SPG")),
    Analyte("speciociliatine", "alkaloid", "amount", ("SC", "SPC")),
    Analyte("mitraphylline", "alkaloid", "amount", ("MTP",)),
    Analyte("corynantheidine", "alkaloid", "amount", ("COR",)),
    Analyte(
        "mitragynine_pseudoindoxyl",
        "alkaloid",
        "amount",
        ("Mitragynine pseudoindoxyl", "MGPI", "MG pseudoindoxyl", "pseudoindoxyl"),
    ),
    Analyte("total_alkaloids", "alkaloid", "amount", ("Total alkaloids", "Total kratom alkaloids")),
    # Heavy metals (DOMAIN §2): every element of ICH Q3D(R2) / USP <232>, as a
    # full ICP-MS panel reports them, each with its natural isotopes.
    # Class 1.
    _element("lead", "Pb", (204, 206, 207, 208), "Lead (Pb)"),
    _element("arsenic", "As", (75,), "Arsenic (As)"),
    _element("cadmium", "Cd", (106, 108, 110, 111, 112, 113, 114, 116), "Cadmium (Cd)"),
    _element("mercury", "Hg", (196, 198, 199, 200, 201, 202, 204), "Mercury (Hg)"),
    # Class 2A.
    _element("cobalt", "Co", (59,)),
    _element("vanadium", "V", (50, 51)),
    _element("nickel", "Ni", (58, 60, 61, 62, 64), "Nickel (Ni)"),
    # Class 2B.
    _element("thallium", "Tl", (203, 205)),
    _element("gold", "Au", (197,)),
    _element("palladium", "Pd", (102, 104, 105, 106, 108, 110)),
    _element("iridium", "Ir", (191, 193)),
    _element("osmium", "Os", (184, 186, 187, 188, 189, 190, 192)),
    _element("rhodium", "Rh", (103,)),
    _element("ruthenium", "Ru", (96, 98, 99, 100, 101, 102, 104)),
    _element("selenium", "Se", (74, 76, 77, 78, 80, 82)),
    _element("silver", "Ag", (107, 109)),
    _element("platinum", "Pt", (190, 192, 194, 195, 196, 198)),
    # Class 3.
    _element("lithium", "Li", (6, 7)),
    _element("antimony", "Sb", (121, 123)),
    _element("barium", "Ba", (130, 132, 134, 135, 136, 137, 138)),
    _element("molybdenum", "Mo", (92, 94, 95, 96, 97, 98, 100)),
    _element("copper", "Cu", (63, 65)),
    _element("tin", "Sn", (112, 114, 115, 116, 117, 118, 119, 120, 122, 124)),
    _element("chromium", "Cr", (50, 52, 53, 54)),
    # Microbial (DOMAIN §3).
    Analyte(
        "salmonella",
        "microbial",
        "presence",
        ("Salmonella spp", "Salmonella sp", "Salmonella species", "Salmonella enterica"),
    ),
    Analyte(
        "e_coli",
        "microbial",
        "count_or_presence",
        ("E. coli", "Escherichia coli", "E coli", "Generic E. coli"),
    ),
    Analyte(
        "tamc",
        "microbial",
        "count",
        (
            "Total aerobic microbial count",
            "Total aerobic count",
            "Total plate count",
            "TPC",
            "Aerobic plate count",
            "APC",
            "Total aerobic bacteria",
            "Aerobic bacteria",
            "Total aerobic plate count",
            "Total viable count",
            "TVC",
        ),
    ),
    Analyte(
        "tymc",
        "microbial",
        "count",
        (
            "Total yeast and mold",
            "Total yeast and mould",
            "Yeast and mold",
            "Yeast & mold",
            "Yeast and mould",
            "Yeast & mould",
            "Total combined yeasts and moulds",
            "Total yeast and mold count",
            "Yeast/mold",
            "Y&M",
            "Yeasts and moulds",
            "Yeasts and molds",
            "Total yeasts and moulds",
            "Yeast and mold count",
            "Yeast and mould count",
            "TYM",
        ),
    ),
    Analyte(
        "coliforms",
        "microbial",
        "count",
        ("Total coliforms", "Total coliform", "Coliform", "Coliform bacteria"),
    ),
    Analyte(
        "staph_aureus",
        "microbial",
        "count_or_presence",
        ("Staphylococcus aureus", "S. aureus", "Staph aureus", "Staph. aureus"),
    ),
    Analyte(
        "btgn",
        "microbial",
        "count",
        (
            "Bile-tolerant gram-negative bacteria",
            "Bile tolerant gram negative bacteria",
            "Enterobacteriaceae",
            "Bile-tolerant gram-negative",
        ),
    ),
    Analyte(
        "listeria",
        "microbial",
        "presence",
        ("Listeria monocytogenes", "Listeria spp", "Listeria sp", "L. monocytogenes"),
    ),
    # Residual solvents (DOMAIN §6).
    Analyte("ethanol", "solvent", "amount", ("EtOH", "Ethyl alcohol")),
    Analyte("methanol", "solvent", "amount", ("MeOH", "Methyl alcohol")),
    Analyte("acetone", "solvent", "amount", ("2-propanone",)),
    Analyte("hexane", "solvent", "amount", ("n-Hexane", "Hexanes")),
    Analyte("ethyl_acetate", "solvent", "amount", ("EtOAc", "Ethyl acetate")),
    Analyte(
        "isopropanol",
        "solvent",
        "amount",
        ("IPA", "2-Propanol", "Isopropyl alcohol", "Propan-2-ol"),
    ),
    Analyte("dichloromethane", "solvent", "amount", ("DCM", "Methylene chloride")),
    Analyte("chloroform", "solvent", "amount", ("Trichloromethane",)),
    Analyte("acetonitrile", "solvent", "amount", ()),
    Analyte("toluene", "solvent", "amount", ()),
    Analyte("benzene", "solvent", "amount", ()),
    Analyte("heptane", "solvent", "amount", ("n-Heptane",)),
    # Adulterants (DOMAIN §7): extendable screening list.
    Analyte(
        "o_desmethyltramadol",
        "adulterant",
        "amount",
        (
            "O-desmethyltramadol",
            "O-DSMT",
            "ODSMT",
            "O-desmethyl tramadol",
            "Desmetramadol",
            "O-desmethyltramadol HCl",
            "O-desmethyltramadol hydrochloride",
        ),
    ),
    # A screening panel may name the salt its reference standard is sold as
    # (tramadol HCl): the drug found is the same.
    Analyte("tramadol", "adulterant", "amount", ("Tramadol HCl", "Tramadol hydrochloride")),
    Analyte("morphine", "adulterant", "amount", ("Morphine sulfate", "Morphine sulphate")),
    Analyte("fentanyl", "adulterant", "amount", ("Fentanyl citrate",)),
    Analyte("hydrocodone", "adulterant", "amount", ("Hydrocodone bitartrate",)),
    Analyte("oxycodone", "adulterant", "amount", ("Oxycodone HCl", "Oxycodone hydrochloride")),
    Analyte("codeine", "adulterant", "amount", ("Codeine phosphate", "Codeine sulfate")),
    Analyte("phenylethylamine", "adulterant", "amount", ("PEA", "2-Phenylethylamine")),
    # Mycotoxins: full-panel certificates report them beside metals and
    # microbes. Stored and shown; kqc holds no limit for them (DOMAIN cites
    # none), so they raise no flag.
    Analyte("aflatoxin_b1", "mycotoxin", "amount", ("Aflatoxin B1", "AFB1", "AF B1")),
    Analyte("aflatoxin_b2", "mycotoxin", "amount", ("Aflatoxin B2", "AFB2", "AF B2")),
    Analyte("aflatoxin_g1", "mycotoxin", "amount", ("Aflatoxin G1", "AFG1", "AF G1")),
    Analyte("aflatoxin_g2", "mycotoxin", "amount", ("Aflatoxin G2", "AFG2", "AF G2")),
    Analyte(
        "total_aflatoxins",
        "mycotoxin",
        "amount",
        (
            "Total aflatoxins",
            "Aflatoxins total",
            "Aflatoxins (total)",
            "Aflatoxins B1+B2+G1+G2",
            "Sum of aflatoxins",
            "Aflatoxins",
        ),
    ),
    Analyte("ochratoxin_a", "mycotoxin", "amount", ("Ochratoxin A", "OTA", "Ochratoxin")),
    # Moisture and water activity: kratom certificates report them beside the
    # microbes (water activity above 0.6 lets moulds grow). Stored in % and
    # aw and shown; kqc holds no cited limit for them, so they raise no flag.
    Analyte(
        "moisture",
        "moisture",
        "amount",
        ("Moisture content", "Moisture (LOD)", "Loss on drying", "Water content"),
    ),
    Analyte("water_activity", "activity", "ratio", ("aw", "a_w", "Water activity (aw)")),
)

BUILT_IN: tuple[Analyte, ...] = _ANALYTES


class NameClash(ValueError):
    """A name given to two analytes."""

    def __init__(self, spelling: str, code: str, other: str) -> None:
        super().__init__(f"analyte name {spelling!r} of {code} already means {other}")
        self.spelling, self.code, self.other = spelling, code, other


# A bracket at the end of a name: a symbol ('Lead (Pb)'), a method
# ('Mitragynine (HPLC)', 'Cr (ICP-MS)'), an ICP-MS cell mode ('52Cr [He]',
# 'Pb 208 (KED)') or an isotope's mass ('Cr (52)').
_TRAILING_BRACKET = re.compile(r"^(.*?)\s*[\(\[]\s*([^()\[\]]*?)\s*[\)\]]\s*$")
# A bracket that names a species, not a method: 'Chromium (VI)', 'As(III)',
# 'Cr 3+', 'Mercury (methyl)'. Hexavalent chromium or methylmercury is another
# analyte than the element's total, so such a name is never read as the total.
_SPECIES = re.compile(
    r"^(?:[ivx]{1,4}|[+-]?\d\s*[+-]|[+-]\s*\d|hexavalent|trivalent|methyl\w*|ethyl\w*)$",
    re.IGNORECASE,
)
# '52Cr', '52 Cr', '52-Cr'; 'Cr52', 'Cr 52', 'Cr-52'.
_MASS_THEN_SYMBOL = re.compile(r"^\s*(\d{1,3})\s*-?\s*([A-Za-z]{1,2})\s*$")
_SYMBOL_THEN_MASS = re.compile(r"^\s*([A-Za-z]{1,2})\s*-?\s*(\d{1,3})\s*$")


class AnalyteNames:
    """Every name a set of analytes is known by, and the code a lab's name
    stands for. Built once for the built-in vocabulary and once more when a
    house vocabulary is put in force; a name claimed by two analytes is a
    NameClash, never a silent choice."""

    def __init__(self, analytes: Iterable[Analyte] = ()) -> None:
        self.analytes: dict[str, Analyte] = {}
        self._by_key: dict[str, str] = {}
        self._by_isotope: dict[tuple[str, int], str] = {}
        for analyte in analytes:
            self.add(analyte)

    def clash(self, analyte: Analyte) -> NameClash | None:
        """The first of `analyte`'s names (its code, an alias, an isotope)
        that already means another analyte, or None."""
        for spelling in (analyte.code, *analyte.aliases):
            other = self._by_key.get(name_key(spelling))
            if other is not None and other != analyte.code:
                return NameClash(spelling, analyte.code, other)
        for mass in analyte.isotopes:
            other = self._by_isotope.get((name_key(analyte.symbol or ""), mass))
            if other is not None and other != analyte.code:
                return NameClash(f"{mass}{analyte.symbol}", analyte.code, other)
        return None

    def add(self, analyte: Analyte) -> None:
        found = self.clash(analyte)
        if found is not None:
            raise found
        self.analytes[analyte.code] = analyte
        for spelling in (analyte.code, *analyte.aliases):
            self._by_key[name_key(spelling)] = analyte.code
        for mass in analyte.isotopes:
            self._by_isotope[(name_key(analyte.symbol or ""), mass)] = analyte.code

    def spellings(self) -> list[str]:
        """Every name an analyte is known by: what "did you mean" chooses from."""
        return sorted({n for a in self.analytes.values() for n in (a.code, *a.aliases)})

    def code(self, name: str) -> str | None:
        """Canonical code for a lab's analyte name, or None when it is not known.

        A bracket at the end ('Lead (Pb)', 'Mitragynine (HPLC)', '52Cr [He]')
        is tried both with and without, since labs put symbols, methods and
        cell modes there; one naming a species ('Chromium (VI)') is not
        dropped. An isotope ('208Pb', 'Cr 52') names its element.
        """
        found = self._whole(name)
        if found is not None:
            return found
        stem, notes = name, []
        while (bracket := _TRAILING_BRACKET.match(stem)) is not None:
            stem, note = bracket.group(1), bracket.group(2)
            notes.append(note)
            # 'Cr (52)': the mass of the isotope measured.
            found = self._whole(f"{stem} {note}") if note.isdigit() else None
            found = found or self._whole(stem)
            if found is not None:
                return found if self._fits(notes, found) else None
        if "(" in name:  # 'Lead (Pb) total': the name before the first bracket
            head, rest = name.split("(", 1)
            found = self._whole(head)
            if found is not None and self._fits([rest.split(")", 1)[0].strip()], found):
                return found
        return None

    def _whole(self, text: str) -> str | None:
        found = self._by_key.get(name_key(text))
        if found is not None:
            return found
        if (mass_first := _MASS_THEN_SYMBOL.match(text)) is not None:
            mass, symbol = mass_first.groups()
        elif (symbol_first := _SYMBOL_THEN_MASS.match(text)) is not None:
            symbol, mass = symbol_first.groups()
        else:
            return None
        return self._by_isotope.get((name_key(symbol), int(mass)))

    def _fits(self, notes: list[str], code: str) -> bool:
        """No bracket names a species of the analyte ('Chromium (VI)';
        'Vanadium (V)' is its symbol) or a mass the element has no isotope of
        ('Cr (99)')."""
        isotopes = self.analytes[code].isotopes
        for note in notes:
            if _SPECIES.match(note) and self._by_key.get(name_key(note)) != code:
                return False
            if note.isdigit() and isotopes and int(note) not in isotopes:
                return False
        return True


# Raises NameClash at import when the built-in table claims a name twice.
_BUILT_IN_NAMES = AnalyteNames(BUILT_IN)
_in_force = _BUILT_IN_NAMES

# The analytes in force, by code; their codes; every name they are known by.
# Updated in place by `use_house_analytes`, so every module that imported
# them sees the house analytes too.
ANALYTES: dict[str, Analyte] = dict(_BUILT_IN_NAMES.analytes)
ANALYTE_CODES: list[str] = sorted(ANALYTES)
ANALYTE_SPELLINGS: list[str] = _BUILT_IN_NAMES.spellings()


def built_in_names() -> AnalyteNames:
    """A fresh copy of the built-in vocabulary's names, for checking a house
    vocabulary against (kqc.core.house_vocab)."""
    return AnalyteNames(BUILT_IN)


def use_house_analytes(house: Iterable[Analyte]) -> None:
    """Put the built-in analytes plus `house` (a parsed house vocabulary; none
    for the built-in one alone) in force for every lookup that follows.

    Called by the shell at a command's start and in each worker process,
    before any file is read: a name is resolved against one vocabulary for a
    whole run."""
    global _in_force
    names = AnalyteNames((*BUILT_IN, *house))  # a clash raises NameClash
    _in_force = names
    ANALYTES.clear()
    ANALYTES.update(names.analytes)
    ANALYTE_CODES[:] = sorted(ANALYTES)
    ANALYTE_SPELLINGS[:] = names.spellings()
    analyte_code.cache_clear()


def house_analytes() -> list[Analyte]:
    """The analytes a house vocabulary added to the built-in ones."""
    return [a for code, a in ANALYTES.items() if code not in _BUILT_IN_NAMES.analytes]


@functools.lru_cache(maxsize=1 << 16)
def analyte_code(name: str) -> str | None:
    """Canonical code for a lab's analyte name in the vocabulary in force, or
    None when it is not known (`AnalyteNames.code`)."""
    return _in_force.code(name)


# Where an analyte kqc does not know is added (CONTRACT §2: extendable).
HOUSE_VOCABULARY_HINT = (
    "if the lab does report an analyte kqc does not know, add it to a house vocabulary"
    " file named by KQC_VOCABULARY (docs/vocabulary.md)"
)


def unknown_analyte_message(name: str) -> str:
    """A name not known, with the closest analyte when one is close, else
    where the known names are listed; and how a lab adds one of its own."""
    guess = did_you_mean(name, ANALYTE_SPELLINGS)
    if guess:
        return f"unknown analyte '{name}'{guess} Or, {HOUSE_VOCABULARY_HINT}"
    return (
        f"unknown analyte '{name}': write it as one of the analytes kqc knows"
        f" (docs/vocabulary.md), or take the row out of the file; {HOUSE_VOCABULARY_HINT}"
    )


SAMPLE_TYPES: tuple[str, ...] = ("production", "blank", "spike", "duplicate", "crm")

_SAMPLE_TYPE_NAMES: dict[str, tuple[str, ...]] = {
    "production": (
        "production",
        "sample",
        "routine",
        "unknown",
        "prod",
        "regular",
        "normal",
        "client sample",
        "field sample",
        "test sample",
        "production sample",
        # What a LIMS's sample type says of the material, not of a QC role:
        # each is a sample of the batch.
        "finished product",
        "finished good",
        "finished goods",
        "raw material",
        "composite",
        "bulk",
        "in-process",
        "in process",
        "retain",
        "retest",
        "lot sample",
        "product",
    ),
    "blank": (
        "blank",
        "method blank",
        "MB",
        "reagent blank",
        "procedural blank",
        "BLK",
        "laboratory blank",
        "lab blank",
        "laboratory reagent blank",
        "LRB",
    ),
    "spike": (
        "spike",
        "matrix spike",
        "MS",
        "spiked",
        "LFB",
        "fortified blank",
        "laboratory fortified blank",
        "LCS",
        "laboratory control sample",
        "fortified",
        # The duplicates of a spike are spikes: each is judged by its recovery.
        "MSD",
        "matrix spike duplicate",
        "LCSD",
        "LCS duplicate",
        "laboratory control sample duplicate",
    ),
    "duplicate": ("duplicate", "dup", "DUP", "replicate duplicate", "method duplicate", "MD"),
    "crm": ("CRM", "certified reference material", "reference material", "SRM", "RM"),
}
_SAMPLE_TYPE_BY_KEY: dict[str, str] = {
    name_key(n): code for code, names in _SAMPLE_TYPE_NAMES.items() for n in names
}


def sample_type_code(name: str) -> str | None:
    return _SAMPLE_TYPE_BY_KEY.get(name_key(name))


def unknown_sample_type_message(name: str) -> str:
    spellings = [n for names in _SAMPLE_TYPE_NAMES.values() for n in names]
    return (
        f"unknown sample type '{name}'{did_you_mean(name, spellings)}"
        f" (use one of: {', '.join(SAMPLE_TYPES)})"
    )
