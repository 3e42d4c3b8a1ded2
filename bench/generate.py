"""Seeded generator of realistic lab result files at any size.

    python bench/generate.py one --layout long --format csv --rows 10000000 --out big.csv
    python bench/generate.py one --layout wide --format xlsx --rows 50000 --out wide.xlsx
    python bench/generate.py many --files 1000 --rows 50 --out inbox/
    python bench/generate.py register --batches 0:41323 --out register.csv

`one` writes one file, `many` writes N certificates of M rows into a folder,
`register` writes the QA batch register (product, form, label claim, serving)
for a range of batch numbers, so the label-claim and content-uniformity rules
have something to check against. `one` and `many` print the batch range they
used and the results kqc should store (`first:count results`); `register`
takes the range.

A batch is a certificate: S production samples, each with the 12-analyte panel
(alkaloids, heavy metals, microbiology), then a method blank (lead) and a
mitragynine spike with its spike level. Capsule and tablet batches report
mitragynine per unit (`mg/capsule`, with the unit number), so content
uniformity runs; powders and extracts report it in %. Results come as labs
send them: `<LOQ`, `< 20`, `ND`, `Absent`, `3.2E4`, ppb/ppm/%/CFU/g, real LIMS
column names. A few batches are out of specification (lead over 1.2 ppm, a
spiked 7-OH, Salmonella present) so that the rules find something, as they
would in a real inbox.

Each batch's content is a function of (seed, batch number) alone, so the same
seed gives the same bytes, a batch reads the same in every layout and file
split, and two files of `many` never share a batch (no file is a duplicate).
CSV is written a block of rows at a time (about 10,000,000 rows a minute).

The original single-purpose commands still work and give the same bytes as
before (12 analytes, 20 samples per batch, no QC rows and no register):

    python bench/generate.py long-csv 1000000 out.csv
    python bench/generate.py long-xlsx 50000 out.xlsx
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

SEED = 20261125
PANEL_SIZE = 12
QC_ROWS = 2  # method blank + spike, per batch
PRODUCTS = 200  # batch b belongs to product b % PRODUCTS: every product has a history

# --- batches and products -------------------------------------------------------------

STRAINS = ("Red Maeng Da", "Green Malay", "White Borneo", "Red Bali", "Gold Sumatra")
FORMS = ("capsule", "capsule", "powder", "powder", "powder", "tablet", "extract")
LABS = (
    ("Acme Analytical", "J. Okafor"),
    ("Greenleaf Labs", "M. Haddad"),
    ("Keystone Testing", "R. Lindqvist"),
    ("Nord Analytics", "A. Sato"),
)


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    form: str
    mitragynine_pct: float  # what the label promises, as % of the powder
    capsule_mg: float  # mg of mitragynine per capsule or tablet (unit forms)
    units_per_serving: int
    serving_g: float
    servings_per_day: int

    @property
    def per_unit(self) -> bool:
        return self.form in ("capsule", "tablet")

    @property
    def claim_mg_per_serving(self) -> float:
        if self.per_unit:
            return round(self.capsule_mg * self.units_per_serving, 2)
        return round(self.mitragynine_pct * 10 * self.serving_g, 2)


def product(p: int) -> Product:
    r = random.Random(SEED * 7919 + p)
    form = FORMS[p % len(FORMS)]
    strain = STRAINS[p % len(STRAINS)]
    pct = round(r.uniform(1.1, 1.8), 2) if form != "extract" else round(r.uniform(8, 20), 1)
    word = {"capsule": "Capsules", "tablet": "Tablets", "powder": "Powder", "extract": "Extract"}
    return Product(
        product_id=f"P-{p:04d}",
        name=f"{strain} {word[form]} {p:03d}",
        form=form,
        mitragynine_pct=pct,
        capsule_mg=round(pct * 5, 2),  # 500 mg capsules
        units_per_serving=2 if form in ("capsule", "tablet") else 1,
        serving_g=1.0 if form in ("capsule", "tablet") else (0.5 if form == "extract" else 3.0),
        servings_per_day=3 if form != "extract" else 2,
    )


def batch_id(b: int) -> str:
    return f"KR-{b:07d}"


def analyzed_on(b: int) -> str:
    return (dt.date(2024, 1, 1) + dt.timedelta(days=b // 60 % 1000)).isoformat()


# --- one batch's results --------------------------------------------------------------

# (reported name, unit, LOQ, method); the unit of mitragynine changes for unit forms.
PANEL = (
    ("Mitragynine", "%", "0.01", "AOAC 2017.14"),
    ("7-Hydroxymitragynine", "%", "0.01", "AOAC 2017.14"),
    ("Paynantheine", "%", "0.01", "AOAC 2017.14"),
    ("Lead", "ppb", "5", "AOAC 2015.01"),
    ("Arsenic", "ppb", "20", "AOAC 2015.01"),
    ("Cadmium", "ppm", "0.01", "AOAC 2015.01"),
    ("Mercury", "ppm", "0.005", "AOAC 2015.01"),
    ("Nickel", "ppm", "0.05", "AOAC 2015.01"),
    ("TAMC", "CFU/g", "10", "USP <2021>"),
    ("TYMC", "CFU/g", "10", "USP <2021>"),
    ("Salmonella", "/25g", "", "USP <2022>"),
    ("E. coli", "/10g", "", "USP <2022>"),
)


@dataclass(frozen=True)
class Result:
    sample_id: str
    sample_type: str  # as labs write it
    unit_no: str
    analyte: str
    result: str
    unit: str
    loq: str
    spike_level: str
    method: str


def batch_results(b: int, samples: int, seed: int = SEED) -> list[Result]:
    """The certificate of batch b: `samples` x 12 production results, then QC."""
    r = random.Random(seed * 1_000_003 + b)
    prod = product(b % PRODUCTS)
    # A rare bad batch: these are what the rules are for.
    leaded = r.random() < 0.03
    spiked_7oh = r.random() < 0.005
    salmonella = r.random() < 0.002
    batch_mean = 1 + r.gauss(0, 0.03)  # batch-to-batch potency variation
    bid = batch_id(b)
    out: list[Result] = []
    for s in range(1, samples + 1):
        sid = f"{bid}-{s:02d}"
        pct = prod.mitragynine_pct * batch_mean * (1 + r.gauss(0, 0.025))
        for name, unit, loq, method in PANEL:
            unit_no = ""
            if name == "Mitragynine":
                if prod.per_unit:
                    unit, unit_no = f"mg/{prod.form}", str(s)
                    value = f"{prod.capsule_mg * pct / prod.mitragynine_pct:.2f}"
                else:
                    value = f"{pct:.3f}"
            elif name == "7-Hydroxymitragynine":
                if spiked_7oh:
                    value = f"{r.uniform(0.15, 0.4):.3f}"
                else:
                    value = "<LOQ" if r.random() < 0.7 else f"{r.uniform(0.01, 0.02):.3f}"
            elif name == "Paynantheine":
                value = f"{pct * r.uniform(0.2, 0.3):.3f}"
            elif name == "Lead":
                value = f"{r.uniform(1300, 2500) if leaded else r.uniform(40, 450):.0f}"
            elif name == "Arsenic":
                value = "< 20" if r.random() < 0.3 else f"{r.uniform(20, 400):.0f}"
            elif name == "Cadmium":
                value = f"{r.uniform(0.01, 0.2):.3f}"
            elif name == "Mercury":
                value = "ND" if r.random() < 0.9 else f"{r.uniform(0.005, 0.03):.3f}"
            elif name == "Nickel":
                value = f"{r.uniform(0.5, 6):.2f}"
            elif name == "TAMC":
                value = f"{r.uniform(1, 9):.1f}E{3 if r.random() < 0.2 else 2}"
            elif name == "TYMC":
                value = "<10" if r.random() < 0.5 else str(r.randint(10, 900))
            elif name == "Salmonella":
                value = "Present" if salmonella and s == 1 else "Absent"
            else:
                value = "Absent"
            out.append(Result(sid, "Sample", unit_no, name, value, unit, loq, "", method))
    out.append(Result(f"{bid}-MB", "Method Blank", "", "Lead", "<5", "ppb", "5", "", PANEL[4][3]))
    recovery = r.uniform(0.92, 1.08)
    out.append(
        Result(
            f"{bid}-LCS",
            "Spike",
            "",
            "Mitragynine",
            f"{recovery:.3f}",
            "%",
            "0.01",
            "1.00",
            PANEL[0][3],
        )
    )
    return out


def samples_for(rows_per_batch: int) -> int:
    return max(1, (rows_per_batch - QC_ROWS) // PANEL_SIZE)


# --- long layout ----------------------------------------------------------------------

LONG_HEADER = [
    "Lab",
    "Batch No.",
    "Sample ID",
    "Sample Type",
    "Capsule",
    "Analyte",
    "Result",
    "Units",
    "LOQ",
    "Spike Level",
    "Method",
    "Analyzed",
    "Analyst",
]


def long_rows(n: int, first_batch: int, samples: int) -> Iterator[tuple[int, list[str]]]:
    """(batch number, row) for n rows, whole batches except perhaps the last."""
    made, b = 0, first_batch
    while made < n:
        lab, analyst = LABS[b % len(LABS)]
        day, bid = analyzed_on(b), batch_id(b)
        for x in batch_results(b, samples):
            if made >= n:
                return
            yield (
                b,
                [
                    lab,
                    bid,
                    x.sample_id,
                    x.sample_type,
                    x.unit_no,
                    x.analyte,
                    x.result,
                    x.unit,
                    x.loq,
                    x.spike_level,
                    x.method,
                    day,
                    analyst,
                ],
            )
            made += 1
        b += 1


# --- wide layout: one sample per row, the unit in the header --------------------------

WIDE_ANALYTES = [name for name, *_ in PANEL]
WIDE_UNITS = [unit for _, unit, *_ in PANEL]


def wide_header() -> list[str]:
    cols = [
        f"{a} ({u})" if not u.startswith("/") else f"{a} (in {u[1:-1]} g)"
        for a, u in zip(WIDE_ANALYTES, WIDE_UNITS, strict=True)
    ]
    return ["Lab", "Lot #", "Sample ID", "Sample Type", "Unit #", "Spike Level", *cols, "Analyst"]


def wide_rows(n: int, first_batch: int, samples: int) -> Iterator[tuple[int, list[str]]]:
    """One row per sample (production and QC). A wide certificate reports the
    composite, so every batch is given in % (no unit number)."""
    made, b = 0, first_batch
    while made < n:
        lab, analyst = LABS[b % len(LABS)]
        bid = batch_id(b)
        by_sample: dict[str, list[Result]] = {}
        for x in batch_results(b, samples):
            by_sample.setdefault(x.sample_id, []).append(x)
        for sid, results in by_sample.items():
            if made >= n:
                return
            cells = [""] * len(PANEL)
            for x in results:
                i = WIDE_ANALYTES.index(x.analyte)
                cells[i] = _as_percent(x) if i == 0 else _with_bound(x)
            first = results[0]
            yield b, [lab, bid, sid, first.sample_type, "", first.spike_level, *cells, analyst]
            made += 1
        b += 1


def _with_bound(x: Result) -> str:
    """A wide sheet has no LOQ column, so its labs write the bound itself."""
    return f"<{x.loq}" if x.result in ("ND", "<LOQ") else x.result


def _as_percent(x: Result) -> str:
    """Per-capsule mitragynine of a 500 mg capsule, restated in % for the wide
    layout's single mitragynine column."""
    if x.unit == "%":
        return x.result
    return f"{float(x.result) / 5:.3f}"


# --- writers --------------------------------------------------------------------------

Rows = Callable[[int, int, int], Iterator[tuple[int, list[str]]]]


@dataclass(frozen=True)
class Written:
    """What a file holds: batches first..first+batches-1, and how many results
    kqc should store from it (a wide row holds one result per filled cell)."""

    first_batch: int
    batches: int
    results: int

    def __str__(self) -> str:
        return f"{self.first_batch}:{self.batches} {self.results}"


LAYOUTS: dict[str, tuple[Callable[[], list[str]], Rows]] = {
    "long": (lambda: LONG_HEADER, long_rows),
    "wide": (wide_header, wide_rows),
}


def write_one(
    path: Path,
    rows: int,
    *,
    layout: str = "long",
    fmt: str = "csv",
    first_batch: int = 0,
    rows_per_batch: int = 242,
) -> Written:
    """Write one file of `rows` rows (a wide row is a sample, a long row a result)."""
    header, make = LAYOUTS[layout]
    seen = _Seen(first_batch - 1, layout == "wide")
    made = seen.rows(make(rows, first_batch, samples_for(rows_per_batch)))
    if fmt == "csv":
        block: list[str] = [",".join(header()) + "\n"]
        with path.open("w", newline="", encoding="utf-8") as f:
            for row in made:
                block.append(",".join(row) + "\n")
                if len(block) >= 20_000:
                    f.write("".join(block))
                    block.clear()
            f.write("".join(block))
    elif fmt == "xlsx":
        _write_xlsx(path, header(), made)
    else:
        raise SystemExit(f"unknown format {fmt!r}: use csv or xlsx")
    return Written(first_batch, seen.last - first_batch + 1, seen.results)


@dataclass
class _Seen:
    """Counts batches and results while the rows stream past."""

    last: int
    wide: bool
    results: int = 0

    def rows(self, made: Iterator[tuple[int, list[str]]]) -> Iterator[list[str]]:
        for b, row in made:
            self.last = b
            self.results += sum(1 for v in row[6:-1] if v) if self.wide else 1
            yield row


def _write_xlsx(path: Path, header: list[str], rows: Iterator[list[str]]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    # A fixed creation time: the same seed gives the same bytes.
    book.set_properties({"created": dt.datetime(2026, 11, 25, tzinfo=dt.UTC)})
    sheet = book.add_worksheet("results")
    sheet.write_row(0, 0, header)
    for i, row in enumerate(rows, start=1):
        # A spreadsheet stores numbers as numbers and qualifiers as text.
        sheet.write_row(i, 0, [_number_or_text(v) for v in row])
    book.close()


def _number_or_text(text: str) -> float | str:
    try:
        return float(text) if text and text[0] in "0123456789." else text
    except ValueError:
        return text


def write_many(
    folder: Path,
    files: int,
    rows: int,
    *,
    layout: str = "long",
    fmt: str = "csv",
    first_batch: int = 0,
) -> Written:
    """N certificates of `rows` rows each: one batch per file when it fits,
    else whole batches of `rows` (a few per file)."""
    folder.mkdir(parents=True, exist_ok=True)
    b, results = first_batch, 0
    width = len(str(files))
    for k in range(files):
        path = folder / f"coa_{k:0{width}d}.{fmt}"
        one = write_one(path, rows, layout=layout, fmt=fmt, first_batch=b, rows_per_batch=rows)
        b += one.batches
        results += one.results
    return Written(first_batch, b - first_batch, results)


REGISTER_HEADER = [
    "Batch ID",
    "Product ID",
    "Product Name",
    "Form",
    "Label claim (mg/serving)",
    "Serving size (g)",
    "Servings per day",
    "Capsules per serving",
]


def write_register(path: Path, ranges: list[tuple[int, int]]) -> int:
    """The register rows of every batch in the (first, count) ranges; returns
    how many rows it wrote."""
    batches = [b for first, count in ranges for b in range(first, first + count)]
    with path.open("w", newline="", encoding="utf-8") as f:
        f.write(",".join(REGISTER_HEADER) + "\n")
        for b in batches:
            p = product(b % PRODUCTS)
            units = str(p.units_per_serving) if p.per_unit else ""
            f.write(
                f"{batch_id(b)},{p.product_id},{p.name},{p.form},{p.claim_mg_per_serving:g},"
                f"{p.serving_g:g},{p.servings_per_day},{units}\n"
            )
    return len(batches)


# --- the original long files (kept byte for byte) -------------------------------------

# The long layout before it had a spike level column.
HEADER = [c for c in LONG_HEADER if c != "Spike Level"]
LEGACY_PANEL = [
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


def rows(n: int, seed: int = SEED):
    r = random.Random(seed)
    made = 0
    sample = 0
    while made < n:
        sample += 1
        batch = f"KR-{sample // 20:06d}"
        for name, unit, value, loq, method in LEGACY_PANEL:
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


# --- command line ---------------------------------------------------------------------


def _batches(text: str) -> tuple[int, int]:
    first, _, count = text.partition(":")
    return int(first), int(count)


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("long-csv", "long-xlsx"):
        kind, size, out = argv[0], int(argv[1]), Path(argv[2])
        {"long-csv": long_csv, "long-xlsx": long_xlsx}[kind](size, out)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("one", "many"):
        p = sub.add_parser(name)
        p.add_argument("--layout", choices=sorted(LAYOUTS), default="long")
        p.add_argument("--format", choices=("csv", "xlsx"), default="csv")
        p.add_argument("--rows", type=int, required=True, help="rows per file")
        p.add_argument("--first-batch", type=int, default=0)
        p.add_argument("--out", type=Path, required=True)
        if name == "many":
            p.add_argument("--files", type=int, required=True)
        else:
            p.add_argument("--rows-per-batch", type=int, default=242)
    p = sub.add_parser("register")
    p.add_argument(
        "--batches", type=_batches, action="append", required=True, help="FIRST:COUNT (repeatable)"
    )
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "one":
        written = write_one(
            args.out,
            args.rows,
            layout=args.layout,
            fmt=args.format,
            first_batch=args.first_batch,
            rows_per_batch=args.rows_per_batch,
        )
    elif args.command == "many":
        written = write_many(
            args.out,
            args.files,
            args.rows,
            layout=args.layout,
            fmt=args.format,
            first_batch=args.first_batch,
        )
    else:
        write_register(args.out, args.batches)
        return
    print(written)


if __name__ == "__main__":
    main(sys.argv[1:])
