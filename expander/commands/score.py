"""`expander score --config REWARDS_YAML --input rows.jsonl [--json] [--step N] [--key value ...]`: every reward,
the gates and the total per row.

`--config` is a rewards config (`expander.rewards.config.RewardsConfig`, e.g. configs/rewards/tiny.yaml); its keys
can be overridden after it (`--render.height 64`); `--input`, `--step` and `--json` are the command's own
(`ScoreOptions`). `expander score --help` lists them all.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result
from expander.errors import ExpanderError
from expander.files import iter_jsonl


class ScoreInputError(ExpanderError, ValueError):
    """An input rows file that cannot be scored; the message names the file, the line and the problem."""


@dataclass
class ScoreOptions:
    """What `expander score` scores and how it prints (the reward settings are the config's).

    Attributes:
        input: JSONL file; each line has `prompt` (the short prompt) and `completion`.
        step: the training step whose seeds are used.
        json: print one JSON object: `{rows: [...], renders: N, reward_names, weights, errors}`.
    """

    input: str
    step: int = 0
    json: bool = False


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(sub, "score", "score (short prompt, completion) rows with the reward suite", run)


def read_rows(path: Path) -> tuple[list[str], list[str]]:
    """Read and validate the input rows. Raises `ScoreInputError` naming the file, the line and the problem."""
    if not path.is_file():
        raise ScoreInputError(f"input file {path} does not exist")
    prompts, completions = [], []
    for lineno, row in iter_jsonl(path, error=ScoreInputError):
        for key in ("prompt", "completion"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise ScoreInputError(f"{path}:{lineno}: '{key}' must be a non-empty string")
        prompts.append(row["prompt"])
        completions.append(row["completion"])
    if not prompts:
        raise ScoreInputError(f"{path} has no rows")
    return prompts, completions


def _fmt(value) -> str:
    return "None" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def run(args: argparse.Namespace) -> int:
    from expander.config import load_command_line
    from expander.rewards import RewardSuite
    from expander.rewards.config import RewardsConfig

    line = load_command_line(
        args.argv,
        RewardsConfig,
        prog="expander score",
        options=ScoreOptions,
        config_required=True,
        description="Score (short prompt, completion) rows with the reward suite.",
    )
    cfg, opts = line.config, line.options
    prompts, completions = read_rows(Path(opts.input))
    suite = RewardSuite(cfg)
    rows = suite.score_rows(prompts, completions, step=opts.step)
    renders = suite.cache.render_count if suite.cache else 0
    if opts.json:
        print_result(
            json.dumps(
                {
                    "rows": rows,
                    "renders": renders,
                    "reward_names": suite.names,
                    "weights": dict(zip(suite.names, suite.weights)),
                    "errors": dict(suite.errors),
                },
                indent=2,
            )
        )
        return 0
    names = [n for n in suite.names if n != "gate"]
    for i, row in enumerate(rows):
        gates = row["gates"]
        print_result(f"[{i}] {row['prompt']!r} seed={row['seed']}")
        print_result("    " + "  ".join(f"{n}={_fmt(row['rewards'][n])}" for n in names))
        status = "pass" if gates["pass"] else "GATED (" + "; ".join(gates.get("reasons", [])) + ")"
        print_result(f"    gates: {status}  weighted_sum={_fmt(row['weighted_sum'])}  total={_fmt(row['total'])}")
    print_result(
        f"renders: {renders} for {len(rows)} rows; weights: "
        + ", ".join(f"{n}={w:.3g}" for n, w in zip(suite.names, suite.weights))
    )
    return 0
