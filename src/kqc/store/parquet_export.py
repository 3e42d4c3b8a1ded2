"""The snapshot as Parquet, for tools without DuckDB (pandas, Polars, R's
arrow, Spark, Power BI, Excel's Power Query): one `<name>.parquet` per table
and view, and the data dictionary beside them, `data_dictionary.csv` and
`data_dictionary.json`, from the same comments the database carries.

An export is whole or absent. It is written into a temporary folder beside
the target, flushed to disk and renamed into place; a previous export at that
name is swapped out and removed only once the new one is complete. A failure
removes the temporary folder and leaves the previous export as it was. A
target kqc did not write (a file, a folder of someone else's files) is never
touched: the export is refused before anything is written.

The Parquet files are written in format version 1 (`PARQUET_VERSION V1`),
the one every reader handles; timestamps are UTC instants.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kqc.errors import UsageError
from kqc.store.connection import run
from kqc.store.dictionary import columns, objects
from kqc.store.errors import StoreError
from kqc.store.publish import first_line, fsync, pid_alive

DICTIONARY_CSV = "data_dictionary.csv"
DICTIONARY_JSON = "data_dictionary.json"
# Marks a folder as a kqc export, which a later export may replace.
MARK = ".kqc-parquet-export"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")


class ExportFolderUnusable(UsageError):
    """The export's target cannot be used (exit 2); nothing was written."""


@dataclass(frozen=True)
class ExportedColumn:
    name: str
    type: str
    comment: str | None


@dataclass(frozen=True)
class ExportedObject:
    """A table or view written as Parquet, with what the dictionary says of it."""

    name: str
    kind: str  # 'table' or 'view'
    comment: str | None
    file: str
    rows: int
    columns: tuple[ExportedColumn, ...]


def _is_export(folder: Path) -> bool:
    return (folder / MARK).is_file()


def check_target(folder: Path) -> None:
    """Refuse, in one sentence and before any work, a target an export cannot
    use: a file, a folder holding files kqc did not write, a folder whose
    parent does not exist or cannot be written to."""
    if folder.exists() and not folder.is_dir():
        raise ExportFolderUnusable(
            f"{folder} is a file, not a folder: pass --parquet with a folder to write the export to"
        )
    if folder.is_dir() and any(folder.iterdir()) and not _is_export(folder):
        raise ExportFolderUnusable(
            f"{folder} holds files kqc did not write: pass --parquet with a new or empty folder"
        )
    parent = folder.absolute().parent
    if not parent.is_dir():
        raise ExportFolderUnusable(
            f"the folder {parent} does not exist: create it, or pass --parquet with a folder"
            " in one that does"
        )
    # Tried rather than asked (os.access says yes to root on a read-only place).
    probe = _temp_folder(folder.absolute(), "probe")
    try:
        probe.mkdir()
        probe.rmdir()
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as err:
        with contextlib.suppress(OSError):
            probe.rmdir()
        raise ExportFolderUnusable(
            f"{folder} is not writable ({err.strerror or err}; the export is written beside it"
            f" in {parent}, then renamed): pass --parquet with a folder in a place you can write to"
        ) from err


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _write_objects(snapshot: Path, into: Path) -> list[ExportedObject]:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        run(con, "SET enable_progress_bar = false")
        by_object: dict[str, list[ExportedColumn]] = {}
        for table, column, data_type, comment in columns(con):
            by_object.setdefault(table, []).append(ExportedColumn(column, data_type, comment))
        written = []
        for name, kind, comment in objects(con):
            if not _SAFE_NAME.fullmatch(name):  # kqc's own names always are
                raise StoreError(f"the snapshot holds an object named {name!r}: not exported")
            target = into / f"{name}.parquet"
            run(
                con,
                f"COPY (SELECT * FROM {_quoted(name)}) TO {_literal(str(target))}"
                " (FORMAT parquet, PARQUET_VERSION V1)",
            )
            (rows,) = run(con, f"SELECT count(*) FROM read_parquet({_literal(str(target))})")[0]
            written.append(
                ExportedObject(
                    name, kind, comment, target.name, rows, tuple(by_object.get(name, []))
                )
            )
        return written


def _write_dictionary(into: Path, written: list[ExportedObject]) -> list[Path]:
    """The dictionary as CSV (one row per column, and one with the column left
    empty for the table or view itself) and as JSON (nested, with row counts)."""
    as_csv = into / DICTIONARY_CSV
    with as_csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["table", "kind", "column", "type", "comment"])
        for item in written:
            writer.writerow([item.name, item.kind, "", "", item.comment or ""])
            for column in item.columns:
                writer.writerow(
                    [item.name, item.kind, column.name, column.type, column.comment or ""]
                )
    as_json = into / DICTIONARY_JSON
    document = [
        {
            "name": item.name,
            "kind": item.kind,
            "comment": item.comment,
            "file": item.file,
            "rows": item.rows,
            "columns": [
                {"name": c.name, "type": c.type, "comment": c.comment} for c in item.columns
            ],
        }
        for item in written
    ]
    as_json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [as_csv, as_json]


def _temp_folder(folder: Path, why: str) -> Path:
    return folder.with_name(f".{folder.name}.{os.getpid()}.{secrets.token_hex(4)}.{why}.tmp")


def _remove_stale(folder: Path) -> None:
    """Temporary folders left beside `folder` by an export whose process died."""
    prefix = f".{folder.name}."
    for candidate in folder.parent.glob(prefix + "*.tmp"):
        pid_text = candidate.name[len(prefix) :].split(".", 1)[0]
        if candidate.is_dir() and pid_text.isdigit() and not pid_alive(int(pid_text)):
            shutil.rmtree(candidate, ignore_errors=True)


def _put_in_place(temp: Path, folder: Path) -> None:
    """`temp` becomes `folder`; a previous export there is swapped out first
    and removed once the new one stands."""
    if not folder.exists():
        os.rename(temp, folder)
        return
    previous = _temp_folder(folder, "previous")
    os.rename(folder, previous)
    try:
        os.rename(temp, folder)
    except OSError:
        os.rename(previous, folder)  # the previous export, back as it was
        raise
    shutil.rmtree(previous, ignore_errors=True)


def export_parquet(snapshot: Path, folder: Path) -> list[Path]:
    """Write every table and view of `snapshot` as Parquet into `folder`, with
    the data dictionary beside them; return the files written, in `folder`."""
    check_target(folder)
    folder = folder.absolute()
    _remove_stale(folder)
    temp = _temp_folder(folder, "export")
    try:
        temp.mkdir()
        written = _write_objects(snapshot, temp)
        extras = _write_dictionary(temp, written)
        (temp / MARK).write_text("written by kqc publish --parquet; replaced by the next one\n")
        files = [temp / item.file for item in written] + extras
        for path in [*files, temp / MARK]:
            fsync(path)
        fsync(temp)
        _put_in_place(temp, folder)
    except (OSError, duckdb.Error) as err:
        shutil.rmtree(temp, ignore_errors=True)
        detail = getattr(err, "strerror", None) or first_line(err)
        raise StoreError(
            f"the Parquet export to {folder} failed ({detail}): nothing of it was left there"
            " and an earlier export is as it was; check the free space of that folder,"
            " then run kqc publish --parquet again"
        ) from err
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    with contextlib.suppress(OSError):
        fsync(folder.parent)
    return [folder / path.name for path in files]
