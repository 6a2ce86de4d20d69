"""Shared plumbing of the subcommands: each takes its own arguments through to a config loader.

Every command is registered with `add_passthrough_parser`, so building the `expander` parser imports no
config class (and nothing heavy): `expander --help` stays fast and works without the optional extras. At
run time a command hands `args.argv` to `expander.config.load_command_line` (its config dataclass, with
`--help` generated from the fields), or, for the TRL commands, to TRL's parser through `parse_trl_args`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from expander.commands._stdout import print_result


def add_passthrough_parser(
    sub: argparse._SubParsersAction,
    name: str,
    help: str,
    run: Callable,
    arg_help: str = "--config YAML and --key value overrides (see --help)",
) -> None:
    """A subcommand whose arguments all belong to its own config parser: they arrive untouched in `args.argv`.
    prefix_chars="+" makes argparse hand every `--key value` pair (and `--help`) through."""
    p = sub.add_parser(name, help=help, prefix_chars="+", add_help=False)
    p.add_argument("argv", nargs="*", help=arg_help)
    p.set_defaults(func=run)


def parse_trl_args(name: str, argv: list[str], make_parser: Callable) -> tuple:
    """Parse `--config YAML` + overrides with TRL's parser (`make_parser()`); returns its dataclasses.

    `--help` and argparse usage errors exit through `SystemExit` as argparse does. A missing config file and
    a bad key or value (TRL raises `ValueError`/`OSError` for them) become `ConfigError`s; the entry point's
    own setup errors are `ExpanderError`s that `expander.cli.main` maps.
    """
    from expander.errors import ConfigError

    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise ConfigError("--config needs a YAML path")
        if not Path(argv[index + 1]).is_file():
            raise ConfigError(f"config file {argv[index + 1]} does not exist")
    try:
        return make_parser().parse_args_and_config(argv)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"bad {name} config: {exc}") from None


def run_trl_command(name: str, argv: list[str], module: str, done: str) -> int:
    """Run a TRL entry point (`module.make_parser`, `module.main`) on `argv` and print `done` once, on the main
    process (`done` is formatted with `step` and `output_dir`)."""
    import importlib

    entry = importlib.import_module(module)
    parsed = parse_trl_args(name, list(argv), entry.make_parser)
    trainer = entry.main(*parsed)
    if trainer.accelerator.is_main_process:  # once, not once per process
        print_result(done.format(step=trainer.state.global_step, output_dir=parsed[1].output_dir))
    return 0
