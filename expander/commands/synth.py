"""`expander synth --config configs/synth/tiny_cpu.yaml [--key value ...]`: make (short -> long) pairs.

Keys of the YAML, and the `--key value` overrides after it, are the fields of
`expander.train.synth.SynthConfig` (`expander synth --help` lists them). Re-running skips captions already
done in `output_dir`.
"""

from __future__ import annotations

import argparse

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub,
        "synth",
        "synthesise (short -> long) training pairs from dense captions with a teacher LLM",
        run,
    )


def run(args: argparse.Namespace) -> int:
    from expander.config import load_command_line
    from expander.train.synth import SynthConfig

    line = load_command_line(
        args.argv,
        SynthConfig,
        prog="expander synth",
        description="Synthesise (short -> long) training pairs from dense captions with a teacher LLM. "
        "Re-running skips captions already done in output_dir.",
    )

    from expander.train.synth import run_synth

    result = run_synth(line.config)
    print_result(
        f"{result.num_train + result.num_test} pairs (train {result.num_train}, test {result.num_test}) "
        f"from {result.captions_done} captions ({result.captions_new} new) in {result.output_dir}"
    )
    print_result("accepted by style: " + ", ".join(f"{k} {v}" for k, v in result.accepted_by_style.items()))
    print_result("rejected by reason: " + ", ".join(f"{k} {v}" for k, v in result.rejected_by_reason.items()))
    return 0
