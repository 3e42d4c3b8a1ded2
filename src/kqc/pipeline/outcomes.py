"""What an ingest run says of each file it took, refused or left, as
`kqc ingest` prints it: light enough for `kqc ingest` to read the answer of
a watch it handed its files to without loading the pipeline (Polars and
Pandera: a third of a second, after the watch has answered)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kqc.files.survey import LeftAlone


@dataclass(frozen=True)
class FileOutcome:
    file: str
    sha256: str
    status: str  # ingested | duplicate | rejected | failed (left in the inbox)
    rows: int
    errors: int
    stored_as: str | None = None
    errors_csv: str | None = None
    kind: str | None = None
    reason: str | None = None
    # The file's columns holding values kqc does not read (kept in the
    # archived file, not stored); None when the file was not read.
    unused_columns: list[str] | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class IngestRun(list[FileOutcome]):
    """The run's outcomes, one per file, and what it says beside them: the
    inbox entries it left alone (with why), and the sentence saying why the
    snapshot could not be published, if it could not."""

    def __init__(self, outcomes: list[FileOutcome] = ()) -> None:  # type: ignore[assignment]
        super().__init__(outcomes)
        self.left: list[LeftAlone] = []
        self.snapshot_problem: str | None = None
