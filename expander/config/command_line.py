"""Command lines: `expander NAME [POSITIONAL ...] [--config YAML] [--key value ...]` into a loaded config.

One parser for every `expander` command that is not a TRL one: the YAML and the keys fill the command's config
dataclass (through `loading.load_config`), command-only options fill a second dataclass, and `-h`/`--help`
prints the help generated from both (`help_text`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple

from expander.config.help_text import command_help, summary
from expander.config.loading import BOOL_WORDS, load_config
from expander.errors import ConfigError

__all__ = ["CommandLine", "load_command_line"]


class CommandLine(NamedTuple):
    """A parsed command line: the loaded config, the command-only options (None if the command has none),
    the positional arguments by name, and the `--config` path (None if not given)."""

    config: Any
    options: Any
    positionals: dict[str, str]
    config_path: str | None


def load_command_line(
    argv: list[str],
    cls: type,
    *,
    prog: str,
    description: str = "",
    positionals: Mapping[str, str] | None = None,
    options: type | None = None,
    config_required: bool = False,
) -> CommandLine:
    """Parse `[POSITIONAL ...] [--config YAML] [--key value | --key=value | --section.key value ...]`.

    The YAML and the keys fill `cls`; keys that are fields of `options` (a second dataclass of command-only
    settings, not part of the saved config, e.g. `--no-progress`) fill that instead. A `-` in a key is a `_`.
    A bool key alone means true (`--json`), `--no-KEY` means false, and it takes a value only when one is
    given as `--KEY=false` or as a following `true`/`false`/`yes`/`no`/`on`/`off`/`1`/`0`. A list field
    with `metadata={"repeat": True}` takes one item per occurrence (`--keep a --keep b`); other lists take
    `a,b` or YAML `[a, b]`. A lone `--` is ignored.

    `-h`/`--help` prints `config_help` and exits 0, as argparse does.

    Args:
        argv: the command's arguments (after the command name).
        cls: the config dataclass (`--config` YAML keys).
        prog: `expander NAME`, for usage and help.
        description: one paragraph for the help (default: the first line of `cls`'s docstring).
        positionals: NAME -> help of each positional argument, in order (all required).
        options: dataclass of command-only keys.
        config_required: `--config` must be given.

    Raises:
        ConfigError: a missing or unreadable config, an unknown key, a bad value, a key without its value,
            or missing or extra positional arguments.
    """
    positionals = dict(positionals or {})
    usage = _usage(prog, positionals, config_required)
    if any(a in ("-h", "--help") for a in argv):
        print(command_help(usage, description or summary(cls), cls, positionals, options, config_required))
        raise SystemExit(0)
    path: str | None = None
    values: dict[str, Any] = {}
    loose: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            continue
        if not arg.startswith("--"):
            loose.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        if key == "config":
            if not eq:
                if i >= len(argv) or argv[i].startswith("--"):
                    raise ConfigError(f"--config needs a YAML path\n{usage}")
                value, i = argv[i], i + 1
            path = value
            continue
        field_type, spec = _key_type(key, cls, options)
        if field_type is None and key.startswith("no_"):
            negated_type, _ = _key_type(key[3:], cls, options)
            if _is_bool(negated_type):
                if eq:
                    raise ConfigError(f"{arg.split('=')[0]} takes no value")
                values[key[3:]] = "false"
                continue
        if _is_bool(field_type) and not eq:
            if i < len(argv) and argv[i].lower() in BOOL_WORDS:
                value, i = argv[i], i + 1
            else:
                value = "true"
        elif not eq:
            if i >= len(argv) or argv[i].startswith("--"):
                raise ConfigError(f"{arg} needs a value")
            value, i = argv[i], i + 1
        if spec is not None and spec.metadata.get("repeat"):
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    if len(loose) > len(positionals):
        extra = loose[len(positionals) :]
        raise ConfigError(
            f"unexpected argument(s) {', '.join(map(repr, extra))} (keys are given as --key value)\n{usage}"
        )
    if len(loose) < len(positionals):
        missing = list(positionals)[len(loose) :]
        raise ConfigError(f"missing {' '.join(n.upper() for n in missing)}\n{usage}")
    if config_required and path is None:
        raise ConfigError(f"--config is required\n{usage}")
    option_names = {f.name for f in dataclasses.fields(options)} if options else set()
    config_values = {k: v for k, v in values.items() if k.split(".")[0] not in option_names}
    option_values = {k: v for k, v in values.items() if k.split(".")[0] in option_names}
    config = load_config(cls, path, config_values)
    opts = load_config(options, None, option_values) if options else None
    return CommandLine(config, opts, dict(zip(positionals, loose)), path)


def _key_type(key: str, cls: type, options: type | None) -> tuple[Any, dataclasses.Field | None]:
    """(type, field) of a dotted key in `cls` or `options`; (None, None) if it names no field (the loader then
    reports the unknown key)."""
    for owner in (options, cls):
        if owner is None:
            continue
        tp: Any = owner
        spec = None
        for part in key.split("."):
            if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
                break
            fields = {f.name: f for f in dataclasses.fields(tp)}
            if part not in fields:
                break
            spec = fields[part]
            tp = typing.get_type_hints(tp)[part]
        else:
            return tp, spec
    return None, None


def _is_bool(tp: Any) -> bool:
    if tp is bool:
        return True
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and bool in typing.get_args(tp)


def _usage(prog: str, positionals: Mapping[str, str], config_required: bool) -> str:
    args = " ".join(n.upper() for n in positionals)
    config = "--config YAML" if config_required else "[--config YAML]"
    return f"usage: {prog} {args + ' ' if args else ''}{config} [--key value ...]"
