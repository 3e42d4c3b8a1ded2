"""The running process's own plumbing, used by every layer above the core.

Owns: the duplicate of stderr kept for the person at the terminal while
Prefect's output goes to a log (quiet), the one-run-at-a-time lock on a
database (runlock), the allocator setting read when Polars loads (allocator)
the fault-injection points of the crash tests (faults) and writing a file
whole or not at all (durable).

May import: kqc.errors and the standard library. No Polars, DuckDB or Prefect.
"""
