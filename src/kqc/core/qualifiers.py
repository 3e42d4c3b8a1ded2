"""Reading a result cell: a number, or a qualifier that is kept as such.

"<LOQ", "ND", "Absent in 25 g" are facts about a measurement, not numbers: a
non-detect is never a zero and never a NaN. `parse_result` is the one
definition; `kqc.core.normalize` applies it to whole columns and a property
test holds the two to agreement.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from kqc.core.units import spelling

# Qualifier codes stored in results.qualifier (NULL means a plain number).
BELOW_LOQ = "<LOQ"
BELOW_LOD = "<LOD"
NOT_DETECTED = "not_detected"
DETECTED = "detected"
ABOVE_ULOQ = ">ULOQ"
TNTC = "TNTC"
QUALIFIERS: tuple[str, ...] = (BELOW_LOQ, BELOW_LOD, NOT_DETECTED, DETECTED, ABOVE_ULOQ, TNTC)
# Qualifiers that say "below some limit": rules treat them as non-detects.
CENSORED_BELOW: tuple[str, ...] = (BELOW_LOQ, BELOW_LOD, NOT_DETECTED)


@dataclass(frozen=True)
class Parsed:
    value: float | None = None
    qualifier: str | None = None
    bound: float | None = None  # the number in "<0.50", ">1000", as reported
    test_portion_g: float | None = None
    unit: str | None = None  # a unit written after the number ("< 10 CFU/g"), as written


@dataclass(frozen=True)
class Unparsable:
    problem: str


@dataclass(frozen=True)
class NotTested:
    """'NT', 'not tested', blank: no result was reported for this cell."""


ParseOutcome = Parsed | Unparsable | NotTested

# A plain decimal number with an optional exponent: the fast path in
# normalize uses the very same pattern.
PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_PLAIN = re.compile(PLAIN_NUMBER)
_COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_COMMA_EXPONENT = re.compile(r"^[+-]?\d+,\d+[eE][+-]?\d+$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_NUMBER_IN_TEXT = r"(\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?)"
_PORTION = re.compile(r"(?:in|per|/)\s*(\d+(?:[.,]\d+)?)\s*(?:g|grams?|ml)\b", re.IGNORECASE)
_COMPARISON = re.compile(r"^(<=|>=|<|>|≤|≥)\s*" + _NUMBER_IN_TEXT + r"\s*(.*)$")

_WORDS: dict[str, str] = {}
for _words, _code in (
    (
        (
            "<loq",
            "< loq",
            "blq",
            "bql",
            "<lloq",
            "below loq",
            "below lloq",
            "<pql",
            "<rl",
            "< rl",
            "<mql",
            "loq",
            "below quantitation limit",
            "<lq",
            "nq",
            "not quantifiable",
        ),
        BELOW_LOQ,
    ),
    (
        (
            "<lod",
            "< lod",
            "<mdl",
            "< mdl",
            "<dl",
            "< dl",
            "below lod",
            "below detection limit",
            "bdl",
        ),
        BELOW_LOD,
    ),
    (
        (
            "nd",
            "n.d.",
            "n.d",
            "not detected",
            "none detected",
            "absent",
            "negative",
            "neg",
            "not found",
            "undetected",
            "-ve",
            "non-detect",
            "nondetect",
            "non detect",
            "not present",
        ),
        NOT_DETECTED,
    ),
    (("present", "detected", "positive", "pos", "+ve", "found"), DETECTED),
    (
        (">uloq", "> uloq", ">uql", "aql", "above uloq", ">loq range", "above range", ">ulq"),
        ABOVE_ULOQ,
    ),
    (("tntc", "too numerous to count", "tnc"), TNTC),
):
    for _w in _words:
        _WORDS[_w] = _code

_NOT_TESTED = {
    "",
    "nt",
    "n/t",
    "not tested",
    "na",
    "n/a",
    "-",
    "--",
    "—",
    "–",
    "not analyzed",
    "not analysed",
    "not requested",
    "nr",
    "not reported",
}
_VERDICTS = {"pass", "passed", "fail", "failed", "ok", "conforms", "complies", "meets"}
# A result the lab has not finished: no value yet, whatever it will be.
_NOT_FINAL = {"pending", "in progress", "in process", "to follow", "tbd", "retest", "awaiting"}


# Superscript digits and signs, as in "1.2 x 10³": NFKC would make "10³" read
# "103", so they become "10^3" first.
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUPERSCRIPT_POWER = re.compile(r"10([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
# "1.2 x 10^3", "1.2×10^3", "1,2 x 10^3" (a count written as a microbiologist
# writes it): read as the number 1.2E3. Only a power of ten follows the sign.
_POWER_OF_TEN = re.compile(r"(\d+(?:[.,]\d+)?)\s*[x×X*·]\s*10\s*(?:\^|\*\*)\s*([+-]?\d+)(?![\d.,])")
# "1.52 ± 0.03": a value with its measurement uncertainty. The value is the
# result; the lab's text, uncertainty included, is kept as reported.
_UNCERTAINTY = re.compile(
    r"^(?P<value>[+-]?[\d.,]+(?:[eE][+-]?\d+)?)\s*(?:±|\+/-|\+-)\s*"
    r"(?P<u>\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?)\s*(?P<rest>.*)$"
)
# "0.5 ppm": a number, then what can only be its unit.
_NUMBER_THEN_UNIT = re.compile(
    r"^(?P<number>[+-]?[\d.,]+(?:[eE][+-]?\d+)?)\s*(?P<rest>[a-zA-Zµμ%][a-zA-Zµμ/%0-9 .]*)$"
)
# Unit text a result cell may carry after its number ("< 10 CFU/g").
_UNIT_TEXT = re.compile(r"[a-zA-Zµμ/%0-9 .]*")


def _clean(text: str) -> str:
    raised = _SUPERSCRIPT_POWER.sub(lambda m: "10^" + m.group(1).translate(_SUPERSCRIPTS), text)
    cleaned = " ".join(unicodedata.normalize("NFKC", raised).split())
    return _POWER_OF_TEN.sub(lambda m: f"{m.group(1)}E{m.group(2)}", cleaned)


def parse_number(text: str, *, decimal_comma: bool = False) -> float | str:
    """A plain number, or a problem sentence saying how to write it. A
    footnote's mark after it ('0.05*') is not part of it."""
    t = _clean(text).replace(" ", "")
    t = _FOOTNOTE_MARK.sub("", t) or t
    if _PLAIN.match(t):
        return float(t)
    if _COMMA_EXPONENT.match(t) or (decimal_comma and _COMMA_DECIMAL.match(t)):
        return float(t.replace(",", "."))
    if _THOUSANDS.match(t):
        return (
            f"ambiguous number '{text}': write it without a thousands separator"
            f" ({t.replace(',', '')}) or with a decimal point"
        )
    if _COMMA_DECIMAL.match(t):
        return (
            f"decimal comma in '{text}' is read only in semicolon-separated files:"
            f" write {t.replace(',', '.')}"
        )
    if _SPREADSHEET_ERROR.match(t):
        return _spreadsheet_error(text)
    return f"'{text}' is not a number"


# What a spreadsheet shows in a cell whose formula failed: the lab's sheet
# computed no value there, and its export carried the error as text.
_SPREADSHEET_ERROR = re.compile(
    r"^#(?:N/A|VALUE!|DIV/0!|REF!|NAME\?|NUM!|NULL!|SPILL!|CALC!|FIELD!|GETTING_DATA)$",
    re.IGNORECASE,
)


def _spreadsheet_error(text: str) -> str:
    return (
        f"'{text}' is a spreadsheet error, not a value: correct the formula in the lab's sheet"
        " and export the file again"
    )


def parse_result(text: str, *, decimal_comma: bool = False) -> ParseOutcome:
    """Read one result cell. Never raises; never turns a qualifier into a number."""
    t = _clean(text)
    unmarked = _FOOTNOTE_MARK.sub("", t)
    if unmarked != t and unmarked:
        return parse_result(unmarked, decimal_comma=decimal_comma)
    bracketed = _BRACKETED_UNIT.match(t)
    if bracketed and spelling(bracketed["unit"]) is not None:
        return parse_result(f"{bracketed['head']} {bracketed['unit']}", decimal_comma=decimal_comma)
    estimate = _ESTIMATE_FIRST.match(t)
    if estimate:
        read = parse_result(estimate["rest"], decimal_comma=decimal_comma)
        if isinstance(read, Parsed) and read.value is not None:
            return read
    low = t.casefold()
    if low in _NOT_TESTED:
        return NotTested()
    number = parse_number(t, decimal_comma=decimal_comma)
    if isinstance(number, float):
        return _measured(text, number)
    if _THOUSANDS.match(t) or _COMMA_DECIMAL.match(t):
        return Unparsable(number)
    portion_match = _PORTION.search(t)
    portion = float(portion_match.group(1).replace(",", ".")) if portion_match else None
    head = _PORTION.sub("", t).strip(" /,;:").casefold() if portion_match else low
    if head in _WORDS:
        return Parsed(qualifier=_WORDS[head], test_portion_g=portion)
    compound = _compound(t, decimal_comma)
    if compound is not None:
        return compound
    coded = _TRAILING_CODE.match(t)
    if coded:
        return _with_code(coded["result"], coded["code"], decimal_comma)
    comparison = _COMPARISON.match(t)
    if comparison:
        return _comparison(text, comparison, decimal_comma)
    uncertain = _UNCERTAINTY.match(t)
    if uncertain and _UNIT_TEXT.fullmatch(uncertain["rest"]):
        value = parse_number(uncertain["value"], decimal_comma=decimal_comma)
        if isinstance(value, str):
            return Unparsable(value)
        return _measured(text, value, uncertain["rest"] or None)
    if low in _NOT_FINAL:
        return Unparsable(
            f"result '{text}' is not final: drop the file again once the lab reports the"
            " result, or mark the row NT (not tested) to store the others now"
        )
    if low in _VERDICTS:
        return Unparsable(
            f"'{text}' is a verdict, not a result: report the measured value or a qualifier"
            " such as <LOQ, ND, Absent"
        )
    with_unit = _NUMBER_THEN_UNIT.match(t)
    if with_unit and spelling(with_unit["rest"]) is not None:
        # '1.52 %': a known unit after the number, held to the unit column
        # (or giving it) by normalize, as for '< 10 CFU/g'.
        number = parse_number(with_unit["number"], decimal_comma=decimal_comma)
        if isinstance(number, float):
            return _measured(text, number, with_unit["rest"])
        return Unparsable(number)  # the unit is known: the number is what to fix
    if with_unit and isinstance(parse_number(with_unit["number"], decimal_comma=True), float):
        return Unparsable(
            f"result '{text}' holds its unit: write {with_unit['number']} in the result column"
            f" and '{with_unit['rest']}' in the unit column"
        )
    if _SPREADSHEET_ERROR.match(t):
        return Unparsable(_spreadsheet_error(text))
    return Unparsable(
        f"result '{text}' is neither a number nor a known qualifier"
        " (<LOQ, < 0.5, ND, >ULOQ, TNTC, Absent, Present)"
    )


# A footnote's mark after the result ('0.52*', 'ND†'), as certificates print
# it to send the reader to a note (out of accreditation scope, see comments):
# the result is what stands before it, and the cell is kept as reported.
_FOOTNOTE_MARK = re.compile(r"\s*[*†‡]+$")
# A data qualifier code written in the result cell rather than in a column of
# its own ('0.05 U', '0.52 J', '0.8 (B)'): read as the qualifier column is.
_TRAILING_CODE = re.compile(
    r"^(?P<result>[<>≤≥]?\s*[\d.,]+(?:[eE][+-]?\d+)?)\s*\(?(?P<code>UJ|U|J|B|est\.?|estimated)\)?$",
    re.IGNORECASE,
)
# A unit in brackets after the number ('12.5 (mg/g)'): as '12.5 mg/g'.
_BRACKETED_UNIT = re.compile(r"^(?P<head>.*\d)\s*\((?P<unit>[^()]+)\)$")
# An estimate marked before its number ('~0.5', 'Est. 1.2', 'ca. 3'): the
# value as measured, as the code J says after it.
_ESTIMATE_FIRST = re.compile(
    r"^(?:~|≈|ca\.?|approx\.?|est\.?|estimated)\s*(?P<rest>\d.*)$", re.IGNORECASE
)


def _with_code(result: str, code: str, decimal_comma: bool) -> ParseOutcome:
    joined = with_qualifier_code(result, code, decimal_comma=decimal_comma)
    if joined.problem is not None or joined.text is None:
        return Unparsable(joined.problem or f"result '{result} {code}' cannot be read")
    return parse_result(joined.text, decimal_comma=decimal_comma)


# A non-detect written with its limit, as certificates print it: 'ND (<0.01)',
# 'BLQ (<0.05)', 'Not Detected (<10 CFU/g)', 'ND<0.01', '< LOQ (0.05)',
# '<0.05 (LOQ)'. The word says what kind of qualifier, the number its bound.
_WORD_THEN_LIMIT = re.compile(
    r"^(?P<word>(?:<\s*)?[^\W\d][^()<>≤≥]*?)\s*\(?\s*"
    r"(?P<limit>[<>≤≥]=?[^()]*?|[\d.,]+(?:[eE][+-]?\d+)?)\s*\)?$"
)
_LIMIT_THEN_WORD = re.compile(
    r"^(?P<limit>[<>≤≥]=?\s*[\d.,]+(?:[eE][+-]?\d+)?)\s*\((?P<word>[^()]+)\)$"
)
# The limit a bare name in brackets stands for: '<0.05 (LOQ)', '<0.01 (LOD)'.
_LIMIT_NAMES = {
    **dict.fromkeys(("loq", "lloq", "rl", "pql", "mrl", "lq"), BELOW_LOQ),
    **dict.fromkeys(("lod", "mdl", "dl", "ld"), BELOW_LOD),
    **dict.fromkeys(("uloq", "uql", "ulq"), ABOVE_ULOQ),
}


def _compound(t: str, decimal_comma: bool) -> Parsed | Unparsable | None:
    """A qualifier word with its limit ('ND (<0.01)'); None when `t` is not
    of that form. The word and the sign must agree: 'Present (<10)' is no
    reading."""
    m = _WORD_THEN_LIMIT.match(t)
    if m is None or m["word"].strip(" ,:;").casefold() not in {*_WORDS, *_LIMIT_NAMES}:
        m = _LIMIT_THEN_WORD.match(t)
    if m is None:
        return None
    word = m["word"].strip(" ,:;").casefold()
    code = _WORDS.get(word) or _WORDS.get("<" + word) or _LIMIT_NAMES.get(word)
    if code is None:
        return None
    limit = m["limit"].strip()
    bounded = parse_result(
        limit if limit[0] in "<>≤≥" else "<" + limit, decimal_comma=decimal_comma
    )
    if not isinstance(bounded, Parsed) or bounded.bound is None:
        return None
    below = bounded.qualifier == BELOW_LOQ
    if below != (code in CENSORED_BELOW) or code == DETECTED:
        return Unparsable(f"result '{t}' says two different things: write one qualifier")
    if code in (NOT_DETECTED, BELOW_LOQ, BELOW_LOD, ABOVE_ULOQ):
        return Parsed(qualifier=code, bound=bounded.bound, unit=bounded.unit)
    return None


def _measured(text: str, value: float, unit: str | None = None) -> ParseOutcome:
    """A measured value, refused when it is not finite (NaN, 1e999)."""
    if value != value or value in (float("inf"), float("-inf")):
        return Unparsable(f"'{text}' is not a finite number")
    return Parsed(value=value, unit=unit)


def _comparison(text: str, m: re.Match[str], decimal_comma: bool) -> ParseOutcome:
    sign, digits, rest = m.group(1), m.group(2), m.group(3)
    bound = parse_number(digits, decimal_comma=decimal_comma or "e" in digits.casefold())
    if not isinstance(bound, float):
        return Unparsable(bound)
    below = sign in ("<", "<=", "≤")
    # "< 10 CFU/g" carries its unit in the cell: kept, for normalize to hold
    # it to the unit column.
    if rest and not _UNIT_TEXT.fullmatch(rest):
        return Unparsable(f"result '{text}' has unexpected text after the number")
    return Parsed(qualifier=BELOW_LOQ if below else ABOVE_ULOQ, bound=bound, unit=rest or None)


# A qualifier column beside the result, as LIMS and EPA-style reports give it
# ("0.05" with "U", "0.05" with "<"): what each code makes of the number. An
# unknown code is refused, never ignored: ignored, "0.05 U" (not detected at
# 0.05) would be stored as a detection of 0.05.
_CODE_KINDS: dict[str, str] = {
    **dict.fromkeys(("<", "<=", "≤", "lt", "less than"), "below"),
    **dict.fromkeys((">", ">=", "≥", "gt", "greater than"), "above"),
    # U (EPA): analysed for, not detected above the reported value; UJ: the
    # same, with that value estimated.
    **dict.fromkeys(
        (
            *("u", "uj", "nd", "n.d.", "not detected"),
            *("<lod", "<loq", "<rl", "<mdl", "<pql", "bql", "blq", "bdl"),
        ),
        "not_detected",
    ),
    # J: detected below the quantitation limit, the value estimated; B:
    # detected, the analyte also found in the blank. Both are measured values.
    **dict.fromkeys(("j", "b", "est", "est.", "estimated"), "measured"),
}
QUALIFIER_CODES_HELP = (
    "< or > before the number, U or ND for not detected at the number,"
    " J for an estimated value, or leave it empty"
)


@dataclass(frozen=True)
class Qualified:
    """A result cell read together with its qualifier column's code."""

    text: str | None  # what `parse_result` reads
    shown: str | None  # what is kept as reported: the two cells together
    problem: str | None = None


def with_qualifier_code(result: str | None, code: str, *, decimal_comma: bool = False) -> Qualified:
    """Join a result cell and the code of a separate qualifier column: '0.05'
    and 'U' read as '<0.05' (kept as reported '0.05 U'), '0.05' and '<' as
    '<0.05'. A result that is itself a qualifier ('ND', '<0.05') stands when
    the code agrees with it."""
    result = (result or "").strip() or None
    kind = _CODE_KINDS.get(" ".join(code.split()).casefold())
    sign_first = kind in ("below", "above")
    shown = (f"{code}{result}" if sign_first else f"{result} {code}") if result else code
    if kind is None:
        return Qualified(
            result, shown, f"qualifier '{code}' is not known: use {QUALIFIER_CODES_HELP}"
        )
    if result is None:
        if kind == "not_detected":
            return Qualified("ND", shown)
        return Qualified(
            None,
            shown,
            f"qualifier '{code}' has no number in the result column: fill in the result",
        )
    number = parse_number(result, decimal_comma=decimal_comma)
    if isinstance(number, float):
        sign = {"below": "<", "not_detected": "<", "above": ">"}.get(kind, "")
        return Qualified(f"{sign}{result}", shown)
    read = parse_result(result, decimal_comma=decimal_comma)
    agrees = isinstance(read, Parsed) and (
        (kind in ("below", "not_detected") and read.qualifier in CENSORED_BELOW)
        or (kind == "above" and read.qualifier in (ABOVE_ULOQ, TNTC))
    )
    if agrees or not isinstance(read, Parsed):  # an unreadable result is named for itself
        # '<0.05' beside '<' says it once
        return Qualified(result, result if agrees and sign_first else shown)
    return Qualified(
        result,
        shown,
        f"the result '{result}' and the qualifier '{code}' say different things: keep one of them",
    )
