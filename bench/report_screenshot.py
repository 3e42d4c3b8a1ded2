"""Regenerate docs/report.png: the demo database's QA report as headless
Chromium renders it. Rerun after changing the report's look:

    python bench/report_screenshot.py [--out docs/report.png]

Needs the system's Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--size", default="1400,4200", help="window width,height in pixels")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("Chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="kqc-shot-") as tmp:
        work = Path(tmp)
        kqc = [sys.executable, "-m", "kqc"]
        subprocess.run([*kqc, "demo", "--dir", str(work / "demo")], check=True, capture_output=True)
        page = work / "report.html"
        db = work / "demo" / "kqc.duckdb"
        subprocess.run([*kqc, "report", "--db", str(db), "--out", str(page)], check=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={work / 'profile'}",
                f"--window-size={args.size}",
                f"--screenshot={args.out.resolve()}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
