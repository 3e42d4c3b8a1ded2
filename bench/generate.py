"""Seeded generator of realistic lab result files at any size.

    python bench/generate.py long-csv 1000000 out.csv
    python bench/generate.py long-xlsx 50000 out.xlsx

Long layout, the columns a LIMS export carries, a realistic mix of analytes,
units, qualifiers and QC rows. The same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

HEADER = [
    "Lab",
    "Batch No.",
    "Sample ID",
    "Sample Type",
    "Capsule",
    "Analyte",
    "Result",
    "Units",
    "LOQ",
    "Method",
    "Analyzed",
    "Analyst",
]
PANEL = [
    ("Mitragynine", "%", lambda r: f"{r.gauss(1.4, 0.2):.3f}", "0.01", "AOAC 2017.14"),
    (
        "7-Hydroxymitragynine",
        "%",
        lambda r: "<LOQ" if r.random() < 0.6 else f"{r.uniform(0.01, 0.04):.3f}",
        "0.01",
        "AOAC 2017.14",
    ),
    ("Paynantheine", "%", lambda r: f"{r.gauss(0.4, 0.05):.3f}", "0.01", "AOAC 2017.14"),
    ("Speciogynine", "%", lambda r: f"{r.gauss(0.25, 0.04):.3f}", "0.01", "AOAC 2017.14"),
    ("Lead", "ppb", lambda r: f"{r.uniform(50, 1500):.0f}", "5", "AOAC 2015.01"),
    (
        "Arsenic",
        "ppb",
        lambda r: "< 20" if r.random() < 0.3 else f"{r.uniform(20, 400):.0f}",
        "20",
        "AOAC 2015.01",
    ),
    ("Cadmium", "ppm", lambda r: f"{r.uniform(0.01, 0.2):.3f}", "0.01", "AOAC 2015.01"),
    ("Mercury", "ppm", lambda r: "ND", "0.005", "AOAC 2015.01"),
    ("Nickel", "ppm", lambda r: f"{r.uniform(0.5, 6):.2f}", "0.05", "AOAC 2015.01"),
    ("TAMC", "CFU/g", lambda r: f"{r.uniform(1, 9):.1f}E{r.randint(2, 5)}", "10", "USP <2021>"),
    (
        "TYMC",
        "CFU/g",
        lambda r: "<10" if r.random() < 0.5 else str(r.randint(10, 5000)),
        "10",
        "USP <2021>",
    ),
    (
        "Salmonella",
        "/25g",
        lambda r: "Absent" if r.random() < 0.995 else "Present",
        "",
        "USP <2022>",
    ),
]


def rows(n: int, seed: int = 20261125):
    r = random.Random(seed)
    made = 0
    sample = 0
    while made < n:
        sample += 1
        batch = f"KR-{sample // 20:06d}"
        for name, unit, value, loq, method in PANEL:
            if made >= n:
                return
            yield [
                "Acme Analytical",
                batch,
                f"S-{sample:08d}",
                "Sample",
                "",
                name,
                value(r),
                unit,
                loq,
                method,
                "2026-11-18",
                "J. Okafor",
            ]
            made += 1


def long_csv(n: int, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows(n))


def long_xlsx(n: int, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("results")
    sheet.append(HEADER)
    for row in rows(n):
        # A spreadsheet stores numbers as numbers and qualifiers as text.
        sheet.append([float(v) if i == 6 and _is_number(v) else v for i, v in enumerate(row)])
    book.save(path)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    kind, size, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    {"long-csv": long_csv, "long-xlsx": long_xlsx}[kind](size, out)
