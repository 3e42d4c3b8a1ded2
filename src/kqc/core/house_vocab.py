"""A house vocabulary: the analytes a lab reports that kqc does not know,
added without a code change (docs/vocabulary.md).

It is a CSV file with one analyte a row: its code, its group, the group's
canonical unit, and the names labs print for it (`;` between them):

    code,group,canonical_unit,aliases
    zinc,heavy metals,ug/g,Zn;Zinc (Zn);66Zn;Zn 66

Reading it is all or nothing: the first row that cannot be used (a code
that is a built-in one, an unknown group, a unit that is not the group's, an
alias that already means another analyte) is one sentence naming its row,
column and fix, and no analyte of the file is added. Pure: bytes in,
analytes out (the shell reads the file, kqc.config.house_vocabulary).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from kqc.core.names import name_key
from kqc.core.units import unit_key
from kqc.core.vocab import Analyte, AnalyteNames, Group, Reporting, built_in_names

COLUMNS: tuple[str, ...] = ("code", "group", "canonical_unit", "aliases")
# Beside them, a `note` column may say why the analyte is there; it is not read.
OPTIONAL_COLUMNS: tuple[str, ...] = ("note",)
ALIAS_SEPARATOR = ";"

# How a group may be written: kqc's group code, or the contract's name for it.
GROUP_NAMES: dict[Group, tuple[str, ...]] = {
    "alkaloid": ("alkaloid", "alkaloids"),
    "metal": ("metal", "metals", "heavy metal", "heavy metals", "elemental impurities"),
    "microbial": ("microbial", "microbiology", "microbes"),
    "solvent": ("solvent", "solvents", "residual solvent", "residual solvents"),
    "adulterant": ("adulterant", "adulterants"),
    "mycotoxin": ("mycotoxin", "mycotoxins"),
    "moisture": ("moisture",),
    "activity": ("activity", "water activity"),
}
_GROUP_BY_KEY: dict[str, Group] = {
    name_key(n): group for group, names in GROUP_NAMES.items() for n in names
}

# The canonical unit each group is stored in (CONTRACT §2), and how a result
# of it is reported. A microbial test is a count (CFU/g) or a presence test,
# which carries no number: its unit is written `presence`.
CANONICAL_UNITS: dict[Group, dict[str, Reporting]] = {
    "alkaloid": {"mg/g": "amount"},
    "metal": {"ug/g": "amount"},
    "solvent": {"ug/g": "amount"},
    "adulterant": {"ug/g": "amount"},
    "mycotoxin": {"ug/g": "amount"},
    "moisture": {"%": "amount"},
    "activity": {"aw": "ratio"},
    "microbial": {"CFU/g": "count", "presence": "presence"},
}

# Codes of the thresholds file's QC rows (rule qc_failure): no analyte's.
RESERVED_CODES: tuple[str, ...] = ("blank", "spike", "crm", "duplicate")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SHOWN = 60  # characters of a cell quoted in a message


class HouseVocabularyError(ValueError):
    """The house vocabulary cannot be used; `message` is the sentence to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    cells: dict[str, str]


def parse_house_vocabulary(data: bytes, name: str) -> tuple[Analyte, ...]:
    """The analytes of a house vocabulary file (`name` says which file in a
    message), checked against the built-in vocabulary and each other; raises
    HouseVocabularyError with one sentence at the first row that is wrong."""
    rows = _rows(_text(data, name), name)
    names = built_in_names()
    seen: dict[str, int] = {}
    added: list[Analyte] = []
    for row in rows:
        analyte = _analyte(row, name, names, seen)
        names.add(analyte)
        seen[analyte.code] = row.number
        added.append(analyte)
    return tuple(added)


def _text(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise HouseVocabularyError(f"{name} is not a text file: save the vocabulary as CSV (UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Windows saves 'µg/g' as one byte (0xB5).
        return data.decode("cp1252", errors="replace")


def _rows(text: str, name: str) -> list[_Row]:
    records = list(csv.reader(io.StringIO(text, newline="")))
    while records and not any(c.strip() for c in records[0]):
        records.pop(0)  # blank lines above the header
    if not records:
        raise HouseVocabularyError(
            f"{name} is empty: give it the header {','.join(COLUMNS)} and one analyte a row"
        )
    header = [name_key(c) for c in records[0]]
    missing = [c for c in COLUMNS if name_key(c) not in header]
    if missing and len(records[0]) == 1 and ";" in records[0][0]:
        raise HouseVocabularyError(
            f"{name}: row 1 is separated by ';': save the file with commas between the"
            " columns (';' separates the aliases within their cell)"
        )
    if missing:
        raise HouseVocabularyError(
            f"{name} lacks the column(s) {', '.join(missing)}: its header must read"
            f" {','.join(COLUMNS)} (and perhaps note)"
        )
    known = {name_key(c) for c in (*COLUMNS, *OPTIONAL_COLUMNS)}
    extra = [c for c, key in zip(records[0], header, strict=True) if key not in known]
    if extra:
        raise HouseVocabularyError(
            f"{name}: row 1 names the column '{_cut(extra[0])}', which a vocabulary does"
            f" not have: remove it (the columns are {','.join(COLUMNS)} and perhaps note)"
        )
    where = {key: i for i, key in reversed(list(enumerate(header)))}
    found: list[_Row] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(c.strip() for c in record):
            continue  # a blank row adds nothing
        if len(record) > len(header) and any(c.strip() for c in record[len(header) :]):
            raise HouseVocabularyError(
                f"{name}: row {number} has {len(record)} cells but the header has"
                f" {len(header)}: put the aliases in one cell, separated by"
                f" '{ALIAS_SEPARATOR}' (quote the cell if an alias holds a comma)"
            )
        padded = record + [""] * (len(header) - len(record))
        cells = {column: padded[where[name_key(column)]].strip() for column in COLUMNS}
        found.append(_Row(number, cells))
    return found


def _analyte(row: _Row, name: str, names: AnalyteNames, seen: dict[str, int]) -> Analyte:
    code = _code(row, name, names, seen)
    group = _group(row, name)
    reporting = _reporting(row, name, group)
    aliases = _aliases(row, name)
    analyte = Analyte(code, group, reporting, aliases)
    clash = names.clash(analyte)
    if clash is None:
        # A name the lookup reaches through a bracket or an isotope ('Lead
        # (total)', 'Pb 208') means that analyte already, though not listed.
        clash_alias = next((a for a in aliases if names.code(a) not in (None, code)), None)
        if clash_alias is None:
            return analyte
        other = names.code(clash_alias)
    else:
        clash_alias, other = clash.spelling, clash.other
    raise HouseVocabularyError(
        f"{name}: row {row.number}, column aliases: '{_cut(clash_alias)}' already means"
        f" {other}: remove it from the aliases of {code}"
    )


def _code(row: _Row, name: str, names: AnalyteNames, seen: dict[str, int]) -> str:
    code = row.cells["code"]
    where = f"{name}: row {row.number}, column code"
    if not code:
        raise HouseVocabularyError(f"{where} is empty: give the analyte a code, e.g. zinc")
    if not _CODE.match(code):
        suggestion = re.sub(r"[^a-z0-9]+", "_", code.casefold()).strip("_") or "zinc"
        if not suggestion[0].isalpha():
            suggestion = f"a_{suggestion}"
        raise HouseVocabularyError(
            f"{where}: '{_cut(code)}' is not a code: write it in lower case, with letters,"
            f" digits and underscores, starting with a letter (e.g. '{suggestion[:63]}')"
        )
    if code in seen:
        raise HouseVocabularyError(
            f"{where}: '{code}' is given in row {seen[code]} already: keep one row for it,"
            " with every alias in that row"
        )
    if code in names.analytes:
        raise HouseVocabularyError(
            f"{where}: '{code}' is a built-in analyte: take the row out (its names are"
            " known already) or give the new analyte another code"
        )
    if code in RESERVED_CODES:
        raise HouseVocabularyError(
            f"{where}: '{code}' names a QC sample type in the thresholds file: give the"
            " analyte another code"
        )
    other = names.code(code)
    if other is not None:
        raise HouseVocabularyError(
            f"{where}: '{code}' already means {other}: give the new analyte another code"
        )
    return code


def _group(row: _Row, name: str) -> Group:
    text = row.cells["group"]
    group = _GROUP_BY_KEY.get(name_key(text))
    if group is None:
        shown = f"'{_cut(text)}' is not a group" if text else "is empty"
        raise HouseVocabularyError(
            f"{name}: row {row.number}, column group {shown}: write one of"
            f" {', '.join(GROUP_NAMES)} ('heavy metals' for metal)"
        )
    return group


def _reporting(row: _Row, name: str, group: Group) -> Reporting:
    text = row.cells["canonical_unit"]
    units = CANONICAL_UNITS[group]
    for unit, reporting in units.items():
        if text and unit_key(text) == unit_key(unit):
            return reporting
    allowed = " or ".join(units)
    shown = f"'{_cut(text)}' is not the canonical unit of group {group}" if text else "is empty"
    raise HouseVocabularyError(
        f"{name}: row {row.number}, column canonical_unit {shown}: write {allowed}"
        + _CONVERTED.get(allowed, "")
    )


# What a lab may still report in, for a unit a person may take for a spelling.
_CONVERTED = {
    "ug/g": " (results in ppm, ppb, mg/kg … are converted to it)",
    "mg/g": " (results in %, ppm, mg/kg … are converted to it; mg/capsule to mg/unit)",
}


def _aliases(row: _Row, name: str) -> tuple[str, ...]:
    aliases: list[str] = []
    for alias in (a.strip() for a in row.cells["aliases"].split(ALIAS_SEPARATOR)):
        if not alias:
            continue
        if not name_key(alias):
            raise HouseVocabularyError(
                f"{name}: row {row.number}, column aliases: '{_cut(alias)}' has no letter"
                " or digit: remove it"
            )
        aliases.append(alias)
    return tuple(aliases)


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
