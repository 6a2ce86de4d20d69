"""Does GRPO learn here? 30 steps of the tiny recipe on CPU, with rewards that mean something even with tiny
random image models, and the image rewards still running for plumbing.

    .venv/bin/python benchmarks/grpo_learning.py [--steps 30] [--output-dir runs/bench/grpo_learning]
        [--sft-adapter default|none|DIR] [--max-prompts 4] [--torch-threads N]

The policy starts as the built-in expander (SmolLM2-135M + its shipped SFT adapter; `--sft-adapter none` for the
bare base, whose completions are mostly gated stories, so the gate term swamps everything else for 30 steps).

The meaningful signal: `format` with an 8-20 word target under a 32-token limit (the untuned built-in
model rambles to the token limit, so it must learn to stop), and `faithfulness` reduced to its text part
(the constraint score of the expansion against the short prompt, CLIP term off), plus the
constraint/safety `gate`. `aesthetic` and `diversity` run on tiny random CLIP/DINOv3 over tiny random
Krea 2 renders at a small weight: they prove the images flow, their values are not quality. Prints the
per-step reward curve (TRL's `reward`: the weighted sum of raw rewards) and each component, and passes
when the mean of the last 5 steps exceeds the mean of the first 5. Exit code 0 on a rise, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--output-dir", default=str(REPO / "runs" / "bench" / "grpo_learning"))
    parser.add_argument("--keep", action="store_true", help="resume an existing output dir instead of starting over")
    parser.add_argument(
        "--sft-adapter",
        default="default",
        help="policy start: 'default' (the built-in expander's shipped SFT adapter), 'none' (bare "
        "base) or an adapter dir",
    )
    parser.add_argument(
        "--max-prompts",
        type=int,
        default=4,
        help="first N prompts of configs/grpo/tiny_prompts.txt (default 4: with 2 prompts a step every "
        "5-step window sees each prompt about as often, so the curve shows learning, not which "
        "prompts a step drew)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads (default: every core; run it on a quiet machine)",
    )
    args = parser.parse_args(argv)

    from expander.train.grpo import main as grpo_main
    from expander.train.grpo import make_parser

    out = Path(args.output_dir)
    if out.exists() and not args.keep:
        shutil.rmtree(out)
    recipe = [
        "--config",
        str(REPO / "configs" / "grpo" / "tiny_cpu.yaml"),
        "--output_dir",
        str(out),
        "--max_steps",
        str(args.steps),
        "--save_steps",
        str(args.steps),
        "--max_completion_length",
        "32",
        "--temperature",
        "1.0",
        "--learning_rate",
        "5e-4",
        "--image_grid_steps",
        "10",
        "--sft_adapter",
        args.sft_adapter,
        "--torch_threads",
        str(args.torch_threads),
        "--max_prompts",
        str(args.max_prompts),
        "--rewards.format.min_words",
        "8",
        "--rewards.format.max_words",
        "20",
        "--rewards.faithfulness.clip_weight",
        "0",
        "--reward_weight_overrides",
        json.dumps({"format": 2.0, "faithfulness": 1.0, "aesthetic": 0.1, "diversity": 0.1, "safety": 0.1}),
    ]
    start = time.perf_counter()
    grpo_main(*make_parser().parse_args_and_config(recipe))
    wall = time.perf_counter() - start

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "reward" in r]
    names = [k.split("/")[1] for k in rows[0] if k.startswith("rewards/") and k.endswith("/mean")]
    print(f"\n{'step':>4} {'reward':>8} " + " ".join(f"{n:>12}" for n in names) + f" {'words':>6} {'step_s':>7}")
    for r in rows:
        print(
            f"{r['step']:>4} {r['reward']:>8.3f} "
            + " ".join(f"{r[f'rewards/{n}/mean']:>12.3f}" for n in names)
            + f" {r.get('completions/mean_length', float('nan')):>6.1f} {r.get('timing/step_s', float('nan')):>7.1f}"
        )
    curve = [r["reward"] for r in rows]
    first, last = sum(curve[:5]) / 5, sum(curve[-5:]) / 5
    print(f"\nreward curve: {' '.join(f'{v:.2f}' for v in curve)}")
    print(f"mean reward, first 5 steps: {first:.3f}; last 5 steps: {last:.3f}; rise: {last - first:+.3f}")
    print(f"{len(rows)} steps in {wall:.0f} s ({wall / max(len(rows), 1):.1f} s/step); outputs in {out}")
    return 0 if last > first else 1


if __name__ == "__main__":
    sys.exit(main())
