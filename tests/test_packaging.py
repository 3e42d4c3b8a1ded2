"""The wheel holds every package: a subpackage missing from pyproject's list
works in an editable checkout and breaks on a real install."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_for_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    assert found - listed == set()


def _top_level_modules() -> set[str]:
    """kqc's own top-level packages and modules, as installed (flows/ and
    schemas/ install as kqc.flows and kqc.schemas)."""
    found = {"kqc.flows", "kqc.schemas"}
    for entry in (ROOT / "src" / "kqc").iterdir():
        if entry.is_dir() and (entry / "__init__.py").exists():
            found.add(f"kqc.{entry.name}")
        elif entry.suffix == ".py" and not entry.name.startswith("__"):
            found.add(f"kqc.{entry.stem}")
    return found


def test_every_module_is_covered_by_the_duckdb_and_prefect_contracts():
    """A module added at the top of src/kqc is checked too: it must be named
    in the import contracts that keep DuckDB in the store and Prefect in the
    flows (import-linter checks only the modules a contract names)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    by_name = {c["name"]: c for c in contracts}
    everything = _top_level_modules()
    for name, owner in (
        ("Only kqc.store imports DuckDB", "kqc.store"),
        ("Only kqc.flows imports Prefect", "kqc.flows"),
    ):
        assert set(by_name[name]["source_modules"]) == everything - {owner}, name
