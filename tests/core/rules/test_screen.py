"""The screen (rules/screen.py) decides over whole columns which batches the
rules must read. It must never hold back a batch where a rule finds
something: on random batches, the flags with the screen are the flags of
every rule run on every batch. Values are drawn at, just beside and far from
the shipped limits, with every qualifier, unit and sample type the rules
tell apart, so a wrong comparison or a forgotten case shows as a missing flag.
"""

from __future__ import annotations

import statistics
from typing import Any

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from kqc.core.rules import evaluate
from kqc.core.rules.drift import _mean_and_n, batch_means
from kqc.core.rules.evaluate import HISTORY_COLUMNS
from kqc.core.rules.frames import POTENCY_SCHEMA
from kqc.core.rules.model import RESULT_FIELDS
from kqc.core.rules.screen import STAT_MARGIN, clearly_passes
from tests.core.rules.helpers import threshold, thresholds

# Analytes the rules judge, weighted toward the potency rules' mitragynine,
# each mostly in the unit its thresholds read.
ANALYTES: dict[str, list[str | None]] = {
    "mitragynine": ["mg/g", "mg/unit"],
    "7_hydroxymitragynine": ["mg/g", "mg/unit"],
    "speciociliatine": ["mg/g", "mg/unit"],
    "paynantheine": ["mg/g"],
    "lead": ["ug/g"],
    "arsenic": ["ug/g"],
    "cadmium": ["ug/g"],
    "mercury": ["ug/g"],
    "nickel": ["ug/g"],
    "tamc": ["CFU/g", "MPN/g"],
    "btgn": ["CFU/g"],
    "salmonella": [None],
    "e_coli": [None],
    "ethanol": ["ug/g"],
    "o_desmethyltramadol": ["ug/g", None],
    "mitragynine_pseudoindoxyl": ["mg/g"],
}
WEIGHTED = ["mitragynine"] * 6 + ["7_hydroxymitragynine"] * 3 + list(ANALYTES)
UNITS = ["mg/g", "mg/unit", "mg/mL", "ug/g", "CFU/g", "MPN/g", None]
QUALIFIERS = [None] * 6 + ["<LOQ", "<LOD", "not_detected", "detected", ">ULOQ", "TNTC"]
SAMPLE_TYPES = ["production"] * 8 + ["blank", "spike", "crm", "duplicate"]
SERVING_SIZES = [0.5, 1.0, 5.0]
SERVINGS_PER_DAY = [1.0, 2.0, 3.0]
SCALES = sorted({size * n for size in SERVING_SIZES for n in SERVINGS_PER_DAY})
FACTORS = (1.0, 1 + 1e-13, 1 - 1e-13, 1.0001, 0.9999, 0.5, 2.0)


def _near(analyte: str) -> list[float]:
    """Figures on and just beside the analyte's limits, per gram and (for
    per-day limits) at every exposure the registers below give."""
    out = [20.0, 18.0, 22.0, 30.0, 50.0, 100.0, 10.0, 0.1]  # potency: claims and caps
    for t in thresholds():
        if t.analyte == analyte and t.limit_value:
            bases = [t.limit_value]
            if t.basis == "per_day":
                bases += [t.limit_value / s for s in SCALES]
            out += [x * f for x in bases for f in FACTORS]
    return out


NEAR = {a: _near(a) for a in ANALYTES}
SPECIAL = [0.0, -1.0, 0.1, 0.2, 0.5, 1.0, 10.0, 20.0, 100.0, 1e-9]
LIMITS = sorted({t.limit_value for t in thresholds() if t.limit_value is not None})
NUMBER = st.one_of(
    st.sampled_from(SPECIAL + LIMITS),
    st.floats(min_value=0.0, max_value=200.0, allow_nan=False),
)
MAYBE = st.one_of(st.none(), NUMBER)


@st.composite
def result_rows(draw: Any, batch_id: str, first_id: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(draw(st.integers(0, 16))):
        analyte = draw(st.sampled_from(WEIGHTED))
        qualifier = draw(st.sampled_from(QUALIFIERS))
        figure = st.one_of(st.sampled_from(NEAR[analyte]), NUMBER)
        value = None if qualifier in ("<LOQ", "<LOD", "not_detected") else draw(figure)
        if qualifier is not None and draw(st.booleans()):
            value = None
        rows.append(
            {
                "result_id": first_id + n,
                "batch_id": batch_id,
                "sample_id": draw(st.sampled_from(["S1", "S2", "S3"])),
                "analyte": analyte,
                "value": value,
                "unit": draw(st.sampled_from(ANALYTES[analyte] * 6 + UNITS)),
                "qualifier": qualifier,
                "bound": draw(st.one_of(st.none(), st.none(), figure)),
                "reported_result": "as reported",
                # Content uniformity leaves out an amount per serving of several units.
                "per_serving_of": draw(st.sampled_from([None, None, 2.0])),
                "lod": draw(MAYBE),
                "loq": draw(st.one_of(st.none(), figure)),
                "sample_type": draw(st.sampled_from(SAMPLE_TYPES)),
                "unit_no": draw(st.sampled_from([None, "1", "2", "3"])),
                "test_portion_g": draw(st.sampled_from([None, 1.0, 10.0, 25.0, 100.0])),
                "spike_level": draw(st.sampled_from([None, 0.0, 10.0])),
            }
        )
    return rows


@st.composite
def registers(draw: Any, batch_id: str) -> dict[str, Any] | None:
    if draw(st.integers(0, 5)) == 0:
        return None
    return {
        "batch_id": batch_id,
        "product_id": draw(st.sampled_from(["P1", "P2"])),
        "form": draw(st.sampled_from(["powder", "capsule", "tablet", "extract", "shot"])),
        "label_claim_mg_per_serving": draw(st.sampled_from([None, 0.0, 10.0, 50.0, 100.0])),
        "serving_size_g": draw(st.sampled_from([None, *SERVING_SIZES])),
        "servings_per_day": draw(st.sampled_from([None, *SERVINGS_PER_DAY])),
        "units_per_serving": draw(st.sampled_from([None, 0, 1, 2])),
        "manufactured_on": draw(st.sampled_from([None, "", "2026-01-01", "2026-02-01"])),
        "markets": draw(st.sampled_from([None, "UT", "GA;RI", "FL", "ut, ga"])),
    }


@st.composite
def cases(draw: Any) -> tuple[list[str], pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    batch_ids = [f"B{n}" for n in range(draw(st.integers(1, 5)))]
    rows: list[dict[str, Any]] = []
    regs = []
    for batch_id in batch_ids:
        rows += draw(result_rows(batch_id, len(rows) + 1))
        reg = draw(registers(batch_id))
        if reg is not None:
            regs.append(reg)
    results = pl.DataFrame(
        rows,
        schema={
            **{c: pl.String for c in RESULT_FIELDS},
            "result_id": pl.Int64,
            **{c: pl.Float64 for c in ("value", "bound", "lod", "loq")},
            **{c: pl.Float64 for c in ("test_portion_g", "spike_level", "per_serving_of")},
        },
    ).select(RESULT_FIELDS)
    register = pl.DataFrame(
        regs,
        schema={
            "batch_id": pl.String,
            "product_id": pl.String,
            "form": pl.String,
            "label_claim_mg_per_serving": pl.Float64,
            "serving_size_g": pl.Float64,
            "servings_per_day": pl.Float64,
            "units_per_serving": pl.Int64,
            "manufactured_on": pl.String,
            "markets": pl.String,
        },
    )
    # The control chart: the batches' own points, and earlier batches of the
    # same products spread so that a point falls near, inside or beyond 3 SD.
    own = (
        batch_means(results)
        .join(register, on="batch_id")
        .select(
            "product_id",
            "batch_id",
            pl.col("manufactured_on").fill_null("").alias("made"),
            "unit",
            "mean_value",
        )
    )
    centre = draw(st.sampled_from([10.0, 20.0, 50.0]))
    earlier = [
        {
            "product_id": draw(st.sampled_from(["P1", "P1", "P2"])),
            "batch_id": f"E{n}",
            "made": draw(st.sampled_from(["2025-01-01", "2025-06-01", "2026-01-01", "2027-01-01"])),
            "unit": draw(st.sampled_from(["mg/g", "mg/g", "mg/unit"])),
            "mean_value": centre * draw(st.sampled_from([0.9, 0.95, 1.0, 1.05, 1.1, 1.5])),
        }
        for n in range(draw(st.integers(0, 16)))
    ]
    history = pl.concat([own, pl.DataFrame(earlier, schema=own.schema)]).select(HISTORY_COLUMNS)
    return batch_ids, results, register, history


def _sorted(flags: pl.DataFrame) -> pl.DataFrame:
    return flags.sort("flag_id", "rule", "message")


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_the_screen_never_holds_back_a_finding(case):
    batch_ids, results, register, history = case
    every = thresholds()
    try:
        reference = evaluate(batch_ids, results, register, every, history, "v", screened=False)
    except (ZeroDivisionError, statistics.StatisticsError):
        # Data the rules themselves cannot judge (a standard deviation of one
        # unit): the screen must not hide that either.
        with pytest.raises((ZeroDivisionError, statistics.StatisticsError)):
            evaluate(batch_ids, results, register, every, history, "v", screened=True)
        return
    screened = evaluate(batch_ids, results, register, every, history, "v", screened=True)
    assert _sorted(screened).equals(_sorted(reference))


def test_the_screen_lets_through_only_batches_with_findings():
    """It is a screen, not a sieve: a clean batch is not read by the rules."""
    from kqc.core.rules.screen import screen

    clean = [
        ("mitragynine", 20.0, "mg/g"),
        ("7_hydroxymitragynine", 0.1, "mg/g"),
        ("lead", 0.2, "ug/g"),
        ("arsenic", 0.2, "ug/g"),
        ("cadmium", 0.1, "ug/g"),
        ("mercury", 0.05, "ug/g"),
    ]
    rows = [
        {"result_id": n, "batch_id": "B1", "sample_id": "S1", "analyte": a, "value": v}
        | {"unit": u, "qualifier": None, "sample_type": "production", "unit_no": None}
        for n, (a, v, u) in enumerate(clean)
    ]
    rows += [
        {"result_id": 10 + n, "batch_id": "B1", "sample_id": "S1", "analyte": a, "value": None}
        | {"unit": None, "qualifier": "not_detected", "sample_type": "production"}
        | {"unit_no": None, "test_portion_g": 25.0}
        for n, a in enumerate(("salmonella", "e_coli"))
    ]
    lead = {**rows[2], "batch_id": "B2", "value": 1.3}
    frame = pl.DataFrame([*rows, lead], infer_schema_length=None)
    register = pl.DataFrame(
        [
            {"batch_id": "B1", "product_id": "P1", "form": "powder"}
            | {"label_claim_mg_per_serving": 100.0, "serving_size_g": 5.0}
            | {"servings_per_day": 2.0, "units_per_serving": 1, "markets": None}
        ]
    )
    history = pl.DataFrame(schema={c: pl.String for c in HISTORY_COLUMNS})
    needs = screen(["B1", "B2"], frame, register, thresholds(), history)
    assert needs.limit_analytes == {"B2": {"lead"}}
    assert needs.batches["panel"] == {"B2"}
    assert not any("B1" in batches for batches in needs.batches.values())


@settings(max_examples=300, deadline=None)
@given(
    observed=NUMBER,
    fails_when=st.sampled_from([">", ">=", "<", "<=", "detected"]),
    limit=st.one_of(st.none(), st.sampled_from(LIMITS + SPECIAL), NUMBER),
)
def test_clearly_passes_only_what_the_threshold_passes(observed, fails_when, limit):
    t = threshold(fails_when=fails_when, limit_value=limit)
    clear = (
        pl.DataFrame(
            {"o": [observed], "f": [fails_when], "l": [limit]}, schema_overrides={"l": pl.Float64}
        )
        .select(clearly_passes(pl.col("o"), pl.col("f"), pl.col("l"), STAT_MARGIN))
        .item()
    )
    if clear:
        assert not t.fails(observed)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_batch_means_are_the_rules_means(case):
    """drift.batch_means over columns gives the very figures _mean_and_n gives
    batch by batch (bit for bit: they feed the evidence of drift flags)."""
    _, results, _, _ = case
    expected = []
    for (batch_id,), group in results.group_by("batch_id", maintain_order=True):
        found = _mean_and_n(group.to_dicts())
        if found is not None:
            expected.append((batch_id, found[1], found[0], found[2]))
    want = pl.DataFrame(expected, schema=POTENCY_SCHEMA, orient="row").sort("batch_id")
    assert batch_means(results).sort("batch_id").equals(want)


def _row(batch_id: str, n: int, analyte: str, value: float, unit: str | None) -> dict[str, Any]:
    return {
        "result_id": n,
        "batch_id": batch_id,
        "sample_id": "S1",
        "analyte": analyte,
        "value": value,
        "unit": unit,
        "qualifier": None,
        "bound": None,
        "reported_result": str(value),
        "lod": None,
        "loq": None,
        "sample_type": "production",
        "unit_no": None,
        "test_portion_g": None,
        "spike_level": None,
    }


def _register(batch_id: str, product: str = "P1", made: str = "2026-01-01") -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "product_id": product,
        "form": "powder",
        "label_claim_mg_per_serving": 100.0,
        "serving_size_g": 5.0,
        "servings_per_day": 2.0,
        "units_per_serving": 1,
        "manufactured_on": made,
        "markets": "UT;GA;RI;FL",
    }


def _same_flags(batch_ids, rows, regs, history) -> None:
    results = pl.DataFrame(rows, infer_schema_length=None)
    register = pl.DataFrame(regs, infer_schema_length=None)
    every = thresholds()
    reference = evaluate(batch_ids, results, register, every, history, "v", screened=False)
    screened = evaluate(batch_ids, results, register, every, history, "v", screened=True)
    assert reference.filter(pl.col("rule") != "missing_panel").height > 0
    assert _sorted(screened).equals(_sorted(reference))


def test_figures_on_and_beside_every_limit_reach_the_rules():
    """A figure a hair from its limit is judged at 12 significant digits by
    the rules: the screen hands every such figure to them."""
    rows, regs, batch_ids = [], [], []
    for t in thresholds():
        if not t.limit_value or t.rule not in ("heavy_metal", "microbial", "residual_solvent"):
            continue
        base = t.limit_value / 10.0 if t.basis == "per_day" else t.limit_value
        unit = "ug/g" if t.basis == "per_day" else t.unit
        for n, factor in enumerate((1.0, 1 + 1e-13, 1 - 1e-13, 1 + 1e-10, 1 - 1e-10)):
            batch_id = f"{t.analyte}-{t.basis}-{t.limit_value}-{n}"
            if batch_id in batch_ids:
                continue
            batch_ids.append(batch_id)
            regs.append(_register(batch_id))
            rows.append(_row(batch_id, len(rows), t.analyte, base * factor, unit))
    history = pl.DataFrame(schema={c: pl.String for c in HISTORY_COLUMNS})
    _same_flags(batch_ids, rows, regs, history)


def test_a_batch_mean_on_its_control_limit_reaches_the_rules():
    earlier = [9.0, 10.0, 11.0, 9.5, 10.5, 10.0]
    sd = statistics.stdev(earlier)
    rows, regs, batch_ids, chart = [], [], [], []
    for n, k in enumerate((3.0, 3.0 + 1e-12, 3.0 - 1e-12, 3.1, 2.9, -3.0, -3.1)):
        # One product per batch: each judged against the same six points.
        batch_id, product = f"B{n}", f"P{n}"
        batch_ids.append(batch_id)
        regs.append(_register(batch_id, product))
        mean = statistics.fmean(earlier) + k * sd
        rows.append(_row(batch_id, n, "mitragynine", mean, "mg/g"))
        points = [(f"E{n}-{i}", "2025-01-01", m) for i, m in enumerate(earlier)]
        points.append((batch_id, "2026-01-01", mean))
        chart += [
            {"product_id": product, "batch_id": b, "made": made, "unit": "mg/g", "mean_value": m}
            for b, made, m in points
        ]
    history = pl.DataFrame(chart).select(HISTORY_COLUMNS)
    _same_flags(batch_ids, rows, regs, history)


def test_7oh_above_mitragynine_in_one_sample_reaches_the_rules():
    rows, regs, batch_ids = [], [], []
    for n, (oh, mg) in enumerate(((2.0, 1.0), (1.0, 1.0), (1.0, 1.0 - 1e-13), (0.5, 1.0))):
        batch_id = f"B{n}"
        batch_ids.append(batch_id)
        regs.append(_register(batch_id))
        rows.append(_row(batch_id, 2 * n, "mitragynine", mg, "mg/g"))
        rows.append(_row(batch_id, 2 * n + 1, "7_hydroxymitragynine", oh, "mg/g"))
    history = pl.DataFrame(schema={c: pl.String for c in HISTORY_COLUMNS})
    _same_flags(batch_ids, rows, regs, history)


def test_servings_of_several_capsules_do_not_hide_uneven_capsules():
    """Ten capsules at 91 and 109 % of their claim fail USP <905> (AV 22.8).
    Nineteen results per serving of two capsules, each on its claim, would
    bring the AV to 12.9 were they counted as units; the rules leave them
    out, and so must the screen."""
    rows = []
    for n in range(10):
        row = _row("C1", n, "mitragynine", 45.5 if n % 2 else 54.5, "mg/unit")
        rows.append(row | {"unit_no": str(n + 1), "per_serving_of": None})
    for n in range(10, 29):
        row = _row("C1", n, "mitragynine", 50.0, "mg/unit")
        rows.append(row | {"sample_id": f"S{n}", "per_serving_of": 2.0})
    register = _register("C1") | {"form": "capsule", "units_per_serving": 2}
    history = pl.DataFrame(schema={c: pl.String for c in HISTORY_COLUMNS}).with_columns(
        pl.col("mean_value").cast(pl.Float64)
    )
    _same_flags(["C1"], rows, [register], history)
    found = evaluate(
        ["C1"], pl.DataFrame(rows), pl.DataFrame([register]), thresholds(), history, "v"
    )
    assert "content_uniformity" in found["rule"].to_list()
