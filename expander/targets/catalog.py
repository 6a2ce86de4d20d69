"""The image models an expansion can be shaped for: one `TargetModel` per name, and the error for a bad one.

Each entry states what the model's text side takes, read from its diffusers pipeline (0.42.1):

* ``krea2`` / ``krea2-turbo`` -- `Krea2Pipeline`: one Qwen3-VL-4B encoder; `max_sequence_length=512` tokens hold
  the prompt *and* the template's 5-token assistant suffix, so 507 are left for the prompt (it truncates past
  that, silently). Raw runs classifier-free guidance and takes a negative prompt; Turbo is distilled to guidance
  0 (8 steps), so a negative prompt does nothing there: it takes none.
* ``flux`` -- `FluxPipeline`: CLIP-L (pooled, 77) and T5-XXL (`max_sequence_length=512`) for the long text.
  FLUX.1 [dev] / [schnell] are guidance-distilled; the pipeline reads `negative_prompt` only with
  `true_cfg_scale > 1`, so it takes none by default.
* ``sdxl`` -- `StableDiffusionXLPipeline`: two CLIP encoders (CLIP-L, OpenCLIP bigG), 77 tokens each (BOS and
  EOS included); `prompt_2` goes to the second; negative prompt taken.
* ``sd3`` -- `StableDiffusion3Pipeline`: CLIP-L and CLIP-G (77 each; `prompt`, `prompt_2`) and T5-XXL
  (`prompt_3`, `max_sequence_length=256`); negative prompt taken.
* ``generic`` -- any other model: counted in CLIP BPE tokens (a tokenizer available everywhere) against 512,
  negative prompt taken, no second text.

`tokenizer` is the default reference of each target's tokenizer (`expander.targets.tokens.load_counter`);
`clip` is the CLIP BPE shipped in open_clip (the one every CLIP text encoder uses).
"""

from __future__ import annotations

from dataclasses import dataclass

from expander.errors import ExpanderError

__all__ = ["CLIP_TOKEN_LIMIT", "DEFAULT_TARGET", "TARGETS", "TargetError", "TargetModel", "get_target"]

CLIP_TOKEN_LIMIT = 77
"""Tokens a CLIP text encoder reads, BOS and EOS included (the limit of every `short` variant)."""


class TargetError(ExpanderError, ValueError):
    """An unknown target name (the message lists the choices), or a width/height a target cannot take."""


@dataclass(frozen=True)
class TargetModel:
    """What one image model's text side takes.

    Attributes:
        name: the `target` value (`krea2`, `sdxl`, ...).
        description: one line for help texts and the README table.
        encoder: the text encoder whose tokens `token_limit` counts.
        tokenizer: default reference of that encoder's tokenizer: a hub id, a local directory, `clip`, or a
            built-in model name (`expander.targets.tokens.load_counter`).
        tokenizer_subfolder: where that tokenizer sits inside a diffusers model directory or repo (so a
            configured reference may be the whole model), or None.
        token_limit: most tokens of `prompt` the encoder reads, counted as the pipeline counts them (special
            tokens included); a shaped prompt never exceeds it.
        negative_prompt: whether the model uses a negative prompt (False: the shaped one is None).
        short_prompt: whether a second CLIP encoder gets `prompt_2`, a variant of at most `CLIP_TOKEN_LIMIT`.
        pixels: the model's native pixel area; suggested sizes keep about this many pixels.
    """

    name: str
    description: str
    encoder: str
    tokenizer: str
    tokenizer_subfolder: str | None
    token_limit: int
    negative_prompt: bool
    short_prompt: bool
    pixels: int = 1024 * 1024


_QWEN3_VL = "Qwen/Qwen3-VL-4B-Instruct"  # Krea 2's text encoder; its tokenizer is the one the pipeline loads
_T5_XXL = "google/t5-v1_1-xxl"  # FLUX.1's `tokenizer_2` and SD3's `tokenizer_3`

TARGETS: dict[str, TargetModel] = {
    t.name: t
    for t in (
        TargetModel(
            "krea2",
            "Krea 2 (Raw): Qwen3-VL-4B encoder, 507 prompt tokens, negative prompt (CFG)",
            "Qwen3-VL-4B",
            _QWEN3_VL,
            "tokenizer",
            507,
            negative_prompt=True,
            short_prompt=False,
        ),
        TargetModel(
            "krea2-turbo",
            "Krea 2 Turbo: Qwen3-VL-4B encoder, 507 prompt tokens, no negative prompt (guidance 0)",
            "Qwen3-VL-4B",
            _QWEN3_VL,
            "tokenizer",
            507,
            negative_prompt=False,
            short_prompt=False,
        ),
        TargetModel(
            "flux",
            "FLUX.1: T5-XXL encoder, 512 tokens, no negative prompt (guidance-distilled)",
            "T5-XXL",
            _T5_XXL,
            "tokenizer_2",
            512,
            negative_prompt=False,
            short_prompt=False,
        ),
        TargetModel(
            "sdxl",
            "SDXL: two CLIP encoders, 77 tokens each, negative prompt",
            "CLIP",
            "clip",
            "tokenizer",
            CLIP_TOKEN_LIMIT,
            negative_prompt=True,
            short_prompt=True,
        ),
        TargetModel(
            "sd3",
            "Stable Diffusion 3: T5-XXL 256 tokens, CLIP-L/G 77 (`prompt_2`), negative prompt",
            "T5-XXL",
            _T5_XXL,
            "tokenizer_3",
            256,
            negative_prompt=True,
            short_prompt=True,
        ),
        TargetModel(
            "generic",
            "any other model: 512 CLIP BPE tokens, negative prompt",
            "CLIP BPE (count only)",
            "clip",
            None,
            512,
            negative_prompt=True,
            short_prompt=False,
        ),
    )
}

DEFAULT_TARGET = "generic"
"""The target of `shape` when none is named: no model-specific limit tighter than 512 tokens."""


def get_target(name: str) -> TargetModel:
    """The `TargetModel` called `name`.

    Raises:
        TargetError: `name` is not a target; the message lists the choices.
    """
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise TargetError(f"unknown target {name!r}; choose one of: {', '.join(TARGETS)}") from None
