"""`expander eval --config configs/eval/tiny_cpu.yaml [--output-dir DIR] [--key value ...]`: run an eval.

Keys of the YAML, and the `--key value` overrides after it, are the fields of
`expander.eval.config.EvalConfig` (`expander eval --help` lists them). Re-running with the same run
directory (or cache) renders only what is missing.
"""

from __future__ import annotations

import argparse

from expander.commands._passthrough import add_passthrough_parser

USAGE = "usage: expander eval --config YAML [--output-dir DIR] [--no-progress] [--key value ...]"


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub, "eval", "compare arms (raw prompt, expanders) on the same prompts and seeds: render, score, report",
        run, arg_help="--config YAML, --output-dir DIR and --key value overrides",
    )


def parse_eval_argv(argv: list[str]) -> tuple[str, list[str], bool]:
    """(config path, config overrides with `--output-dir` mapped to `--output_dir`, show progress).

    Raises:
        CommandError: no `--config`, or an option without its value.
    """
    from expander.cli import CommandError

    argv = list(argv)
    path, overrides, progress = None, [], True
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in ("--config", "--output-dir"):
            if not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                    raise CommandError(f"{name} needs a value", code=2)
                value = argv[i + 1]
                i += 1
            if name == "--config":
                path = value
            else:
                overrides += ["--output_dir", value]
        elif arg == "--no-progress":
            progress = False
        else:
            overrides.append(arg)
        i += 1
    if path is None:
        raise CommandError(f"--config is required\n{USAGE}", code=2)
    return path, overrides, progress


def run(args: argparse.Namespace) -> int:
    from expander.cli import CommandError
    from expander.config import ConfigError
    from expander.eval.config import EvalConfig, load_eval_config

    if any(a in ("-h", "--help") for a in args.argv):
        print(USAGE + "\n")
        print(EvalConfig.__doc__)
        return 0
    path, overrides, progress = parse_eval_argv(args.argv)
    try:
        cfg = load_eval_config(path, overrides)
    except ConfigError as exc:
        raise CommandError(str(exc), code=2) from None

    from expander.eval.prompt_sets import PromptSetError
    from expander.eval.run import run_eval
    from expander.eval.scoring import ScorerUnavailable
    from expander.models import ModelNotFoundError

    try:
        result = run_eval(cfg, progress=progress)
    except (PromptSetError, ModelNotFoundError, ScorerUnavailable, FileNotFoundError) as exc:
        # FileNotFoundError covers a renderer directory that does not exist (diffusion.Krea2ModelError).
        raise CommandError(str(exc), code=2) from None
    counts = result.summary["counts"]
    print(f"results: {result.output_dir / 'results.parquet'} ({counts['rows']} rows; rendered {result.rendered}, "
          f"expanded {result.expanded} this run)")
    print(f"summary: {result.output_dir / 'summary.json'}")
    print(f"report:  {result.report_path}")
    for w in result.summary["win_rates"]:
        if w["win_rate"] is not None:
            print(f"  {w['arm']} vs {w['other']} on {w['metric']}: win rate {w['win_rate']:.2f} "
                  f"[{w['ci_low']:.2f}, {w['ci_high']:.2f}] over {w['n_pairs']} pairs")
    return 0
