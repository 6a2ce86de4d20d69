"""Recipe configs: one flat YAML per experiment, keys matching dataclass fields, CLI overrides TRL-style.

    cfg = load_config(SynthConfig, "configs/synth/tiny_cpu.yaml", ["--num_pairs", "10"])

Unknown keys, wrong types and missing files are `ConfigError`s that name the key and the file.
Nested dataclass fields take a mapping in YAML and dotted keys on the command line (`--render.height 256`).
(SFT and GRPO use TRL's own `TrlParser`, which follows the same YAML-plus-flags convention.)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["ConfigError", "load_config", "config_to_dict", "parse_overrides"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that cannot be applied; the message names the key and the source."""


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build `cls` (a dataclass) from a YAML file, then apply `--key value` / `--key=value` overrides."""
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
    for key, value in parse_overrides(overrides or []).items():
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


def _set_dotted(data: dict[str, Any], key: str, value: str) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override --{key}: {part!r} is not a section")
        node = child
    node[parts[-1]] = _CliValue(value)


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
        items = [_coerce(item, v if not isinstance(value, _CliValue) else v, source, f"{key}[{i}]") for i, v in enumerate(value)]
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
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        try:
            number = tp(value) if isinstance(value, str) else value
        except ValueError:
            raise ConfigError(f"{source}: {key} must be {'an integer' if tp is int else 'a number'}, got {value!r}") from None
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
