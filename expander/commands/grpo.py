"""`expander grpo --config YAML [--key value ...]`: GRPO on rendered images (see `expander.train.grpo`).

Every key of the YAML (script args, TRL `GRPOConfig`, model config) can be overridden on the command line,
TRL-style: `expander grpo --config configs/grpo/tiny_cpu.yaml --max_steps 2 --output_dir runs/x`.
`expander grpo --help` lists all keys.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    # TRL's parser owns every flag (hundreds of GRPOConfig keys); it is imported only when the command runs,
    # so `expander --help` stays fast. prefix_chars="+" makes argparse hand all `--key value` pairs through.
    p = sub.add_parser(
        "grpo", help="train the expander with GRPO on rendered images (--config YAML, TRL-style overrides)",
        prefix_chars="+", add_help=False,
    )
    p.add_argument("trl_args", nargs="*", help="--config YAML and --key value overrides (see --help)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from expander.cli import CommandError

    argv = list(args.trl_args)
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise CommandError("--config needs a YAML path", code=2)
        from pathlib import Path

        if not Path(argv[index + 1]).is_file():
            raise CommandError(f"config file {argv[index + 1]} does not exist", code=2)

    from expander.models import ModelNotFoundError
    from expander.train.grpo import GRPOSetupError, main, make_parser

    parser = make_parser()
    try:
        script_args, training_args, model_args = parser.parse_args_and_config(argv)
    except SystemExit as exc:  # argparse already printed usage/help or the bad flag
        return int(exc.code or 0)
    except (ValueError, OSError) as exc:
        raise CommandError(f"bad grpo config: {exc}", code=2) from None
    try:
        trainer = main(script_args, training_args, model_args)
    except (GRPOSetupError, ModelNotFoundError) as exc:
        raise CommandError(str(exc), code=2) from None
    print(f"trained to step {trainer.state.global_step}; outputs in {training_args.output_dir}")
    return 0
