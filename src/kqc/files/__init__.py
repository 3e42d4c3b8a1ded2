"""Files on disk outside the database: the inbox and the exports.

Owns finding the files dropped in the inbox, reading each through one file
descriptor (regular files only, never a link), checking that a file has
settled, moving it to archive/ or quarantine/ atomically, writing errors.csv
beside it, what the watch has seen between scans, and the formula-safe CSV and
XLSX exports.

May import: kqc.config, kqc.core, kqc.process, kqc.errors. No DuckDB, no
Prefect.
"""
