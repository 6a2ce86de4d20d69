"""`Krea2Renderer`: batched, cached, reproducible rendering on diffusers' `Krea2Pipeline`.

The denoising loop, the VAE decode and the text encoder's layout are the pipeline's own; the renderer
adds what an RL step and an evaluation grid need around it:

- **text-embedding cache**: each prompt is encoded once (LRU, `text_cache.py`); new seeds reuse it;
- **padding trimmed**: the pipeline pads every prompt to 512 tokens; the padded positions are masked as
  attention keys everywhere and text positions carry no rotary offset, so dropping the padding columns a
  micro-batch does not need changes nothing but the cost (prompts are encoded at the micro-batch's
  longest length, and the transformer sees `max(valid tokens)` text tokens, not 512);
- **micro-batching** up to `batch_size` images per pipeline call, halved and retried on CUDA OOM;
- **one CPU generator per image** (`torch.Generator("cpu").manual_seed(seed)`), so an image depends on
  its prompt, seed and settings only, not on its batch neighbours, and a seed gives the same noise on CPU
  and GPU;
- sizes rounded up to the pipeline's multiple (16) with a logged warning.

Equivalence with the plain pipeline (same weights, seeds and settings) is tested on the tiny model:
mean absolute pixel difference below 1/255.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import torch

from diffusion.model_dir import resolve_krea2
from diffusion.presets import get_preset
from diffusion.prompt_template import configure_prompt_template
from diffusion.text_cache import TextEmbeddingCache
from expander.devices import default_dtype, rank_device, standalone_loading
from expander.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["Krea2Renderer"]

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def _resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None:  # the project's one rule: bf16 on CUDA, fp32 elsewhere
        return getattr(torch, default_dtype(device))
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of: {', '.join(_DTYPES)}") from None


class Krea2Renderer:
    """Render images from prompts with Krea 2; see the module docstring for what it adds to the pipeline.

    Build with `Krea2Renderer.from_pretrained(...)`. Attributes read by callers: `preset` (name),
    `render_count` (images rendered so far), `text_encoder_calls` (text encoder forward passes so far),
    `batch_size` (current micro-batch; halves after a CUDA OOM), `text_cache`, `pipe` (the diffusers
    pipeline).
    """

    def __init__(
        self,
        pipe: Any,
        *,
        ref: str,
        preset: str = "turbo",
        device: torch.device,
        dtype: torch.dtype,
        offload: bool = False,
        batch_size: int = 8,
        compile: bool = False,
        text_cache_size: int = 1024,
        attention_backend: str | None = None,
        max_sequence_length: int = 512,
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._preset = get_preset(preset)
        self.pipe = pipe
        self.ref = ref
        self.device = device
        self.dtype = dtype
        self.offload = offload
        self.compile = compile
        self.attention_backend = attention_backend
        self.max_sequence_length = max_sequence_length
        self.batch_size = batch_size
        self.text_cache = TextEmbeddingCache(text_cache_size)
        self.render_count = 0
        self.text_encoder_calls = 0
        self.prefix_tokens, self.suffix_tokens = configure_prompt_template(pipe)
        # With torch.compile, text lengths are rounded up to a bucket so few distinct shapes get compiled.
        self._text_bucket = 64 if compile else 8
        self.size_multiple = pipe.vae_scale_factor * pipe.patch_size
        pipe.set_progress_bar_config(disable=True)
        if bool(pipe.config.is_distilled) != self._preset.distilled:
            logger.warning(
                "preset %r is meant for a %s checkpoint, but %s has is_distilled=%s; the checkpoint's config "
                "decides the timestep shift",
                self._preset.name,
                "distilled" if self._preset.distilled else "base (undistilled)",
                ref,
                pipe.config.is_distilled,
            )

    @classmethod
    def from_pretrained(
        cls,
        ref: str | os.PathLike,
        preset: str = "turbo",
        dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = None,
        offload: bool = False,
        batch_size: int = 8,
        compile: bool = False,
        text_cache_size: int = 1024,
        attention_backend: str | None = None,
    ) -> Krea2Renderer:
        """Load a Krea 2 diffusers directory (or hub id) into a renderer.

        Args:
            ref: local diffusers-format directory or hub id (`tiny:krea2` is resolved to its directory by
                `expander.models.resolve_krea2_model`, see `model_dir.py`).
            preset: `turbo` (8 steps, guidance 0) or `raw` (28 steps, guidance 4.5); see `presets.py`.
            dtype: `None` = bf16 on CUDA, fp32 on CPU; or a torch dtype / `"bf16"` / `"fp16"` / `"fp32"`.
            device: `None` = CUDA when available, else CPU.
            offload: diffusers model CPU offload: only the running component sits on the GPU (needs CUDA).
            batch_size: images per pipeline call (halved on CUDA out-of-memory).
            compile: `torch.compile` the transformer's repeated blocks.
            text_cache_size: prompts kept in the text-embedding LRU cache (`0` disables it).
            attention_backend: diffusers attention backend for the transformer (`None` = PyTorch SDPA;
                e.g. `"flash"`, `"_native_cudnn"`, `"sage"` where installed).

        Raises:
            Krea2ModelError: the reference is missing or incomplete (the message lists what is missing).
            ConfigError: an unknown preset or dtype, `batch_size < 1`, or `offload` without CUDA.
        """
        from diffusers import Krea2Pipeline

        get_preset(preset)  # fail on a bad preset before loading gigabytes
        path = resolve_krea2(ref)
        # `None`/"cuda" -> cuda:<local rank>: offload would otherwise put every process's pipeline on GPU 0.
        dev = rank_device(device)
        if offload and dev.type != "cuda":
            raise ConfigError(f"offload=True needs a CUDA device, got {dev}")
        torch_dtype = _resolve_dtype(dtype, dev)
        start = time.perf_counter()
        with standalone_loading():  # the text encoder whole on every rank under ZeRO-3 / FSDP2 launches
            pipe = Krea2Pipeline.from_pretrained(path, dtype=torch_dtype)
        if offload:
            pipe.enable_model_cpu_offload(device=dev)
        else:
            pipe.to(dev)
        if attention_backend:
            pipe.transformer.set_attention_backend(attention_backend)
        if compile:
            if hasattr(pipe.transformer, "compile_repeated_blocks"):
                pipe.transformer.compile_repeated_blocks(fullgraph=True)
            else:
                pipe.transformer = torch.compile(pipe.transformer, fullgraph=True)
        logger.info("loaded Krea 2 from %s on %s (%s) in %.1f s", path, dev, torch_dtype, time.perf_counter() - start)
        return cls(
            pipe,
            ref=str(ref),
            preset=preset,
            device=dev,
            dtype=torch_dtype,
            offload=offload,
            batch_size=batch_size,
            compile=compile,
            text_cache_size=text_cache_size,
            attention_backend=attention_backend,
        )

    @property
    def preset(self) -> str:
        return self._preset.name

    def settings(self) -> dict[str, Any]:
        """Everything that decides the pixels (plus the speed switches), for reports and cache keys."""
        return {
            "ref": self.ref,
            "preset": self._preset.name,
            "steps": self._preset.num_inference_steps,
            "guidance": self._preset.guidance_scale,
            "is_distilled": bool(self.pipe.config.is_distilled),
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            "size_multiple": self.size_multiple,
            "size_rule": f"height and width are rounded up to a multiple of {self.size_multiple}",
            "max_sequence_length": self.max_sequence_length,
            "template_prefix_tokens": self.prefix_tokens,
            "template_suffix_tokens": self.suffix_tokens,
            "seeding": "one torch.Generator('cpu').manual_seed(seed) per image",
            "batch_size": self.batch_size,
            "offload": self.offload,
            "compile": self.compile,
            "attention_backend": self.attention_backend or "sdpa",
            "text_cache_size": self.text_cache.max_entries,
        }

    # ---------------------------------------------------------------- sizes
    def round_size(self, height: int, width: int) -> tuple[int, int]:
        """`(height, width)` rounded up to the pipeline's multiple, with a warning when they change."""
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        m = self.size_multiple
        rounded = (-(-height // m) * m, -(-width // m) * m)
        if rounded != (height, width):
            logger.warning(
                "Krea 2 needs sides that are multiples of %d: rendering %dx%d instead of %dx%d (height x width)",
                m,
                rounded[0],
                rounded[1],
                height,
                width,
            )
        return rounded

    # ---------------------------------------------------------------- text
    def _cache_key(self, prompt: str) -> tuple:
        return (
            prompt,
            self.max_sequence_length,
            tuple(self.pipe.text_encoder_select_layers),
            str(self.pipe.text_encoder.dtype),
            self.pipe.prompt_template_encode_prefix,
            self.pipe.prompt_template_encode_suffix,
        )

    def encode(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """Compact text embeddings `(valid_tokens, num_text_layers, text_hidden_dim)` (CPU), one per prompt.

        Cached prompts skip the text encoder; the rest are encoded `batch_size` at a time, each batch at
        the length of its longest prompt (the pipeline's layout and truncation otherwise).
        """
        found: dict[str, torch.Tensor] = {}
        todo: list[str] = []
        for p in dict.fromkeys(prompts):
            hit = self.text_cache.get(self._cache_key(p))
            if hit is None:
                todo.append(p)
            else:
                found[p] = hit
        i = 0
        while i < len(todo):
            chunk = todo[i : i + self.batch_size]
            try:
                encoded = self._encode_uncached(chunk)
            except torch.OutOfMemoryError as exc:
                self._shrink_batch(exc, len(chunk))
                continue
            for p, emb in zip(chunk, encoded):
                self.text_cache.put(self._cache_key(p), emb)
                found[p] = emb
            i += len(chunk)
        return [found[p] for p in prompts]

    def _shrink_batch(self, exc: torch.OutOfMemoryError, failed: int) -> None:
        """Halve the micro-batch after a CUDA out-of-memory error (re-raised when it is already 1)."""
        if self.batch_size == 1:
            raise exc
        self.batch_size //= 2
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        logger.warning("CUDA out of memory with %d items per call; retrying with %d", failed, self.batch_size)

    def _encode_uncached(self, prompts: list[str]) -> list[torch.Tensor]:
        pipe = self.pipe
        lengths = [
            len(ids) - self.prefix_tokens
            for ids in pipe.tokenizer([pipe.prompt_template_encode_prefix + p for p in prompts])["input_ids"]
        ]
        length = min(self.max_sequence_length, max(lengths) + self.suffix_tokens)
        with torch.inference_mode():
            hidden, mask = pipe.get_text_hidden_states(
                prompts, max_sequence_length=length, device=pipe._execution_device
            )
        self.text_encoder_calls += 1
        hidden, mask = hidden.cpu(), mask.cpu()
        # The mask keeps prompt tokens then suffix tokens, in order: `[prompt | suffix]`.
        return [hidden[i][mask[i]].clone() for i in range(len(prompts))]

    def _assemble(self, embeddings: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad compact embeddings back into the pipeline's `[prompt | PAD | suffix]` layout (one length)."""
        longest = max(e.shape[0] for e in embeddings)
        length = max(longest, min(-(-longest // self._text_bucket) * self._text_bucket, self.max_sequence_length))
        n, (_, layers, dim) = len(embeddings), embeddings[0].shape
        out = embeddings[0].new_zeros((n, length, layers, dim))
        mask = torch.zeros((n, length), dtype=torch.bool)
        s = self.suffix_tokens
        for i, e in enumerate(embeddings):
            k = e.shape[0] - s
            out[i, :k], out[i, length - s :] = e[:k], e[k:]
            mask[i, :k] = True
            mask[i, length - s :] = True
        device = self.pipe._execution_device
        return out.to(device), mask.to(device)

    # ---------------------------------------------------------------- images
    def render(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int] | int,
        height: int = 512,
        width: int = 512,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        output_type: str = "pil",
    ) -> list | torch.Tensor:
        """Render one image per `(prompts[i], seeds[i])`.

        Args:
            prompts: the prompts.
            seeds: one seed per prompt (or one int for all). The same prompt, seed and settings give the
                same image whatever else is in the call (up to float rounding across batch shapes).
            height, width: pixels; rounded up to a multiple of 16 with a warning.
            num_inference_steps, guidance_scale: `None` = the preset's.
            output_type: `"pil"` -> list of `PIL.Image`; `"pt"` -> float tensor `(N, 3, H, W)` in `[0, 1]`
                on the CPU.

        Identical `(prompt, seed)` pairs within a call are rendered once; `render_count` counts images
        actually rendered.
        """
        if isinstance(prompts, str):
            raise TypeError("prompts must be a list of strings, not a single string")
        prompts = list(prompts)
        seeds = [seeds] * len(prompts) if isinstance(seeds, int) else list(seeds)
        if len(seeds) != len(prompts):  # the caller's lists disagree: a bug in the calling code, kept built-in
            raise ValueError(f"got {len(prompts)} prompts but {len(seeds)} seeds; pass one seed per prompt")
        for p in prompts:
            if not isinstance(p, str):
                raise TypeError(f"prompts must be strings, got {type(p).__name__}")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int):
                raise TypeError(f"seeds must be integers, got {s!r}")
        if output_type not in ("pil", "pt"):  # set by code, never by a user
            raise ValueError(f"output_type must be 'pil' or 'pt', got {output_type!r}")
        height, width = self.round_size(height, width)
        steps = self._preset.num_inference_steps if num_inference_steps is None else int(num_inference_steps)
        guidance = self._preset.guidance_scale if guidance_scale is None else float(guidance_scale)
        if steps < 1:
            raise ConfigError(f"num_inference_steps must be >= 1, got {steps}")
        if not prompts:
            return torch.empty(0, 3, height, width) if output_type == "pt" else []

        pairs = list(dict.fromkeys(zip(prompts, seeds)))
        embeddings = dict(zip(dict.fromkeys(prompts), self.encode(list(dict.fromkeys(prompts)))))
        negative = self.encode([""])[0] if guidance > 0 else None
        images: dict[tuple[str, int], torch.Tensor] = {}
        i = 0
        while i < len(pairs):
            chunk = pairs[i : i + self.batch_size]
            try:
                out = self._render_batch(chunk, embeddings, negative, height, width, steps, guidance)
            except torch.OutOfMemoryError as exc:
                self._shrink_batch(exc, len(chunk))
                continue
            images.update(zip(chunk, out))
            self.render_count += len(chunk)
            i += len(chunk)
        batch = torch.stack([images[pair] for pair in zip(prompts, seeds)])
        if output_type == "pt":
            return batch
        return self.pipe.image_processor.numpy_to_pil(self.pipe.image_processor.pt_to_numpy(batch))

    def _render_batch(self, chunk, embeddings, negative, height, width, steps, guidance) -> torch.Tensor:
        # Positive and negative passes share the pipeline's position ids, hence one text length for both.
        batch = [embeddings[p] for p, _ in chunk] + ([negative] * len(chunk) if guidance > 0 else [])
        embeds, mask = self._assemble(batch)
        n = len(chunk)
        prompt_embeds, prompt_mask = embeds[:n], mask[:n]
        kwargs = {}
        if guidance > 0:
            kwargs["negative_prompt_embeds"], kwargs["negative_prompt_embeds_mask"] = embeds[n:], mask[n:]
        generators = [torch.Generator("cpu").manual_seed(seed) for _, seed in chunk]
        out = self.pipe(
            prompt_embeds=prompt_embeds,
            prompt_embeds_mask=prompt_mask,
            height=height,
            width=width,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generators,
            output_type="pt",
            max_sequence_length=self.max_sequence_length,
            **kwargs,
        ).images
        return out.float().cpu()
