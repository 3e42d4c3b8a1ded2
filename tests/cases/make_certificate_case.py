"""Writes tests/cases/xlsx/multi_sheet_certificate.xlsx: a certificate of
analysis as a workbook of several sheets (a cover of text alone, Potency,
Heavy Metals, Microbiology, a sign-off sheet), as kqc.readers.xlsx reads
every sheet that holds a table.

Run once when changing the case: `python tests/cases/make_certificate_case.py`
from the repository root. The expected rows beside it were checked by hand
against the sheets: 5 potency, 4 metals and 4 microbiology results, each at
its own sheet's row, with the cover's Lab, Batch and Sample ID.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.readers.certificate import multi_sheet_certificate  # noqa: E402


def main() -> None:
    (HERE / "xlsx" / "multi_sheet_certificate.xlsx").write_bytes(multi_sheet_certificate())


if __name__ == "__main__":
    main()
