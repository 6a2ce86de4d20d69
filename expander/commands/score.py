"""`expander score --config CONFIG --input rows.jsonl`: every reward, the gates and the total per row."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from expander.files import iter_jsonl


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score (short prompt, completion) rows with the reward suite")
    p.add_argument("--config", required=True, help="rewards config YAML, e.g. configs/rewards/tiny.yaml")
    p.add_argument("--input", required=True, help="JSONL file; each line has 'prompt' (short) and 'completion'")
    p.add_argument("--step", type=int, default=0, help="step whose seeds are used (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object: {rows: [...], renders: N, ...}")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="config overrides after --, e.g. -- --render.height 64")
    p.set_defaults(func=run)


def read_rows(path: Path) -> tuple[list[str], list[str]]:
    """Read and validate the input rows. Raises `ValueError` naming the line and the problem."""
    if not path.is_file():
        raise ValueError(f"input file {path} does not exist")
    prompts, completions = [], []
    for lineno, row in iter_jsonl(path):
        for key in ("prompt", "completion"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise ValueError(f"{path}:{lineno}: '{key}' must be a non-empty string")
        prompts.append(row["prompt"])
        completions.append(row["completion"])
    if not prompts:
        raise ValueError(f"{path} has no rows")
    return prompts, completions


def _fmt(value) -> str:
    return "None" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def run(args: argparse.Namespace) -> int:
    from expander.errors import CommandError
    from expander.config import ConfigError
    from expander.rewards import RewardSuite, load_rewards_config
    from expander.rewards.errors import RewardModelError

    overrides = [o for o in (args.overrides or []) if o != "--"]
    try:
        cfg = load_rewards_config(args.config, overrides)
        prompts, completions = read_rows(Path(args.input))
    except (ConfigError, ValueError) as exc:
        raise CommandError(str(exc), code=2) from None
    try:
        suite = RewardSuite(cfg)
    except RewardModelError as exc:
        raise CommandError(str(exc), code=2) from None
    rows = suite.score_rows(prompts, completions, step=args.step)
    renders = suite.cache.render_count if suite.cache else 0
    if args.json:
        print(json.dumps({
            "rows": rows, "renders": renders, "reward_names": suite.names,
            "weights": dict(zip(suite.names, suite.weights)), "errors": dict(suite.errors),
        }, indent=2))
        return 0
    names = [n for n in suite.names if n != "gate"]
    for i, row in enumerate(rows):
        gates = row["gates"]
        print(f"[{i}] {row['prompt']!r} seed={row['seed']}")
        print("    " + "  ".join(f"{n}={_fmt(row['rewards'][n])}" for n in names))
        status = "pass" if gates["pass"] else "GATED (" + "; ".join(gates.get("reasons", [])) + ")"
        print(f"    gates: {status}  weighted_sum={_fmt(row['weighted_sum'])}  total={_fmt(row['total'])}")
    print(f"renders: {renders} for {len(rows)} rows; weights: "
          + ", ".join(f"{n}={w:.3g}" for n, w in zip(suite.names, suite.weights)))
    return 0
