"""One GRPO step's reward pass on the tiny stack: 4 prompts x 4 completions through every reward.

    python benchmarks/reward_pass.py [--config configs/rewards/tiny.yaml] [--repeats 5]

Prints the number of renders (must be 16: each completion rendered once, shared by the 4 image
rewards), the time spent rendering vs scoring, and the ratio

    total reward-pass time / (rendering the 16 images + one batch forward per reward model)

measured side by side in the same process on the same (text, seed) pairs (target <= 1.2: the suite
adds at most 20% over the unavoidable work). Medians over `--repeats` steps after one warm-up step,
the two sides alternating in order. Both wall-clock and process CPU time are reported: on a shared
machine, CPU time is the fairer measure (wall time also counts time slices lost to other processes).
Random tiny weights: this measures plumbing overhead, not quality.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The reward suite's test rows: 4 short prompts x 4 completions (one GRPO step of 4 groups).
from tests.rewards.test_suite import SHORTS, TAILS, completions_for  # noqa: E402


class Clock:
    """Wall and process-CPU seconds since construction."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "rewards" / "tiny.yaml"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import torch

    from expander.prompts import build_messages
    from expander.rewards import RewardSuite, load_rewards_config

    cfg = load_rewards_config(args.config)
    suite = RewardSuite(cfg)
    prompts = [build_messages(s, "medium") for s in SHORTS for _ in TAILS]
    texts = [text for s in SHORTS for text in completions_for(s)]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    shorts = [s for s in SHORTS for _ in TAILS]
    models = list(suite._clips.values())
    r = cfg.render
    per_func: dict[str, list[float]] = {name: [] for name in suite.names}

    def reward_pass(step: int) -> dict[str, float]:
        renders = suite.cache.render_count
        clock = Clock()
        for fn in suite.funcs:
            t = time.perf_counter()
            fn(prompts, completions, step=step)
            per_func[fn.__name__].append(time.perf_counter() - t)
        wall, cpu = clock.read()
        return {"wall": wall, "cpu": cpu, "renders": suite.cache.render_count - renders}

    def bare_work(step: int) -> dict[str, float]:
        """Render the same 16 (text, seed) pairs directly, then one batch forward of each reward model."""
        seeds = [suite.cache.seed_for(s, step) for s in shorts]
        clock = Clock()
        images = suite.renderer.render(
            texts,
            seeds,
            height=r.height,
            width=r.width,
            num_inference_steps=r.num_inference_steps,
            guidance_scale=r.guidance_scale,
            output_type="pt",
        )
        render_wall, render_cpu = clock.read()
        for clip in models:
            clip.encode_images(images)
        if suite.dino is not None:
            suite.dino.embed(images)
        if suite.image_classifier is not None:
            suite.image_classifier.probabilities(images)
        wall, cpu = clock.read()
        return {"wall": wall, "cpu": cpu, "render_wall": render_wall, "render_cpu": render_cpu}

    reward_pass(step=0)  # warm-up: kernels, text-embedding caches, constraint word lists
    bare_work(step=0)
    passes, bares, pass_render = [], [], []
    for step in range(1, args.repeats + 1):
        if step % 2 == 0:  # alternate the order so drift on a shared machine favours neither side
            bares.append(bare_work(step))
        seconds_before = suite.cache.render_seconds
        passes.append(reward_pass(step))
        pass_render.append(suite.cache.render_seconds - seconds_before)
        if step % 2 == 1:
            bares.append(bare_work(step))

    def med(rows, key):
        return statistics.median(row[key] for row in rows)

    renders = [p["renders"] for p in passes]
    print(
        f"reward functions: {', '.join(suite.names)}  (torch threads: {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    print(f"renders per step: {renders} (expected 16 = 4 prompts x 4 completions)")
    rendering = statistics.median(pass_render)
    print(
        f"reward pass (wall): {med(passes, 'wall'):.3f} s = rendering {rendering:.3f} s "
        f"+ scoring {med(passes, 'wall') - rendering:.3f} s"
    )
    print(
        f"bare work   (wall): {med(bares, 'wall'):.3f} s = rendering {med(bares, 'render_wall'):.3f} s "
        f"+ one forward per reward model {med(bares, 'wall') - med(bares, 'render_wall'):.3f} s"
    )
    print(
        "per reward function, wall (the first image reward includes the 16 renders): "
        + ", ".join(f"{n} {statistics.median(v[1:]):.3f} s" for n, v in per_func.items())
    )
    for key in ("cpu", "wall"):
        ratio = med(passes, key) / med(bares, key)
        print(
            f"ratio total / (render + one forward per model), {key} time: {ratio:.3f}  "
            f"(target <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})"
        )
    return 0 if all(n == 16 for n in renders) else 1


if __name__ == "__main__":
    raise SystemExit(main())
