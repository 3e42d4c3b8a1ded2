"""A batch's statistics as plain rows (statistic_rows, worst_rows_per_limit):
what a dossier in a terminal shows without loading Polars. They must be the
figures a Polars frame of them holds: rounded as Polars rounds the flags'
figures, and the worst result chosen as a Polars sort chooses it."""

from __future__ import annotations

import math
import random
import struct
import subprocess
import sys

import hypothesis.strategies as st
import polars as pl
from hypothesis import given, settings

from kqc.core.rules.frames import STATISTICS_SCHEMA
from kqc.core.rules.statistics import (
    batch_statistics,
    round_sig_figs,
    statistic_rows,
    worst_per_limit,
    worst_rows_per_limit,
)
from tests.core.rules.helpers import nd, register, result, thresholds
from tests.core.test_statistics import NO_HISTORY


def test_the_rules_of_one_batch_load_without_polars():
    """The dossier's rules and reader import no Polars (nor pyarrow): a
    third of `kqc batch`'s time."""
    script = (
        "import sys\n"
        "import kqc.core.rules.statistics, kqc.core.rules.applicable, kqc.store.dossier\n"
        "print(sorted({'polars', 'pyarrow', 'pydantic'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "[]\n", done.stdout + done.stderr


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (
        a == b and math.copysign(1, a) == math.copysign(1, b)
    )


EDGES = [
    0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308, 0.1 + 0.2,
    110.00000000000001, 5.550000000000001, 0.8200000000000001, 2.5, 0.5, 1e22, 1e-22,
    123456789012.5, 0.30000000000000004, 1 / 3, 2 / 3, 100 / 7,
]  # fmt: skip


def _rounds_as_polars(values: list[float]) -> bool:
    polars = pl.Series(values, dtype=pl.Float64).round_sig_figs(12).to_list()
    return all(_same(round_sig_figs(v, 12), p) for v, p in zip(values, polars, strict=True))


@settings(max_examples=300)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_rounding_to_12_digits_is_polars_to_the_bit(values):
    assert _rounds_as_polars([*values, *EDGES])


def test_rounding_sweeps_every_magnitude_and_bit_pattern():
    """Lab figures (1e-12 to 1e12, short decimals times a serving or a
    third) and any double at all, subnormals and extremes included."""
    draw = random.Random(905)
    lab = [draw.choice([1, -1]) * 10 ** draw.uniform(-12, 12) for _ in range(50_000)]
    short = [
        round(draw.uniform(0, 1000), draw.randint(1, 15)) * draw.choice([3, 1 / 3, 2.5])
        for _ in range(50_000)
    ]
    bits = [struct.unpack("d", struct.pack("Q", draw.getrandbits(64)))[0] for _ in range(50_000)]
    assert _rounds_as_polars(lab + short + bits)


def test_rows_and_frame_hold_the_same_figures():
    rows = [
        result(analyte="mitragynine", value=23.0, unit="mg/g"),
        result(analyte="lead", value=1.5, unit="ug/g"),
        nd("cadmium", 0.01),
        result(analyte="tamc", value=2e5, unit="CFU/g"),
    ]
    plain = statistic_rows("B1", rows, register(), list(thresholds()), [])
    frame = batch_statistics("B1", pl.DataFrame(rows), register(), list(thresholds()), NO_HISTORY)
    assert plain == frame.to_dicts()
    assert all(isinstance(r["value"], float) for r in plain if r["value"] is not None)


_VERDICT_RANK = {"fail": 0, "inconclusive": 1, "pass": 2}


def _worst_by_polars(frame: pl.DataFrame) -> pl.DataFrame:
    """worst_per_limit written over the frame in Polars: the reference."""
    keys = ["rule", "analyte", "statistic", "unit", "limit_value", "profile"]
    per_result = (
        frame.with_row_index("_order")
        .filter(pl.col("sample_id").is_not_null())
        .with_columns(
            pl.col("verdict").replace_strict(_VERDICT_RANK, default=3).alias("_rank"),
            pl.len().over(keys).alias("_n"),
        )
        .sort(["_rank", "ratio_to_limit", "value"], descending=[False, True, True], nulls_last=True)
        .unique(subset=keys, keep="first", maintain_order=True)
        .with_columns(
            pl.when(pl.col("_n") > 1)
            .then(pl.format("worst of {} results; {}", pl.col("_n"), pl.col("note")))
            .otherwise(pl.col("note"))
            .alias("note")
        )
    )
    whole = frame.with_row_index("_order").filter(pl.col("sample_id").is_null())
    return pl.concat([whole, per_result.select(whole.columns)]).sort("_order").drop("_order")


FIGURE = st.fixed_dictionaries(
    {
        "rule": st.sampled_from(["heavy_metal", "microbial"]),
        "analyte": st.sampled_from(["lead", "tamc", None]),
        "sample_id": st.sampled_from([None, "S1", "S2", "S3"]),
        "statistic": st.sampled_from(["per g", "per day"]),
        "value": st.sampled_from([None, 0.0, 0.5, 1.0, 2.0, math.inf, math.nan]),
        "qualifier": st.sampled_from([None, "<LOQ"]),
        "unit": st.sampled_from(["ug/g", None]),
        "limit_value": st.sampled_from([None, 1.2, 5.0]),
        "ratio_to_limit": st.sampled_from([None, 0.1, 0.5, 1.5, math.nan]),
        "verdict": st.sampled_from([None, "fail", "inconclusive", "pass"]),
        "profile": st.sampled_from([None, "default"]),
        "note": st.sampled_from([None, "a", "b"]),
    }
)


@settings(max_examples=200)
@given(st.lists(FIGURE, max_size=60))
def test_the_worst_result_per_limit_is_the_one_polars_picks(figures):
    """Ties everywhere: among equally bad results the first is shown, as a
    Polars sort keeps them; NaN sorts above every number, a missing figure last."""
    frame = pl.DataFrame(figures, schema=STATISTICS_SCHEMA, orient="row")
    expected = _worst_by_polars(frame).to_dicts()
    assert repr(worst_rows_per_limit(frame.to_dicts())) == repr(expected)
    assert repr(worst_per_limit(frame).to_dicts()) == repr(expected)
