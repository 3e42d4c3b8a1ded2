"""The date a batch was made, as one form: YYYY-MM-DD.

The rules order a product's batches by this date (potency_drift compares a
batch with those made before it), and the database compares it as text. A
register holds whatever its spreadsheet wrote: `2026-01-05`, an XLSX date
cell (`2026-01-05 00:00:00`), `05.01.2026`, `Jan 5, 2026`, `1/5/2026`. Mixed
as written, "01/07/2026" would sort before "2025-12-30". Each is read to its
ISO form; a date that could be read two ways (`01/07/2026`: 1 July or
7 January) is a problem for its row, never a guess.
"""

from __future__ import annotations

import re
from datetime import date

# 2026-01-05, with the time an XLSX date cell reads with (2026-01-05 00:00:00).
_ISO = re.compile(
    r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
# 05.01.2026: day first, as written where dots separate a date.
_DOTTED = re.compile(r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})$")
# 1/5/2026 or 1-5-2026: day first or month first, told only by the numbers.
_SLASHED = re.compile(r"^(?P<a>\d{1,2})[/-](?P<b>\d{1,2})[/-](?P<y>\d{4})$")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# 5 Jan 2026, 05-Jan-2026, Jan 5, 2026, January 5 2026.
_DAY_MONTH = re.compile(r"^(?P<d>\d{1,2})[\s-]+(?P<mon>[a-z]+)\.?[\s-]+(?P<y>\d{4})$")
_MONTH_DAY = re.compile(r"^(?P<mon>[a-z]+)\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})$")

_HOW = "write it as YYYY-MM-DD"


def iso_date(text: str) -> str:
    """`text` as YYYY-MM-DD, or raises ValueError with a sentence for the
    errors file."""
    cleaned = " ".join(text.split())
    lowered = cleaned.casefold()
    for pattern in (_ISO, _DOTTED):
        found = pattern.match(cleaned)
        if found:
            return _checked(text, int(found["y"]), int(found["m"]), int(found["d"]))
    found = _DAY_MONTH.match(lowered) or _MONTH_DAY.match(lowered)
    if found and found["mon"] in _MONTHS:
        return _checked(text, int(found["y"]), _MONTHS[found["mon"]], int(found["d"]))
    found = _SLASHED.match(cleaned)
    if found:
        first, second, year = int(found["a"]), int(found["b"]), int(found["y"])
        if first > 12 >= second:
            return _checked(text, year, second, first)
        if second > 12 >= first or first == second:
            return _checked(text, year, first, second)
        day_first, month_first = _iso(year, second, first), _iso(year, first, second)
        if day_first and month_first:
            raise ValueError(
                f"date '{text}' could be {day_first} or {month_first} (day or month first): {_HOW}"
            )
    raise ValueError(f"'{text}' is not a date this register can read: {_HOW}")


def _checked(text: str, year: int, month: int, day: int) -> str:
    found = _iso(year, month, day)
    if found is None:
        raise ValueError(f"'{text}' is not a date of the calendar: {_HOW}")
    return found


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None
