"""`expander render --model REF --prompt P --seed S --out DIR`: render prompts with Krea 2 into PNG files.

Every prompt is rendered with every seed (a prompt x seed grid), batched and with each prompt encoded
once. `DIR` receives `p{prompt}-s{seed}.png` files and `manifest.json` (prompts, seeds, files, settings).
The options are the keys of `RenderCommandConfig` (`expander render --help`), also readable from `--config YAML`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

from expander.commands._passthrough import add_passthrough_parser
from expander.commands._stdout import print_result
from expander.errors import ConfigError


@dataclass
class RenderCommandConfig:
    """Settings of `expander render`: every prompt is rendered with every seed.

    Attributes:
        model: Krea 2 diffusers directory, hub id, or `tiny:krea2` (the tiny random Krea 2).
        prompt: a prompt (repeat `--prompt P` for several).
        out: output directory.
        seed: a seed (repeat `--seed S` for several; none given: 0).
        preset: `turbo`: 8 steps, guidance 0 (distilled); `raw`: 28 steps, guidance 4.5 (base).
        height, width: pixels, rounded up to a multiple of 16.
        steps: denoising steps (None: the preset's).
        guidance: guidance scale (None: the preset's).
        batch_size: images per pipeline call (halved on CUDA out-of-memory).
        dtype: None: bf16 on CUDA, fp32 on CPU.
        device: None: cuda when available, else cpu.
        offload: model CPU offload (less GPU memory, slower).
        compile: torch.compile the transformer blocks (slow first call).
        attention_backend: diffusers attention backend (None: PyTorch SDPA).
    """

    model: str
    prompt: list[str] = field(metadata={"repeat": True})
    out: str
    seed: list[int] = field(default_factory=list, metadata={"repeat": True})
    preset: Literal["turbo", "raw"] = "turbo"
    height: int = 1024
    width: int = 1024
    steps: int | None = None
    guidance: float | None = None
    batch_size: int = 8
    dtype: Literal["bf16", "fp16", "fp32"] | None = None
    device: str | None = None
    offload: bool = False
    compile: bool = False
    attention_backend: str | None = None

    def __post_init__(self) -> None:
        if not self.prompt or any(not p.strip() for p in self.prompt):
            raise ConfigError("--prompt must not be empty")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {self.steps}")
        if self.height < 1 or self.width < 1:
            raise ConfigError(f"--height and --width must be positive, got {self.height}x{self.width}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")


def register(sub: argparse._SubParsersAction) -> None:
    add_passthrough_parser(sub, "render", "render prompts with Krea 2 (every prompt x every seed) into PNGs", run)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from expander.config import load_command_line
    from expander.errors import CommandError

    cfg = load_command_line(
        args.argv,
        RenderCommandConfig,
        prog="expander render",
        description="Render every prompt with every seed with Krea 2 into DIR: "
        "p{prompt}-s{seed}.png files and manifest.json.",
    ).config
    prompts = [p.strip() for p in cfg.prompt]
    seeds = cfg.seed or [0]
    out = Path(cfg.out).expanduser()
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a directory", code=2)

    from diffusion import Krea2Renderer
    from expander.models import resolve_krea2_model

    # Bad settings (offload without CUDA) and models are `ExpanderError`s: the CLI reports them, exit status 2.
    renderer = Krea2Renderer.from_pretrained(
        resolve_krea2_model(cfg.model),
        preset=cfg.preset,
        dtype=cfg.dtype,
        device=cfg.device,
        offload=cfg.offload,
        batch_size=cfg.batch_size,
        compile=cfg.compile,
        attention_backend=cfg.attention_backend,
    )

    grid = [(i, p, s) for i, p in enumerate(prompts) for s in seeds]
    start = time.perf_counter()
    images = renderer.render(
        [p for _, p, _ in grid],
        [s for _, _, s in grid],
        height=cfg.height,
        width=cfg.width,
        num_inference_steps=cfg.steps,
        guidance_scale=cfg.guidance,
    )
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for (i, prompt, seed), image in zip(grid, images):
        name = f"p{i:03d}-s{seed}.png"
        image.save(out / name)
        files.append({"file": name, "prompt": prompt, "seed": seed})
        print_result(out / name)
    settings = renderer.settings()
    settings.update(height=images[0].height, width=images[0].width)
    if cfg.steps is not None:
        settings["steps"] = cfg.steps
    if cfg.guidance is not None:
        settings["guidance"] = cfg.guidance
    (out / "manifest.json").write_text(
        json.dumps(
            {
                "images": files,
                "settings": settings,
                "seconds": round(seconds, 3),
                "images_per_second": round(len(images) / seconds, 4),
            },
            indent=2,
        )
        + "\n"
    )
    return 0
