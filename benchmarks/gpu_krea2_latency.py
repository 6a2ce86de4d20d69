"""Render latency of the full-size Krea 2 architecture (random weights, bf16) on one CUDA GPU.

    python benchmarks/gpu_krea2_latency.py                      # 1024x1024 and 512x512, 8 steps (turbo)
    python benchmarks/gpu_krea2_latency.py --compile --json gpu.json
    python benchmarks/gpu_krea2_latency.py --smoke --device cpu # tiny sizes: checks the script runs (CI/CPU)

Builds, directly on the GPU in bf16: the Krea 2 transformer at its published size (28 blocks, 48 heads x
128 = width 6144, ~12.9B parameters: diffusers' `Krea2Transformer2DModel` defaults), the full-size Qwen-Image
VAE (`AutoencoderKLQwenImage` defaults) and a Qwen3-VL-4B-sized text encoder (36 layers, hidden 2560; the
vision tower is shrunk to one block because text-to-image never runs it). No weights are downloaded: random
weights give real latency, not images. Rendering goes through `Krea2Renderer` (same code path as RL/eval).

Reported per size, after a warm-up render: seconds per image (text cache warm, i.e. the transformer + VAE
only), the text encoder's share on a cold prompt, and peak GPU memory. Without CUDA (and without --smoke)
it prints why and exits 0, so it is safe to run anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = (
    "A red fox stands alert in deep fresh snow at the edge of a birch forest, its thick winter coat glowing "
    "orange against pale blue shadows, soft overcast light, shallow depth of field, wildlife photography."
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 512], help="square sides (default 1024 512)")
    p.add_argument("--steps", type=int, default=8, help="denoising steps (default 8: turbo)")
    p.add_argument("--repeats", type=int, default=3, help="timed renders per size (median reported)")
    p.add_argument("--batch", type=int, default=1, help="images per render call (default 1)")
    p.add_argument("--compile", action="store_true", help="torch.compile the transformer blocks")
    p.add_argument("--attention-backend", default=None, help="diffusers attention backend (default SDPA)")
    p.add_argument("--smoke", action="store_true", help="tiny configs instead of full size (checks the script)")
    p.add_argument("--json", default=None, help="also write the results here")
    return p.parse_args(argv)


def build_pipeline(device, dtype, smoke: bool):
    """A Krea2Pipeline with random weights at full size (or tiny with `smoke`), created on `device`."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        Krea2Pipeline,
        Krea2Transformer2DModel,
    )
    from transformers import AutoTokenizer, Qwen3VLConfig, Qwen3VLModel

    from diffusion.tiny import TINY_SELECT_LAYERS
    from expander.models import TINY_KREA2_TOKENIZER, resolve_model

    # The real tokenizer (Qwen) is not available offline; SmolLM2's has the same chat tokens, and the
    # renderer derives the template token counts from whichever tokenizer it gets.
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(TINY_KREA2_TOKENIZER))
    tokenizer.padding_side = "right"
    if smoke:
        text = dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            mrope=[2, 1, 1],
        )
        transformer_kwargs = dict(
            in_channels=16,
            num_layers=2,
            attention_head_dim=16,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=128,
            timestep_embed_dim=32,
            text_hidden_dim=32,
            num_text_layers=4,
            text_num_attention_heads=4,
            text_num_key_value_heads=4,
            text_intermediate_size=64,
            axes_dims_rope=(4, 6, 6),
        )
        vae_kwargs = dict(base_dim=16, z_dim=4, num_res_blocks=1, latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
        select = TINY_SELECT_LAYERS
    else:
        # Qwen3-VL-4B's language model; Krea 2 taps 12 of its 36 layers.
        text = dict(
            hidden_size=2560,
            intermediate_size=9728,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            mrope=[24, 20, 20],
        )
        transformer_kwargs = {}  # diffusers' defaults are the published Krea 2 size
        vae_kwargs = {}
        select = None  # the pipeline's Krea 2 taps (2, 5, ..., 35)
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": text["hidden_size"],
            "intermediate_size": text["intermediate_size"],
            "num_hidden_layers": text["num_hidden_layers"],
            "num_attention_heads": text["num_attention_heads"],
            "num_key_value_heads": text["num_key_value_heads"],
            "head_dim": text["head_dim"],
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": text["mrope"],
                "mrope_interleaved": True,
            },
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "depth": 1,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 4,
            "out_hidden_size": text["hidden_size"],
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise straight in bf16 on the device: no fp32 copy of 13B params
    try:
        with torch.device(device):
            text_encoder = Qwen3VLModel(config).eval()
            transformer = Krea2Transformer2DModel(**transformer_kwargs).eval()
            vae = AutoencoderKLQwenImage(**vae_kwargs).eval()
    finally:
        torch.set_default_dtype(previous)
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=6400,
        time_shift_type="exponential",
    )
    return Krea2Pipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        text_encoder_select_layers=select,
        is_distilled=True,
    )


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA GPU on this machine (run on a CUDA machine, or pass --smoke --device cpu)")
        return None
    from diffusion import Krea2Renderer

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    start = time.perf_counter()
    pipe = build_pipeline(device, dtype, args.smoke)
    sync()
    build_s = time.perf_counter() - start
    params = {
        name: sum(p.numel() for p in getattr(pipe, name).parameters())
        for name in ("transformer", "text_encoder", "vae")
    }
    if args.attention_backend:
        pipe.transformer.set_attention_backend(args.attention_backend)
    if args.compile:
        pipe.transformer.compile_repeated_blocks(fullgraph=True)
    renderer = Krea2Renderer(
        pipe,
        ref="random-weights-full-size" if not args.smoke else "random-weights-smoke",
        preset="turbo",
        device=device,
        dtype=dtype,
        batch_size=max(1, args.batch),
        compile=args.compile,
        attention_backend=args.attention_backend,
    )
    results = {
        "card": card,
        "dtype": str(dtype),
        "smoke": args.smoke,
        "compile": args.compile,
        "attention_backend": args.attention_backend or "sdpa",
        "steps": args.steps,
        "batch": args.batch,
        "params": params,
        "build_seconds": round(build_s, 1),
        "sizes": {},
    }
    print(
        f"{card}: built random-weight Krea 2 in {build_s:.1f} s; parameters "
        + ", ".join(f"{k} {v / 1e6:,.1f}M" for k, v in params.items())
    )

    seed = 0
    for size in args.sizes:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        prompts = [PROMPT] * args.batch

        def timed(batch_prompts, size=size):  # the size of this iteration, bound now
            nonlocal seed
            sync()
            t0 = time.perf_counter()
            renderer.render(
                batch_prompts,
                list(range(seed, seed + len(batch_prompts))),
                height=size,
                width=size,
                num_inference_steps=args.steps,
                output_type="pt",
            )
            sync()
            seed += len(batch_prompts)
            return time.perf_counter() - t0

        warm_s = timed(prompts)  # first call: kernels, allocator (and compilation with --compile)
        runs = sorted(timed(prompts) for _ in range(args.repeats))
        median = runs[len(runs) // 2]
        cold = timed([f"{PROMPT} Variation {size}-{i}." for i in range(args.batch)])  # text cache miss
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        results["sizes"][str(size)] = {
            "first_call_seconds": round(warm_s, 3),
            "seconds_per_call_median": round(median, 3),
            "seconds_per_image": round(median / args.batch, 3),
            "runs": [round(r, 3) for r in runs],
            "cold_text_seconds_per_call": round(cold, 3),
            "text_encoder_share_seconds": round(cold - median, 3),
            "peak_memory_gib": round(peak, 2) if peak is not None else None,
        }
        print(
            f"{size}x{size}, {args.steps} steps, batch {args.batch}: {median:.3f} s per call "
            f"({median / args.batch:.3f} s/image; first call {warm_s:.2f} s; with text encoding {cold:.3f} s)"
            + (f"; peak {peak:.1f} GiB" if peak is not None else "")
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
