"""One GRPO step's reward pass on the tiny stack: 4 prompts x 4 completions through every reward.

    python benchmarks/reward_pass.py [--config configs/rewards/tiny.yaml] [--repeats 3]

Prints the number of renders (must be 16: each completion rendered once, shared by the 4 image
rewards), the time spent rendering vs scoring, and the ratio

    total reward-pass time / (rendering the 16 images + one batch forward per reward model)

measured side by side in the same process on the same images (target <= 1.2: the suite adds at most
20% over the unavoidable work). Medians over `--repeats` steps, after one warm-up step.
Random tiny weights: this measures plumbing overhead, not quality.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHORTS = ["three red apples on a table", "a lighthouse at dusk", "a watercolor fox in snow", 'a sign that says "OPEN"']
TAILS = [
    ", soft window light, shallow depth of field, fine film grain and muted colours.",
    ", seen from a low angle with dramatic clouds, crisp detail and a calm mood.",
    ", wide shot, golden hour glow, gentle haze, textured surfaces and careful composition.",
    ", centred composition, diffuse light, rich texture and a quiet, still atmosphere.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "rewards" / "tiny.yaml"))
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)

    import torch

    from expander.prompts import build_messages
    from expander.rewards import RewardSuite, load_rewards_config

    cfg = load_rewards_config(args.config)
    suite = RewardSuite(cfg)
    prompts = [build_messages(s, "medium") for s in SHORTS for _ in TAILS]
    texts = [s[0].upper() + s[1:] + t for s in SHORTS for t in TAILS]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    shorts = [s for s in SHORTS for _ in TAILS]
    clip = next(iter(suite._clips.values()))
    r = cfg.render

    per_func: dict[str, list[float]] = {name: [] for name in suite.names}

    def reward_pass(step: int) -> float:
        start = time.perf_counter()
        for fn in suite.funcs:
            t = time.perf_counter()
            fn(prompts, completions, step=step)
            per_func[fn.__name__].append(time.perf_counter() - t)
        return time.perf_counter() - start

    def bare_work(step: int) -> tuple[float, float]:
        """Render the same 16 (text, seed) pairs directly, then one forward of each reward model."""
        seeds = [suite.cache.seed_for(s, step) for s in shorts]
        start = time.perf_counter()
        images = suite.renderer.render(texts, seeds, height=r.height, width=r.width,
                                       num_inference_steps=r.num_inference_steps, guidance_scale=r.guidance_scale,
                                       output_type="pt")
        rendered = time.perf_counter()
        clip.encode_images(images)
        if suite.dino is not None:
            suite.dino.embed(images)
        return rendered - start, time.perf_counter() - start

    reward_pass(step=0)  # warm-up: kernels, text-embedding caches
    bare_work(step=0)
    totals, render_in_pass, bare_render, bare_total, renders = [], [], [], [], []
    for step in range(1, args.repeats + 1):
        if step % 2 == 0:  # alternate the order so drift on a shared machine does not favour one side
            br, bt = bare_work(step)
        before_n, before_s = suite.cache.render_count, suite.cache.render_seconds
        totals.append(reward_pass(step))
        renders.append(suite.cache.render_count - before_n)
        render_in_pass.append(suite.cache.render_seconds - before_s)
        if step % 2 == 1:
            br, bt = bare_work(step)
        bare_render.append(br)
        bare_total.append(bt)

    med = statistics.median
    total, rendering = med(totals), med(render_in_pass)
    print(f"reward functions: {', '.join(suite.names)}  (torch threads: {torch.get_num_threads()})")
    print(f"renders per step: {renders} (expected 16 = 4 prompts x 4 completions)")
    print(f"reward pass: {total:.3f} s = rendering {rendering:.3f} s + scoring {total - rendering:.3f} s")
    print(f"bare work:   {med(bare_total):.3f} s = rendering {med(bare_render):.3f} s + one forward per reward "
          f"model {med(bare_total) - med(bare_render):.3f} s")
    print("per reward function (the first image reward includes the 16 renders): "
          + ", ".join(f"{n} {med(v[1:]):.3f} s" for n, v in per_func.items()))
    ratio = total / med(bare_total)
    print(f"ratio total / (render + one forward per model) = {ratio:.3f}  (target <= 1.2: "
          f"{'met' if ratio <= 1.2 else 'NOT met'})")
    return 0 if all(n == 16 for n in renders) else 1


if __name__ == "__main__":
    raise SystemExit(main())
