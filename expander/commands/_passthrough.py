"""Shared plumbing of the subcommands whose flags belong to a config parser (`sft`, `grpo`, `synth`, `eval`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def add_passthrough_parser(
    sub: argparse._SubParsersAction, name: str, help: str, run: Callable,
    arg_help: str = "--config YAML and --key value overrides (see --help)",
) -> None:
    """A subcommand whose flags all belong to its own config parser (TRL's, or `expander.config`): they
    arrive untouched in `args.argv`. The heavy parser is imported only when the command runs, so
    `expander --help` stays fast; prefix_chars="+" makes argparse hand every `--key value` pair through."""
    p = sub.add_parser(name, help=help, prefix_chars="+", add_help=False)
    p.add_argument("argv", nargs="*", help=arg_help)
    p.set_defaults(func=run)


def parse_and_run(name: str, argv: list[str], make_parser: Callable, main: Callable, setup_errors: tuple):
    """Parse `--config YAML` + overrides with TRL's parser and call `main(*parsed)`.

    Returns `(trainer, parsed)`. `--help` and argparse usage errors exit through `SystemExit` as argparse
    does. A missing config file, a bad key or value, and the entry point's own setup errors
    (`setup_errors`) become `CommandError`s (exit 2).
    """
    from expander.cli import CommandError

    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise CommandError("--config needs a YAML path", code=2)
        if not Path(argv[index + 1]).is_file():
            raise CommandError(f"config file {argv[index + 1]} does not exist", code=2)
    try:
        parsed = make_parser().parse_args_and_config(argv)
    except (ValueError, OSError) as exc:
        raise CommandError(f"bad {name} config: {exc}", code=2) from None
    try:
        return main(*parsed), parsed
    except setup_errors as exc:
        raise CommandError(str(exc), code=2) from None
