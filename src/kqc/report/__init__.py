"""The QA report: gathered data in, one self-contained HTML page out.
Pure rendering: no DuckDB, Prefect or Typer here (kqc.store.report_data
gathers, the CLI writes the file)."""

from kqc.report.html import ReportSource, render

__all__ = ["ReportSource", "render"]
