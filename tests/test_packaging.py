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


def _contracts() -> dict[str, dict]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    return {c["name"]: c for c in contracts}


def test_every_module_is_covered_by_the_duckdb_and_prefect_contracts():
    """A module added at the top of src/kqc is checked too: it must be named
    in the import contracts that keep DuckDB in the store and Prefect in the
    flows and the service (import-linter checks only the modules a contract
    names)."""
    by_name = _contracts()
    everything = _top_level_modules()
    for name, owners in (
        ("Only kqc.store imports DuckDB", {"kqc.store"}),
        ("Only kqc.flows and kqc.service import Prefect", {"kqc.flows", "kqc.service"}),
    ):
        assert set(by_name[name]["source_modules"]) == everything - owners, name


def test_every_module_is_a_layer():
    """The layers contract names every top-level package and module, so a
    new one cannot import upwards unnoticed."""
    layers = next(c for c in _contracts().values() if c["type"] == "layers")["layers"]
    named = {part.strip() for layer in layers for part in layer.split("|")}
    assert named == _top_level_modules()
