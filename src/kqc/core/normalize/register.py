"""A batch register to register rows: the claims, serving size and target
content read as numbers (a unit its column already gives taken off), a claim
per capsule turned into one per serving, the form and markets to their codes,
the manufacture date to YYYY-MM-DD."""

from __future__ import annotations

import polars as pl

from kqc.core import columns as cols
from kqc.core.cells import parse_number_column
from kqc.core.dates import iso_date
from kqc.core.normalize.collector import (
    Collector,
    Normalized,
    fields_frame,
    finish,
    refused,
    require_values,
    with_missing_fields,
)
from kqc.core.products import form_code, market_codes, unknown_form_message
from kqc.core.records import REGISTER_SCHEMA, RawTable

# The unit a register may write after a number, as its column says it:
# '50 mg' under 'Label claim (mg/serving)', '2 g' under 'Serving size (g)'.
_REGISTER_UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "label_claim_mg_per_serving": ("mg", ("mg", "mg/serving", "mg per serving", "mg/dose")),
    "label_claim_mg_per_unit": (
        "mg",
        ("mg", "mg/unit", "mg/capsule", "mg/cap", "mg/tablet", "mg/tab", "mg each"),
    ),
    "serving_size_g": ("g", ("g", "gm", "gram", "grams")),
    "target_content_pct": (
        "% of label claim",
        ("%", "% lc", "% of lc", "% label claim", "% of label claim", "% of claim", "percent"),
    ),
}
# A target content that is no number: the sentence names the fix, as the
# schema's range check does (kqc.schemas.register).
_NOT_A_TARGET = (
    "'{}' is not a target content: write T as a number of % of the label claim (105 for"
    " 105 %), or leave the cell empty for T = 100 %"
)
_NUMBER_AND_WORD = r"^\s*([+-]?[\d.,]+)\s*([^\d\s.,][^\d]*?)\s*$"


def _register_number(frame: pl.DataFrame, fld: str) -> tuple[pl.Series, pl.Series]:
    """The number text of a register column, with the unit its column gives
    taken off ('50 mg' under mg per serving), and a problem for a cell whose
    unit is another ('2 oz' under grams): a unit is never converted by guess."""
    text = frame[fld].cast(pl.String)
    none = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
    if fld not in _REGISTER_UNITS:
        return text, none
    unit, spellings = _REGISTER_UNITS[fld]
    parts = text.str.extract_groups(_NUMBER_AND_WORD)
    word = parts.struct.field("2").str.to_lowercase().str.replace_all(r"\s+", " ")
    given = word.is_not_null()
    known = word.is_in(list(spellings)).fill_null(False)
    number = frame.select(
        pl.when(known).then(parts.struct.field("1")).otherwise(text).alias(fld)
    ).to_series()
    problem = frame.select(
        pl.when(given & ~known)
        .then(
            pl.format(
                "'{}' is not in {}: write the number of {} alone", text, pl.lit(unit), pl.lit(unit)
            )
        )
        .otherwise(None)
        .alias("_unit_problem")
    ).to_series()
    return number, problem


def normalize_register(table: RawTable) -> Normalized:
    issues = Collector(table.header_row)
    named = cols.map_columns(table.headers, "register").fields
    # A claim per capsule stands in for the claim per serving when the
    # register has no such column; the two never mix.
    per_unit = "label_claim_mg_per_unit" in named and "label_claim_mg_per_serving" not in named
    needed = tuple(
        f for f in cols.REGISTER_REQUIRED if not (per_unit and f == "label_claim_mg_per_serving")
    )
    mapped = fields_frame(table, "register", needed, issues)
    if mapped is not None and per_unit and "units_per_serving" not in mapped[1]:
        issues.header(
            f"a label claim per capsule or tablet ('{named['label_claim_mg_per_unit']}') needs a"
            " units_per_serving column (capsules per serving) to give the claim per serving:"
            " add one, or give label_claim_mg_per_serving instead",
            column=named["label_claim_mg_per_unit"],
        )
        mapped = None
    if mapped is None:
        return refused("register", issues)
    frame, headers = mapped
    frame = with_missing_fields(frame, "register")
    # Blank rows between blocks of a register hold nothing to keep.
    text_fields = [f for f in REGISTER_SCHEMA if f != "source_row"]
    frame = frame.filter(~pl.all_horizontal(pl.col(text_fields).is_null()))
    require_values(frame, ("batch_id", "product_id", "form"), headers, issues)
    numeric = {
        "label_claim_mg_per_serving": not per_unit,
        "serving_size_g": True,
        "servings_per_day": True,
        "units_per_serving": per_unit,
        **({"label_claim_mg_per_unit": True} if per_unit else {}),
        "target_content_pct": False,
    }
    converted = {}
    for fld, required in numeric.items():
        number, unit_problem = _register_number(frame, fld)
        nums = parse_number_column(
            number, decimal_comma=table.decimal_comma, one_group=table.thousands_comma
        )
        with_nums = frame.with_columns(
            nums["value"].alias("_v"),
            pl.coalesce(unit_problem, nums["problem"]).alias("_p"),
        )
        header = headers.get(fld, fld)
        problem = pl.format(_NOT_A_TARGET, pl.col(fld)) if fld == "target_content_pct" else None
        issues.add(
            with_nums.filter(pl.col("_p").is_not_null()),
            header,
            pl.col(fld),
            pl.col("_p") if problem is None else problem,
        )
        if required:
            issues.add(
                with_nums.filter(pl.col(fld).is_null()),
                header,
                pl.lit(""),
                pl.lit(f"{fld} is empty: fill it in"),
            )
        converted[fld] = nums["value"]
    frame = frame.with_columns(
        *[v.alias(k) for k, v in converted.items() if k != "units_per_serving"],
        converted["units_per_serving"].fill_null(1.0).alias("units_per_serving_value"),
    )
    if per_unit:
        frame = frame.with_columns(
            (pl.col("label_claim_mg_per_unit") * pl.col("units_per_serving_value")).alias(
                "label_claim_mg_per_serving"
            )
        )
    frame = _map_products(frame, headers, issues)
    frame = _made_on(frame, headers, issues)
    whole = frame.filter(
        pl.col("units_per_serving_value") != pl.col("units_per_serving_value").round(0)
    )
    issues.add(
        whole,
        headers.get("units_per_serving", "units_per_serving"),
        pl.col("units_per_serving"),
        pl.lit("units_per_serving must be a whole number of capsules or tablets"),
    )
    frame = frame.with_columns(
        pl.col("units_per_serving_value").round(0).cast(pl.Int64).alias("units_per_serving")
    )
    return finish(frame, issues, "register", headers)


def _made_on(frame: pl.DataFrame, headers: dict[str, str], issues: Collector) -> pl.DataFrame:
    """manufactured_on as YYYY-MM-DD (kqc.core.dates): the rules order a
    product's batches by it, as text."""
    read: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for text in frame["manufactured_on"].drop_nulls().unique().to_list():
        try:
            read[text] = iso_date(text)
        except ValueError as err:
            read[text] = None
            problems[text] = str(err)
    _cells_refused(frame, "manufactured_on", problems, headers, issues)
    return frame.with_columns(
        pl.col("manufactured_on").replace_strict(read, default=None, return_dtype=pl.String)
    )


def _cells_refused(
    frame: pl.DataFrame,
    fld: str,
    problems: dict[str, str],
    headers: dict[str, str],
    issues: Collector,
) -> None:
    """A problem for each row whose `fld` text is a key of `problems` (text ->
    sentence), named by the lab's column."""
    issues.add(
        frame.filter(pl.col(fld).is_in(list(problems))),
        headers.get(fld, fld),
        pl.col(fld),
        pl.col(fld).replace_strict(problems, default=None, return_dtype=pl.String),
    )


def _map_products(frame: pl.DataFrame, headers: dict[str, str], issues: Collector) -> pl.DataFrame:
    """Form and markets to their codes; an unknown one is a problem for its row
    (they choose which limits apply, so a guess could skip a limit)."""
    forms = {f: form_code(f) for f in frame["form"].drop_nulls().unique().to_list()}
    unknown_forms = {f: unknown_form_message(f) for f, code in forms.items() if code is None}
    _cells_refused(frame, "form", unknown_forms, headers, issues)
    markets = {m: market_codes(m) for m in frame["markets"].drop_nulls().unique().to_list()}
    bad_markets = {m: problem for m, (_, problem) in markets.items() if problem}
    _cells_refused(frame, "markets", bad_markets, headers, issues)
    return frame.with_columns(
        pl.col("form").replace_strict(forms, default=None, return_dtype=pl.String),
        pl.col("markets").replace_strict(
            {m: codes for m, (codes, _) in markets.items()}, default=None, return_dtype=pl.String
        ),
    )
