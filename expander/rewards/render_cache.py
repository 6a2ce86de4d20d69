"""The shared render cache: every completion of a step is rendered exactly once, for all image rewards.

Seeds are common random numbers: `seed_for(short_prompt, step)` is a hash of (seed_base, step, short
prompt), so every completion of a GRPO group (same short prompt, same step) is rendered from the same
noise and the differences between their images come from the prompts, not from the noise.

An entry is keyed by (cleaned completion text, seed); two rewards asking for the same completion in the
same step get the same tensor, and a duplicated completion inside a group is rendered once. Derived
per-image features (CLIP or DINOv3 embeddings) are memoised beside the image under a feature name, so
each reward model also runs once per image.

Entries older than `max_cached_steps` training steps are dropped (their seeds will not come again), and
at most `max_entries` are kept (least recently used first out).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from expander.rewards.errors import RewardLengthError, map_isolated

logger = logging.getLogger(__name__)

__all__ = ["RenderCache", "derive_seed", "to_pil"]


def to_pil(image):
    """A PIL image from a PIL image or a float tensor (3, H, W) in [0, 1] (a render of this cache); None for
    anything else. 8-bit rounding here is what the trainer saves and the reward service sends."""
    if hasattr(image, "convert"):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor) and image.ndim == 3:
        from PIL import Image

        array = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(array)
    return None


def derive_seed(short_prompt: str, step: int, seed_base: int = 0) -> int:
    """Deterministic 31-bit seed of a (short prompt, step) pair; stable across processes and runs."""
    digest = hashlib.sha256(f"{seed_base}\x1f{step}\x1f{short_prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class _Entry:
    step: int
    image: torch.Tensor | None  # (3, H, W) in [0, 1] on CPU; None: rendering failed
    features: dict[str, torch.Tensor | None] = field(default_factory=dict)


class RenderCache:
    """Renders each distinct (completion, seed) once and shares the images between rewards.

    Args:
        renderer: an object with `render(prompts, seeds, height=, width=, num_inference_steps=,
            guidance_scale=, output_type="pt") -> Tensor[N, 3, H, W]` in [0, 1] (`diffusion.Krea2Renderer`).
        height, width: image size in pixels.
        num_inference_steps, guidance_scale: passed to the renderer (None: its preset's).
        batch_size: images per renderer call.
        seed_base: mixed into every seed.
        max_cached_steps: steps of renders kept (1: only the current step's).
        max_entries: hard cap on cached images (LRU).
        max_retries: retries of a renderer call on a transient error.

    Attributes:
        render_count: images rendered so far (cache hits excluded).
        hits: images served from the cache.
        failures: images that could not be rendered (their rewards are `None`).
    """

    def __init__(
        self,
        renderer: Any,
        height: int = 512,
        width: int = 512,
        *,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        batch_size: int = 8,
        seed_base: int = 0,
        max_cached_steps: int = 1,
        max_entries: int = 4096,
        max_retries: int = 2,
    ):
        if batch_size < 1:  # the config checks render.batch_size first: reaching here is a caller's bug
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.renderer = renderer
        self.height = height
        self.width = width
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.batch_size = batch_size
        self.seed_base = seed_base
        self.max_cached_steps = max_cached_steps
        self.max_entries = max_entries
        self.max_retries = max_retries
        self.render_count = 0
        self.hits = 0
        self.failures = 0
        self.render_seconds = 0.0
        self._entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()

    def seed_for(self, short_prompt: str, step: int) -> int:
        return derive_seed(short_prompt, step, self.seed_base)

    def keys_for(self, short_prompts: list[str], completions: list[str], step: int) -> list[tuple[str, int]]:
        if len(short_prompts) != len(completions):  # rows come from TRL or our own code, never from a user
            raise ValueError(f"{len(short_prompts)} short prompts but {len(completions)} completions")
        return [(c, self.seed_for(s, step)) for s, c in zip(short_prompts, completions)]

    def images_for(self, short_prompts: list[str], completions: list[str], step: int) -> list[torch.Tensor | None]:
        """Images of `completions`, each rendered with the seed of its short prompt at `step`.

        Args:
            short_prompts: the user's short prompt of each row (decides the seed).
            completions: the text to render for each row (an expansion, or the short prompt itself).
            step: training step (decides the seed).

        Returns:
            One `(3, H, W)` float tensor in [0, 1] per row, or `None` where rendering failed or the text is
            empty.
        """
        keys = self.keys_for(short_prompts, completions, step)
        self._evict(step)
        missing = list(dict.fromkeys(k for k in keys if k not in self._entries))
        self.hits += len(keys) - len(missing)
        for key in [k for k in missing if not k[0].strip()]:  # nothing to render: no image, not a failure
            self._entries[key] = _Entry(step=step, image=None)
            missing.remove(key)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            images, failed = map_isolated(self._render, chunk, self.max_retries, "render")
            self.failures += failed
            for key, image in zip(chunk, images):
                self._entries[key] = _Entry(step=step, image=image)
        out = []
        for key in keys:
            self._entries.move_to_end(key)
            out.append(self._entries[key].image)
        self._trim()
        return out

    def features(
        self,
        name: str,
        short_prompts: list[str],
        completions: list[str],
        step: int,
        fn: Callable[[torch.Tensor], torch.Tensor],
        max_retries: int | None = None,
    ) -> tuple[list[torch.Tensor | None], int]:
        """Per-image features (e.g. embeddings), computed once per image and feature name.

        Args:
            name: feature name; different models must use different names.
            fn: maps a batch of images `Tensor[N, 3, H, W]` to `Tensor[N, ...]`.

        Returns:
            (one feature tensor per row, or `None` where the image or the feature failed; number of rows
            whose feature computation failed in this call).
        """
        images = self.images_for(short_prompts, completions, step)
        keys = self.keys_for(short_prompts, completions, step)
        todo = list(
            dict.fromkeys(
                k for k, img in zip(keys, images) if img is not None and name not in self._entries[k].features
            )
        )
        failed = 0
        if todo:

            def batch_fn(batch_keys):
                feats = fn(torch.stack([self._entries[k].image for k in batch_keys]))
                if feats.shape[0] != len(batch_keys):
                    raise RewardLengthError(
                        f"feature {name!r} returned {feats.shape[0]} rows for {len(batch_keys)} images"
                    )
                return list(feats.detach().cpu())

            feats, failed = map_isolated(batch_fn, todo, self.max_retries if max_retries is None else max_retries, name)
            for k, f in zip(todo, feats):
                self._entries[k].features[name] = f
        return [
            self._entries[k].features.get(name) if self._entries[k].image is not None else None for k in keys
        ], failed

    def _render(self, keys: list[tuple[str, int]]) -> list[torch.Tensor]:
        import time

        start = time.perf_counter()
        images = self.renderer.render(
            [k[0] for k in keys],
            [k[1] for k in keys],
            height=self.height,
            width=self.width,
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            output_type="pt",
        )
        self.render_seconds += time.perf_counter() - start
        if len(images) != len(keys):
            raise RewardLengthError(f"renderer returned {len(images)} images for {len(keys)} prompts")
        self.render_count += len(keys)
        return [img.detach().float().cpu().clamp(0, 1) for img in images]

    def _evict(self, step: int) -> None:
        stale = [k for k, e in self._entries.items() if e.step <= step - self.max_cached_steps]
        for k in stale:
            del self._entries[k]

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, float]:
        return {
            "renders": self.render_count,
            "render_cache_hits": self.hits,
            "render_failures": self.failures,
            "render_seconds": round(self.render_seconds, 4),
        }
