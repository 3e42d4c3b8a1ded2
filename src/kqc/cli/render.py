"""What the commands print, for people and for scripts: the --format choices,
JSON with nothing in it a terminal acts on, plain-text tables, the rich
console for stdout, the one place numbers are formatted, and --out files.

Polars, rich and the exporters load inside the functions that use them:
`kqc flags` and `kqc batch` print a table without them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from kqc.core import terminal

if TYPE_CHECKING:  # `kqc flags` and `kqc batch` start without polars (a third of their time)
    import polars as pl
    from rich.console import Console


class Format(StrEnum):
    """What --format prints (CONTRACT §6): `json` one JSON document, `jsonl`
    one object a line, `csv` one header and a row a line, `table` for people."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


FORMAT_HELP = "table, json (one array), jsonl (one object a line) or csv."


def _json(document: object) -> str:
    """One JSON document with no character in it a terminal acts on."""
    return terminal.json_safe(json.dumps(document, default=str, ensure_ascii=False))


def _json_array(rows: Iterable[object]) -> str:
    """One JSON array that `json.load` reads whole, an element a line so a
    person can still read it; `[]` when there is nothing."""
    body = ",\n".join(_json(row) for row in rows)
    return f"[\n{body}\n]" if body else "[]"


def _print_frame(data: pl.DataFrame, fmt: Format, title: str, columns: list[str]) -> None:
    if fmt is Format.json:
        print(_json_array(data.iter_rows(named=True)))
    elif fmt is Format.jsonl:
        for named in data.iter_rows(named=True):
            print(_json(named))
    elif fmt is Format.csv:
        from kqc.files.exports import csv_text

        # Made inert as an exported file is: stdout is often redirected to
        # a .csv a QA lead opens in a spreadsheet program.
        print(csv_text(data), end="")
    else:
        rows = [[_cell(v) for v in row] for row in data.select(columns).iter_rows()]
        print(_text_table(title, columns, rows), end="")


def _text_table(title: str, headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, as `column -t` lays them out. Plain
    text on purpose: a dossier has hundreds of cells, and a lab's text such
    as "[red]" must print as written, not be read as markup."""
    # A lab's text may hold an ESC or a bidi override: each is shown escaped.
    title = terminal.shown(title)
    headers = [terminal.shown(h) for h in headers]
    rows = [[terminal.shown(c) for c in r] for r in rows]
    if not rows:
        return f"{title}: none\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


# Wider than any cell kqc prints (a path is at most 4,096 bytes): a table
# that is piped is laid out at its own width, never at the console's.
_UNCUT_WIDTH = 1_000_000


def _console() -> Console:
    """A console for stdout. A terminal's table fits the terminal; piped or
    redirected, rich would lay it out in 80 columns and cut every cell that
    does not fit with an ellipsis, so a script reading it would get a file
    name or a path it cannot use. There the table keeps every cell whole,
    and a sentence stays on one line."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=_UNCUT_WIDTH)


# Numbers, formatted here only. Three formats, each where its reader needs
# it: a table cell in `g` notation, a dossier's quantity (a limit, an LOD,
# a statistic) in four significant digits, and a reading that carries the
# qualifier of a non-detect.


def _cell(value: object) -> str:
    """A table cell: empty for a missing value, a float in `g` notation (up
    to six significant digits), anything else as text."""
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _number(value: float | None) -> str:
    """A quantity in four significant digits, never in exponent notation for
    a large one; empty when missing."""
    if value is None:
        return ""
    shown = f"{value:.4g}"
    return f"{value:,.0f}" if "e+" in shown else shown  # 110,000 CFU/g, not 1.1e+05


def _reading(value: float | None, qualifier: str | None, bound: float | None = None) -> str:
    """A value as a reviewer reads it: a number, or its qualifier with its
    bound (a non-detect is never shown as a zero)."""
    if value is not None and qualifier is None:
        return f"{value:g}"
    if qualifier is None:
        return ""
    shown = bound if bound is not None else value
    return qualifier if shown is None else f"{qualifier} (≤ {shown:g})"


# Files written with --out instead of printing.


def _check_export(out: Path) -> None:
    from kqc.files.exports import check_target

    check_target(out)


def _export(out: Path, sections: dict[str, pl.DataFrame]) -> None:
    from kqc.files.exports import write_sections

    for path in write_sections(out.absolute(), sections):
        print(f"wrote {path}")
