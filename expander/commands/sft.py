"""`expander sft --config configs/sft/tiny_cpu.yaml [--key value ...]`: SFT on synthetic pairs.

Every key of the YAML (script args, TRL `SFTConfig`, model config) can be overridden on the command line,
TRL-style: `expander sft --config configs/sft/tiny_cpu.yaml --max_steps 2 --output_dir runs/x`.
Re-running into an output dir with checkpoints resumes from the last one. `expander sft --help` lists all keys.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    # TRL's parser owns every flag (all of SFTConfig); prefix_chars="+" hands `--key value` pairs through.
    p = sub.add_parser(
        "sft", help="fine-tune the expander on synthetic (short -> long) pairs (--config YAML, TRL-style overrides)",
        prefix_chars="+", add_help=False,
    )
    p.add_argument("trl_args", nargs="*", help="--config YAML and --key value overrides (see --help)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from expander.cli import CommandError

    argv = list(args.trl_args)
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise CommandError("--config needs a YAML path", code=2)
        if not Path(argv[index + 1]).is_file():
            raise CommandError(f"config file {argv[index + 1]} does not exist", code=2)

    from expander.train.sft import SFTSetupError, main, make_parser

    parser = make_parser()
    try:
        script_args, training_args, model_args = parser.parse_args_and_config(argv)
    except SystemExit as exc:  # argparse already printed usage/help or the bad flag
        return int(exc.code or 0)
    except (ValueError, OSError) as exc:
        raise CommandError(f"bad sft config: {exc}", code=2) from None
    try:
        trainer = main(script_args, training_args, model_args)
    except SFTSetupError as exc:
        raise CommandError(str(exc), code=2) from None
    print(f"trained to step {trainer.state.global_step}; adapter/model and card in {training_args.output_dir}/final")
    return 0
