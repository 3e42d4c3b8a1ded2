"""How far an ingest run has come, as the flow tells it (kqc.process.progress):
the phases in order, the files done of those found, and the rows read of a
streamed file; and a display that fails never stops the run."""

from functools import partial

import pytest

from kqc.flows import ingest
from kqc.pipeline.prepare import prepare_path
from kqc.process import progress

pytestmark = pytest.mark.usefixtures("prefect_harness")

HEADER = b"Lab,Batch No.,Sample ID,Analyte,Result,Units,LOQ\n"


def small(batch: str) -> bytes:
    return HEADER + f"Acme Labs,{batch},S1,Mitragynine,1.42,%,0.01\n".encode()


def long_file(rows: int) -> bytes:
    return HEADER + b"".join(
        f"Acme Labs,PR-LONG,S{i},Mitragynine,1.{i % 90:02d},%,0.01\n".encode() for i in range(rows)
    )


class Recording:
    def __init__(self) -> None:
        self.told: list[tuple] = []

    def phase(self, name: str) -> None:
        self.told.append(("phase", name))

    def files(self, done: int, total: int) -> None:
        self.told.append(("files", done, total))

    def rows(self, read: int) -> None:
        self.told.append(("rows", read))


def test_the_run_tells_its_phases_files_and_streamed_rows_in_order(site, monkeypatch):
    inbox = site.db.parent / "inbox"
    for name in ("a.csv", "b.csv", "c.csv"):
        (inbox / name).write_bytes(small(f"PR-{name[0].upper()}"))
    (inbox / "long.csv").write_bytes(long_file(400))
    # The long file is read by path and streamed in small chunks, as a file
    # over 64 MiB would be.
    monkeypatch.setenv("KQC_MAX_FILE_BYTES", "2000")
    monkeypatch.setattr(
        ingest, "prepare_path", partial(prepare_path, stream_from=0, chunk_bytes=2000)
    )

    recording = Recording()
    with progress.reporting(recording):
        outcomes = ingest.ingest_flow([inbox], site)
    assert not progress.active()
    by_name = {o.file: o for o in outcomes}
    assert {o.status for o in outcomes} == {"ingested"} and by_name["long.csv"].rows == 400

    told = recording.told
    rows = [t[1] for t in told if t[0] == "rows"]
    assert len(rows) > 3 and rows == sorted(rows) and rows[0] == 0 and rows[-1] == 400
    # The rows are read while the long file is stored; without them, the
    # run's story is this, in this order:
    assert [t for t in told if t[0] != "rows"] == [
        ("files", 0, 4),
        ("phase", "reading"),  # the group's bytes, then the three small files prepared
        ("phase", "storing"),
        ("files", 3, 4),
        ("phase", "reading"),  # the long file
        ("phase", "storing"),
        ("files", 4, 4),
        ("phase", "judging"),
        ("phase", "publishing"),
    ]
    long_file_told = told[told.index(("files", 3, 4)) + 1 : told.index(("files", 4, 4))]
    assert long_file_told[:3] == [("phase", "reading"), ("rows", 0), ("phase", "storing")]
    assert long_file_told[-1] == ("rows", 400)


def test_a_display_that_fails_is_dropped_and_the_run_goes_on(site):
    class Broken(Recording):
        def phase(self, name: str) -> None:
            raise RuntimeError("the terminal went away")

    (site.db.parent / "inbox" / "a.csv").write_bytes(small("PR-Z"))
    broken = Broken()
    with progress.reporting(broken):
        [outcome] = ingest.ingest_flow([site.db.parent / "inbox"], site)
        assert not progress.active()  # dropped at its first failure
    assert outcome.status == "ingested"
    assert broken.told == [("files", 0, 1)]  # told before the phase that failed


def test_nothing_listens_by_default():
    assert not progress.active()
    progress.phase("reading")  # no reporter: nothing happens
    progress.files(1, 2)
    progress.rows(10)
