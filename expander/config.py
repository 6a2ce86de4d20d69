"""Recipe configs and command lines: one flat YAML per experiment, keys matching dataclass fields,
command-line overrides TRL-style, and `--help` generated from the same dataclasses.

    cfg = load_config(SynthConfig, "configs/synth/tiny_cpu.yaml", ["--num_pairs", "10"])
    line = load_command_line(argv, ExpandCommandConfig, prog="expander expand", positionals={"prompt": "..."})

Unknown keys, wrong types and missing files are `ConfigError`s that name the key and the file.
Nested dataclass fields take a mapping in YAML and dotted keys on the command line (`--render.height 256`).
The help of a key is `field(metadata={"help": ...})` when given, else the line of the dataclass docstring that
documents it (`name: text` or `a, b, c: text`, under `Attributes:` or any heading), so the docstring stays the
one reference. (SFT and GRPO use TRL's own `TrlParser`, which follows the same YAML-plus-flags convention.)
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml

from expander.errors import ConfigError

__all__ = [
    "CommandLine",
    "ConfigError",
    "config_help",
    "config_to_dict",
    "field_help",
    "load_command_line",
    "load_config",
    "parse_overrides",
]

T = TypeVar("T")

_BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


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


# ------------------------------------------------------------------------------------------ command lines


class CommandLine(NamedTuple):
    """A parsed command line: the loaded config, the command-only options (None if the command has none),
    the positional arguments by name, and the `--config` path (None if not given)."""

    config: Any
    options: Any
    positionals: dict[str, str]
    config_path: str | None


def load_command_line(
    argv: list[str],
    cls: type[T],
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
        print(_command_help(usage, description or _summary(cls), cls, positionals, options, config_required))
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
            if i < len(argv) and argv[i].lower() in _BOOL_WORDS:
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


# ------------------------------------------------------------------------------------------ help


def field_help(cls: type) -> dict[str, str]:
    """Field name -> help text of a dataclass, from `field(metadata={"help": ...})` or its docstring.

    A docstring documents a key with a `name: text` (or `a, b, c: text`, or `name (text)`) line, anywhere
    (under `Attributes:` or a heading); more deeply indented lines continue it, and `; other_name: text` on
    the same line starts the next key. A key documented nowhere else gets the clause of the docstring that
    mentions it (as `` `name` ``, or by a name with an underscore), then, for a nested dataclass, that
    class's first docstring line. Base classes' docstrings document their inherited fields.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    entries: dict[str, str] = {}
    clauses: list[str] = []
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        found, klass_clauses = _parse_docstring(_docstring(klass), set(names))
        entries.update(found)
        clauses = klass_clauses + clauses
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        text = f.metadata.get("help") or entries.get(f.name)
        if not text:
            pattern = re.compile(rf"`{re.escape(f.name)}`" + (rf"|\b{re.escape(f.name)}\b" if "_" in f.name else ""))
            text = next((c for c in clauses if pattern.search(c) and not _only_names(c, names)), "")
        if not text:
            nested = _dataclass_of(hints[f.name])
            text = _summary(nested) if nested else ""
        out[f.name] = text.strip()
    return out


def config_help(cls: type, prefix: str = "") -> str:
    """The keys of a config dataclass, one block each: `--key  TYPE  [default: VALUE]` and its help.

    Nested dataclass fields are listed as their dotted keys (`--render.height`); a list of dataclasses
    (e.g. `arms`) lists the keys of one item under it.
    """
    helps = field_help(cls)
    hints = typing.get_type_hints(cls)
    blocks = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            blocks.append(config_help(tp, prefix=f"{prefix}{f.name}."))
            continue
        head = f"  --{prefix}{f.name}  {_type_name(tp, f)}  [default: {_default_text(f)}]"
        block = [head, *_wrap(helps[f.name], indent=6)]
        item = _dataclass_of(tp)
        if item is not None and typing.get_origin(tp) in (list, tuple):
            item_helps = field_help(item)
            block.append(f"      each item is a mapping of ({item.__name__}):")
            for name, text in item_helps.items():
                block += _wrap(f"{name}: {text}", indent=8, hanging=2)
        blocks.append("\n".join(block))
    return "\n".join(blocks)


def _wrap(text: str, indent: int, hanging: int = 0) -> list[str]:
    return textwrap.wrap(
        text,
        width=110,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hanging),
        break_on_hyphens=False,
        break_long_words=False,
    )


def _command_help(
    usage: str, description: str, cls: type, positionals: Mapping[str, str], options: type | None, config_required: bool
) -> str:
    parts = [usage, "", description]
    if positionals:
        parts += ["", "positional arguments:"]
        parts += [f"  {name.upper():<14}{text}" for name, text in positionals.items()]
    parts += [
        "",
        "options:",
        "  -h, --help    show this help and exit",
        f"  --config YAML a YAML of the {cls.__name__} keys below"
        + ("" if config_required else " (default: the defaults shown)"),
    ]
    if options is not None:
        parts += ["", "command options (not part of the config):", config_help(options)]
    parts += [
        "",
        f"{cls.__name__} keys (YAML keys; on the command line --key value or --key=value, `-` and `_` alike;",
        "a bool key alone is true and --no-KEY false; a nested key is --section.key):",
        config_help(cls),
    ]
    return "\n".join(parts)


def _usage(prog: str, positionals: Mapping[str, str], config_required: bool) -> str:
    args = " ".join(n.upper() for n in positionals)
    config = "--config YAML" if config_required else "[--config YAML]"
    return f"usage: {prog} {args + ' ' if args else ''}{config} [--key value ...]"


def _docstring(cls: type) -> str:
    """The class's own docstring ("" for the `Name(field: type = default)` one dataclasses make up)."""
    doc = cls.__doc__ or ""
    return "" if doc.startswith(f"{cls.__name__}(") else doc


def _summary(cls: type) -> str:
    doc = inspect.cleandoc(_docstring(cls))
    return " ".join(doc.split("\n\n")[0].split())


def _dataclass_of(tp: Any) -> type | None:
    """`tp` itself, or the item type of a `list[...]`, or the non-None member of an Optional, if a dataclass."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        if isinstance(arg, type) and dataclasses.is_dataclass(arg):
            return arg
    return None


def _type_name(tp: Any, f: dataclasses.Field | None = None) -> str:
    if f is not None and f.metadata.get("repeat"):
        return f"{_type_name(typing.get_args(tp)[0]) if typing.get_args(tp) else 'str'} (repeatable)"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    if typing.get_origin(tp) is typing.Literal:
        return " | ".join(map(repr, typing.get_args(tp)))
    return re.sub(r"\b(typing|expander(\.\w+)*)\.", "", str(tp)).replace("NoneType", "None")


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return repr(f.default) if isinstance(f.default, str) else str(f.default)
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        if dataclasses.is_dataclass(value):
            return value.__class__.__name__
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            return "[" + ", ".join(str(getattr(v, "name", v)) for v in value) + "]"
        return str(value)
    return "required"


_ENTRY_RE = re.compile(r"^(?P<names>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)(?:\s*:\s*|\s+(?=\())(?P<text>.*)$")


def _entry(segment: str, names: set[str]) -> tuple[list[str], str] | None:
    match = _ENTRY_RE.match(segment.strip())
    if not match:
        return None
    keys = [k.strip() for k in match["names"].split(",")]
    return (keys, match["text"].strip().rstrip(";").strip()) if all(k in names for k in keys) else None


def _only_names(clause: str, names: list[str]) -> bool:
    """A clause that lists keys without saying anything about them (`a, b, c.`)."""
    return all(word in names for word in re.findall(r"\w+", clause))


def _parse_docstring(doc: str, names: set[str]) -> tuple[dict[str, str], list[str]]:
    """({field: text} of the entries documenting `names`, every `;`-separated clause of the docstring)."""
    lines: list[tuple[int, str, bool]] = []  # (indent, text, is an entry)
    for raw in inspect.cleandoc(doc).splitlines():
        if not raw.strip():
            lines.append((0, "", False))
            continue
        indent = len(raw) - len(raw.lstrip())
        is_entry = _entry(raw.split("; ")[0], names) is not None
        if (
            lines
            and lines[-1][1]
            and not is_entry
            and (
                indent > lines[-1][0]
                or (indent == lines[-1][0] and not lines[-1][2] and not lines[-1][1].endswith(":"))
            )
        ):
            start_indent, text, was_entry = lines[-1]
            lines[-1] = (start_indent, f"{text} {raw.strip()}", was_entry)
        else:
            lines.append((indent, raw.strip(), is_entry))
    entries: dict[str, str] = {}
    clauses: list[str] = []
    for _, text, _ in lines:
        segments: list[str] = []
        for part in re.split(r";\s+", text):
            if segments and _entry(part, names) is None:
                segments[-1] += "; " + part
            else:
                segments.append(part)
        for segment in segments:
            found = _entry(segment, names)
            if found:
                for key in found[0]:
                    entries.setdefault(key, found[1])
        clauses += [c for c in re.split(r";\s+", text) if c]
    return entries, clauses


# ------------------------------------------------------------------------------------------ building


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
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
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
