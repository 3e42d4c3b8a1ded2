"""The progress bar of `kqc ingest` (kqc.cli.progress): drawn on a terminal
while the run reports, wiped when it ends, and absent when not wanted."""

import io

import pytest
from rich.console import Console

from kqc.cli.progress import shown_progress, wanted
from kqc.process import progress


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100, color_system=None), out


def test_the_bar_shows_the_phase_files_and_rows_and_is_gone_after():
    console, out = terminal()
    with shown_progress(True, console=console):
        assert progress.active()
        progress.files(0, 5)
        progress.phase("reading")
        progress.files(3, 5)
        progress.phase("storing")
        progress.rows(1_234_567)
        progress.phase("judging")
    assert not progress.active()
    drawn = out.getvalue()
    for shown in ("reading", "3/5 files", "storing", "1,234,567 rows read", "judging"):
        assert shown in drawn
    assert_wiped(drawn)


def assert_wiped(drawn: str) -> None:
    """The cursor is given back and the bar's line erased last: the outcome
    lines start on a clean line."""
    assert drawn.rindex("\x1b[?25h") > drawn.rindex("\x1b[?25l")
    assert drawn.endswith("\x1b[2K")


def test_the_bar_is_gone_when_the_run_fails():
    console, out = terminal()
    with pytest.raises(RuntimeError), shown_progress(True, console=console):
        progress.phase("storing")
        raise RuntimeError("the database went away")
    assert not progress.active()
    assert_wiped(out.getvalue())


def test_no_file_to_read_still_shows_the_phase():
    """A run with nothing dropped may judge every batch (new thresholds)."""
    console, out = terminal()
    with shown_progress(True, console=console):
        progress.files(0, 0)
        progress.phase("judging")
    assert "judging" in out.getvalue() and "0/0 files" in out.getvalue()
    assert_wiped(out.getvalue())


def test_nothing_is_drawn_until_the_run_reports():
    """A run handed to `kqc watch` reports nothing here: no bar at all."""
    console, out = terminal()
    with shown_progress(True, console=console):
        pass
    assert out.getvalue() == ""


def test_disabled_nothing_listens_and_nothing_is_drawn():
    console, out = terminal()
    with shown_progress(False, console=console):
        assert not progress.active()
        progress.phase("reading")
        progress.files(1, 2)
    assert out.getvalue() == ""


def test_wanted_only_on_a_terminal_and_never_with_json(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("kqc.process.quiet.user_stderr", lambda: Tty())
    assert wanted(as_json=False)
    assert not wanted(as_json=True)
    monkeypatch.setattr("kqc.process.quiet.user_stderr", lambda: io.StringIO())
    assert not wanted(as_json=False)
