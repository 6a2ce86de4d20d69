"""The `constraints` extra (`expander.constraints.text`): importing the package loads none of it, and a
missing library is a `MissingExtraError` that names the extra and the module."""

from __future__ import annotations

import pytest


def test_importing_the_package_loads_none_of_the_extra():
    """`require_constraints` is meant to be called cheaply: the package imports no extra module."""
    import subprocess
    import sys

    code = (
        "import sys, expander.constraints as c; c.require_constraints(); "
        "print(sorted(m for m in ('inflect', 'lemminflect', 'sentence_transformers', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_require_constraints_names_the_extra_and_the_module(monkeypatch):
    import importlib.util

    from expander.constraints import require_constraints
    from expander.errors import ExpanderError, MissingExtraError

    require_constraints()  # installed in the test environment
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "inflect" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"expander\[constraints\].*inflect") as err:
        require_constraints()
    assert isinstance(err.value, ExpanderError) and isinstance(err.value, ImportError)
    with pytest.raises(MissingExtraError, match=r"^synth's filter needs .*; or set check_constraints: false$"):
        require_constraints("synth's filter", hint="or set check_constraints: false")


def test_a_missing_word_form_library_is_a_missing_extra_error(monkeypatch):
    import sys

    from expander.constraints import text
    from expander.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "lemminflect", None)  # import fails as if not installed
    text._lemma_lookup.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r"constraint checks.*expander\[constraints\].*lemminflect"):
            text.is_verb_form("zorbling")
    finally:
        text._lemma_lookup.cache_clear()
