"""A tiny, random-weight Krea 2 in diffusers format, for CPU tests and benchmarks.

Every component is the real class at a tiny size (the layouts STACK.md records as working): a 2-layer
`Krea2Transformer2DModel`, a tiny `AutoencoderKLQwenImage` (z_dim 4), a tiny `Qwen3VLModel` text encoder
(hidden 32, 4 layers, one vision block) and the tokenizer of the caller's `tokenizer_dir`: the project passes
the built-in SmolLM2's (`expander.models.resolve_krea2_model`), which has the `<|im_start|>` / `<|im_end|>`
chat tokens the Krea 2 template uses; the runtime itself owns no tokenizer. The directory loads with both
`Krea2Renderer.from_pretrained` and diffusers' `Krea2Pipeline.from_pretrained`.

Nothing here is "quality": the weights are random. It proves plumbing, shapes, determinism and speed ratios.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from expander.devices import save_on_any_rank
from expander.files import cache_dir

logger = logging.getLogger(__name__)

__all__ = [
    "TINY_FORMAT",
    "TINY_SELECT_LAYERS",
    "TINY_TRANSFORMER",
    "build_tiny_krea2",
    "cached_tiny_krea2",
]

# Hidden states 1..4 of the 4-layer text encoder (0 is the embedding output); the transformer's
# `num_text_layers` must equal the number of taps.
TINY_SELECT_LAYERS = (1, 2, 3, 4)
# Bumped whenever the tiny layout changes, so cached builds of an older layout are rebuilt.
TINY_FORMAT = 1
_MARKER = "TINY_RANDOM_WEIGHTS.txt"


# The tiny Krea 2 transformer's layout (also what tests/benchmarks count FLOPs of by hand).
TINY_TRANSFORMER = dict(
    in_channels=16,  # z_dim 4 x patch 2 x 2
    num_layers=2,
    attention_head_dim=16,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    timestep_embed_dim=32,
    text_hidden_dim=32,
    num_text_layers=len(TINY_SELECT_LAYERS),
    text_num_attention_heads=4,
    text_num_key_value_heads=4,
    text_intermediate_size=64,
    num_layerwise_text_blocks=1,
    num_refiner_text_blocks=1,
    axes_dims_rope=(4, 6, 6),
)


def build_tiny_krea2(
    path: str | os.PathLike, tokenizer_dir: str | os.PathLike, seed: int = 0, *, is_distilled: bool = True
) -> Path:
    """Write a complete diffusers-format Krea 2 directory of tiny random size to `path`.

    The directory is built in a temporary sibling and renamed into place, so an interrupted build never
    leaves a half model behind. An existing `path` is replaced.

    Args:
        path: target directory.
        tokenizer_dir: a HF tokenizer directory whose tokenizer has the `<|im_start|>` / `<|im_end|>` tokens of
            the Krea 2 prompt template (the project's: the built-in SmolLM2, `resolve_model("smollm2-135m")`).
        seed: seeds every component's random initialisation; the same seed gives the same weights.
        is_distilled: saved in the pipeline config; `True` (default) matches the `turbo` preset's
            fixed timestep shift, `False` the resolution-dependent shift of the base (`raw`) checkpoint.

    Returns:
        The target directory.
    """
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        Krea2Pipeline,
        Krea2Transformer2DModel,
    )
    from transformers import AutoTokenizer, Qwen3VLConfig, Qwen3VLModel

    start = time.perf_counter()
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    # The Krea 2 layout is `[prefix | prompt | PAD | suffix]`: the pipeline needs right padding.
    tokenizer.padding_side = "right"

    torch.manual_seed(seed)
    text_config = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "max_position_embeddings": 2048,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1_000_000.0,
            "mrope_section": [2, 1, 1],
            "mrope_interleaved": True,
        },
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision_config = {
        "depth": 1,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 4,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 32,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0],
    }
    text_encoder = Qwen3VLModel(Qwen3VLConfig(text_config=text_config, vision_config=vision_config)).eval()

    transformer = Krea2Transformer2DModel(**TINY_TRANSFORMER).eval()
    vae = AutoencoderKLQwenImage(
        base_dim=16,
        z_dim=4,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    ).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=6400,
        time_shift_type="exponential",
    )
    pipe = Krea2Pipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        text_encoder_select_layers=TINY_SELECT_LAYERS,
        is_distilled=is_distilled,
        patch_size=2,
    )
    with save_on_any_rank():  # under torchrun, whichever rank builds must write the weights
        pipe.save_pretrained(tmp, safe_serialization=True)
    (tmp / _MARKER).write_text(
        f"format {TINY_FORMAT}\nTiny random-weight Krea 2 built by diffusion.tiny.build_tiny_krea2(seed={seed}, "
        f"is_distilled={is_distilled}), tokenizer from {tokenizer_dir}. Not a real model: its images are "
        "noise-like.\n"
    )
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    logger.info("built tiny Krea 2 (seed %d) in %s in %.1f s", seed, target, time.perf_counter() - start)
    return target


def cached_tiny_krea2(tokenizer_dir: str | os.PathLike, seed: int = 0) -> Path:
    """The tiny Krea 2 of `seed` under `$EXPANDER_CACHE/tiny/krea2-seed{seed}`, built once and reused (seed 0
    is what the ref `tiny:krea2` names).

    A file lock makes concurrent processes (parallel test sessions) build it once; a cached build of an
    older `TINY_FORMAT` is rebuilt. The cache is keyed by seed and format only: `tokenizer_dir` (see
    `build_tiny_krea2`) is read when the model is built, and every caller of the project passes the same one.
    """
    from filelock import FileLock

    target = cache_dir() / "tiny" / f"krea2-seed{seed}"
    if _is_current(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not _is_current(target):  # another process may have built it while we waited
            build_tiny_krea2(target, tokenizer_dir, seed=seed)
    return target


def _is_current(path: Path) -> bool:
    marker = path / _MARKER
    return marker.is_file() and marker.read_text().startswith(f"format {TINY_FORMAT}\n")
