"""Loading a config: a YAML file and command-line overrides become a config dataclass.

YAML values keep their own types; override strings are coerced to the field's type. Every failure is a
`ConfigError` that names the key and the source (the file, or "config" for defaults plus overrides).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from expander.errors import ConfigError

__all__ = ["BOOL_WORDS", "config_to_dict", "load_config", "parse_overrides"]

T = TypeVar("T")

BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
"""The spellings a bool key takes, in YAML strings and on the command line."""


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: list[str] | Mapping[str, Any] | None = None
) -> T:
    """Build `cls` (a dataclass) from a YAML file, then apply the overrides.

    Args:
        cls: the config dataclass.
        path: YAML of its keys (None: the dataclass defaults).
        overrides: `["--key", "value", "--key=value", "--section.key", "value"]`, or an already parsed
            `{dotted key: string or list of strings}` (see `load_command_line`). Strings are coerced to the
            field's type.
    """
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys to values, got {type(loaded).__name__}")
        data = loaded
    if overrides is not None and not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    return _build(cls, data, source, prefix="")


def parse_overrides(argv: list[str]) -> dict[str, str]:
    """`["--a", "1", "--b=x", "--flag"]` -> `{"a": "1", "b": "x", "flag": "true"}` (values stay strings)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"expected an override like --key value, got {arg!r}")
        key = arg[2:]
        if "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            value = argv[i + 1]
            i += 1
        else:
            value = "true"
        out[key.replace("-", "_")] = value
        i += 1
    return out


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as plain data (for saving next to outputs and for reports)."""
    return dataclasses.asdict(cfg)


def _set_dotted(data: dict[str, Any], key: str, value: str | list[str]) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override --{key}: {part!r} is not a section")
        node = child
    node[parts[-1]] = [_CliValue(v) for v in value] if isinstance(value, list) else _CliValue(value)


class _CliValue(str):
    """A string from the command line: coerced to the field's type (YAML values keep their own types)."""


def _build(cls: type[T], data: dict[str, Any], source: str, prefix: str) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(prefix + k for k in unknown)} for {cls.__name__}; "
            f"known keys: {', '.join(sorted(fields))}"
        )
    required = [
        prefix + name
        for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if required:
        raise ConfigError(f"{source}: missing required key(s) {', '.join(required)} (--KEY VALUE or a YAML key)")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, source, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, _CliValue) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, source, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{source}: {key}: cannot be None")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, prefix=key + ".")
    if tp is Any:
        return value
    if origin in (list, tuple):
        if isinstance(value, _CliValue):
            value = yaml.safe_load(value) if value.startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        item = args[0] if args else Any
        items = [
            _coerce(item, v if not isinstance(value, _CliValue) else v, source, f"{key}[{i}]")
            for i, v in enumerate(value)
        ]
        return items if origin is list else tuple(items)
    if origin is dict:
        if isinstance(value, _CliValue):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        if isinstance(value, _CliValue):
            value = str(value)
        if value not in args:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in BOOL_WORDS:
            return BOOL_WORDS[value.lower()]
        raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        try:
            number = tp(value) if isinstance(value, str) else value
        except ValueError:
            raise ConfigError(
                f"{source}: {key} must be {'an integer' if tp is int else 'a number'}, got {value!r}"
            ) from None
        if tp is int and isinstance(number, float):
            if not number.is_integer():
                raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
            number = int(number)
        if not isinstance(number, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return tp(number)
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return str(value)
    return value
