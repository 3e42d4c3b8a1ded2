"""A streamed file gives exactly what `prepare` gives for the same bytes: the
same rows, in order, and the same problems (row, column, value, sentence),
whatever the chunk size. Chunks of a few hundred bytes put chunk boundaries
between repeats, blank rows and bad cells."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kqc.core import fingerprint
from kqc.core.records import RESULT_SCHEMA
from kqc.pipeline.prepare import Prepared, Streamed, prepare, prepare_path

HEADER = "Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"


def rows(n: int, start: int = 0) -> str:
    analytes = ["Mitragynine", "Lead", "7-Hydroxymitragynine", "Cadmium"]
    units = {"Mitragynine": "%", "Lead": "ppm", "7-Hydroxymitragynine": "%", "Cadmium": "ppm"}
    lines = []
    for i in range(start, start + n):
        analyte = analytes[i % 4]
        result = "<LOQ" if i % 7 == 3 else f"{(i % 13) / 10 + 0.1:.3f}"
        lines.append(
            f"Acme,KR-{i // 8:04d},S-{i // 4:05d},{analyte},{result},{units[analyte]},0.01\n"
        )
    return "".join(lines)


def streamed(path, chunk_bytes: int, **options) -> tuple[Streamed, pl.DataFrame]:
    outcome = prepare_path(path.name, path, chunk_bytes=chunk_bytes, stream_from=0, **options)
    assert isinstance(outcome, Streamed), outcome
    frames = list(outcome.chunks)
    together = pl.concat(frames) if frames else pl.DataFrame(schema=RESULT_SCHEMA)
    assert outcome.rows == together.height
    return outcome, together


def same_as_whole(tmp_path, data: bytes | str, chunk_bytes: int = 300, name: str = "r.csv"):
    """Streams the file, prepares it whole, and checks that both agree."""
    raw = data.encode() if isinstance(data, str) else data
    path = tmp_path / name
    path.write_bytes(raw)
    whole = prepare(name, raw)
    outcome, together = streamed(path, chunk_bytes)
    assert outcome.problems == whole.problems
    if not whole.problems:
        assert whole.kind == outcome.kind == "results"
        assert together.equals(whole.rows)
    elif whole.kind is not None:
        # Rows stop flowing at the first problem; those that flowed are the file's own.
        assert together.equals(whole.rows.head(together.height))
    return outcome


def test_a_clean_file_in_many_small_chunks_gives_every_row_in_order(tmp_path):
    outcome = same_as_whole(tmp_path, HEADER + rows(400), chunk_bytes=257)
    assert outcome.problems == [] and outcome.rows == 400


def test_a_title_block_crlf_and_a_byte_order_mark(tmp_path):
    text = "Certificate of analysis\nLab: Acme Analytical\nIssued: 2026-11-01\n\n"
    text += HEADER.replace("Lab,", "") + "".join(
        line.split(",", 1)[1] for line in rows(300).splitlines(keepends=True)
    )
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
    outcome = same_as_whole(tmp_path, data, chunk_bytes=401)
    assert outcome.problems == [] and outcome.rows == 300


def test_problems_and_repeats_across_chunk_boundaries_name_the_same_rows(tmp_path):
    lines = (HEADER + rows(300)).splitlines(keepends=True)
    lines[20] = "Acme,KR-0002,S-00004,Lead,-1,ppm,0.01\n"  # negative
    lines[90] = "Acme,KR-0011,S-00022,Unobtainium,1,ppm,0.01\n"  # unknown analyte
    lines[150] = "Acme,KR-0018,S-00037,Lead,1,furlongs,0.01\n"  # unknown unit
    lines[290] = lines[5]  # a repeat of a row some chunks earlier
    lines[291] = lines[5]
    lines[200] = lines[201]  # a repeat inside one chunk
    outcome = same_as_whole(tmp_path, "".join(lines), chunk_bytes=350)
    assert {p.row for p in outcome.problems} >= {6, 21, 91, 151, 201, 202, 291, 292}
    assert outcome.rows < 300  # rows stop flowing once a problem is known


def test_blank_and_whitespace_rows_are_skipped_with_their_line_numbers_kept(tmp_path):
    lines = (HEADER + rows(200)).splitlines(keepends=True)
    lines[50] = "\n"
    lines[120] = " , ,,,,,\n"
    lines[121] = "Acme,KR-0015,S-00030,Lead,oops,ppm,0.01\n"
    outcome = same_as_whole(tmp_path, "".join(lines), chunk_bytes=300)
    assert [p.row for p in outcome.problems] == [122]


def test_notes_under_the_table_are_left_out_across_chunks(tmp_path):
    # The notes block is longer than a chunk: it spans chunk boundaries.
    notes = "\nApproved by: J. Smith, Lab Director\n" + "Results relate to the sample tested\n" * 30
    outcome = same_as_whole(tmp_path, HEADER + rows(200) + notes, chunk_bytes=300)
    assert outcome.problems == [] and outcome.rows == 200


def test_a_line_without_a_result_is_named_when_results_follow_chunks_later(tmp_path):
    lines = (HEADER + rows(200)).splitlines(keepends=True)
    # held back over chunks, then named (two cells: no section heading)
    lines[100:100] = ["Approved by: J. Smith,,,,,,2026-01-05\n"] * 20
    outcome = same_as_whole(tmp_path, "".join(lines), chunk_bytes=300)
    assert {p.row for p in outcome.problems} == set(range(101, 121))


def test_a_row_wider_than_the_header_is_the_only_kind_of_problem_reported(tmp_path):
    lines = (HEADER + rows(200)).splitlines(keepends=True)
    lines[30] = "Acme,KR-0003,S-00007,Lead,-5,ppm,0.01\n"  # would be a value problem
    lines[140] = "Acme,KR-0017,S-00035,Lead,1,ppm,0.01,extra\n"
    outcome = same_as_whole(tmp_path, "".join(lines), chunk_bytes=300)
    assert [p.row for p in outcome.problems] == [141]


def test_cells_over_the_length_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("KQC_MAX_CELL_CHARS", "12")
    outcome = same_as_whole(tmp_path, HEADER + rows(150), chunk_bytes=500)
    assert outcome.problems and all(
        "characters, over the limit" in p.problem for p in outcome.problems
    )


def test_a_line_over_the_length_limit_is_the_file_s_only_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("KQC_MAX_LINE_BYTES", "80")
    lines = (HEADER + rows(100)).splitlines(keepends=True)
    lines[60] = "Acme,KR-0007,S-00015,Lead,1,ppm," + "9" * 200 + "\n"
    data = "".join(lines).encode()
    path = tmp_path / "long.csv"
    path.write_bytes(data)
    outcome = prepare_path(path.name, path, chunk_bytes=300, stream_from=0)
    assert isinstance(outcome, Prepared)
    assert outcome.problems == prepare(path.name, data).problems
    assert [p.row for p in outcome.problems] == [61]


def test_windows_1252_found_late_and_utf8_accents(tmp_path):
    latin = (HEADER + rows(200)).encode() + b"Acme,KR-0025,S-00050,Lead,1,ppm,0.01,\n"
    latin = latin.replace(b"Acme,KR-0020", "Acmé,KR-0020".encode("cp1252"))
    same_as_whole(tmp_path, latin, chunk_bytes=300, name="latin.csv")
    accents = (HEADER + rows(200)).replace("Acme,KR-0021", "Acmé,KR-0021")
    same_as_whole(tmp_path, accents, chunk_bytes=300, name="accents.csv")
    for batch in (b"KR-0000", b"KR-0022"):  # in the header's neighbourhood, and far below
        undefined = (HEADER + rows(200)).encode().replace(b"Acme," + batch, b"Ac\x81me," + batch)
        path = tmp_path / "undefined.csv"
        path.write_bytes(undefined)
        outcome = prepare_path(path.name, path, stream_from=0)
        assert isinstance(outcome, Prepared)
        assert outcome.problems == prepare(path.name, undefined).problems
        assert "neither UTF-8 nor Windows-1252" in outcome.problems[0].problem


def test_quoted_cells_and_a_semicolon_file_with_decimal_commas(tmp_path):
    quoted = HEADER.replace("LOQ", "Method") + "".join(
        line.rsplit(",", 1)[0] + ',"AOAC 2017.14, modified ""B"""\n'
        for line in rows(200).splitlines()
    )
    same_as_whole(tmp_path, quoted, chunk_bytes=333, name="quoted.csv")
    semicolon = (HEADER + rows(200)).replace(",", ";").replace(".", ",")
    outcome = same_as_whole(tmp_path, semicolon, chunk_bytes=300, name="semi.csv")
    assert outcome.problems == []


def test_counts_grouped_with_commas_stream_as_they_read_whole(tmp_path):
    grouped = "".join(
        f'Acme,KR-{i:04d},S-{i:05d},TYMC,"{i + 1},{i % 1000:03d}",CFU/g,10\n' for i in range(150)
    )
    outcome = same_as_whole(tmp_path, HEADER + rows(100) + grouped, chunk_bytes=500)
    assert outcome.problems == [] and outcome.rows == 250


@pytest.mark.parametrize(
    "text",
    [
        HEADER + rows(50) + 'Acme,KR-9,S-9,Lead,1,ppm,"0.01\nsecond line"\n' + rows(50),
        HEADER + rows(50).replace("\n", "\r", 1),
        "Batch,Product,Form,Label claim (mg/serving),Serving size (g),Servings/day\n"
        + "B1,P1,capsule,10,1,2\n" * 50,
        "Lab,Batch,Sample,Lead (ppm),Mitragynine (%)\n" + "Acme,B1,S1,0.1,1.2\n" * 50,
    ],
    ids=["cell-spanning-lines", "bare-cr", "register", "wide"],
)
def test_what_is_not_streamed_is_read_whole_with_the_same_outcome(tmp_path, text):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    outcome = prepare_path(path.name, path, stream_from=0)
    assert isinstance(outcome, Prepared)
    whole = prepare(path.name, text.encode())
    assert outcome.problems == whole.problems and outcome.rows.equals(whole.rows)


def test_a_header_without_rows_and_rows_all_not_tested(tmp_path):
    same_as_whole(tmp_path, HEADER, name="empty.csv")
    not_tested = HEADER + "".join(
        line.replace(line.split(",")[4], "NT") for line in rows(40).splitlines(keepends=True)
    )
    outcome = same_as_whole(tmp_path, not_tested, name="nt.csv")
    assert "holds no results" in outcome.problems[0].problem


def test_problems_are_capped_with_a_count_of_the_rest(tmp_path):
    text = HEADER + rows(300).replace(",ppm,", ",furlongs,")
    path = tmp_path / "many.csv"
    path.write_text(text)
    outcome, _ = streamed(path, 300, max_problems=10)
    whole = prepare(path.name, text.encode()).problems
    assert outcome.problems[1:] == whole[:10]
    assert outcome.problems[0].problem.startswith(f"{len(whole) - 10:,} more problems")


def test_small_files_and_other_formats_are_read_whole(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text(HEADER + rows(10))
    assert isinstance(prepare_path(path.name, path), Prepared)
    json_path = tmp_path / "r.json"
    json_path.write_text('[{"Lab": "Acme"}]')
    assert isinstance(prepare_path(json_path.name, json_path, stream_from=0), Prepared)


def test_the_streamed_size_limit_has_its_own_setting(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_text(HEADER + rows(100))
    monkeypatch.setenv("KQC_MAX_FILE_BYTES", "1000")
    assert isinstance(prepare_path(path.name, path, stream_from=0), Streamed)
    monkeypatch.setenv("KQC_MAX_STREAMED_FILE_BYTES", "1000")
    outcome = prepare_path(path.name, path, stream_from=0)
    assert isinstance(outcome, Prepared)
    assert "KQC_MAX_STREAMED_FILE_BYTES" in outcome.problems[0].problem


_CELLS = {
    "analyte": st.sampled_from(["Lead", "Mitragynine", "Cadmium", "Unobtainium", ""]),
    "result": st.sampled_from(["0.1", "1.5", "<LOQ", "ND", "-2", "abc", "", "NT", "1e400"]),
    "unit": st.sampled_from(["ppm", "%", "mg/g", "furlongs", ""]),
    "sample": st.sampled_from(["S1", "S2", "S3", "", '"S4, split"', '"S""5"']),
}
_TOPS = ["", "Certificate of analysis\n\n", "Lab: Other Lab\nIssued: today\n"]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.one_of(
            st.fixed_dictionaries(_CELLS),
            st.sampled_from(
                [
                    "",
                    " , ,",
                    "Acme,B,S9,Lead,1,ppm,0.01,extra",
                    "Acme,B,S9",
                    "Approved by: J. Smith, Lab Director",
                ]
            ),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=40, max_value=400),
    st.booleans(),
    st.sampled_from(_TOPS),
)
def test_any_file_streams_to_what_prepare_gives(tmp_path, lines, chunk_bytes, crlf, top):
    body = []
    for line in lines:
        if isinstance(line, str):
            body.append(line)
        else:
            body.append(
                f"Acme,B1,{line['sample']},{line['analyte']},{line['result']},{line['unit']},0.01"
            )
    ending = "\r\n" if crlf else "\n"
    text = (top + HEADER).replace("\n", ending) + ending.join(body) + ending
    same_as_whole(tmp_path, text, chunk_bytes=chunk_bytes)


def test_a_file_gone_before_it_is_read_is_rejected_with_a_sentence(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + rows(50))
    outcome = prepare_path(path.name, path, chunk_bytes=300, stream_from=0)
    assert isinstance(outcome, Streamed)
    path.unlink()
    assert list(outcome.chunks) == []
    assert len(outcome.problems) == 1
    assert outcome.problems[0].problem.startswith("the file could not be read (FileNotFoundError:")


@pytest.mark.parametrize("name", ["huge.csv", "huge.xlsx"])
def test_a_2_gb_file_that_cannot_be_streamed_is_refused_unread(tmp_path, name):
    huge = tmp_path / name
    with huge.open("wb") as handle:
        handle.truncate(2 << 30)  # sparse zeros: binary, so never streamed
    outcome = prepare_path(name, huge)
    assert isinstance(outcome, Prepared)
    (problem,) = outcome.problems
    assert problem.problem.startswith("the file is 2,147,483,648 bytes, over the limit of")
    assert "KQC_MAX_FILE_BYTES" in problem.problem


def test_a_file_cut_short_mid_row_is_refused_naming_the_row_as_read_whole(tmp_path):
    cut = HEADER + rows(400) + "Acme,KR-0050,S-00100,Lead"  # a copy still under way
    outcome = same_as_whole(tmp_path, cut, chunk_bytes=300)
    [problem] = outcome.problems
    assert problem.row == 402 and "cut short" in problem.problem
    whole_last_row = same_as_whole(tmp_path, HEADER + rows(400) + "Acme,KR-9,S-9,Lead,0.2,ppm,0.01")
    assert whole_last_row.problems == [] and whole_last_row.rows == 401


def test_a_streamed_file_is_checked_against_the_hash_it_was_taken_with(tmp_path):
    from kqc.files.inbox import FileChanged

    path = tmp_path / "r.csv"
    path.write_text(HEADER + rows(100))
    taken = fingerprint.of(path.read_bytes())
    outcome = prepare_path(path.name, path, chunk_bytes=300, stream_from=0, fingerprint=taken)
    assert isinstance(outcome, Streamed) and len(list(outcome.chunks)) > 1
    path.write_text(HEADER + rows(100, start=1))  # the same size, other bytes
    outcome = prepare_path(path.name, path, chunk_bytes=300, stream_from=0, fingerprint=taken)
    with pytest.raises(FileChanged):
        list(outcome.chunks)
