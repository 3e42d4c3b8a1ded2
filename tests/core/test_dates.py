"""When a batch was made, read to one form (YYYY-MM-DD) so batches sort by
it; a date readable two ways is refused with both readings named."""

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from kqc.core.dates import iso_date
from kqc.pipeline.prepare import prepare


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-01-05", "2026-01-05"),
        ("2026-01-05 00:00:00", "2026-01-05"),  # an XLSX date cell
        ("2026/1/5", "2026-01-05"),
        ("05.01.2026", "2026-01-05"),
        ("Jan 5, 2026", "2026-01-05"),
        ("5 January 2026", "2026-01-05"),
        ("05-Jan-2026", "2026-01-05"),
        ("Sept 3, 2025", "2025-09-03"),
        ("13/5/2026", "2026-05-13"),  # day first: 13 is no month
        ("5/13/2026", "2026-05-13"),  # month first
        ("7/7/2026", "2026-07-07"),
    ],
)
def test_dates_labs_and_spreadsheets_write(text, iso):
    assert iso_date(text) == iso


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("01/07/2026", "could be 2026-07-01 or 2026-01-07"),
        ("2026-02-30", "not a date of the calendar"),
        ("31.04.2026", "not a date of the calendar"),
        ("next week", "not a date this register can read"),
        ("Smarch 3, 2026", "not a date this register can read"),
    ],
)
def test_a_date_read_two_ways_or_not_at_all_is_refused_with_the_fix(text, words):
    with pytest.raises(ValueError, match=words) as err:
        iso_date(text)
    assert "YYYY-MM-DD" in str(err.value)


REGISTER = (
    "Batch ID,Product ID,Product Name,Form,Label claim (mg/serving),Serving size (g),"
    "Servings per day,Manufactured on\n"
)


def test_a_register_stores_every_date_in_one_form():
    book = Workbook()
    sheet = book.active
    sheet.append(REGISTER.strip().split(","))
    sheet.append(["KR-1", "P", "Caps", "capsule", 7, 0.5, 6, dt.date(2026, 1, 5)])
    sheet.append(["KR-2", "P", "Caps", "capsule", 7, 0.5, 6, "Jan 7, 2026"])
    data = io.BytesIO()
    book.save(data)
    from_sheet = prepare("register.xlsx", data.getvalue())
    from_text = prepare(
        "register.csv", (REGISTER + "KR-3,P,Caps,capsule,7,0.5,6,30.12.2025\n").encode()
    )
    assert from_sheet.problems == [] and from_text.problems == []
    made = (
        from_sheet.rows["manufactured_on"].to_list() + from_text.rows["manufactured_on"].to_list()
    )
    assert made == ["2026-01-05", "2026-01-07", "2025-12-30"]


def test_a_register_with_an_ambiguous_date_is_refused_naming_the_row():
    text = (
        REGISTER
        + "KR-1,P,Caps,capsule,7,0.5,6,2026-01-05\nKR-2,P,Caps,capsule,7,0.5,6,01/07/2026\n"
    )
    outcome = prepare("register.csv", text.encode())
    assert [(p.row, p.column, p.value) for p in outcome.problems] == [
        (3, "Manufactured on", "01/07/2026")
    ]
    assert not outcome.accepted
