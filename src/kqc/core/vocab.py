"""Canonical analyte codes, their groups, and the names labs use for them.

Every analyte is stored under one code. A lab name is folded with
`names.name_key` and looked up here; a name not found is a problem for its row
(with the closest code suggested), never passed through.
"""

from __future__ import annotations

import functools
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


_ANALYTES: tuple[Analyte, ...] = (
    # Alkaloids (CONTRACT §2; DOMAIN §7).
    Analyte("mitragynine", "alkaloid", "amount", ("MG", "MIT", "Mitragynine (MG)")),
    Analyte(
        "7_hydroxymitragynine",
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
    # Heavy metals (DOMAIN §2).
    Analyte("lead", "metal", "amount", ("Pb", "Lead (Pb)", "Lead Pb")),
    Analyte("arsenic", "metal", "amount", ("As", "Arsenic (As)", "Total arsenic")),
    Analyte("cadmium", "metal", "amount", ("Cd", "Cadmium (Cd)")),
    Analyte("mercury", "metal", "amount", ("Hg", "Mercury (Hg)", "Total mercury")),
    Analyte("nickel", "metal", "amount", ("Ni", "Nickel (Ni)")),
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

ANALYTES: dict[str, Analyte] = {a.code: a for a in _ANALYTES}
ANALYTE_CODES: list[str] = sorted(ANALYTES)

_BY_KEY: dict[str, str] = {}
for _a in _ANALYTES:
    for _name in (_a.code, *_a.aliases):
        _key = name_key(_name)
        if _BY_KEY.get(_key, _a.code) != _a.code:
            raise RuntimeError(f"analyte alias {_name!r} is claimed twice")
        _BY_KEY[_key] = _a.code

# Every name an analyte is known by: what "did you mean" chooses from.
ANALYTE_SPELLINGS: list[str] = sorted({n for a in _ANALYTES for n in (a.code, *a.aliases)})


@functools.lru_cache(maxsize=1 << 16)
def analyte_code(name: str) -> str | None:
    """Canonical code for a lab's analyte name, or None when it is not known.

    A trailing parenthesis ("Lead (Pb)", "Mitragynine (HPLC)") is tried both
    with and without, since labs put symbols and methods there.
    """
    key = name_key(name)
    if key in _BY_KEY:
        return _BY_KEY[key]
    if "(" in name:
        return _BY_KEY.get(name_key(name.split("(", 1)[0]))
    return None


def unknown_analyte_message(name: str) -> str:
    """A name not known, with the closest analyte when one is close, else
    where the known names are listed."""
    fix = did_you_mean(name, ANALYTE_SPELLINGS) or (
        ": write it as one of the analytes kqc knows (README, Vocabularies), or take the"
        " row out of the file"
    )
    return f"unknown analyte '{name}'{fix}"


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
