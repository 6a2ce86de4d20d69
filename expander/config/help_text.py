"""Help text of a config dataclass: each key's help from its field metadata or the class docstring.

A docstring documents keys with `name: text` lines (or `a, b, c: text`, or `name (text)`), under `Attributes:`
or any heading, so the docstring stays the one reference and `--help` never drifts from it.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
import typing
from collections.abc import Mapping
from typing import Any

__all__ = ["command_help", "config_help", "field_help", "summary"]


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
            text = summary(nested) if nested else ""
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


def command_help(
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


def _docstring(cls: type) -> str:
    """The class's own docstring ("" for the `Name(field: type = default)` one dataclasses make up)."""
    doc = cls.__doc__ or ""
    return "" if doc.startswith(f"{cls.__name__}(") else doc


def summary(cls: type) -> str:
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
