"""The batch register frame (what QA knows about each batch)."""

from __future__ import annotations

import pandera.polars as pa


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

    class Config:
        strict = True
        coerce = False
