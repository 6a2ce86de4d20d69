"""`expander render --model REF --prompt P --seed S --out DIR`: render prompts with Krea 2 into PNG files.

Every prompt is rendered with every seed (a prompt x seed grid), batched and with each prompt encoded
once. `DIR` receives `p{prompt}-s{seed}.png` files and `manifest.json` (prompts, seeds, files, settings).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render prompts with Krea 2 (every prompt x every seed) into PNGs")
    p.add_argument("--model", required=True, help="Krea 2 diffusers directory or hub id")
    p.add_argument("--prompt", action="append", required=True, help="a prompt (repeat for several)")
    p.add_argument("--seed", type=int, action="append", default=None, help="a seed (repeat for several; default 0)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--preset", choices=("turbo", "raw"), default="turbo",
                   help="turbo: 8 steps, guidance 0 (distilled); raw: 28 steps, guidance 4.5 (base)")
    p.add_argument("--height", type=int, default=1024, help="pixels, rounded up to a multiple of 16 (default 1024)")
    p.add_argument("--width", type=int, default=1024, help="pixels, rounded up to a multiple of 16 (default 1024)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the preset's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=8, help="images per pipeline call (halved on CUDA OOM)")
    p.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default=None,
                   help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--offload", action="store_true", help="model CPU offload (less GPU memory, slower)")
    p.add_argument("--compile", action="store_true", help="torch.compile the transformer blocks (slow first call)")
    p.add_argument("--attention-backend", default=None, help="diffusers attention backend (default: PyTorch SDPA)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from expander.cli import CommandError

    prompts = [p.strip() for p in args.prompt]
    if any(not p for p in prompts):
        raise CommandError("--prompt must not be empty", code=2)
    seeds = args.seed if args.seed else [0]
    if args.steps is not None and args.steps < 1:
        raise CommandError(f"--steps must be >= 1, got {args.steps}", code=2)
    if args.height < 1 or args.width < 1:
        raise CommandError(f"--height and --width must be positive, got {args.height}x{args.width}", code=2)
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}", code=2)
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a directory", code=2)

    from diffusion import Krea2ModelError, Krea2Renderer

    try:
        renderer = Krea2Renderer.from_pretrained(
            args.model, preset=args.preset, dtype=args.dtype, device=args.device, offload=args.offload,
            batch_size=args.batch_size, compile=args.compile, attention_backend=args.attention_backend,
        )
    except (Krea2ModelError, ValueError) as exc:
        raise CommandError(str(exc), code=2) from None

    grid = [(i, p, s) for i, p in enumerate(prompts) for s in seeds]
    start = time.perf_counter()
    images = renderer.render([p for _, p, _ in grid], [s for _, _, s in grid], height=args.height,
                             width=args.width, num_inference_steps=args.steps, guidance_scale=args.guidance)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for (i, prompt, seed), image in zip(grid, images):
        name = f"p{i:03d}-s{seed}.png"
        image.save(out / name)
        files.append({"file": name, "prompt": prompt, "seed": seed})
        print(out / name)
    settings = renderer.settings()
    settings.update(height=images[0].height, width=images[0].width)
    if args.steps is not None:
        settings["steps"] = args.steps
    if args.guidance is not None:
        settings["guidance"] = args.guidance
    (out / "manifest.json").write_text(json.dumps(
        {"images": files, "settings": settings, "seconds": round(seconds, 3),
         "images_per_second": round(len(images) / seconds, 4)}, indent=2) + "\n")
    return 0
