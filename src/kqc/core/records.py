"""The shapes that cross layer boundaries: normalized results and register rows.

Readers produce raw string frames; the normalizer turns them into frames with
exactly these columns and dtypes; the schemas validate them; the store writes
them. Keeping the list in one place is what lets those layers agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# One row per reported result, in canonical analyte and unit, with the lab's
# own words kept beside ours.
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "source_row": pl.Int64(),  # row as a spreadsheet shows it (header = row 1)
    "lab_id": pl.String(),
    "batch_id": pl.String(),
    "sample_id": pl.String(),
    "sample_type": pl.String(),  # production | blank | spike | duplicate | crm
    "unit_no": pl.String(),  # which capsule / serving / increment, as reported
    "analyte": pl.String(),  # canonical code (kqc.core.vocab)
    "value": pl.Float64(),  # canonical value; NULL for every qualifier
    "unit": pl.String(),  # canonical unit; NULL for presence/absence tests
    "qualifier": pl.String(),  # NULL for a plain number (kqc.core.qualifiers)
    "bound": pl.Float64(),  # the number behind "<0.50" / ">1000", canonical unit
    "test_portion_g": pl.Float64(),  # presence/absence: grams the test covered
    "reported_analyte": pl.String(),
    "reported_result": pl.String(),
    "reported_unit": pl.String(),
    "lod": pl.Float64(),  # canonical unit
    "loq": pl.Float64(),  # canonical unit
    "spike_level": pl.Float64(),  # canonical unit
    "dilution": pl.Float64(),
    "method": pl.String(),
    "analyzed_at": pl.String(),  # as reported; labs write dates many ways
    "analyst": pl.String(),
    "instrument": pl.String(),
    "accreditation": pl.String(),
}

# One row per batch, as QA registers it.
REGISTER_SCHEMA: dict[str, pl.DataType] = {
    "source_row": pl.Int64(),
    "batch_id": pl.String(),
    "product_id": pl.String(),
    "product_name": pl.String(),
    "form": pl.String(),
    "label_claim_mg_per_serving": pl.Float64(),
    "serving_size_g": pl.Float64(),
    "servings_per_day": pl.Float64(),
    "units_per_serving": pl.Int64(),
    "manufacturer": pl.String(),
    "manufactured_on": pl.String(),
    "markets": pl.String(),  # e.g. "UT;GA": market profiles applied on top of the default
    # USP <905>'s T, in % of label claim; NULL when the register states none (T = 100 %)
    "target_content_pct": pl.Float64(),
}


class RawTable:
    """What a reader hands the normalizer: every cell as text, nothing decided.

    `frame` holds one String column per header as the lab wrote it, plus
    `source_row` (Int64, the row a spreadsheet shows). `metadata` holds the
    `Key: value` lines found above the table (XLSX header blocks), applied to
    every row where the table lacks that column. `header_row` is the row the
    header sits on, named in problems about columns. `decimal_comma` is set by a
    reader that saw a semicolon-separated file, where "1,42" means 1.42.
    `thousands_comma` is set by a reader of delimited text whose numbers show
    the dot is the decimal mark, so the comma in '12,000' groups thousands
    (`kqc.core.separators`). `sheet` names the workbook sheet the table was
    read from when the workbook has more than one (`hidden_sheet` when the lab
    hid it), so its problems can say which sheet their rows are on.
    """

    __slots__ = (
        "decimal_comma",
        "frame",
        "header_row",
        "hidden_sheet",
        "metadata",
        "sheet",
        "thousands_comma",
    )

    def __init__(
        self,
        frame: pl.DataFrame,
        metadata: dict[str, str] | None = None,
        *,
        decimal_comma: bool = False,
        thousands_comma: bool = False,
        header_row: int = 1,
        sheet: str | None = None,
        hidden_sheet: bool = False,
    ) -> None:
        self.frame = frame
        self.metadata = dict(metadata or {})
        self.decimal_comma = decimal_comma
        self.thousands_comma = thousands_comma
        self.header_row = header_row  # where the header sits, for problems about columns
        # Row 14 alone does not say which of a workbook's sheets it is on.
        self.sheet = sheet
        self.hidden_sheet = hidden_sheet

    def with_frame(self, frame: pl.DataFrame) -> RawTable:
        """The same table (metadata, layout, header row, sheet) holding `frame`."""
        return RawTable(
            frame,
            self.metadata,
            decimal_comma=self.decimal_comma,
            thousands_comma=self.thousands_comma,
            header_row=self.header_row,
            sheet=self.sheet,
            hidden_sheet=self.hidden_sheet,
        )

    @property
    def headers(self) -> list[str]:
        return [c for c in self.frame.columns if c != "source_row"]


@dataclass(frozen=True)
class SheetTables:
    """The tables of a workbook of several sheets, one a sheet, in sheet
    order; each names its sheet (`RawTable.sheet`). They are one source file:
    each is read with its own header, metadata block and row numbers, and
    their rows are stored together, or none of them are."""

    tables: tuple[RawTable, ...]
