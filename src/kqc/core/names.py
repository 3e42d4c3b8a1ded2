"""One way to compare names: the key every vocabulary lookup goes through.

Labs spell the same thing many ways ("Lot #", "lot_no", "LOT"); µ arrives as
U+00B5 or U+03BC. Folding both sides through `name_key` before comparing means
a synonym is listed once, not once per spelling.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


# Cached: a file repeats the same few dozen names (headers, analytes, labs)
# in every row, and the header search folds every cell of the first rows.
@functools.lru_cache(maxsize=1 << 16)
def name_key(text: str) -> str:
    """NFKC, casefold, drop spaces and punctuation: 'Lot No.' and 'lot_no' meet.

    '#' reads as 'no' and '&' as 'and', because 'Unit #' (a capsule number)
    must not fold onto 'Unit' (the unit of measure)."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("#", "no").replace("&", "and")
    # NFKC maps the micro sign to Greek mu; casefold keeps mu: both spellings meet.
    return _NOT_WORD.sub("", folded)


def closest(text: str, known: list[str], *, cutoff: float = 0.75) -> str | None:
    """The known name a person most likely meant, or None when nothing is close."""
    keyed = {name_key(k): k for k in known}
    match = difflib.get_close_matches(name_key(text), list(keyed), n=1, cutoff=cutoff)
    return keyed[match[0]] if match else None


def did_you_mean(text: str, known: list[str]) -> str:
    """' — did you mean 'x'?' or an empty string, for the end of a message."""
    guess = closest(text, known)
    return f" — did you mean '{guess}'?" if guess else ""
