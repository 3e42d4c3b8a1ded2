"""The thresholds file: every limit kqc applies, with its source. Checked
with a Pandera schema when loaded, so a typo in a limit stops the pipeline
instead of silently passing batches."""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path

import pandera.polars as pa
import polars as pl

from kqc.core import vocab
from kqc.core.products import FORMS
from kqc.core.rules.dry_weight import DRY_SUFFIX
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


_LIMIT_NEEDED = "a limit is needed unless any detection fails (or a blank is judged by its LOQ)"
_DRY_WEIGHT_READ = (
    "a dry-weight unit ('mg/g dry') is read only by rule 7oh_ratio on basis per_g"
    " with fails_when '>' or '>=' (dry weight is never below the as-is figure)"
)
# The column each whole-row check is about, shown instead of the whole row.
_ROW_CHECK_COLUMN = {_LIMIT_NEEDED: "limit_value", _DRY_WEIGHT_READ: "unit"}


class ThresholdsSchema(pa.DataFrameModel):
    rule: str = pa.Field(isin=list(RULES))
    analyte: str

    @pa.check("analyte", error="isin(the analyte codes in force, docs/vocabulary.md)")
    def analyte_known(cls, data) -> pl.LazyFrame:  # type: ignore[no-untyped-def]
        # The codes in force when the file is loaded, a house vocabulary's
        # ($KQC_VOCABULARY) among them, not those known when this was imported.
        known = [*ANALYTE_CODES, *_QC_KINDS]
        return data.lazyframe.select(pl.col(data.key).is_in(known))

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

    @pa.dataframe_check(error=_LIMIT_NEEDED)
    def limit_present(cls, data) -> pl.LazyFrame:  # type: ignore[no-untyped-def]
        return data.lazyframe.select(
            pl.col("limit_value").is_not_null()
            | (pl.col("fails_when") == "detected")
            | ((pl.col("rule") == "qc_failure") & (pl.col("analyte") == "blank"))
        )

    @pa.check("forms", error=f"forms must be product forms ({', '.join(FORMS)}) separated by ';'")
    def forms_known(cls, data) -> pl.LazyFrame:  # type: ignore[no-untyped-def]
        # A misspelt form would match no batch and silently drop its limit.
        named = pl.element().str.strip_chars().str.to_lowercase()
        return data.lazyframe.select(
            pl.col(data.key).is_null()
            | pl.col(data.key)
            .str.split(";")
            .list.eval(named.is_in(FORMS) | (named == ""))
            .list.all()
        )

    @pa.dataframe_check(error=_DRY_WEIGHT_READ)
    def dry_weight_where_read(cls, data) -> pl.LazyFrame:  # type: ignore[no-untyped-def]
        dry = pl.col("unit").fill_null("").str.ends_with(DRY_SUFFIX)
        read = (
            (pl.col("rule") == "7oh_ratio")
            & (pl.col("basis") == "per_g")
            & pl.col("fails_when").is_in([">", ">="])
        )
        return data.lazyframe.select(~dry | read)

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
    from kqc.config.house_vocabulary import use_environment

    global _validated_last

    use_environment()  # a house threshold may name a house analyte
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
    # The version says which file it came from, so the file is in the key.
    key = (name, data, tuple(vocab.house_analytes()))
    if _validated_last is not None and _validated_last[0] == key:
        return _validated_last[1]
    found = _validated(data, name, edition)
    _validated_last = (key, found)
    return found


# The last thresholds validated, by their file, bytes and the house analytes they
# were checked against: `kqc ingest` checks the file before any file moves
# and the evaluation reads it again, and validating it costs some 0.5 s.
_validated_last: tuple[tuple[str, bytes, tuple[object, ...]], tuple[pl.DataFrame, str]] | None = (
    None
)


def _validated(data: bytes, name: str, edition: str) -> tuple[pl.DataFrame, str]:
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
    if first.get("schema_context") == "DataFrameSchema":  # a whole-row check: its row as JSON
        column = _ROW_CHECK_COLUMN.get(first.get("check") or "", "a row")
        value = json.loads(value).get(column) if isinstance(value, str) else value
    value = "" if value is None else value
    return (
        f"{row}column {column}: '{value}' fails {first.get('check')}"
        f" ({len(cases)} problem(s) in all): fix the file"
    )
