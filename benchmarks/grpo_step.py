"""Where does one GRPO step go? Generation, rendering, scoring and backward, measured inside the same steps.

    .venv/bin/python benchmarks/grpo_step.py [--config configs/grpo/tiny_cpu.yaml] [--steps 3] [-- --key value ...]

Runs the recipe for a few steps (the first is warm-up and is not counted) and reads the per-step
`timing/*_s` metrics that `ExpanderGRPOTrainer` logs: generation (the policy's sampling), rendering (the
render cache's renderer calls), scoring (reward functions minus rendering), backward (loss forward +
backward). Prints each part's share and the ratio step / (sum of the four parts); the target is <= 1.3
(what is left: log-probs, tokenisation, optimizer step, our completions table and grid, logging).
Extra `--key value` pairs after `--` override the recipe (e.g. `-- --num_generations 8`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("generation", "rendering", "scoring", "backward")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "grpo" / "tiny_cpu.yaml"))
    parser.add_argument("--steps", type=int, default=3, help="steps to run; the first is warm-up")
    parser.add_argument("overrides", nargs="*", help="recipe overrides after --")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be >= 2 (the first step is warm-up)")

    from expander.train.grpo import main as grpo_main
    from expander.train.grpo import make_parser

    out = Path(tempfile.mkdtemp(prefix="grpo_step_"))
    try:
        recipe = [
            "--config",
            args.config,
            "--output_dir",
            str(out),
            "--max_steps",
            str(args.steps),
            "--save_steps",
            str(10**6),
            "--image_grid_steps",
            "0",
            "--report_to",
            "none",
            *args.overrides,
        ]
        grpo_main(*make_parser().parse_args_and_config(recipe))
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    rows = [r for r in rows if "timing/step_s" in r][1:]  # drop the warm-up step
    n = len(rows)
    mean = {k: sum(r[f"timing/{k}_s"] for r in rows) / n for k in (*PARTS, "other", "step")}
    parts = sum(mean[k] for k in PARTS)
    print(f"\nmean over {n} steps after warm-up ({args.config}):")
    for k in (*PARTS, "other"):
        print(f"  {k:<11} {mean[k]:8.2f} s  {100 * mean[k] / mean['step']:5.1f}% of the step")
    print(f"  {'step':<11} {mean['step']:8.2f} s")
    ratio = mean["step"] / parts
    print(f"step / (generation + rendering + scoring + backward) = {ratio:.3f}  (target <= 1.3)")
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
