"""Column names: the synonyms labs and QA actually use, mapped to contract fields.

Matching is case-, space- and punctuation-insensitive (`names.name_key`), so
'Lot #', 'LOT' and 'lot_no' are one entry each at most. A file's kind (results
or batch register) is told by the fields its columns map to, never by its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from kqc.core.names import name_key
from kqc.core.units import spelling

Kind = Literal["results", "register"]

RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "batch_id": (
        "batch",
        "batch id",
        "batch no",
        "batch no.",
        "batch number",
        "batch #",
        "lot",
        "lot #",
        "lot no",
        "lot number",
        "lot id",
        "batch/lot",
        "lot/batch",
        "batch lot",
        "lot code",
        "batch code",
        "production lot",
        "production lot number",
        "production batch",
    ),
    "sample_id": (
        "sample",
        "sample id",
        "sample no",
        "sample number",
        "sample #",
        "lab sample id",
        "sample code",
        "specimen id",
        "lab sample",
        "sample ref",
        "client sample id",
        "lab sample number",
        "lab sample no",
        "accession",
        "accession #",
        "accession no",
        "accession number",
        "sample name",
    ),
    "lab_id": (
        "lab",
        "lab id",
        "laboratory",
        "lab name",
        "testing lab",
        "laboratory name",
        "laboratory id",
        "testing laboratory",
        "performing lab",
        "performing laboratory",
        "testing facility",
    ),
    "analyte": (
        "analyte",
        "test",
        "compound",
        "parameter",
        "analyte name",
        "component",
        "determinand",
        "substance",
        "test name",
        "target",
        "test item",
        "compound name",
        "parameter name",
    ),
    "result": (
        "result",
        "value",
        "conc",
        "conc.",
        "concentration",
        "amount",
        "result value",
        "reported result",
        "final result",
        "measured value",
        "reading",
        "reported value",
    ),
    # A column of qualifier codes beside the result ("U", "<", "J"): read with
    # the result (kqc.core.qualifiers.with_qualifier_code), never ignored.
    "result_qualifier": (
        "qualifier",
        "qualifiers",
        "qual",
        "result qualifier",
        "result qual",
        "lab qualifier",
        "lab qual",
        "data qualifier",
        "qualifier code",
        "q",
        "prefix",
        "result prefix",
    ),
    "unit": (
        "unit",
        "units",
        "uom",
        "unit of measure",
        "result unit",
        "result units",
        "reporting unit",
        "reporting units",
    ),
    # The unit of the LOD and LOQ columns when it is not the result's own
    # (a result in ppb, its limits in ppm): the limits are converted by it.
    "limit_unit": (
        "limit unit",
        "limit units",
        "loq unit",
        "loq units",
        "lod unit",
        "lod units",
        "lod/loq unit",
        "lod/loq units",
        "rl unit",
        "rl units",
        "mdl unit",
        "mdl units",
        "reporting limit unit",
        "reporting limit units",
        "loq uom",
        "rl uom",
    ),
    "unit_no": (
        "unit no",
        "unit #",
        "unit number",
        "replicate",
        "rep",
        "capsule",
        "capsule no",
        "capsule #",
        "capsule number",
        "tablet no",
        "tablet #",
        "serving no",
        "serving #",
        "increment",
        "dosage unit",
        "unit id",
        "position",
        "vial",
        "shot no",
        "replicate no",
    ),
    "sample_type": (
        "sample type",
        "qc type",
        "sample class",
        "sample kind",
        "qc sample type",
        "sample category",
    ),
    "spike_level": (
        "spike level",
        "spike",
        "spike amount",
        "spike conc",
        "spike concentration",
        "spiked amount",
        "spike added",
        "amount spiked",
        "fortification level",
        "certified value",
        "expected value",
        "true value",
        "reference value",
        "nominal",
    ),
    "lod": ("lod", "limit of detection", "mdl", "detection limit", "dl", "method detection limit"),
    "loq": (
        "loq",
        "limit of quantitation",
        "limit of quantification",
        "lloq",
        "pql",
        "rl",
        "reporting limit",
        "quantitation limit",
        "quantification limit",
        "mrl",
        "method reporting limit",
        "limit of reporting",
        "lor",
    ),
    "method": ("method", "method id", "test method", "procedure", "sop", "method reference"),
    "analyzed_at": (
        "analyzed",
        "analyzed at",
        "analysis date",
        "date analyzed",
        "analysed",
        "analysed at",
        "date analysed",
        "date tested",
        "test date",
        "analyzed on",
        "date of analysis",
        "analysis datetime",
        "tested on",
    ),
    "analyst": (
        "analyst",
        "analyst name",
        "analyzed by",
        "analysed by",
        "tested by",
        "chemist",
        "technician",
    ),
    "instrument": ("instrument", "instrument id", "equipment", "instrument name"),
    "dilution": ("dilution", "dilution factor", "df", "dil", "dil factor"),
    "accreditation": (
        "accreditation",
        "accreditation id",
        "accreditation no",
        "accreditation number",
        "iso 17025",
        "certificate of accreditation",
    ),
}

REGISTER_FIELDS: dict[str, tuple[str, ...]] = {
    "batch_id": RESULT_FIELDS["batch_id"],
    "product_id": (
        "product id",
        "product",
        "product code",
        "sku",
        "item no",
        "item number",
        "item code",
    ),
    "product_name": ("product name", "name", "description", "product description", "item name"),
    "form": ("form", "dosage form", "product form", "format"),
    "label_claim_mg_per_serving": (
        "label claim",
        "label claim mg per serving",
        "label claim mg serving",
        "label claim mg/serving",
        "label claim (mg/serving)",
        "label claim mg",
        "mitragynine label claim",
        "mitragynine claim",
        "claimed mitragynine",
        "declared mitragynine",
        "label claim mitragynine mg per serving",
        "mitragynine mg per serving",
        "mitragynine per serving mg",
    ),
    # A claim per capsule or tablet, as capsule labels state it: times
    # units_per_serving, the claim per serving.
    "label_claim_mg_per_unit": (
        "label claim mg per capsule",
        "label claim (mg/capsule)",
        "label claim mg per tablet",
        "label claim (mg/tablet)",
        "label claim mg per unit",
        "label claim (mg/unit)",
        "label claim per capsule",
        "label claim per tablet",
        "mitragynine per capsule mg",
        "mitragynine mg per capsule",
        "mitragynine per capsule (mg)",
        "mitragynine per tablet mg",
        "mitragynine mg per tablet",
        "mitragynine per tablet (mg)",
        "mg mitragynine per capsule",
    ),
    "serving_size_g": (
        "serving size g",
        "serving size",
        "serving size (g)",
        "serving g",
        "serving size grams",
        "serving mass g",
        "serving weight g",
    ),
    "servings_per_day": (
        "servings per day",
        "max servings per day",
        "servings/day",
        "daily servings",
        "servings day",
        "maximum servings per day",
    ),
    "units_per_serving": (
        "units per serving",
        "capsules per serving",
        "tablets per serving",
        "caps per serving",
        "units/serving",
        "count per serving",
    ),
    "manufacturer": ("manufacturer", "mfr", "made by", "producer", "processor"),
    "manufactured_on": (
        "manufactured on",
        "manufacture date",
        "mfg date",
        "date of manufacture",
        "manufactured",
        "production date",
        "mfd",
    ),
    "markets": ("markets", "market", "states", "sold in", "jurisdictions", "jurisdiction"),
    # USP <905>'s T: the manufacturer's target content per unit, in % of the
    # label claim (105 for an overage of 5 %). Names fold without '%', so
    # 'Target %' and 'Target (%)' are 'target'; and 'T' is <905>'s own symbol.
    "target_content_pct": (
        "target content",
        "target content %",
        "target content (%)",
        "target content % lc",
        "target content (% lc)",
        "target content % of label claim",
        "target content (% of label claim)",
        "target content per unit",
        "target content per dosage unit",
        "target %",
        "target % lc",
        "target (% lc)",
        "target % of label claim",
        "target (% of label claim)",
        "target % of claim",
        "target potency",
        "target potency %",
        "target assay",
        "target assay %",
        "target label claim %",
        "usp target",
        "usp t",
        "t",
        "t (%)",
        "t % lc",
        "t (% lc)",
        "t value",
    ),
}

RESULT_REQUIRED: tuple[str, ...] = ("batch_id", "sample_id", "analyte", "result", "unit", "lab_id")
REGISTER_REQUIRED: tuple[str, ...] = (
    "batch_id",
    "product_id",
    "product_name",
    "form",
    "label_claim_mg_per_serving",
    "serving_size_g",
    "servings_per_day",
)
# Fields whose presence says "this is a batch register, not results".
_REGISTER_MARKERS = (
    "label_claim_mg_per_serving",
    "serving_size_g",
    "servings_per_day",
    "product_id",
    "product_name",
)


def _index(fields: dict[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for fld, synonyms in fields.items():
        for s in (fld, *synonyms):
            index.setdefault(name_key(s), fld)
    return index


_RESULT_INDEX = _index(RESULT_FIELDS)
_REGISTER_INDEX = _index(REGISTER_FIELDS)


def result_field(header: str) -> str | None:
    return _RESULT_INDEX.get(name_key(header))


def register_field(header: str) -> str | None:
    return _REGISTER_INDEX.get(name_key(header))


# 'Result (mg/kg)', 'LOQ [ppm]', 'Result, %': a long file's number column with
# the unit of all its numbers in the header. The field each such header fills,
# and the field its unit gives.
_UNIT_IN_HEADER = re.compile(r"^(.*?)\s*(?:[\(\[]\s*([^()\[\]]+?)\s*[\)\]]|,\s*(\S+))\s*$")
_UNIT_FIELDS = {"result": "unit", "lod": "limit_unit", "loq": "limit_unit"}


class HeaderUnit(NamedTuple):
    field: str  # 'result', 'lod' or 'loq'
    name: str  # the header without its unit: 'Result'
    unit: str  # as written: 'mg/kg'


def unit_in_header(header: str) -> HeaderUnit | None:
    """('result', 'Result', 'mg/kg') for 'Result (mg/kg)', ('loq', 'LOQ', 'ppm')
    for 'LOQ (ppm)'; None for any other header (an unknown unit makes no such
    header)."""
    m = _UNIT_IN_HEADER.match(header.strip())
    if m is None:
        return None
    fld, unit = result_field(m.group(1)), m.group(2) or m.group(3)
    if fld in _UNIT_FIELDS and spelling(unit) is not None:
        return HeaderUnit(fld, m.group(1), unit)
    return None


def _result_header_field(header: str) -> str | None:
    """The results field a header names, its unit aside ('Result (mg/kg)')."""
    in_header = unit_in_header(header)
    return result_field(header) or (in_header.field if in_header else None)


@dataclass
class ColumnMap:
    """Which lab header became which field, and which fields appear twice."""

    fields: dict[str, str] = field(default_factory=dict)  # field -> lab header
    clashes: list[tuple[str, str, str]] = field(default_factory=list)  # (field, first, second)
    unmapped: list[str] = field(default_factory=list)
    # Headers naming a field that a more exact column beside them gives
    # (_SECONDARY): not read, so the file's outcome names them.
    set_aside: list[str] = field(default_factory=list)
    # unit field ('unit', 'limit_unit') -> the headers giving it, with their unit
    header_units: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


# Headers that name a field only when no other column names it more exactly.
# LIMS exports carry both: beside 'Analyte', 'Test' or 'Parameter' names the
# panel ('Heavy Metals'); beside 'Lab Sample ID', 'Client Sample ID' is the
# client's own label; beside 'Product Name', 'Description' is a longer text;
# beside 'Final Result', 'Result' may be the reading before dilution.
# Two columns of equal standing stay a clash for the lab to resolve.
_REPORTED_RESULTS = ("final result", "reported result", "reported value")
_SECONDARY: dict[str, frozenset[str]] = {
    fld: frozenset(name_key(h) for h in names)
    for fld, names in {
        "sample_id": (
            "sample",
            "client sample id",
            "sample ref",
            "sample name",
            "accession",
            "accession #",
            "accession no",
            "accession number",
        ),
        "analyte": (
            "test",
            "test name",
            "parameter",
            "parameter name",
            "target",
            "test item",
            "component",
        ),
        # 'Final Result' or 'Reported Result' beside 'Result' (or a raw
        # 'Reading'): the one the lab reports.
        "result": tuple(
            h for h in RESULT_FIELDS["result"] + ("result",) if h not in _REPORTED_RESULTS
        ),
        "unit_no": ("position", "vial"),
        "product_name": ("name", "description", "product description", "item name"),
        "form": ("format",),
    }.items()
}


def map_columns(headers: list[str], kind: Kind) -> ColumnMap:
    lookup = result_field if kind == "results" else register_field
    cmap = ColumnMap()
    found: dict[str, list[str]] = {}
    names: dict[str, str] = {}  # header -> the name it gives ('Result' for 'Result (ppm)')
    for h in headers:
        fld = lookup(h)
        names[h] = h
        in_header = unit_in_header(h) if fld is None and kind == "results" else None
        if in_header is not None:
            fld, names[h] = in_header.field, in_header.name
            cmap.header_units.setdefault(_UNIT_FIELDS[fld], []).append((h, in_header.unit))
        if fld is None:
            cmap.unmapped.append(h)
        else:
            found.setdefault(fld, []).append(h)
    for fld, named in found.items():
        secondary = _SECONDARY.get(fld, frozenset())
        exact = [h for h in named if name_key(names[h]) not in secondary]
        chosen = exact or named
        cmap.fields[fld] = chosen[0]
        cmap.clashes.extend((fld, chosen[0], h) for h in chosen[1:])
        cmap.set_aside.extend(h for h in named if h not in chosen)
    return cmap


def guess_kind(headers: list[str]) -> Kind | None:
    """Results when an analyte/result pair or analyte-named columns appear;
    register when product or label fields appear; None when neither."""
    result_hits = {_result_header_field(h) for h in headers} - {None}
    register_hits = {register_field(h) for h in headers} - {None}
    if {"analyte", "result"} <= result_hits:
        return "results"
    if register_hits & set(_REGISTER_MARKERS):
        return "register"
    return None


def expected_headers(kind: Kind, fld: str) -> str:
    """'Lot, Lot #, Batch No. …' for an error message naming what we look for."""
    fields = RESULT_FIELDS if kind == "results" else REGISTER_FIELDS
    names = [fld, *fields[fld][:5]]
    return ", ".join(f"'{n}'" for n in names)
