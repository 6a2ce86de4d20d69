"""`expander make-tiny-krea2 DIR`: write a tiny random-weight Krea 2 (diffusers format) for CPU tests."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-tiny-krea2", help="write a tiny random Krea 2 directory (real architecture, tiny size)")
    p.add_argument("dir", help="target directory (replaced if it exists)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--base", action="store_true",
                   help="save is_distilled=False (the `raw` preset's checkpoint kind) instead of turbo's")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from expander.cli import CommandError
    from diffusion.tiny import build_tiny_krea2

    target = Path(args.dir).expanduser()
    if target.exists() and not target.is_dir():
        raise CommandError(f"{target} exists and is not a directory", code=2)
    if target.is_dir() and any(target.iterdir()) and not (target / "model_index.json").is_file():
        raise CommandError(f"{target} is a non-empty directory that is not a Krea 2 model; refusing to replace it",
                           code=2)
    path = build_tiny_krea2(target, seed=args.seed, is_distilled=not args.base)
    print(path)
    return 0
