"""Hostile or broken files refused by the readers with one sentence each, in
bounded memory and time: an endless line, a giant cell, an oversized file, a
zip bomb (honest or with a forged directory), a non-zip or non-workbook zip
named .xlsx."""

import io
import json
import os
import pickle
import time
import tracemalloc
import zipfile

import pytest

from kqc.config.input_limits import UnreadBytes
from kqc.files import inbox
from kqc.readers import read_bytes
from kqc.readers.delimited import long_line

HEADER = b"Lab,Batch,Sample,Analyte,Result,Unit\n"
MB = 1 << 20


def one_problem(outcome) -> str:
    assert isinstance(outcome, list), "the file was accepted"
    assert len(outcome) == 1, outcome
    sentence = outcome[0].problem
    assert sentence and "\n" not in sentence
    return sentence


def peak_of(call):
    """The call's result, its peak Python allocation in MB and its seconds."""
    tracemalloc.start()
    began = time.perf_counter()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / MB, time.perf_counter() - began


def test_a_50_mb_line_without_newline_is_refused_without_copying_it():
    data = HEADER.rstrip(b"\n") + b"," + b"A" * (50 * MB)
    outcome, peak_mb, seconds = peak_of(lambda: read_bytes("long.csv", data))
    sentence = one_problem(outcome)
    assert "line 1 is 52,428,837 bytes long" in sentence
    assert "KQC_MAX_LINE_BYTES" in sentence
    assert peak_mb < 5, f"peak {peak_mb:.1f} MB"
    assert seconds < 2


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"0123456789", None),
        (b"01234567890", 1),
        (b"0123456789\n" * 3, None),
        (b"0123456789\n0123456789\n01234567890", 3),
        (b"a\nb\n0123456789ab\nc", 3),
        (b"\n" * 5 + b"x" * 11 + b"\n", 6),
    ],
)
def test_the_first_line_over_the_limit_is_named(monkeypatch, data, line):
    monkeypatch.setenv("KQC_MAX_LINE_BYTES", "10")
    found = long_line(data)
    assert (found.row if found else None) == line


def test_the_line_check_costs_nothing_on_an_ordinary_large_file():
    data = b"Acme,B1,S1,Lead,0.1,ppm\n" * 4_000_000  # 96 MB
    began = time.perf_counter()
    assert long_line(data) is None
    assert time.perf_counter() - began < 0.5


def test_a_10_mb_cell_is_refused_in_csv_and_in_json():
    cell = "x" * (10 * MB)
    csv_data = HEADER + f'Acme,B1,"{cell}",Lead,1,ppm\n'.encode()
    assert "KQC_MAX_LINE_BYTES" in one_problem(read_bytes("cell.csv", csv_data))
    record = {"Lab": "Acme", "Batch": "B1", "Sample": cell, "Analyte": "Lead", "Result": "1"}
    json_data = json.dumps([record | {"Unit": "ppm"}]).encode()
    outcome = read_bytes("cell.json", json_data)
    sentence = one_problem(outcome)
    assert outcome[0].row == 1 and outcome[0].column == "Sample"
    assert "10,485,760 characters" in sentence and "KQC_MAX_CELL_CHARS" in sentence


def test_limits_follow_their_settings(monkeypatch):
    monkeypatch.setenv("KQC_MAX_LINE_BYTES", "40")
    data = HEADER + b"Acme,B1,S1,Lead,1," + b"p" * 40 + b"\n"
    assert "line 2 is" in one_problem(read_bytes("long.csv", data))
    monkeypatch.setenv("KQC_MAX_LINE_BYTES", "not a number")
    assert "KQC_MAX_LINE_BYTES='not a number' is not a whole number" in one_problem(
        read_bytes("long.csv", data)
    )


def test_a_2_gb_sparse_file_is_hashed_as_it_streams_and_refused_unread(tmp_path):
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(2 << 30)  # sparse: no disk used
    dropped, peak_mb, seconds = peak_of(lambda: inbox.read_complete(huge))
    assert isinstance(dropped.data, UnreadBytes) and dropped.size == 2 << 30
    assert pickle.loads(pickle.dumps(dropped)).size == 2 << 30
    assert len(dropped.sha256) == 64
    assert peak_mb < 5, f"peak {peak_mb:.1f} MB"
    print(f"2 GiB sparse file hashed in {seconds:.1f} s, peak {peak_mb:.2f} MB")
    sentence = one_problem(read_bytes(huge.name, dropped.data))
    assert sentence.startswith("the file is 2,147,483,648 bytes, over the limit of 1,073,741,824")
    assert "KQC_MAX_FILE_BYTES" in sentence


def test_the_file_size_limit_has_a_setting(tmp_path, monkeypatch):
    small = tmp_path / "small.csv"
    small.write_bytes(HEADER + b"Acme,B1,S1,Lead,1,ppm\n")
    monkeypatch.setenv("KQC_MAX_FILE_BYTES", "10")
    dropped = inbox.read_complete(small)
    assert isinstance(dropped.data, UnreadBytes)
    assert "over the limit of 10 bytes" in one_problem(read_bytes(small.name, dropped.data))


def bomb(size: int) -> bytes:
    """A workbook-shaped zip whose sheet XML expands to `size` bytes of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            chunk = b"0" * MB
            for _ in range(size // MB):
                sheet.write(chunk)
    return buffer.getvalue()


def forged(data: bytes, member: str, claimed: int) -> bytes:
    """`data` with `member`'s uncompressed size rewritten to `claimed` in both
    the local header and the central directory: a directory that lies."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    patched = bytearray(data)
    patched[info.header_offset + 22 : info.header_offset + 26] = claimed.to_bytes(4, "little")
    entry = patched.find(b"PK\x01\x02")
    while entry != -1:
        name_length = int.from_bytes(patched[entry + 28 : entry + 30], "little")
        if patched[entry + 46 : entry + 46 + name_length] == member.encode():
            patched[entry + 24 : entry + 28] = claimed.to_bytes(4, "little")
        entry = patched.find(b"PK\x01\x02", entry + 4)
    return bytes(patched)


def small_sheet_zip(rows: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<row/>" * rows)
    return buffer.getvalue()


def test_a_zip_bomb_named_xlsx_is_refused_from_its_directory():
    data = bomb(200 * MB)
    outcome, peak_mb, seconds = peak_of(lambda: read_bytes("bomb.xlsx", data))
    sentence = one_problem(outcome)
    assert sentence.startswith("the workbook would unpack to 209,715,208 bytes")
    assert "refused as unsafe" in sentence
    assert peak_mb < 5 and seconds < 1, (peak_mb, seconds)


def test_the_unpacked_size_limit_has_a_setting(monkeypatch):
    monkeypatch.setenv("KQC_MAX_XLSX_UNPACKED_BYTES", "1000")
    sentence = one_problem(read_bytes("sheet.xlsx", small_sheet_zip(500)))
    assert "over the limit of 1,000 bytes (set KQC_MAX_XLSX_UNPACKED_BYTES" in sentence


def test_a_bomb_with_a_forged_directory_is_caught_while_unpacking_in_pieces():
    data = forged(small_sheet_zip(2_000_000), "xl/worksheets/sheet1.xml", 5_000)
    outcome, peak_mb, seconds = peak_of(lambda: read_bytes("forged.xlsx", data))
    sentence = one_problem(outcome)
    assert "unpacks to more than the 5,000 bytes its directory declares" in sentence
    assert peak_mb < 5 and seconds < 2, (peak_mb, seconds)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("results.xlsx", HEADER + b"Acme,B1,S1,Lead,1,ppm\n", "the workbook is damaged"),
        ("results.xlsx", b"PK\x03\x04" + os.urandom(300), "the workbook is damaged"),
        ("notes.xlsx", None, "this zip file holds no worksheet"),
        ("notes.zip", None, "this zip file holds no worksheet"),
    ],
)
def test_what_is_not_a_workbook_is_refused_with_a_sentence(name, data, expected):
    if data is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "not a workbook")
        data = buffer.getvalue()
    assert one_problem(read_bytes(name, data)).startswith(expected)


# Every KQC_* setting is read once when `kqc ingest` starts: a bad value is a
# configuration error (exit 2, one sentence naming it), and no file moves.
_LIMIT_SETTINGS = [
    "KQC_MAX_FILE_BYTES",
    "KQC_MAX_STREAMED_FILE_BYTES",
    "KQC_MAX_XLSX_UNPACKED_BYTES",
    "KQC_MAX_LINE_BYTES",
    "KQC_MAX_CELL_CHARS",
    "KQC_GROUP_FILES",
]
# Zero seconds is a real choice for these two (take a file at once; never
# wait for a held database), so a negative number stands for "out of range".
_SECONDS_SETTINGS = ["KQC_LOCK_WAIT", "KQC_STABLE_SECONDS"]
_BAD_SETTINGS = [
    *((name, value) for name in _LIMIT_SETTINGS for value in ("0", "-5", "abc")),
    *((name, value) for name in _SECONDS_SETTINGS for value in ("-1", "abc", "nan")),
    # 0 is a real choice here (send only the count of the findings)
    *(("KQC_MAX_EVENTS", value) for value in ("-5", "abc", "1.5")),
]


@pytest.mark.parametrize(("name", "value"), _BAD_SETTINGS)
def test_a_bad_setting_stops_ingest_before_any_file_moves(tmp_path, name, value):
    import subprocess
    import sys

    good = HEADER + b"Acme,B1,S1,Mitragynine,1.42,%\n"
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "good.csv").write_bytes(good)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KQC_")}
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", name: value})
    done = subprocess.run(
        [sys.executable, "-m", "kqc", "ingest"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert name in done.stderr and "unset it" in done.stderr
    assert (tmp_path / "inbox" / "good.csv").read_bytes() == good
    assert not (tmp_path / "quarantine").exists()
    assert not (tmp_path / "archive").exists()
    assert not (tmp_path / "kqc.duckdb").exists()


def test_check_all_takes_limits_registered_later(monkeypatch):
    from kqc.config.input_limits import LIMITS, check_all, limit, register
    from kqc.errors import UsageError

    added = ("KQC_MAX_TEST_ONLY_CELLS", 7)
    monkeypatch.setattr("kqc.config.input_limits.LIMITS", list(LIMITS))
    assert register(added) == added
    check_all()
    monkeypatch.setenv("KQC_MAX_TEST_ONLY_CELLS", "0")
    with pytest.raises(UsageError, match="KQC_MAX_TEST_ONLY_CELLS"):
        check_all()
    monkeypatch.setenv("KQC_MAX_TEST_ONLY_CELLS", "9")
    check_all()
    assert limit(added) == 9


@pytest.mark.parametrize("before", [b"", b"JUNK"], ids=["zip", "bytes-before-the-zip"])
def test_a_workbook_smaller_than_the_cell_limit_is_still_searched_for_long_cells(
    monkeypatch, before
):
    # A text file's cells hold no more characters than it has bytes; a
    # workbook's do not (they are unpacked), even one whose zip does not
    # start the file: a 5 kB workbook holds a 20,000-character cell.
    from tests.readers.books import workbook

    monkeypatch.setenv("KQC_MAX_CELL_CHARS", "10000")
    rows = [["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"]]
    rows.append(["Acme", "B1", "x" * 20_000, "Lead", 1, "ppm"])
    data = before + workbook({"Results": rows})
    assert len(data) < 10_000
    sentence = one_problem(read_bytes("cell.xlsx", data))
    assert "20,000 characters" in sentence and "KQC_MAX_CELL_CHARS" in sentence
