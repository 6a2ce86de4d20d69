"""`expander sft --config configs/sft/tiny_cpu.yaml [--key value ...]`: SFT on synthetic pairs.

Every key of the YAML (script args, TRL `SFTConfig`, model config) can be overridden on the command line,
TRL-style: `expander sft --config configs/sft/tiny_cpu.yaml --max_steps 2 --output_dir runs/x`.
Re-running into an output dir with checkpoints resumes from the last one. `expander sft --help` lists all keys.
"""

from __future__ import annotations

import argparse

from expander.commands._passthrough import add_passthrough_parser, run_trl_command


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub,
        "sft",
        "fine-tune the expander on synthetic (short -> long) pairs (--config YAML, TRL-style overrides)",
        run,
    )


def run(args: argparse.Namespace) -> int:
    return run_trl_command(
        "sft", args.argv, "expander.train.sft", "trained to step {step}; adapter/model and card in {output_dir}/final"
    )
