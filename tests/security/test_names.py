"""Names of dropped files: what lands in archive/ or quarantine/ cannot climb
out of its folder, hide, break a terminal or exceed a folder entry; what is
recorded shows every character and can be read back to the original."""

import os
import re

import pytest

from kqc.files.inbox import errors_path, printable_name, safe_name, target_for

SHA = "ab" * 32
ODD = [
    os.fsdecode(b"bad\xff\xfename.csv"),
    "new\nline.csv",
    "tab\there\r.csv",
    "back\\slash..csv",
    "reports\\..\\..\\etc\\passwd",
    "..",
    "...csv",
    "esc\x1b[31mred\x7f\x9b.csv",
    "\u202egnp.exe.csv",
    "zero\u200bwidth.csv",
    "nul\0byte.csv",
    "é" * 200 + ".csv",
    "x" * 254,
    "名前" * 60 + ".xlsx",
    "  spaced  .csv ",
]


@pytest.mark.parametrize("name", ODD, ids=range(len(ODD)))
def test_safe_names_stay_in_their_folder_and_fit(tmp_path, name):
    safe = safe_name(name)
    assert safe and safe.isprintable() and safe == safe.strip()
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".")
    target = target_for(tmp_path, name, SHA)
    assert target.parent == tmp_path
    # Room left for the hash suffix, its counter and the errors report.
    longest = errors_path(tmp_path / f"{safe}__{SHA[:12]}-999")
    assert len(os.fsencode(longest.name)) <= 255
    target.write_bytes(b"x")
    errors_path(target).write_bytes(b"y")


def test_a_long_name_keeps_its_extension():
    assert safe_name("é" * 200 + ".csv").endswith("é.csv")
    assert safe_name("名前" * 60 + ".xlsx").endswith(".xlsx")


def read_back(shown: str) -> bytes:
    """The original name's bytes from its printable form."""
    simple = {"\\": b"\\", "n": b"\n", "t": b"\t", "r": b"\r"}

    def one(escape: str) -> bytes:
        kind, digits = escape[0], escape[1:]
        if kind in simple and not digits:
            return simple[kind]
        if kind == "x":
            return bytes([int(digits, 16)])  # a control below 0x80, or a raw byte
        return chr(int(digits, 16)).encode("utf-8")

    parts = re.split(r"\\(\\|n|t|r|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})", shown)
    out = b""
    for i, part in enumerate(parts):
        out += one(part) if i % 2 else part.encode("utf-8")
    return out


@pytest.mark.parametrize("name", ODD, ids=range(len(ODD)))
def test_recorded_names_are_printable_and_faithful(name):
    shown = printable_name(name)
    assert shown.isprintable()
    shown.encode("utf-8")  # storable in DuckDB, printable to any UTF-8 terminal
    assert read_back(shown) == os.fsencode(name)


def test_bad_bytes_and_controls_are_shown_as_escapes():
    assert printable_name(os.fsdecode(b"bad\xff.csv")) == "bad\\xff.csv"
    assert printable_name("new\nline\x1b.csv") == "new\\nline\\x1b.csv"
    assert printable_name("a\\b.csv") == "a\\\\b.csv"
    assert printable_name("\u202egnp.csv") == "\\u202egnp.csv"
    assert printable_name("\x9b") == "\\u009b"  # a C1 control, unlike the byte 9b
    assert printable_name(os.fsdecode(b"\x9b")) == "\\x9b"
    assert printable_name("résumé.csv") == "résumé.csv"


def test_a_taken_name_gets_the_hash_then_a_counter(tmp_path):
    first = target_for(tmp_path, "r.csv", SHA)
    assert first == tmp_path / "r.csv"
    first.write_bytes(b"1")
    second = target_for(tmp_path, "r.csv", SHA)
    assert second == tmp_path / f"r__{SHA[:12]}.csv"
    second.write_bytes(b"2")
    assert target_for(tmp_path, "r.csv", SHA) == tmp_path / f"r__{SHA[:12]}-2.csv"
