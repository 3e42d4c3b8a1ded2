"""The canonical results frame, checked on a collected frame with lazy=True so
every problem in a file is reported at once."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.engines.polars_engine import PolarsData

from kqc.core.qualifiers import QUALIFIERS
from kqc.core.units import CANONICAL_UNITS
from kqc.core.vocab import ANALYTE_CODES, SAMPLE_TYPES


def _value_xor_qualifier(data: PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col("value").is_null() != pl.col("qualifier").is_null())


def _percent_not_above_whole(data: PolarsData) -> pl.LazyFrame:
    # A mass fraction above 1000 mg/g (100 %) cannot be: usually a unit slip.
    return data.lazyframe.select(
        (pl.col("unit") != "mg/g") | (pl.col("value") <= 1000.0) | pl.col("value").is_null()
    )


class ResultsSchema(pa.DataFrameModel):
    source_row: int = pa.Field(ge=1)
    lab_id: str = pa.Field(str_length={"min_value": 1}, nullable=False)
    batch_id: str = pa.Field(str_length={"min_value": 1}, nullable=False)
    sample_id: str = pa.Field(str_length={"min_value": 1}, nullable=False)
    sample_type: str = pa.Field(isin=list(SAMPLE_TYPES))
    unit_no: str = pa.Field(nullable=True)
    analyte: str
    value: float = pa.Field(
        nullable=True,
        ge=0,
        title="a concentration or count cannot be negative: report a non-detect as ND or <LOQ",
    )
    unit: str = pa.Field(nullable=True, isin=list(CANONICAL_UNITS))
    qualifier: str = pa.Field(nullable=True, isin=list(QUALIFIERS))
    bound: float = pa.Field(nullable=True, ge=0)
    test_portion_g: float = pa.Field(nullable=True, gt=0)
    reported_analyte: str
    reported_result: str
    reported_unit: str = pa.Field(nullable=True)
    lod: float = pa.Field(nullable=True, ge=0)
    loq: float = pa.Field(nullable=True, ge=0)
    spike_level: float = pa.Field(nullable=True, ge=0)
    dilution: float = pa.Field(nullable=True, gt=0)
    method: str = pa.Field(nullable=True)
    analyzed_at: str = pa.Field(nullable=True)
    analyst: str = pa.Field(nullable=True)
    instrument: str = pa.Field(nullable=True)
    accreditation: str = pa.Field(nullable=True)

    @pa.check("analyte", error="isin(the analyte codes in force, docs/vocabulary.md)")
    def analyte_known(cls, data: PolarsData) -> pl.LazyFrame:
        # The codes in force when the frame is checked, a house vocabulary's
        # ($KQC_VOCABULARY) among them, not those known when this was imported.
        known = list(ANALYTE_CODES)
        return data.lazyframe.select(pl.col(data.key).is_in(known))

    @pa.dataframe_check(
        error="a result is either a number or a qualifier (<LOQ, ND, Absent …), never both"
    )
    def value_or_qualifier(cls, data: PolarsData) -> pl.LazyFrame:
        return _value_xor_qualifier(data)

    @pa.dataframe_check(error="above 100 % of the sample's mass: check the unit")
    def not_above_whole(cls, data: PolarsData) -> pl.LazyFrame:
        return _percent_not_above_whole(data)

    class Config:
        strict = True
        coerce = False
        unique = ("lab_id", "sample_id", "analyte", "unit", "sample_type", "unit_no")
