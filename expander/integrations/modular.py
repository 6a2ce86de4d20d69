"""A Modular Diffusers prompt-enhancer step in front of Krea 2's text encoder, switched on by `use_prompt_enhancer`.

Modelled on diffusers' Ernie-Image prompt enhancer (`ErnieImagePromptEnhancerStep`, run by the conditional
`ErnieImageAutoPromptEnhancerStep` when `use_pe` is truthy): it reads `prompt`, `height`, `width` and writes the
rewritten `prompt` list and the resolved `height`/`width`. Here the rewriting is the expander's
(`expander.integrations.PromptExpander`, a pipeline component called `prompt_expander`), shaped for the target
model (`expander.targets`), so the step also picks the size the prompt asks for and the negative prompt it implies:

    from diffusers.modular_pipelines import Krea2AutoBlocks
    from expander.integrations import PromptExpander
    from expander.integrations.modular import add_prompt_enhancer

    blocks = add_prompt_enhancer(Krea2AutoBlocks())  # before its "text_encoder" step
    pipe = blocks.init_pipeline("krea/Krea-2")
    pipe.load_components(torch_dtype=torch.bfloat16)
    pipe.update_components(prompt_expander=PromptExpander())  # the built-in expander; or a server URL
    images = pipe(prompt="a tall lighthouse", use_prompt_enhancer=True, output="images")

Without `use_prompt_enhancer` (or with it False) the step is skipped and the pipeline runs as before.
"""

from __future__ import annotations

import torch
from diffusers.modular_pipelines import (
    ConditionalPipelineBlocks,
    ModularPipelineBlocks,
    PipelineState,
    SequentialPipelineBlocks,
)
from diffusers.modular_pipelines.modular_pipeline_utils import ComponentSpec, InputParam, OutputParam

from expander.errors import ConfigError
from expander.integrations import PromptExpander
from expander.integrations.diffusers import seed_from_generator, target_for
from expander.targets import get_target

__all__ = ["ExpanderAutoPromptEnhancerStep", "ExpanderPromptEnhancerStep", "add_prompt_enhancer"]


class ExpanderPromptEnhancerStep(ModularPipelineBlocks):
    """Expands the prompt(s) with the `prompt_expander` component and resolves the image size.

    `height`/`width`: the caller's, else the size every prompt suggests (`expander.targets.suggest_size`), else the
    pipeline's default. `negative_prompt` is replaced by the shaped one (the caller's, plus what the prompt
    excludes) where the target uses one, and left alone where it takes none (Krea 2 Turbo).
    """

    model_name = "krea2"

    @property
    def description(self) -> str:
        return (
            "Prompt enhancer step that expands the prompt with the expander (in process or through its API), "
            "shaped for the target model, and resolves the image size the prompt asks for."
        )

    @property
    def expected_components(self) -> list[ComponentSpec]:
        return [
            ComponentSpec(
                "prompt_expander",
                PromptExpander,
                description="The expander (`expander.integrations.PromptExpander`); set it with "
                "`pipe.update_components(prompt_expander=PromptExpander(...))`.",
            )
        ]

    @property
    def inputs(self) -> list[InputParam]:
        return [
            # The shared inputs keep diffusers' own descriptions: the first block that declares one sets them.
            InputParam.template("prompt"),
            InputParam.template("height"),
            InputParam.template("width"),
            InputParam.template("negative_prompt"),
            InputParam.template("generator"),
            InputParam(
                "prompt_enhancer_seed",
                type_hint=int,
                description="Seed of the expansion (default: the generator's, else drawn and kept).",
            ),
            InputParam(
                "prompt_enhancer_creativity",
                type_hint=str,
                description="`low`, `medium`, `high` or `raw` (default: the expander's).",
            ),
            InputParam(
                "prompt_enhancer_keep_terms", type_hint=list, description="Terms every expansion keeps verbatim."
            ),
            InputParam(
                "prompt_enhancer_target",
                type_hint=str,
                description="The `expander.targets` name to shape for (default: from the pipeline's class).",
            ),
            InputParam(
                "prompt_enhancer_refresh",
                type_hint=bool,
                default=False,
                description="Expand again even if this prompt was expanded with these settings before.",
            ),
        ]

    @property
    def intermediate_outputs(self) -> list[OutputParam]:
        return [
            OutputParam("prompt", type_hint=list, description="The prompt list after expansion and shaping."),
            OutputParam("height", type_hint=int, description="The resolved image height in pixels."),
            OutputParam("width", type_hint=int, description="The resolved image width in pixels."),
            OutputParam("negative_prompt", type_hint=list, description="The shaped negative prompt(s), if any."),
            OutputParam(
                "prompt_enhancer_prompts",
                type_hint=list,
                description="Per prompt, the expander's `ExpandedPrompt` (expansion, seed, shaped texts).",
            ),
        ]

    @torch.no_grad()
    def __call__(self, components, state: PipelineState):
        block_state = self.get_block_state(state)
        expander = getattr(components, "prompt_expander", None)
        if expander is None:
            raise ConfigError(
                "the prompt enhancer needs a `prompt_expander` component: "
                "pipe.update_components(prompt_expander=PromptExpander(...))"
            )
        prompts = [block_state.prompt] if isinstance(block_state.prompt, str) else list(block_state.prompt)
        target = get_target(block_state.prompt_enhancer_target or target_for(components)).name
        spec = get_target(target)
        tokenizer = getattr(components, spec.tokenizer_subfolder, None) if spec.tokenizer_subfolder else None
        negative = block_state.negative_prompt
        seed = block_state.prompt_enhancer_seed
        if seed is None:
            seed = seed_from_generator(block_state.generator)
        given = block_state.height is not None and block_state.width is not None
        expanded = expander.expand_for(
            prompts,
            target,
            tokenizer=tokenizer if callable(tokenizer) else None,
            clip_tokenizer=getattr(components, "tokenizer_2", None) if spec.short_prompt else None,
            negative_prompt=negative if isinstance(negative, str) else None,
            width=block_state.width if given else None,
            height=block_state.height if given else None,
            seed=seed,
            creativity=block_state.prompt_enhancer_creativity,
            keep_terms=block_state.prompt_enhancer_keep_terms,
            refresh=bool(block_state.prompt_enhancer_refresh),
        )
        shaped = [e.shaped for e in expanded]
        block_state.prompt = [s.prompt for s in shaped]
        sizes = {(s.width, s.height) for s in shaped}
        if not given and len(sizes) == 1 and None not in next(iter(sizes)):
            block_state.width, block_state.height = next(iter(sizes))
        block_state.height = block_state.height or getattr(components, "default_height", None)
        block_state.width = block_state.width or getattr(components, "default_width", None)
        if spec.negative_prompt and (negative is None or isinstance(negative, str)):
            block_state.negative_prompt = [s.negative_prompt for s in shaped]
        block_state.prompt_enhancer_prompts = expanded
        self.set_block_state(state, block_state)
        return components, state


class ExpanderAutoPromptEnhancerStep(ConditionalPipelineBlocks):
    """Runs `ExpanderPromptEnhancerStep` when `use_prompt_enhancer` is truthy; otherwise the step is skipped."""

    model_name = "krea2"
    block_classes = [ExpanderPromptEnhancerStep]
    block_names = ["prompt_enhancer"]
    block_trigger_inputs = ["use_prompt_enhancer"]

    def select_block(self, use_prompt_enhancer=None) -> str | None:
        return "prompt_enhancer" if use_prompt_enhancer else None

    @property
    def inputs(self) -> list[InputParam]:
        # The switch must be a declared input: `ModularPipeline.__call__` drops undeclared keyword arguments (with
        # a warning), so a trigger that is not also an input never reaches `select_block` (diffusers 0.42.1).
        switch = InputParam(
            "use_prompt_enhancer", type_hint=bool, default=False, description="Run the expander's prompt enhancer."
        )
        return [*super().inputs, switch]

    @property
    def description(self) -> str:
        return (
            "Conditional block that runs the expander's prompt enhancer when `use_prompt_enhancer` is truthy.\n"
            " - `ExpanderPromptEnhancerStep` is used when `use_prompt_enhancer=True`.\n"
            " - If `use_prompt_enhancer` is `None` or `False`, the step is skipped."
        )


def add_prompt_enhancer(blocks: SequentialPipelineBlocks, before: str = "text_encoder") -> SequentialPipelineBlocks:
    """Insert `ExpanderAutoPromptEnhancerStep` as `prompt_enhancer` in front of the `before` step of `blocks`
    (Krea 2's `text_encoder`, in `Krea2AutoBlocks` and `Krea2TurboAutoBlocks`); returns `blocks`.

    Raises:
        ConfigError: `blocks` has no step called `before`.
    """
    names = list(blocks.sub_blocks)
    if before not in names:
        raise ConfigError(
            f"{type(blocks).__name__} has no {before!r} step to put the prompt enhancer before; "
            f"its steps: {', '.join(names)}"
        )
    blocks.sub_blocks.insert("prompt_enhancer", ExpanderAutoPromptEnhancerStep(), names.index(before))
    return blocks
