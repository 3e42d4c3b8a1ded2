"""Names of dropped files: shown as dropped (every character visible, the
original bytes recoverable), made safe to create in archive/ or quarantine/,
told apart from other files of the same name, and the errors report's name
beside a quarantined file.
"""

from __future__ import annotations

from pathlib import Path

# A folder entry holds at most 255 bytes (NAME_MAX on Linux and macOS). A
# stored name leaves room for the `__<hash>-<n>` that tells files of one name
# apart and for the `.errors.csv` beside a quarantined file.
_NAME_BYTES = 255 - len("__") - 12 - len("-999") - len(".errors.csv")
_KEPT_SUFFIX = 16  # an extension longer than this is not one worth keeping


def printable_name(name: str) -> str:
    """The name as dropped, every character shown: bytes that are not UTF-8
    as \\xff, control and invisible characters as \\n, \\x1b, \\u009b or
    \\u202e, a backslash as two. Faithful (the original bytes can be read
    back from it) and safe to store in the database, print and put in JSON."""
    shown = []
    for char in name:
        if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
            shown.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char == "\\":
            shown.append("\\\\")
        elif char.isprintable():
            shown.append(char)
        elif ord(char) < 0x80:  # \n, \t, \x1b, \x7f
            shown.append(char.encode("unicode_escape").decode("ascii"))
        else:  # \u202e; never \x, which stands for a byte that was not UTF-8
            shown.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    return "".join(shown)


def safe_name(name: str) -> str:
    """A file name that cannot climb out of its folder, hide itself, break a
    listing or a terminal, or exceed what a folder entry holds."""
    cleaned = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in name).strip()
    cleaned = cleaned.lstrip(".").strip() or "unnamed"
    if len(cleaned.encode("utf-8")) <= _NAME_BYTES:
        return cleaned
    stem, dot, ext = cleaned.rpartition(".")
    if not dot or not stem or len(ext) > _KEPT_SUFFIX:
        stem, dot, ext = cleaned, "", ""
    room = _NAME_BYTES - len(f"{dot}{ext}".encode())
    shortened = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return f"{shortened}{dot}{ext}"


def _free_name(folder: Path, name: str, sha256: str, taken: set[Path]) -> Path:
    """`name` in `folder`, or name with a short hash when another file has it
    (and a counter when the same content was dropped under that name before)."""
    stem, dot, ext = name.partition(".")
    candidates = [name, f"{stem}__{sha256[:12]}{dot}{ext}"]
    candidates += [f"{stem}__{sha256[:12]}-{n}{dot}{ext}" for n in range(2, 1000)]
    for candidate in candidates:
        target = folder / candidate
        if target not in taken and not target.exists():
            return target
    raise FileExistsError(f"{folder / name} and 998 variants of it exist already")


def target_for(folder: Path, name: str, sha256: str, taken: set[Path] | None = None) -> Path:
    """A free place for the file in `folder`, avoiding `taken` (places
    promised to other files of the same run but not yet filled)."""
    return _free_name(folder, safe_name(name), sha256, taken or set())


def errors_path(quarantined: Path) -> Path:
    return quarantined.with_name(quarantined.name + ".errors.csv")
