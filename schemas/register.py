"""The batch register frame (what QA knows about each batch)."""

from __future__ import annotations

import pandera.polars as pa

# USP <905> Uniformity of Dosage Units, Table 2 (harmonized text, official
# since USP 28-NF 23, 1 April 2006): "T: Target content per dosage unit at the
# time of manufacture, expressed as a percentage of the label claim. Unless
# otherwise stated, T is 100.0%, or T is the manufacturer's approved target
# content per dosage unit." The range is a house setting, not USP's: an
# overage puts T a few % above 100, and a figure outside it is a typo or a
# fraction (1.05 for 105 %) that would move M, so it is refused, not read.
TARGET_CONTENT_RANGE = (80.0, 150.0)
TARGET_CONTENT_PROBLEM = (
    "the target content T must be a percentage of the label claim between"
    f" {TARGET_CONTENT_RANGE[0]:g} and {TARGET_CONTENT_RANGE[1]:g} (105 for 105 %, not 1.05):"
    " correct it, or leave the cell empty for T = 100 %"
)


class RegisterSchema(pa.DataFrameModel):
    source_row: int = pa.Field(ge=1)
    batch_id: str = pa.Field(str_length={"min_value": 1}, unique=True)
    product_id: str = pa.Field(str_length={"min_value": 1})
    product_name: str = pa.Field(nullable=True)
    form: str = pa.Field(str_length={"min_value": 1})
    label_claim_mg_per_serving: float = pa.Field(gt=0)
    serving_size_g: float = pa.Field(gt=0)
    servings_per_day: float = pa.Field(gt=0)
    units_per_serving: int = pa.Field(ge=1)
    manufacturer: str = pa.Field(nullable=True)
    manufactured_on: str = pa.Field(nullable=True)
    markets: str = pa.Field(nullable=True)
    target_content_pct: float = pa.Field(
        nullable=True,
        ge=TARGET_CONTENT_RANGE[0],
        le=TARGET_CONTENT_RANGE[1],
        title=TARGET_CONTENT_PROBLEM,
    )

    class Config:
        strict = True
        coerce = False
