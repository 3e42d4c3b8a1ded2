"""Prefect flows: thin recipes whose tasks each make one call into kqc."""
