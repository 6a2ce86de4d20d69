"""The `expander` command line: one entry point, one module per subcommand under `expander/commands/`.

A subcommand module defines `register(subparsers)`, which adds its parser and sets `func` (a callable
taking the parsed args and returning an exit code). Modules are discovered, so adding a command is
adding a file. Each command reads its settings with `expander.config.load_command_line` (or TRL's parser),
importing its config only when it runs: building this parser imports nothing heavy.

Output: stdout carries only the result (JSON with `--json`); every log, ours and third-party, goes to stderr.
`main` runs the command with file descriptor 1 and `sys.stdout` pointed at stderr (`_stdout.logs_to_stderr`),
and the command prints its result with `expander.commands._stdout.print_result`. `COMMAND --help` is the one
exception: the help is the result, and the command's parser exits before anything else runs.

Errors: every user-facing failure is an `ExpanderError`; `main` prints `error: <message>` on stderr and
returns its exit code (2 unless the error says otherwise), here and nowhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import sys

import expander.commands as commands_pkg
from expander import __version__
from expander.commands._stdout import logs_to_stderr
from expander.errors import CommandError, ExpanderError

__all__ = ["CommandError", "ExpanderError", "main", "make_parser"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expander",
        description="Prompt expander for Krea 2.",
        epilog="`expander COMMAND --help` lists the keys of a command.",
    )
    parser.add_argument("--version", action="version", version=f"expander {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands_pkg.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    wants_help = any(a in ("-h", "--help") for a in getattr(args, "argv", ()))
    try:
        with contextlib.nullcontext() if wants_help else logs_to_stderr():
            return int(args.func(args) or 0)
    except ExpanderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
