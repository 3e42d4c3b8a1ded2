"""USP <905>'s declared target content T, from the register to the verdict,
and the register and results columns kqc does not read, named.

USP <905> Uniformity of Dosage Units, Table 2 (harmonized text, official since
USP 28-NF 23, 1 April 2006): AV = |M - X| + k s, k = 2.4 for n = 10 and 2.0 for
n = 30, L1 = 15.0, L2 = 25.0. M (case 1, T <= 101.5): X if 98.5 <= X <= 101.5,
98.5 below, 101.5 above. M (case 2, T > 101.5): X if 98.5 <= X <= T, 98.5
below, T above. "Unless otherwise stated, T is 100.0%, or T is the
manufacturer's approved target content per dosage unit." No published worked
example with T other than 100 was found; the cases below are computed by hand
in the comments. The USP FAQ example (mean 105.9, SD 5.0, AV 16.4 with M 101.5)
is usp.org/frequently-asked-questions/uniformity-dosage-units, question 2.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kqc.core.rules import Batch, Finding, batch_profiles, dose
from kqc.core.rules.statistics import statistic_rows
from kqc.pipeline.prepare import Streamed, prepare, prepare_path
from kqc.pipeline.prepare_many import prepare_many
from tests.core.rules.helpers import register, result, thresholds


def spread(mean: float, d: float) -> list[float]:
    """Ten units: 2 at mean - d, 6 at mean, 2 at mean + d. Their mean is `mean`,
    their SS 4 d^2, so s = sqrt(4 d^2 / 9) = 2 d / 3."""
    return [mean - d] * 2 + [mean] * 6 + [mean + d] * 2


# d = 8.25 gives s = 5.5, so k s = 2.4 x 5.5 = 13.2 at ten units.
TESTER = spread(104.0, 8.25)
# d = 7.5 gives s = 5.0: the USP FAQ batch (mean 105.9).
FAQ = spread(105.9, 7.5)


def capsules(percents: list[float]) -> list[dict]:
    # A capsule claiming 100 mg: mg per capsule reads as % of the claim.
    return [
        result(analyte="mitragynine", value=v, unit="mg/unit", unit_no=str(i + 1))
        for i, v in enumerate(percents)
    ]


def capsule_register(target: float | None) -> dict:
    return register(
        form="capsule",
        label_claim_mg_per_serving=100.0,
        units_per_serving=1,
        target_content_pct=target,
    )


def judged(percents: list[float], target: float | None) -> list[Finding]:
    reg = capsule_register(target)
    return dose.content_uniformity(
        Batch("B1", capsules(percents), reg, batch_profiles(reg)), thresholds()
    )


# --- the acceptance value by T ------------------------------------------------


@pytest.mark.parametrize(
    ("units", "target", "mean", "sd", "k", "m", "av"),
    [
        # USP FAQ 2: mean 105.9 > 101.5, T = 100 -> M 101.5; AV = 4.4 + 2.4 x 5.0 = 16.4
        (FAQ, 100.0, 105.9, 5.0, 2.4, 101.5, 16.4),
        # The same units made to T = 105 (case 2): mean 105.9 > T -> M = T = 105;
        # AV = 0.9 + 12.0 = 12.9
        (FAQ, 105.0, 105.9, 5.0, 2.4, 105.0, 12.9),
        # The testers' batch, T = 105: 98.5 <= 104 <= 105 -> M = X = 104; AV = 13.2
        (TESTER, 105.0, 104.0, 5.5, 2.4, 104.0, 13.2),
        # ... judged with T = 100 (case 1): M = 101.5; AV = 2.5 + 13.2 = 15.7
        (TESTER, 100.0, 104.0, 5.5, 2.4, 101.5, 15.7),
        # T = 103 > 101.5 and the mean above it: M = T = 103; AV = 1.0 + 13.2 = 14.2
        (TESTER, 103.0, 104.0, 5.5, 2.4, 103.0, 14.2),
        # T = 102: M = 102; AV = 2.0 + 13.2 = 15.2
        (TESTER, 102.0, 104.0, 5.5, 2.4, 102.0, 15.2),
        # T = 101 is case 1 (T <= 101.5): M = 101.5, never 101; AV = 15.7
        (TESTER, 101.0, 104.0, 5.5, 2.4, 101.5, 15.7),
        # T = 101.5 exactly is still case 1: M = 101.5
        (TESTER, 101.5, 104.0, 5.5, 2.4, 101.5, 15.7),
        # T = 101.6 is case 2: M = 101.6; AV = 2.4 + 13.2 = 15.6
        (TESTER, 101.6, 104.0, 5.5, 2.4, 101.6, 15.6),
        # mean 96 below 98.5, T = 105: M = 98.5 as in case 1; AV = 2.5 + 13.2 = 15.7
        (spread(96.0, 8.25), 105.0, 96.0, 5.5, 2.4, 98.5, 15.7),
        # A T below 98.5 is case 1: a mean of 100 inside 98.5-101.5 is its own M
        (spread(100.0, 8.25), 95.0, 100.0, 5.5, 2.4, 100.0, 13.2),
    ],
)
def test_acceptance_value_follows_t(units, target, mean, sd, k, m, av):
    found = dose.acceptance_value(units, target)
    assert found["mean"] == pytest.approx(mean)
    assert found["sd"] == pytest.approx(sd)
    assert found["k"] == k
    assert found["T"] == target
    assert found["M"] == pytest.approx(m)
    assert found["av"] == pytest.approx(av)


# Thirty units, mean 104: deviations +/-(0.5, 1, 1, 1.5, 2, 2.5, 2.5, 3, 3.5,
# 4.5, 6, 6, 8, 8, 10); SS = 2 x 362.5 = 725, s = sqrt(725 / 29) = 5.0.
_HALVES = (0.5, 1, 1, 1.5, 2, 2.5, 2.5, 3, 3.5, 4.5, 6, 6, 8, 8, 10)
THIRTY = sorted([104 + d for d in _HALVES] + [104 - d for d in _HALVES])


@pytest.mark.parametrize(
    ("units", "target", "k", "m", "av"),
    [
        # n = 30: k = 2.0. T 105: M 104, AV = 2.0 x 5.0 = 10.0
        (THIRTY, 105.0, 2.0, 104.0, 10.0),
        # T 100: M 101.5, AV = 2.5 + 10.0 = 12.5
        (THIRTY, 100.0, 2.0, 101.5, 12.5),
        # n = 10, the same mean and s (2 at 96.5, 6 at 104, 2 at 111.5): k = 2.4,
        # T 105: AV = 2.4 x 5.0 = 12.0; T 100: 2.5 + 12.0 = 14.5
        (spread(104.0, 7.5), 105.0, 2.4, 104.0, 12.0),
        (spread(104.0, 7.5), 100.0, 2.4, 101.5, 14.5),
    ],
)
def test_k_by_the_number_of_units(units, target, k, m, av):
    found = dose.acceptance_value(units, target)
    assert found["sd"] == pytest.approx(5.0)
    assert (found["n"], found["k"]) == (len(units), k)
    assert found["M"] == pytest.approx(m)
    assert found["av"] == pytest.approx(av)


# --- the rule reads T from the register ---------------------------------------


def test_the_testers_batch_passes_with_its_declared_t():
    # AV 13.2 <= L1 15 with T 105 (M 104): no finding.
    assert judged(TESTER, 105.0) == []


def test_the_same_units_without_a_declared_t_fail_at_m_101_5():
    (f,) = judged(TESTER, None)
    assert f.rule == "content_uniformity"
    assert f.observed == pytest.approx(15.7)
    # T = 100 by default is not written into the evidence: a flag raised
    # before T could be declared keeps its evidence, and its review.
    assert "T" not in f.evidence and "T_from" not in f.evidence
    assert f.evidence["M"] == pytest.approx(101.5)
    assert "declared T" not in f.message  # T = 100 % goes without saying


def test_a_declared_t_is_in_the_evidence_and_the_message():
    # T 102, mean 104 > T: M = 102, AV = 2.0 + 13.2 = 15.2 > 15.
    (f,) = judged(TESTER, 102.0)
    assert f.observed == pytest.approx(15.2)
    assert f.evidence["T"] == 102.0
    assert f.evidence["T_from"] == dose.TARGET_FROM_REGISTER
    assert f.evidence["M"] == pytest.approx(102.0)
    assert "M 102.0 for the declared T 102 %" in f.message


def test_a_mean_below_98_5_fails_whatever_t():
    # mean 96: M 98.5, AV 15.7, with or without T.
    for target in (None, 105.0):
        (f,) = judged(spread(96.0, 8.25), target)
        assert f.observed == pytest.approx(15.7)
        assert f.evidence["M"] == pytest.approx(98.5)


def test_stage_two_band_is_around_the_m_of_the_declared_t():
    # 28 units at 104, one at 80, one at 128: mean 104, SS 2 x 24^2 = 1152,
    # s = sqrt(1152 / 29) = 6.3026, k 2.0.
    # T 105: M 104, AV 12.61; band 0.75 M-1.25 M = 78-130 holds both: no finding.
    # T 100: M 101.5, AV 2.5 + 12.61 = 15.11 > 15; band 76.125-126.875 leaves 128 out.
    units = [104.0] * 28 + [80.0, 128.0]
    assert judged(units, 105.0) == []
    found = judged(units, None)
    (av,) = [f for f in found if f.unit == "% of label claim"]
    assert av.observed == pytest.approx(2.5 + 2.0 * math.sqrt(1152 / 29))
    (l2,) = [f for f in found if f.unit == "% of M"]
    assert l2.evidence["outside"] == [128.0]
    assert "T" not in l2.evidence
    # 128 is (128 - 101.5) / 101.5 = 26.1 % from M
    assert l2.observed == pytest.approx(26.5 / 101.5 * 100)


def test_the_dossier_shows_t_and_m():
    reg = capsule_register(105.0)
    rows = statistic_rows("B1", capsules(TESTER), reg, thresholds(), [])
    by_name = {r["statistic"]: r for r in rows if r["rule"] == "content_uniformity"}
    assert by_name["T"]["value"] == 105.0
    assert by_name["T"]["note"] == f"target content, {dose.TARGET_FROM_REGISTER}"
    assert by_name["M"]["value"] == pytest.approx(104.0)
    assert "98.5-105 %" in by_name["M"]["note"]
    assert by_name["acceptance value"]["value"] == pytest.approx(13.2)
    assert by_name["acceptance value"]["verdict"] == "pass"
    plain = statistic_rows("B1", capsules(TESTER), capsule_register(None), thresholds(), [])
    by_name = {r["statistic"]: r for r in plain if r["rule"] == "content_uniformity"}
    assert by_name["T"]["value"] == 100.0
    assert by_name["M"]["value"] == pytest.approx(101.5)
    assert by_name["acceptance value"]["verdict"] == "fail"


# --- the register declares T --------------------------------------------------

REGISTER_HEAD = "Batch,Product ID,Product Name,Form,Label claim (mg/serving),Serving size (g),"
REGISTER_HEAD += "Servings per day"


def register_file(target_header: str | None, *cells: str, extra: str = "") -> bytes:
    header = REGISTER_HEAD + (f",{target_header}" if target_header else "") + extra
    lines = [header]
    for i, cell in enumerate(cells or ("",)):
        row = f"B{i + 1},P1,Caps,capsule,100,0.5,4"
        lines.append(row + (f",{cell}" if target_header else ""))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    "header",
    ["Target content (%)", "Target %", "T", "Target (% LC)", "target_content_pct", "USP T"],
)
def test_register_names_for_the_target_content(header):
    found = prepare("register.csv", register_file(header, "105", "", "110 %", "102.5% LC"))
    assert found.accepted, found.problems
    assert found.rows["target_content_pct"].to_list() == [105.0, None, 110.0, 102.5]
    assert found.unused_columns == ()


def test_a_register_without_the_column_stores_no_t():
    found = prepare("register.csv", register_file(None))
    assert found.accepted, found.problems
    assert found.rows["target_content_pct"].to_list() == [None]


@pytest.mark.parametrize(
    ("cell", "fragment"),
    [
        ("1.05", "between 80 and 150 (105 for 105 %, not 1.05)"),
        ("0", "between 80 and 150"),
        ("-5", "between 80 and 150"),
        ("250", "between 80 and 150"),
        ("abc", "'abc' is not a target content: write T as a number of % of the label claim"),
        ("105 mg", "'105 mg' is not a target content"),
    ],
)
def test_a_bad_target_is_a_problem_of_its_row_and_column(cell, fragment):
    found = prepare("register.csv", register_file("Target content (%)", "105", cell))
    assert not found.accepted  # the file is rejected: no row of it is stored
    (problem,) = found.problems
    assert (problem.row, problem.column) == (3, "Target content (%)")  # header is row 1
    assert fragment in problem.problem
    assert "leave the cell empty for T = 100 %" in problem.problem


# --- columns kqc does not read are named --------------------------------------


def test_register_columns_not_used_are_named():
    data = register_file("T", "105", "", extra=",Lot Notes,QA Initials,Spare")
    data = data.replace(b"105\n", b"105,first lot,JK,\n").replace(b",4,\n", b",4,,,MB,\n")
    found = prepare("register.csv", data)
    assert found.accepted, found.problems
    # 'Spare' holds nothing: nothing is left out of it.
    assert found.unused_columns == ("Lot Notes", "QA Initials")


LONG = (
    b"Lab,Batch,Sample,Analyte,Result,Unit,Reviewer Comment,Blank Column\n"
    b"Acme,B1,S1,Mitragynine,1.42,%,looks fine,\n"
    b"Acme,B1,S1,Lead,250,ppb,,\n"
)


def test_results_columns_not_used_are_named():
    found = prepare("results.csv", LONG)
    assert found.accepted, found.problems
    assert found.unused_columns == ("Reviewer Comment",)


def test_a_column_set_aside_for_a_more_exact_one_is_named():
    # 'Client Sample ID' beside 'Lab Sample ID': the lab's own id is read.
    data = LONG.replace(b"Sample,", b"Lab Sample ID,Client Sample ID,", 1)
    data = data.replace(b"S1,", b"S1,C-7,")
    found = prepare("results.csv", data)
    assert found.accepted, found.problems
    assert found.unused_columns == ("Client Sample ID", "Reviewer Comment")


def test_a_claim_per_capsule_beside_the_claim_per_serving_is_named():
    data = register_file("Label claim (mg/capsule)", "50")
    found = prepare("register.csv", data)
    assert found.accepted, found.problems
    assert found.rows["label_claim_mg_per_serving"].to_list() == [100.0]
    assert found.unused_columns == ("Label claim (mg/capsule)",)


def test_a_wide_file_names_its_other_figures():
    data = b"Lab,Batch,Sample,Mitragynine (%),Lead (ppm),Sample weight\nAcme,B1,S1,1.4,0.2,2.01 g\n"
    found = prepare("wide.csv", data)
    assert found.accepted, found.problems
    assert found.unused_columns == ("Sample weight",)


def test_a_header_repeated_down_the_file_is_no_value():
    data = LONG + b"Lab,Batch,Sample,Analyte,Result,Unit,Reviewer Comment,Blank Column\n"
    data = data.replace(b"looks fine", b"")
    found = prepare("results.csv", data)
    assert found.accepted, found.problems
    assert found.unused_columns == ()


def test_files_prepared_together_each_name_their_own():
    quiet = LONG.replace(b"looks fine", b"")
    first, second = prepare_many([("a.csv", LONG), ("b.csv", quiet)])
    assert first.unused_columns == ("Reviewer Comment",)
    assert second.unused_columns == ()
    # as each file prepared alone names them
    assert first.unused_columns == prepare("a.csv", LONG).unused_columns
    assert second.unused_columns == prepare("b.csv", quiet).unused_columns


def test_a_streamed_file_names_them_once_read(tmp_path: Path):
    rows = [b"Acme,B1,S%d,Lead,250,ppb,,\n" % i for i in range(400)]
    rows[350] = b"Acme,B1,S350,Lead,250,ppb,,late note\n"
    path = tmp_path / "big.csv"
    path.write_bytes(LONG.splitlines(keepends=True)[0] + b"".join(rows))
    found = prepare_path("big.csv", path, stream_from=1, chunk_bytes=4096)
    assert isinstance(found, Streamed)
    assert sum(chunk.height for chunk in found.chunks) == 400
    assert found.problems == []
    assert found.unused_columns == ("Blank Column",)
    assert prepare("big.csv", path.read_bytes()).unused_columns == ("Blank Column",)
