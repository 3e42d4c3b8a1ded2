"""The functional core: pure Polars and Python, no Prefect, DuckDB or CLI."""
