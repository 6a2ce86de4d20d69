"""`expander synth --config configs/synth/tiny_cpu.yaml [--key value ...]`: make (short -> long) pairs.

Keys of the YAML, and the `--key value` overrides after it, are the fields of
`expander.train.synth.SynthConfig` (`expander synth --help` lists them). Re-running skips captions already
done in `output_dir`.
"""

from __future__ import annotations

import argparse

from expander.commands._passthrough import add_passthrough_parser


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub, "synth", "synthesise (short -> long) training pairs from dense captions with a teacher LLM", run,
        arg_help="--config YAML and --key value overrides",
    )


def split_config_arg(argv: list[str]) -> tuple[str | None, list[str]]:
    """(`--config` path or None, the remaining `--key value` overrides). Raises CommandError if it has no path."""
    from expander.cli import CommandError

    argv = list(argv)
    path = None
    for i, arg in enumerate(argv):
        if arg == "--config" or arg.startswith("--config="):
            if "=" in arg:
                path = arg.split("=", 1)[1]
                del argv[i]
            elif i + 1 < len(argv):
                path = argv[i + 1]
                del argv[i : i + 2]
            else:
                raise CommandError("--config needs a YAML path", code=2)
            break
    return path, argv


def run(args: argparse.Namespace) -> int:
    from expander.cli import CommandError
    from expander.config import ConfigError, load_config
    from expander.train.synth import SynthConfig

    if any(a in ("-h", "--help") for a in args.argv):
        print("usage: expander synth --config YAML [--key value ...]\n")
        print(SynthConfig.__doc__)
        return 0
    path, overrides = split_config_arg(args.argv)
    try:
        cfg = load_config(SynthConfig, path, overrides)
    except ConfigError as exc:
        raise CommandError(str(exc), code=2) from None

    from expander.models import ModelNotFoundError
    from expander.train.data import CorpusError
    from expander.train.synth import SynthError, run_synth

    try:
        result = run_synth(cfg)
    except (CorpusError, SynthError, ModelNotFoundError, FileNotFoundError) as exc:
        raise CommandError(str(exc), code=2) from None
    print(
        f"{result.num_train + result.num_test} pairs (train {result.num_train}, test {result.num_test}) "
        f"from {result.captions_done} captions ({result.captions_new} new) in {result.output_dir}"
    )
    print("accepted by style: " + ", ".join(f"{k} {v}" for k, v in result.accepted_by_style.items()))
    print("rejected by reason: " + ", ".join(f"{k} {v}" for k, v in result.rejected_by_reason.items()))
    return 0
