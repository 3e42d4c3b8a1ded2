"""Writes the input files of tests/cases/ as labs produce them.

Run once when adding a case: `python tests/cases/make_cases.py`. The expected
files beside each input are written by hand (or reviewed line by line after
`pytest tests/test_cases.py --write-expected`), never trusted blindly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).parent


def write(rel: str, data: bytes) -> None:
    path = HERE / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def csv_bytes(rows, delimiter=",", encoding="utf-8", bom=False, crlf=False) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    book = Workbook()
    first = True
    for title, rows in sheets.items():
        sheet = book.active if first else book.create_sheet()
        sheet.title = title
        first = False
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(row=r, column=c, value=value)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


LIMS_HEADER = ["Lab", "Lot #", "Sample ID", "Sample Type", "Test", "Value", "UOM", "LOQ", "Method"]


def main() -> None:
    # --- long CSV from a LIMS export (comma, UTF-8, CRLF)
    write(
        "long/lims_export_crlf.csv",
        csv_bytes(
            [
                LIMS_HEADER,
                [
                    "Acme Analytical",
                    "KR-1101",
                    "A-1",
                    "Sample",
                    "Mitragynine",
                    "1.42",
                    "%",
                    "0.01",
                    "AOAC 2017.14",
                ],
                [
                    "Acme Analytical",
                    "KR-1101",
                    "A-1",
                    "Sample",
                    "7-OH",
                    "<LOQ",
                    "%",
                    "0.01",
                    "AOAC 2017.14",
                ],
                [
                    "Acme Analytical",
                    "KR-1101",
                    "A-1",
                    "Sample",
                    "Lead (Pb)",
                    "250",
                    "ppb",
                    "5",
                    "ICP-MS",
                ],
                [
                    "Acme Analytical",
                    "KR-1101",
                    "A-1",
                    "Sample",
                    "Mercury",
                    "ND",
                    "ppb",
                    "5",
                    "ICP-MS",
                ],
                [
                    "Acme Analytical",
                    "KR-1101",
                    "MB-1",
                    "Method Blank",
                    "Lead",
                    "< 0.50",
                    "ppb",
                    "0.5",
                    "ICP-MS",
                ],
                [
                    "Acme Analytical",
                    "KR-1101",
                    "A-1",
                    "Sample",
                    "TAMC",
                    "3.2E4",
                    "cfu/g",
                    "10",
                    "USP <2021>",
                ],
                [
                    "Acme Analytical",
                    "KR-1101",
                    "A-1",
                    "Sample",
                    "Total Yeast & Mold",
                    "TNTC",
                    "CFU/g",
                    "10",
                    "USP <2021>",
                ],
                [
                    "Acme Analytical",
                    "KR-1101",
                    "A-1",
                    "Sample",
                    "Salmonella spp.",
                    "Not detected in 25 g",
                    "",
                    "",
                    "USP <2022>",
                ],
            ],
            crlf=True,
        ),
    )
    # --- TSV, UTF-8 with BOM, presence tests with portions in the unit column
    write(
        "long/micro_panel_bom.tsv",
        csv_bytes(
            [
                ["Laboratory", "Batch No.", "Sample", "Parameter", "Result", "Units"],
                ["Northstar Labs", "SH-0925", "NS-1", "E. coli", "Absent", "/10g"],
                ["Northstar Labs", "SH-0925", "NS-1", "Salmonella", "Negative", "per 25 g"],
                ["Northstar Labs", "SH-0925", "NS-1", "Staphylococcus aureus", "<10", "CFU/g"],
                ["Northstar Labs", "SH-0925", "NS-1", "Total plate count", "4.1", "log10 CFU/g"],
                ["Northstar Labs", "SH-0925", "NS-1", "Coliforms", "23", "MPN/g"],
            ],
            delimiter="\t",
            bom=True,
        ),
    )
    # --- semicolon, decimal comma, Windows-1252 (µ as one byte), European export
    write(
        "long/eu_semicolon_cp1252.csv",
        csv_bytes(
            [
                ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit", "LOQ"],
                ["Labor Nord GmbH", "EU-77", "EU-77-1", "Lead", "0,12", "µg/g", "0,005"],
                ["Labor Nord GmbH", "EU-77", "EU-77-1", "Cadmium", "0,031", "µg/g", "0,01"],
                ["Labor Nord GmbH", "EU-77", "EU-77-1", "Mitragynine", "1,38", "% w/w", "0,01"],
                [
                    "Labor Nord GmbH",
                    "EU-77",
                    "EU-77-1",
                    "Total aerobic count",
                    "3,2E4",
                    "CFU/g",
                    "",
                ],
            ],
            delimiter=";",
            encoding="cp1252",
        ),
    )
    # --- content uniformity: per-capsule results with a capsule column
    write(
        "long/content_uniformity_capsules.csv",
        csv_bytes(
            [["Lab", "Lot", "Sample ID", "Capsule", "Compound", "Conc.", "Units"]]
            + [
                ["Acme Analytical", "CAP-0007", f"CU-{i}", str(i), "Mitragynine", v, "mg/capsule"]
                for i, v in enumerate(
                    [
                        "7.12",
                        "6.95",
                        "7.30",
                        "7.01",
                        "6.88",
                        "7.22",
                        "7.05",
                        "6.97",
                        "7.18",
                        "7.09",
                    ],
                    start=1,
                )
            ]
        ),
    )
    # --- title and lab line above the table in a CSV
    write(
        "long/coa_with_title.csv",
        csv_bytes(
            [
                ["Certificate of Analysis"],
                ["Lab:", "Greenleaf Testing"],
                ["Report date:", "2026-11-20"],
                [],
                ["Batch", "Sample", "Analyte", "Result", "Unit", "Dilution"],
                ["GL-55", "GL-55-A", "Mitragynine", "46.5", "mg/g", "10"],
                ["GL-55", "GL-55-A", "7-Hydroxymitragynine", "3.9", "mg/g", "10"],
                ["GL-55", "GL-55-A", "Mitragynine pseudoindoxyl", "0.42", "mg/g", "10"],
                ["GL-55", "GL-55-A", "Ethanol", "1840", "ppm", "1"],
                ["GL-55", "GL-55-A", "O-DSMT", "ND", "ppb", "1"],
            ]
        ),
    )
    # --- wide CSV: one row per capsule, unit in each header
    write(
        "wide/capsules_wide.csv",
        csv_bytes(
            [
                [
                    "Lab",
                    "Batch",
                    "Sample ID",
                    "Unit #",
                    "Mitragynine (mg/capsule)",
                    "7-OH (mg/capsule)",
                    "Lead (ppm)",
                    "Salmonella",
                ],
                ["Acme Analytical", "W-1", "W-1-01", "1", "7.1", "0.02", "0.12", "Absent in 25 g"],
                ["Acme Analytical", "W-1", "W-1-02", "2", "6.9", "<LOQ", "", ""],
                ["Acme Analytical", "W-1", "W-1-03", "3", "7.3", "0.03", "", ""],
            ]
        ),
    )
    # --- wide TSV with square brackets and comma-units
    write(
        "wide/metals_wide.tsv",
        csv_bytes(
            [
                [
                    "Lab",
                    "Lot",
                    "Sample",
                    "Lead [ug/g]",
                    "Arsenic [ppb]",
                    "Cadmium, mg/kg",
                    "Mercury [ppb]",
                    "Nickel [ppm]",
                    "Comment",
                ],
                ["Northstar Labs", "M-9", "M-9-1", "0.44", "<20", "0.031", "ND", "2.1", "re-run"],
                ["Northstar Labs", "M-10", "M-10-1", "0.08", "85", "0.012", "<5", "0.73", ""],
            ],
            delimiter="\t",
        ),
    )
    # --- XLSX: first sheet, metadata block in one cell each
    write(
        "xlsx/coa_one_cell_metadata.xlsx",
        xlsx_bytes(
            {
                "Report": [
                    ["Lab: Acme Analytical"],
                    ["Batch: KR-2201"],
                    ["Report date: 2026-11-21"],
                    [],
                    ["Sample ID", "Analyte", "Result", "Units", "LOQ"],
                    ["KR-2201-1", "Mitragynine", 1.42, "%", 0.01],
                    ["KR-2201-1", "7-OH", "<LOQ", "%", 0.01],
                    ["KR-2201-1", "Lead", 0.25, "ppm", 0.005],
                    ["KR-2201-1", "Nickel", 1 / 3, "ppm", 0.05],
                ]
            }
        ),
    )
    # --- XLSX: a sheet named results beside a summary; metadata in two cells
    write(
        "xlsx/results_sheet_two_cell_metadata.xlsx",
        xlsx_bytes(
            {
                "Summary": [["This workbook summarizes lot KR-2202"], ["Pass"]],
                "Results": [
                    [None],
                    ["Lab:", "Northstar Labs"],
                    ["Batch", "KR-2202"],
                    ["Report date:", dt.datetime(2026, 11, 22)],
                    [None],
                    [None, "Sample", "Parameter", "Conc.", "UOM", "Analyzed"],
                    [
                        None,
                        "KR-2202-1",
                        "Cadmium",
                        0.031,
                        "µg/g",
                        dt.datetime(2026, 11, 20, 14, 30),
                    ],
                    [
                        None,
                        "KR-2202-1",
                        "Arsenic",
                        "< 0.020",
                        "µg/g",
                        dt.datetime(2026, 11, 20, 14, 30),
                    ],
                    [None, "KR-2202-1", "TYMC", 450, "CFU/g", dt.date(2026, 11, 19)],
                ],
            }
        ),
    )
    # --- XLSX wide, 10 tablets
    write(
        "xlsx/tablets_wide.xlsx",
        xlsx_bytes(
            {
                "Sheet1": [
                    ["Lab", "Batch", "Sample ID", "Tablet #", "Mitragynine (mg/tablet)"],
                    *[
                        ["Acme Analytical", "TAB-3", f"T-{i}", i, v]
                        for i, v in enumerate(
                            [10.2, 9.8, 10.1, 9.9, 10.4, 10.0, 9.7, 10.3, 10.1, 9.9], start=1
                        )
                    ],
                ]
            }
        ),
    )
    # --- JSON array from a LIMS API, numbers as numbers
    write(
        "json/lims_api_array.json",
        json.dumps(
            [
                {
                    "lab_id": "Acme Analytical",
                    "batch_id": "J-1",
                    "sample_id": "J-1-A",
                    "analyte": "Mitragynine",
                    "result": 14.2,
                    "unit": "mg/g",
                    "loq": 0.1,
                },
                {
                    "lab_id": "Acme Analytical",
                    "batch_id": "J-1",
                    "sample_id": "J-1-A",
                    "analyte": "Speciociliatine",
                    "result": 1.3,
                    "unit": "mg/g",
                    "loq": 0.1,
                },
                {
                    "lab_id": "Acme Analytical",
                    "batch_id": "J-1",
                    "sample_id": "J-1-A",
                    "analyte": "Salmonella",
                    "result": "Absent",
                    "unit": "/25g",
                },
                {
                    "lab_id": "Acme Analytical",
                    "batch_id": "J-1",
                    "sample_id": "J-1-A",
                    "analyte": "Fentanyl",
                    "result": "ND",
                    "unit": "ng/g",
                    "lod": 0.5,
                },
            ],
            indent=2,
        ).encode(),
    )
    # --- JSON Lines, one object per line
    write(
        "json/instrument_export.jsonl",
        b"\n".join(
            json.dumps(o).encode()
            for o in [
                {
                    "Lab": "Northstar Labs",
                    "Lot": "JL-4",
                    "Sample": "JL-4-1",
                    "Test": "Methanol",
                    "Value": "<LOQ",
                    "Units": "ppm",
                    "LOQ": 100,
                },
                {
                    "Lab": "Northstar Labs",
                    "Lot": "JL-4",
                    "Sample": "JL-4-1",
                    "Test": "Hexane",
                    "Value": 12,
                    "Units": "ppm",
                    "LOQ": 5,
                },
                {
                    "Lab": "Northstar Labs",
                    "Lot": "JL-4",
                    "Sample": "JL-4-1",
                    "Test": "Acetone",
                    "Value": 0.02,
                    "Units": "%",
                    "LOQ": 0.0005,
                },
            ]
        )
        + b"\n",
    )
    # --- JSON object with report fields beside the results array
    write(
        "json/report_object.json",
        json.dumps(
            {
                "lab": "Greenleaf Testing",
                "batch": "JO-2",
                "report_id": "GT-2026-0042",
                "results": [
                    {"sample": "JO-2-1", "analyte": "Lead", "result": "0.31", "unit": "ppm"},
                    {
                        "sample": "JO-2-1",
                        "analyte": "Mitragynine",
                        "result": "12.8",
                        "unit": "mg/shot",
                    },
                ],
            }
        ).encode(),
    )
    # --- batch register
    write(
        "register/qa_register.csv",
        csv_bytes(
            [
                [
                    "Batch ID",
                    "Product ID",
                    "Product Name",
                    "Form",
                    "Label claim (mg/serving)",
                    "Serving size (g)",
                    "Servings per day",
                    "Capsules per serving",
                    "Markets",
                ],
                [
                    "KR-1101",
                    "RMD-CAP",
                    "Red Maeng Da Capsules",
                    "Capsule",
                    "14",
                    "1",
                    "6",
                    "2",
                    "UT;GA",
                ],
                ["KR-1102", "GRN-PWD", "Green Malay Powder", "powder", "42", "3", "3", "", ""],
            ]
        ),
    )
    # --- broken files
    write("broken/binary_junk.csv", bytes(range(256)) * 4)
    write("broken/empty.csv", b"")
    write("broken/header_only.csv", b"Lab,Batch,Sample,Analyte,Result,Unit\r\n")
    write("broken/no_recognizable_columns.csv", b"Foo,Bar,Baz\n1,2,3\n")
    write("broken/truncated.xlsx", xlsx_bytes({"Sheet1": [["Lab", "Batch"], ["A", "B"]]})[:700])
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"0" * 50_000_000)
    write("broken/zip_bomb.xlsx", bomb.getvalue())
    write(
        "broken/bad_rows.csv",
        csv_bytes(
            [
                ["Lab", "Batch", "Sample", "Analyte", "Result", "Unit"],
                ["Acme", "B-9", "S1", "Mitragynin", "1.1", "%"],
                ["Acme", "B-9", "S1", "Lead", "0.3", ""],
                ["Acme", "B-9", "S1", "Cadmium", "Pass", "ppm"],
                ["Acme", "B-9", "S1", "Nickel", "1.2", "furlongs"],
                ["Acme", "B-9", "S1", "Lead", "-0.2", "ppm"],
                ["Acme", "", "S1", "Arsenic", "0.1", "ppm"],
                ["Acme", "B-9", "S1", "Salmonella", "0", "/25g"],
                ["Acme", "B-9", "S1", "Mercury", "1,420", "ppb"],
            ]
        ),
    )


if __name__ == "__main__":
    main()
