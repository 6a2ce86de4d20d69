"""`expander make-tiny-krea2 DIR [--seed N] [--base]`: write a tiny random-weight Krea 2 (diffusers format) for
CPU tests, with the built-in SmolLM2's tokenizer."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result


@dataclass
class MakeTinyKrea2Config:
    """Settings of `expander make-tiny-krea2`.

    Attributes:
        seed: seed of the random weights.
        base: save is_distilled=False (the `raw` preset's checkpoint kind) instead of turbo's.
    """

    seed: int = 0
    base: bool = False


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub,
        "make-tiny-krea2",
        "write a tiny random Krea 2 directory (real architecture, tiny size)",
        run,
        arg_help="DIR, then --seed N and --base (see --help)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from expander.config import load_command_line
    from expander.errors import CommandError

    line = load_command_line(
        args.argv,
        MakeTinyKrea2Config,
        prog="expander make-tiny-krea2",
        description="Write a tiny random-weight Krea 2 (real architecture, diffusers format) for CPU tests.",
        positionals={"dir": "target directory (replaced if it holds a Krea 2 model)"},
    )
    target = Path(line.positionals["dir"]).expanduser()
    if target.exists() and not target.is_dir():
        raise CommandError(f"{target} exists and is not a directory", code=2)
    if target.is_dir() and any(target.iterdir()) and not (target / "model_index.json").is_file():
        raise CommandError(
            f"{target} is a non-empty directory that is not a Krea 2 model; refusing to replace it", code=2
        )

    from diffusion.tiny import build_tiny_krea2
    from expander.models import TINY_KREA2_TOKENIZER, resolve_model

    path = build_tiny_krea2(
        target, resolve_model(TINY_KREA2_TOKENIZER), seed=line.config.seed, is_distilled=not line.config.base
    )
    print_result(path)
    return 0
