"""Any diffusers text-to-image pipeline, called with the expanded prompt: `ExpandedPipeline`.

    from diffusers import StableDiffusionXLPipeline
    from expander.integrations.diffusers import ExpandedPipeline

    pipe = ExpandedPipeline(StableDiffusionXLPipeline.from_pretrained(...))  # the built-in expander, in process
    out = pipe("a tall lighthouse, no people", expansion_seed=7, num_inference_steps=30)
    out.images[0].save("lighthouse.png"); print(out.prompts[0].shaped.prompt, out.arguments["height"])

Like `upsample_prompt` of diffusers' Flux 2 and Ideogram 4 pipelines (`caption_upsample_temperature`,
`prompt_upsampling`), the prompt is rewritten before the text encoders see it; unlike them, it works with every
pipeline and any expander (the built-in one, a local or hub model, or an expander server), and the result is
shaped for the model (`expander.targets`): only the arguments the pipeline's `__call__` declares are filled --

* `prompt`: the expansion within the target encoder's token limit (cut at a sentence, never mid-word);
* `prompt_2` where the pipeline has a second CLIP encoder (SDXL): a variant within 77 CLIP tokens; for SD3-style
  pipelines (`prompt_3` for T5) `prompt` and `prompt_2` get that variant and `prompt_3` the long text;
* `negative_prompt` where the target model uses one: the caller's, plus what the prompt excludes ("no people");
* `width`/`height` from the size the prompt asks for ("a tall lighthouse" -> portrait), unless the caller set them.

Anything the caller passes for these is kept. Expansions are remembered (`expander.integrations.PromptExpander`):
the same prompt and settings do not run the language model again; `refresh=True` does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from expander.engine import MAX_SEED
from expander.errors import ExpanderError
from expander.integrations import ExpandedPrompt, PromptExpander
from expander.targets import DEFAULT_TARGET, get_target

__all__ = [
    "ExpandedPipeline",
    "ExpandedPipelineOutput",
    "PipelineSignatureError",
    "pipeline_arguments",
    "seed_from_generator",
    "target_for",
]

TEXT_ARGUMENTS = ("prompt", "prompt_2", "prompt_3", "negative_prompt", "width", "height")
"""The `__call__` arguments the wrapper may fill; all others pass through untouched."""


class PipelineSignatureError(ExpanderError, TypeError):
    """A pipeline that cannot take an expanded prompt: its `__call__` has no `prompt` argument."""


@dataclass
class ExpandedPipelineOutput:
    """What an `ExpandedPipeline` call returns.

    Attributes:
        images: the pipeline output's `images` (or its first element with `return_dict=False`).
        prompts: per prompt, what the expander made of it (`ExpandedPrompt`: the expansion, its seed and the
            shaped texts); empty with `expand=False`.
        arguments: the text and size arguments the pipeline was called with (`TEXT_ARGUMENTS` it received).
        output: the pipeline's own return value (NSFW flags and the like).
    """

    images: Any
    prompts: list[ExpandedPrompt] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    output: Any = None


def _call_parameters(pipe) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(pipe.__call__).parameters)
    except (TypeError, ValueError):  # not introspectable (a C callable): treat as taking nothing by name
        return {}


def target_for(pipe) -> str:
    """The `expander.targets` name for a pipeline (or a modular pipeline), from its class name: Krea 2 (`krea2`, or
    `krea2-turbo` for a distilled checkpoint, which runs without classifier-free guidance), Stable Diffusion XL
    (`sdxl`), Stable Diffusion 3 (`sd3`), FLUX.1 (`flux`); `generic` for any other."""
    name = type(pipe).__name__
    if name.startswith("Krea2"):
        config = getattr(pipe, "config", None)
        distilled = getattr(config, "is_distilled", None)
        if distilled is None and "Turbo" in name:
            distilled = True
        if distilled is None:  # a modular pipeline: turbo blocks need no unconditional embeddings
            distilled = not getattr(pipe, "requires_unconditional_embeds", True)
        return "krea2-turbo" if distilled else "krea2"
    if name.startswith("StableDiffusionXL"):
        return "sdxl"
    if name.startswith("StableDiffusion3"):
        return "sd3"
    if name.startswith("Flux") and not name.startswith("Flux2"):
        return "flux"
    return DEFAULT_TARGET


def seed_from_generator(generator) -> int | None:
    """The expansion seed a diffusers `generator` implies (its first generator's `initial_seed()`, folded into the
    expander's seed range), or None without one: passing the image `generator` makes the expansion reproducible
    too, as Ideogram 4 reuses it for `upsample_prompt`. Reading the seed does not advance the generator."""
    if isinstance(generator, (list, tuple)):
        generator = generator[0] if generator else None
    if generator is None or not hasattr(generator, "initial_seed"):
        return None
    return int(generator.initial_seed()) % (MAX_SEED + 1)


def pipeline_arguments(
    accepted, prompts: list[ExpandedPrompt], given: dict[str, Any], *, single: bool
) -> dict[str, Any]:
    """The text and size arguments for a pipeline whose `__call__` takes the names in `accepted`.

    Args:
        accepted: the argument names the pipeline's `__call__` declares.
        prompts: the expanded prompts of one call, in order.
        given: what the caller passed; a text or size argument in it is kept as it is, except a negative prompt
            string, which the shaped negative prompt starts with (`expander.targets.shape`).
        single: one prompt as a string (the texts are passed as strings, not lists).

    Returns:
        The arguments to add to the caller's (only names in `accepted` and not in `given`). `width`/`height` are
        the suggested size when every prompt suggests the same one (a batch is one size), else left out.
    """
    shaped = [p.shaped for p in prompts]

    def texts(values: list):
        return values[0] if single else values

    out: dict[str, Any] = {"prompt": texts([s.prompt for s in shaped])}
    if all(s.prompt_2 is not None for s in shaped):
        if "prompt_3" in accepted:  # SD3: `prompt`/`prompt_2` feed the 77-token CLIP encoders, `prompt_3` T5
            out.update(prompt=texts([s.prompt_2 for s in shaped]), prompt_3=texts([s.prompt for s in shaped]))
        out["prompt_2"] = texts([s.prompt_2 for s in shaped])
    if all(s.negative_prompt is not None for s in shaped) and any(s.negative_prompt for s in shaped):
        out["negative_prompt"] = texts([s.negative_prompt for s in shaped])  # "" alone would change SDXL's zeros
    sizes = {(s.width, s.height) for s in shaped}
    if len(sizes) == 1 and None not in next(iter(sizes)):
        out["width"], out["height"] = next(iter(sizes))
    if isinstance(given.get("negative_prompt"), str) and "negative_prompt" in out:
        given = {k: v for k, v in given.items() if k != "negative_prompt"}  # the shaped one starts with it
    return {k: v for k, v in out.items() if k in accepted and given.get(k) is None}


class ExpandedPipeline:
    """A diffusers text-to-image pipeline that expands its prompt first (module doc).

    Every other attribute is the pipeline's (`expanded.to("cuda")`, `expanded.scheduler`).

    Args:
        pipe: the pipeline: any object whose `__call__` takes `prompt`.
        expander: a `PromptExpander`, or what one takes as its source (a model reference, the built-in expander by
            default; an expander server's URL; an `ExpanderClient`).
        target: the `expander.targets` name to shape for (default: `target_for(pipe)`).
        creativity, max_words, keep_terms: expansion settings (when `expander` is not a `PromptExpander`).

    Raises:
        PipelineSignatureError: `pipe.__call__` has no `prompt` argument.
        TargetError: an unknown target.
    """

    def __init__(
        self,
        pipe,
        expander: PromptExpander | Any = None,
        *,
        target: str | None = None,
        creativity: str | None = None,
        max_words: int | None = None,
        keep_terms: list[str] | None = None,
    ):
        parameters = _call_parameters(pipe)
        if "prompt" not in parameters:
            raise PipelineSignatureError(
                f"{type(pipe).__name__}.__call__ takes no `prompt` argument, so it cannot take an expanded prompt "
                f"(it takes: {', '.join(parameters) or 'nothing by name'})"
            )
        if not isinstance(expander, PromptExpander):
            settings = {"max_words": max_words, "keep_terms": keep_terms}
            if creativity is not None:
                settings["creativity"] = creativity
            expander = PromptExpander(expander, **settings)
        self.pipe, self.expander = pipe, expander
        self.target = get_target(target or target_for(pipe)).name
        self.accepted = frozenset(name for name in parameters if name in TEXT_ARGUMENTS)

    def __getattr__(self, name: str):
        if name in ("pipe", "expander", "target", "accepted"):  # not set yet: a half-built object
            raise AttributeError(name)
        return getattr(self.pipe, name)

    def upsample_prompt(self, prompt: str | list[str], **kwargs) -> list[str]:
        """The prompt(s) as the pipeline's main text encoder would receive them, like diffusers' `upsample_prompt`
        (Flux 2, Ideogram 4). `kwargs`: `expand_prompts`'s."""
        return [p.shaped.prompt for p in self.expand_prompts(prompt, **kwargs)]

    def expand_prompts(
        self,
        prompt: str | list[str],
        *,
        expansion_seed: int | None = None,
        creativity: str | None = None,
        keep_terms: list[str] | None = None,
        max_words: int | None = None,
        refresh: bool = False,
        negative_prompt: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> list[ExpandedPrompt]:
        """Expand and shape each prompt for this pipeline's target, with its own tokenizers.

        Raises:
            TargetError: a width/height that is not a positive multiple of 16, or only one of them.
            And what `PromptExpander.expand` raises.
        """
        spec = get_target(self.target)
        tokenizer = getattr(self.pipe, spec.tokenizer_subfolder, None) if spec.tokenizer_subfolder else None
        clip_tokenizer = getattr(self.pipe, "tokenizer_2", None) if spec.short_prompt else None
        return self.expander.expand_for(
            prompt,
            self.target,
            tokenizer=tokenizer if callable(tokenizer) else None,
            clip_tokenizer=clip_tokenizer if callable(clip_tokenizer) else None,
            negative_prompt=negative_prompt if isinstance(negative_prompt, str) else None,
            width=width,
            height=height,
            seed=expansion_seed,
            creativity=creativity,
            keep_terms=keep_terms,
            max_words=max_words,
            refresh=refresh,
        )

    def __call__(
        self,
        prompt: str | list[str] | None = None,
        *,
        expand: bool = True,
        expansion_seed: int | None = None,
        creativity: str | None = None,
        keep_terms: list[str] | None = None,
        max_words: int | None = None,
        refresh: bool = False,
        **kwargs,
    ) -> ExpandedPipelineOutput:
        """Expand `prompt`, then call the pipeline with the expanded arguments and `kwargs`.

        Args:
            prompt: one prompt or a list (one call of the pipeline; a batch gets the suggested size only when
                every prompt suggests the same one).
            expand: False calls the pipeline with the prompt unchanged (the switch of diffusers'
                `prompt_upsampling`).
            expansion_seed: the expansion's seed; default: the `generator`'s seed (`seed_from_generator`), else
                drawn once and reported in `prompts[i].seed`.
            creativity, keep_terms, max_words: this call's expansion settings (default the expander's).
            refresh: expand again even if this prompt and these settings were expanded before.
            kwargs: the pipeline's own arguments; `prompt_2`, `negative_prompt`, `width`, ... given here win.

        Raises:
            TargetError: a width/height that is not a positive multiple of 16, or only one of them.
            And what `PromptExpander.expand` raises. The pipeline's own errors pass through.
        """
        if not expand or prompt is None:  # prompt_embeds instead of a prompt: nothing to expand
            output = self.pipe(prompt=prompt, **kwargs)
            return ExpandedPipelineOutput(images=_images(output), output=output)
        if expansion_seed is None:
            expansion_seed = seed_from_generator(kwargs.get("generator"))
        prompts = self.expand_prompts(
            prompt,
            expansion_seed=expansion_seed,
            creativity=creativity,
            keep_terms=keep_terms,
            max_words=max_words,
            refresh=refresh,
            negative_prompt=kwargs.get("negative_prompt"),
            width=kwargs.get("width"),
            height=kwargs.get("height"),
        )
        filled = pipeline_arguments(self.accepted, prompts, kwargs, single=isinstance(prompt, str))
        call = {**kwargs, **filled}
        output = self.pipe(**call)
        used = {k: call[k] for k in TEXT_ARGUMENTS if call.get(k) is not None}
        return ExpandedPipelineOutput(images=_images(output), prompts=prompts, arguments=used, output=output)


def _images(output):
    if isinstance(output, tuple):
        return output[0] if output else None
    return getattr(output, "images", output)
