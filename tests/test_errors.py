"""One error base: every exception class the package defines is an `ExpanderError`, which `cli.main` maps
once to `error: <message>` and its exit code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import diffusion
import expander
from expander.cli import main
from expander.errors import CommandError, ExpanderError


def _modules():
    for package in (expander, diffusion):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if not info.name.endswith("__main__"):
                yield info.name


def test_every_exception_class_derives_from_expander_error():
    checked, skipped, offenders = [], [], []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # an optional extra that is not installed (MissingExtraError is one too)
            skipped.append(f"{name}: {exc}")
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == name and issubclass(obj, BaseException):
                checked.append(obj)
                if not issubclass(obj, ExpanderError):
                    offenders.append(f"{name}.{obj.__qualname__}")
    assert len(checked) >= 15, (checked, skipped)
    assert not offenders, offenders


def test_main_maps_an_expander_error_to_its_message_and_code(monkeypatch, capsys):
    import expander.commands.check as check

    def fail(args):
        raise CommandError("the reason", code=3)

    monkeypatch.setattr(check, "run", fail)
    assert main(["check", "a", "b"]) == 3
    assert capsys.readouterr().err == "error: the reason\n"

    class Custom(ExpanderError):
        pass

    def fail_default(args):
        raise Custom("no code given")

    monkeypatch.setattr(check, "run", fail_default)
    assert main(["check", "a", "b"]) == 2
    assert capsys.readouterr().err == "error: no code given\n"


def test_other_exceptions_are_not_swallowed(monkeypatch):
    import expander.commands.check as check

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setattr(check, "run", bug)
    with pytest.raises(KeyError):
        main(["check", "a", "b"])
