"""`expander grpo --config YAML [--key value ...]`: GRPO on rendered images (see `expander.train.grpo`).

Every key of the YAML (script args, TRL `GRPOConfig`, model config) can be overridden on the command line,
TRL-style: `expander grpo --config configs/grpo/tiny_cpu.yaml --max_steps 2 --output_dir runs/x`.
`expander grpo --help` lists all keys.
"""

from __future__ import annotations

import argparse

from expander.commands._passthrough import add_passthrough_parser, run_trl_command


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub, "grpo", "train the expander with GRPO on rendered images (--config YAML, TRL-style overrides)", run
    )


def run(args: argparse.Namespace) -> int:
    return run_trl_command("grpo", args.argv, "expander.train.grpo", "trained to step {step}; outputs in {output_dir}")
