"""Recipe configs and command lines: one flat YAML per experiment, keys matching dataclass fields,
command-line overrides TRL-style, and `--help` generated from the same dataclasses.

    cfg = load_config(SynthConfig, "configs/synth/tiny_cpu.yaml", ["--num_pairs", "10"])
    line = load_command_line(argv, ExpandCommandConfig, prog="expander expand", positionals={"prompt": "..."})

Unknown keys, wrong types and missing files are `ConfigError`s that name the key and the file.
Nested dataclass fields take a mapping in YAML and dotted keys on the command line (`--render.height 256`).
The help of a key is `field(metadata={"help": ...})` when given, else the line of the dataclass docstring that
documents it (`name: text` or `a, b, c: text`, under `Attributes:` or any heading), so the docstring stays the
one reference. (SFT and GRPO use TRL's own `TrlParser`, which follows the same YAML-plus-flags convention.)

Where things are: `loading.py` (YAML and overrides -> the dataclass, with type coercion), `command_line.py`
(`expander NAME [POSITIONAL ...] [--config YAML] [--key value ...]`), `help_text.py` (help from the fields and
docstrings). This module only re-exports.
"""

from expander.config.command_line import CommandLine, load_command_line
from expander.config.help_text import config_help, field_help
from expander.config.loading import config_to_dict, load_config, parse_overrides
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
