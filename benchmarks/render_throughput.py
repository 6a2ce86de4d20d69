"""Images/s of `Krea2Renderer.render` versus one diffusers `Krea2Pipeline` call per image, side by side.

    python benchmarks/render_throughput.py                 # tiny Krea 2, 16 prompts x 2 seeds, 64x64, 8 steps
    python benchmarks/render_throughput.py --breakdown     # also: where the win comes from
    python benchmarks/render_throughput.py --threads 1     # steadiest figures on a shared machine
    python benchmarks/render_throughput.py --model DIR --size 512 --threads 2 --json out.json

Both sides load the same weights, render the same (prompt, seed) pairs with the same settings, and are
warmed up on an unrelated prompt first; the renderer starts with an empty text cache, so its time includes
encoding the 16 prompts once. The images are compared (mean absolute difference) to show both did the
same work. On the tiny random model the absolute numbers mean nothing; the ratio is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHORT = [
    "a red fox in snow",
    "a lighthouse at dusk",
    "two cats on a windowsill",
    "a bowl of ramen, top view",
    "an old sailor, oil painting",
    "a tiny robot watering a plant",
    'a neon sign that says "OPEN"',
    "a misty pine forest",
]
# Expansion-like prompts (what RL renders): dense, caption-style, 50-80 words.
DENSE = [
    "A red fox stands alert in deep fresh snow at the edge of a birch forest, its thick winter coat glowing "
    "orange against the pale blue shadows, breath visible in the cold air, soft overcast light, shallow depth "
    "of field, snowflakes drifting in the foreground, wildlife photography with a long telephoto lens.",
    "A white lighthouse with a red lantern room stands on a rocky cliff at dusk, waves crashing against dark "
    "basalt below, the beam sweeping across a violet and orange sky, a narrow path winding up the grassy "
    "slope, long exposure smoothing the sea into mist, wide-angle landscape photograph.",
    "Two cats sit on a sunlit wooden windowsill, a grey tabby curled asleep and a black cat with green eyes "
    "watching the street outside, potted herbs beside them, lace curtains casting patterned shadows, warm "
    "morning light, cozy interior photograph with soft focus background.",
    "An overhead view of a steaming bowl of tonkotsu ramen on a dark wooden table, a soft-boiled egg cut in "
    "half, slices of chashu pork, nori sheets, green onions and sesame seeds, chopsticks resting on the rim, "
    "a small dish of pickled ginger nearby, food photography with natural window light.",
    "Portrait of an old sailor with a weathered face and a white beard, wearing a navy wool cap and a thick "
    "knitted sweater, looking slightly to the left, warm light from a lantern on the left side, dark "
    "background, thick visible brush strokes, oil painting in a classical style.",
    "A tiny round robot with a dented copper body and glowing blue eyes waters a small green seedling in a "
    "terracotta pot using a miniature watering can, on a cluttered workbench with screws and tools, "
    "afternoon sunlight through a dusty window, whimsical 3D render with soft shadows.",
    'A pink neon sign that reads "OPEN" in cursive letters hangs in the rain-streaked window of a small '
    "diner at night, reflections of the glow on the wet sidewalk, a red booth and a coffee cup visible "
    "inside, cinematic street photography with shallow depth of field and moody blue tones.",
    "A misty pine forest at sunrise, tall dark trunks fading into fog, shafts of golden light breaking "
    "through the branches, moss-covered ground with ferns and a narrow dirt trail leading into the distance, "
    "quiet and serene atmosphere, landscape photograph in muted green and gold tones.",
]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="Krea 2 diffusers dir (default: the cached tiny model, seed 0)")
    p.add_argument("--size", type=int, default=64, help="square side in pixels (default 64)")
    p.add_argument("--steps", type=int, default=8, help="denoising steps (default 8, the turbo preset's)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per prompt (default 2)")
    p.add_argument("--batch-size", type=int, default=8, help="renderer micro-batch (default 8)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads, set explicitly (default 2)")
    p.add_argument(
        "--breakdown", action="store_true", help="also time the renderer with batch 1 and with the text cache off"
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from diffusers import Krea2Pipeline
    from diffusers.utils import logging as dlogging

    from diffusion import Krea2Renderer
    from diffusion.prompt_template import configure_prompt_template
    from expander.models import resolve_krea2_model

    dlogging.disable_progress_bar()
    model = Path(args.model) if args.model else resolve_krea2_model("tiny:krea2")
    prompts = SHORT + DENSE
    pairs = [(p, s) for p in prompts for s in range(args.seeds)]
    n = len(pairs)
    size = args.size

    pipe = Krea2Pipeline.from_pretrained(model)
    configure_prompt_template(pipe)  # token counts are not saved: set after every from_pretrained
    pipe.set_progress_bar_config(disable=True)

    def clock():
        # Wall time, and this process's CPU time. On a shared machine the wall clock also counts time spent
        # waiting for other processes; CPU time does not, but with several threads it includes OpenMP
        # threads spinning at barriers. With --threads 1 CPU time is the plain compute time.
        return time.perf_counter(), time.process_time()

    def elapsed(start):
        wall, cpu = clock()
        return wall - start[0], cpu - start[1]

    def pipeline_one(prompt, seed):
        return pipe(
            prompt,
            height=size,
            width=size,
            num_inference_steps=args.steps,
            guidance_scale=0.0,
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="pt",
        ).images

    def renderer_run(**kwargs):
        r = Krea2Renderer.from_pretrained(model, preset="turbo", **kwargs)
        r.render(["warm-up prompt, unrelated"], [999], height=size, width=size, num_inference_steps=args.steps)
        start = clock()
        out = r.render(
            [p for p, _ in pairs],
            [s for _, s in pairs],
            height=size,
            width=size,
            num_inference_steps=args.steps,
            output_type="pt",
        )
        return elapsed(start), out, r

    pipeline_one("warm-up prompt, unrelated", 999)
    start = clock()
    reference = torch.cat([pipeline_one(p, s) for p, s in pairs])
    pipeline_t = elapsed(start)

    renderer_t, images, r = renderer_run(batch_size=args.batch_size)
    rows = {"pipeline, one call per image": pipeline_t, f"renderer, batch {args.batch_size}, text cache": renderer_t}
    if args.breakdown:
        rows["renderer, batch 1, no text cache (padding trim only)"] = renderer_run(batch_size=1, text_cache_size=0)[0]
        rows["renderer, batch 1, text cache"] = renderer_run(batch_size=1)[0]
        rows[f"renderer, batch {args.batch_size}, no text cache"] = renderer_run(
            batch_size=args.batch_size, text_cache_size=0
        )[0]
    results = {
        "model": str(model),
        "images": n,
        "prompts": len(prompts),
        "seeds_per_prompt": args.seeds,
        "size": size,
        "steps": args.steps,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "pipeline_images_per_s": round(n / pipeline_t[0], 3),
        "renderer_images_per_s": round(n / renderer_t[0], 3),
        "ratio_wall": round(pipeline_t[0] / renderer_t[0], 2),
        "ratio_cpu": round(pipeline_t[1] / renderer_t[1], 2),
        "renderer_text_encoder_calls": r.text_encoder_calls,
        "mean_abs_diff_vs_pipeline": float((images - reference).abs().mean()),
        "rows": {name: {"wall_s": round(w, 3), "cpu_s": round(c, 3)} for name, (w, c) in rows.items()},
    }

    print(
        f"model {model}\n{n} images ({len(prompts)} prompts x {args.seeds} seeds), {size}x{size}, "
        f"{args.steps} steps, torch threads {args.threads}"
    )
    print(f"{'':54s} {'wall s':>8s} {'images/s':>9s} {'ratio':>7s} {'cpu s':>8s} {'ratio':>7s}")
    for name, (wall, cpu) in rows.items():
        print(
            f"{name:54s} {wall:8.2f} {n / wall:9.3f} {pipeline_t[0] / wall:6.2f}x {cpu:8.2f} "
            f"{pipeline_t[1] / cpu:6.2f}x"
        )
    print(
        f"ratio (renderer / pipeline images/s): {results['ratio_wall']:.2f}x wall clock, "
        f"{results['ratio_cpu']:.2f}x CPU time; mean |renderer - pipeline| = "
        f"{results['mean_abs_diff_vs_pipeline']:.2e} (pixels in [0, 1])"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
