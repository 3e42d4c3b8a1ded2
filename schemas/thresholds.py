"""The thresholds file: every limit kqc applies, with its source. Checked
with a Pandera schema when loaded, so a typo in a limit stops the pipeline
instead of silently passing batches."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

import pandera.polars as pa
import polars as pl

from kqc.core.vocab import ANALYTE_CODES
from kqc.errors import UsageError

RULES = (
    "content_uniformity",
    "label_claim",
    "potency_drift",
    "7oh_ratio",
    "synthetic_alkaloid",
    "heavy_metal",
    "microbial",
    "residual_solvent",
    "adulterant",
    "missing_panel",
    "qc_failure",
    "inconclusive",
)
_QC_KINDS = ("blank", "spike", "crm", "duplicate")


class ThresholdsError(UsageError):
    """The thresholds file cannot be used: configuration, exit 2."""


class ThresholdsSchema(pa.DataFrameModel):
    rule: str = pa.Field(isin=list(RULES))
    analyte: str = pa.Field(isin=[*ANALYTE_CODES, *_QC_KINDS])
    limit_value: float = pa.Field(nullable=True, ge=0)
    unit: str = pa.Field(nullable=True)
    basis: str = pa.Field(
        isin=["per_g", "per_serving", "per_day", "pct_of_alkaloids", "presence_in_g"]
    )
    fails_when: str = pa.Field(isin=[">", ">=", "<", "<=", "detected"])
    forms: str = pa.Field(nullable=True)
    profile: str = pa.Field(str_matches=r"^(default|[A-Z]{2})$")
    severity: str = pa.Field(isin=["critical", "major", "minor"])
    source: str = pa.Field(str_length={"min_value": 10})
    confirmed: bool
    note: str = pa.Field(nullable=True)

    @pa.dataframe_check(
        error="a limit is needed unless any detection fails (or a blank is judged by its LOQ)"
    )
    def limit_present(cls, data) -> pl.LazyFrame:  # type: ignore[no-untyped-def]
        return data.lazyframe.select(
            pl.col("limit_value").is_not_null()
            | (pl.col("fails_when") == "detected")
            | ((pl.col("rule") == "qc_failure") & (pl.col("analyte") == "blank"))
        )

    class Config:
        strict = True


THRESHOLDS_ENV = "KQC_THRESHOLDS"


def thresholds_file() -> Path | None:
    """A house thresholds file named by $KQC_THRESHOLDS, else None (the shipped one)."""
    named = os.environ.get(THRESHOLDS_ENV)
    return Path(named).expanduser().absolute() if named else None


def load_thresholds(path: Path | None = None) -> tuple[pl.DataFrame, str]:
    """The thresholds in force, validated, and their version: the shipped file,
    or a house file (same columns) when `path` or $KQC_THRESHOLDS names one.
    The version is the file's hash, so any edit re-evaluates every batch."""
    path = path or thresholds_file()
    if path is None:
        data = (resources.files("kqc.schemas") / "thresholds.csv").read_bytes()
        name, edition = "the shipped thresholds", "2026.11-"
    else:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ThresholdsError(
                f"cannot read the thresholds file {path} ({err.strerror}):"
                f" fix {THRESHOLDS_ENV} or the file"
            ) from err
        name, edition = str(path), "house-"
    try:
        frame = pl.read_csv(data, infer_schema_length=0)
    except pl.exceptions.PolarsError as err:
        raise ThresholdsError(f"{name} is not a readable CSV file: {err}") from err
    missing = [c for c in ThresholdsSchema.to_schema().columns if c not in frame.columns]
    if missing:
        raise ThresholdsError(f"{name} lacks the column(s) {', '.join(missing)}: add them")
    bad = frame.with_row_index("row", offset=2).filter(
        pl.col("limit_value").is_not_null()
        & pl.col("limit_value").cast(pl.Float64, strict=False).is_null()
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise ThresholdsError(
            f"{name}: row {row['row']}, column limit_value: '{row['limit_value']}' is not a"
            " number: write the limit as a plain number, its unit in the unit column"
        )
    frame = frame.with_columns(
        pl.col("limit_value").cast(pl.Float64, strict=False),
        pl.col("confirmed")
        .str.to_lowercase()
        .replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean),
    )
    try:
        ThresholdsSchema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        raise ThresholdsError(f"{name}: {_first_problem(err)}") from err
    return frame, edition + hashlib.sha256(data).hexdigest()[:12]


def _first_problem(err: pa.errors.SchemaErrors) -> str:
    """The first failing cell as a person sees it (the header is row 1)."""
    cases = err.failure_cases
    first = cases.row(0, named=True)
    index = first.get("index")
    row = f"row {int(index) + 2}, " if index is not None else ""
    column = first.get("column") or "a row"
    value = first.get("failure_case")
    return (
        f"{row}column {column}: '{value}' fails {first.get('check')}"
        f" ({len(cases)} problem(s) in all): fix the file"
    )
