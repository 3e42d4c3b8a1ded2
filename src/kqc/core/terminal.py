"""Text from a dropped file, made safe for a terminal and for JSON.

A lab's cell is untrusted text. Printed raw, an ESC (\\x1b) starts a terminal
control sequence that can recolour, move the cursor, retitle the window or
(OSC 8) plant a link; a BEL rings; the C1 control U+009B is a one-character
CSI on some terminals; and a bidi override (U+202E) makes "B1 FAIL" read as
something else. Every such character is shown escaped, as `\\x1b`,
`\\u009b`, `\\u202e`, the way file names are (`kqc.files.inbox.printable_name`),
so a reader sees that the lab's text held it.
"""

from __future__ import annotations

import re


def _escaped(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{ord(char) - 0xDC00:02x}"
    if ord(char) < 0x80:  # \n, \t, \x1b, \x7f
        return char.encode("unicode_escape").decode("ascii")
    # \u202e; never \x, which stands for a byte that was not UTF-8.
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def shown(text: str, *, faithful: bool = False) -> str:
    """`text` with every character a terminal would act on, or that is not
    visible (C0 such as ESC and BEL, DEL, C1 such as U+009B, bidi overrides
    and isolates U+202A-U+202E and U+2066-U+2069, other format and separator
    characters), shown escaped; all else as it is.

    By default a backslash stays one, so text already shown (a stored file
    name) is shown unchanged: `shown(shown(x)) == shown(x)`. With
    `faithful=True` a backslash is doubled too and the original can be read
    back, exactly as `kqc.files.inbox.printable_name` writes a file name.
    """
    if text.isprintable() and not (faithful and "\\" in text):
        return text  # nearly every cell: no copy
    return "".join(
        "\\\\"
        if char == "\\" and faithful
        else char
        if char.isprintable() or char == "\\"
        else _escaped(char)
        for char in text
    )


# What json.dumps(..., ensure_ascii=False) leaves raw: it escapes C0 and the
# quote, not DEL, C1, bidi controls or other invisible characters.
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_safe(document: str) -> str:
    """A JSON document (as json.dumps wrote it) with DEL, C1, bidi and other
    invisible characters written as \\uXXXX: the same JSON once parsed, but
    nothing in it a terminal acts on. Such characters can only stand inside
    a string of the document, where \\uXXXX means the character itself."""
    return _RAW_IN_JSON.sub(_json_escape, document)
