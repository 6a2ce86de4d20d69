"""The import contract in pyproject.toml is the map of the house: it must place every top-level module.

`lint-imports` (run by .ci/run) checks that the imports follow the layers; this test checks the other half,
that no module escapes the contract because nobody listed it (import-linter ignores unlisted modules).
"""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import tomllib

import diffusion
import expander

ROOT = Path(__file__).resolve().parents[1]


def _contract() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _layered_modules() -> set[str]:
    (layers,) = [c["layers"] for c in _contract()["contracts"] if c["type"] == "layers"]
    names: set[str] = set()
    for layer in layers:
        names.update(re.sub(r"[()]", "", part).strip() for part in re.split(r"[|:]", layer))
    return names


def test_every_top_level_module_of_expander_has_a_layer():
    modules = {f"expander.{m.name}" for m in pkgutil.iter_modules(expander.__path__)}
    missing = sorted(modules - _layered_modules())
    assert not missing, f"add these to the layers contract in pyproject.toml: {missing}"


def test_diffusion_is_one_layer_and_both_packages_are_roots():
    assert "diffusion" in _layered_modules()
    assert set(_contract()["root_packages"]) == {"expander", "diffusion"}
    assert {m.name for m in pkgutil.iter_modules(diffusion.__path__)}, "diffusion has modules"


def test_the_layers_contract_names_no_module_that_does_not_exist():
    optional = set()
    (layers,) = [c["layers"] for c in _contract()["contracts"] if c["type"] == "layers"]
    for layer in layers:
        optional.update(p.strip()[1:-1] for p in re.split(r"[|:]", layer) if p.strip().startswith("("))
    existing = {f"expander.{m.name}" for m in pkgutil.iter_modules(expander.__path__)} | {"diffusion"}
    stale = sorted(_layered_modules() - existing - optional)
    assert not stale, f"the layers contract names modules that do not exist: {stale}"
