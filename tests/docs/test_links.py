"""Every relative link in README.md and docs/*.md leads somewhere: the file
exists, and a `#anchor` into a markdown file names one of its headings (as
GitHub turns a heading into an anchor). Links inside code blocks are text,
not links, and are not followed; links to the web are not checked here."""

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) or ![alt](target); the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """The page without its code blocks, whose brackets are not links."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, markup and punctuation
    dropped (hyphens and underscores kept), each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of a page; a repeated heading gets -1, -2 … as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    for line in prose(page.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        base = slug(heading.group(1))
        found.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    # A link written inside inline code (`[x](y)`) is an example, not a link.
    text = INLINE_CODE.sub(lambda m: m.group(0) if "](" not in m.group(0) else "", text)
    return [target for target in LINK.findall(text) if not re.match(r"^[a-z]+:", target)]


CASES = [
    pytest.param(page, target, id=f"{page.relative_to(ROOT)}->{target}")
    for page in PAGES
    for target in links(page)
]


def test_the_pages_have_links_to_check():
    assert (ROOT / "README.md") in PAGES and len(PAGES) > 3
    assert len(CASES) > 20, "too few links found: is the link pattern broken?"


@pytest.mark.parametrize(("page", "target"), CASES)
def test_relative_link_resolves(page: Path, target: str):
    path_part, _, anchor = target.partition("#")
    dest = (page.parent / path_part).resolve() if path_part else page
    assert dest.exists(), f"{page.relative_to(ROOT)}: link {target!r} names no file"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), (
            f"{page.relative_to(ROOT)}: link {target!r}: {dest.name} has no heading"
            f" with anchor #{anchor}"
        )


def test_the_slug_follows_github():
    assert slug("`kqc ingest [PATH ...]`") == "kqc-ingest-path-"
    assert slug("A house vocabulary: `KQC_VOCABULARY`") == "a-house-vocabulary-kqc_vocabulary"
    assert slug("Analytes beyond the contract's vocabulary") == (
        "analytes-beyond-the-contracts-vocabulary"
    )
