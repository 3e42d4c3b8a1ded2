"""Store errors, each one sentence that names the next step."""

from __future__ import annotations

from pathlib import Path

from kqc.errors import KqcError


class StoreError(KqcError):
    """The database could not do what was asked; nothing was half-written."""


class DatabaseLocked(StoreError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the database {path} is open in another program: close it (regulators should"
            " open the published snapshot instead), then run kqc again"
        )
        self.path = path


class NotADatabase(StoreError):
    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"{path} is not a kqc database ({detail}): pass --db with another file name"
        )
        self.path = path
        self.detail = detail  # DuckDB's own words, for a caller that says more
