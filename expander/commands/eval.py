"""`expander eval --config configs/eval/tiny_cpu.yaml [--output-dir DIR] [--no-progress] [--key value ...]`.

Runs an eval (`expander.eval.run.run_eval`): plan, expand, render, score, aggregate, report.

Keys of the YAML, and the `--key value` overrides after it, are the fields of
`expander.eval.config.EvalConfig` (`expander eval --help` lists them). Re-running with the same run
directory (or cache) renders only what is missing.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result


@dataclass
class EvalOptions:
    """How `expander eval` runs, apart from the recipe (not saved with the config).

    Attributes:
        progress: show progress bars (`--no-progress` hides them).
    """

    progress: bool = True


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(
        sub,
        "eval",
        "compare arms (raw prompt, expanders) on the same prompts and seeds: render, score, report",
        run,
        arg_help="--config YAML, --output-dir DIR and --key value overrides",
    )


def run(args: argparse.Namespace) -> int:
    from expander.config import load_command_line
    from expander.eval.config import EvalConfig

    line = load_command_line(
        args.argv,
        EvalConfig,
        prog="expander eval",
        options=EvalOptions,
        config_required=True,
        description="Compare arms (raw prompt, expanders) on the same prompts and seeds: render, "
        "score, report. Re-running renders only what is missing.",
    )

    from expander.eval.run import run_eval

    result = run_eval(line.config, progress=line.options.progress)
    if result.results is None:  # a helper process of a sharded eval: the main process reports
        return 0
    counts = result.summary["counts"]
    print_result(
        f"results: {result.output_dir / 'results.parquet'} ({counts['rows']} rows; rendered {result.rendered}, "
        f"expanded {result.expanded} this run)"
    )
    print_result(f"summary: {result.output_dir / 'summary.json'}")
    print_result(f"report:  {result.report_path}")
    for arm, layout in result.official.items():
        print_result(f"official {line.config.suite} layout of {arm}: {layout.folder} ({layout.images} images)")
    for w in result.summary["win_rates"]:
        if w["win_rate"] is not None:
            print_result(
                f"  {w['arm']} vs {w['other']} on {w['metric']}: win rate {w['win_rate']:.2f} "
                f"[{w['ci_low']:.2f}, {w['ci_high']:.2f}] over {w['n_pairs']} pairs"
            )
    return 0
