"""The expander where images are made: diffusers and ComfyUI (issue #27).

    diffusers.py   ExpandedPipeline: any diffusers text-to-image pipeline, called with the expanded prompt
                   (`prompt`, `prompt_2`/`prompt_3`, `negative_prompt`, `width`/`height` as the pipeline takes them)
    modular.py     a Modular Diffusers prompt-enhancer block to put in front of Krea 2's text encoder step
    comfyui.py     ComfyUI nodes

What they share lives here: `PromptExpander`, the one object that turns a user's prompt into an expansion shaped
for an image model (`expander.targets.shape`), either in process (an engine on a model reference, the built-in
expander by default) or through the expander API (`expander.client`). It keeps what it expanded: the same
prompt, settings and seed are answered from memory, so a script that renders one prompt with many image seeds
runs the language model once. `refresh=True` expands again; `close()` frees the model.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from expander.errors import ConfigError
from expander.prompts import DEFAULT_CREATIVITY, creativity_settings
from expander.targets import DEFAULT_TARGET, ShapedPrompt, shape

__all__ = ["CACHE_SIZE", "ExpandedPrompt", "PromptExpander"]

CACHE_SIZE = 256
"""Expansions a `PromptExpander` keeps (least recently used first out)."""


@dataclass(frozen=True)
class ExpandedPrompt:
    """One prompt as an image pipeline receives it.

    Attributes:
        prompt: the user's prompt.
        expansion: the expander's text, before shaping.
        seed: the seed that produced it (drawn and reported when none was given; None for `raw`).
        shaped: the expansion shaped for the target model (`expander.targets.ShapedPrompt`): the texts, the
            negative prompt and the size to pass.
        cached: whether it came from the expander's memory rather than a new model call.
    """

    prompt: str
    expansion: str
    seed: int | None
    shaped: ShapedPrompt
    cached: bool = False

    def as_dict(self) -> dict:
        return {
            "prompt": self.prompt,
            "expansion": self.expansion,
            "seed": self.seed,
            "cached": self.cached,
            "shaped": self.shaped.as_dict(),
        }


def _is_url(source) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


class PromptExpander:
    """Expands prompts for image pipelines, in process or through the expander API, and remembers the results.

    Args:
        source: where expansions come from: a model reference (a built-in name such as `smollm2-135m`, the
            default; a local HF directory; a hub id), loaded on first use; an `http(s)://` URL of an expander
            server; an `expander.client.ExpanderClient`; or an `expander.engine.GenerationEngine` already built.
        adapter: with a model reference: `default` (the model's shipped adapter), `none`, or a LoRA directory.
        backend: with a model reference: `transformers` (starts in seconds) or `vllm`.
        creativity, max_words, keep_terms: the expansion settings each call uses unless it says otherwise.
        api_key: with a URL: the server's API key.
        engine_options: with a model reference: more `expander.engine.create_engine` options (`dtype`, `device`).

    Raises:
        PromptError: an unknown creativity.
        ConfigError: a source of another kind.
    """

    def __init__(
        self,
        source=None,
        *,
        adapter: str = "default",
        backend: str = "transformers",
        creativity: str = DEFAULT_CREATIVITY,
        max_words: int | None = None,
        keep_terms: list[str] | None = None,
        api_key: str | None = None,
        **engine_options,
    ):
        from expander.client import ExpanderClient
        from expander.engine import GenerationEngine
        from expander.models import DEFAULT_MODEL

        creativity_settings(creativity)
        self.creativity, self.max_words, self.keep_terms = creativity, max_words, list(keep_terms or [])
        self.client = self.engine = None
        self.model = None
        if source is None:
            source = DEFAULT_MODEL
        if isinstance(source, ExpanderClient):
            self.client = source
        elif _is_url(source):
            self.client = ExpanderClient(source, api_key=api_key)
        elif isinstance(source, GenerationEngine):
            self.engine, self.model = source, source.model
        elif isinstance(source, str):
            self.model = source
        else:
            raise ConfigError(
                f"a prompt expander's source is a model reference, an http(s) URL, an ExpanderClient or a "
                f"GenerationEngine; got {type(source).__name__}"
            )
        self.adapter, self.backend, self.engine_options = adapter, backend, engine_options
        self.calls = 0  # expansions made by a model call (not from memory), over the object's life
        self._cache: OrderedDict[tuple, tuple[str, int | None]] = OrderedDict()

    def expand(
        self,
        prompts: str | list[str],
        *,
        seed: int | None = None,
        creativity: str | None = None,
        max_words: int | None = None,
        keep_terms: list[str] | None = None,
        refresh: bool = False,
    ) -> list[tuple[str, int | None, bool]]:
        """The expansion of each prompt: `(text, seed, cached)`.

        Each prompt is expanded with `seed` (the same for every prompt, as `expander.expand.expand_prompts` does;
        drawn once per call when None, and reported). A prompt already expanded with the same settings and seed,
        or with no seed given, is answered from memory unless `refresh=True`.

        Raises:
            PromptError: an empty or too long prompt, an unknown creativity.
            ExpanderAPIError: the server refused (through the API).
            ModelNotFoundError: the model reference cannot be found (in process).
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        creativity = creativity or self.creativity
        max_words = max_words if max_words is not None else self.max_words
        keep = tuple(keep_terms if keep_terms is not None else self.keep_terms)
        keys = [(p, creativity, seed, max_words, keep) for p in prompts]
        todo = sorted({p for p, key in zip(prompts, keys) if refresh or key not in self._cache}, key=prompts.index)
        found = {p: self._cache[key] for p, key in zip(prompts, keys) if p not in todo}  # before evictions
        for key in keys:
            if key in self._cache:
                self._cache.move_to_end(key)
        if todo:
            if seed is None and creativity_settings(creativity) is not None:
                from expander.engine import draw_seed

                seed_used = draw_seed()
            else:
                seed_used = seed
            for prompt, result in zip(todo, self._expand(todo, seed_used, creativity, max_words, list(keep))):
                self._remember((prompt, creativity, seed, max_words, keep), result)
                if seed is None:  # also reachable by the seed it was drawn with
                    self._remember((prompt, creativity, result[1], max_words, keep), result)
                found[prompt] = result
        return [(*found[prompt], prompt not in todo) for prompt in prompts]

    def expand_for(
        self,
        prompts: str | list[str],
        target: str = DEFAULT_TARGET,
        *,
        tokenizer=None,
        clip_tokenizer=None,
        negative_prompt: str | None = None,
        width: int | None = None,
        height: int | None = None,
        **expand_kwargs,
    ) -> list[ExpandedPrompt]:
        """Expand (`expand`, which takes `expand_kwargs`) and shape each prompt for `target`
        (`expander.targets.shape` with these arguments; the tokenizers default to the target's own).

        Raises:
            TargetError: an unknown target, a width/height that is not a positive multiple of 16.
            And what `expand` raises.
        """
        from expander.targets import check_size, get_target

        get_target(target)  # a bad target or size fails before the model runs
        check_size(width, height)
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        return [
            ExpandedPrompt(
                prompt=prompt,
                expansion=text,
                seed=seed,
                shaped=shape(
                    prompt,
                    text,
                    target,
                    negative_prompt=negative_prompt,
                    tokenizer=tokenizer,
                    clip_tokenizer=clip_tokenizer,
                    width=width,
                    height=height,
                ),
                cached=cached,
            )
            for prompt, (text, seed, cached) in zip(prompts, self.expand(prompts, **expand_kwargs))
        ]

    def upsample_prompt(self, prompt: str | list[str], target: str = DEFAULT_TARGET, **kwargs) -> list[str]:
        """The shaped expansion of each prompt, in the form of diffusers' `upsample_prompt` (Flux 2, Ideogram 4):
        a prompt or a list in, a list of texts out. `kwargs` go to `expand_for`."""
        return [e.shaped.prompt for e in self.expand_for(prompt, target, **kwargs)]

    def clear(self) -> None:
        """Forget every remembered expansion (the next calls run the model)."""
        self._cache.clear()

    def close(self) -> None:
        """Free the in-process model (it loads again on the next expansion) or close the API client's
        connections. Remembered expansions are kept."""
        if self.engine is not None and self._owns_engine:
            self.engine.close()
            self.engine = None
        if self.client is not None:
            self.client.close()

    _owns_engine = False

    def _remember(self, key: tuple, result: tuple[str, int | None]) -> None:
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _expand(
        self, prompts: list[str], seed: int | None, creativity: str, max_words: int | None, keep_terms: list[str]
    ) -> list[tuple[str, int | None]]:
        self.calls += len(prompts)
        if self.client is not None:
            results = []
            for prompt in prompts:
                reply = self.client.expand(
                    prompt, seed=seed, creativity=creativity, max_words=max_words, keep_terms=keep_terms or None
                )
                results.append((reply.expansions[0].text, reply.expansions[0].seed))
            return results
        from expander.expand import expand_prompts
        from expander.models import model_languages

        engine = self._engine() if creativity_settings(creativity) is not None else None
        rows = expand_prompts(
            engine,
            prompts,
            creativity=creativity,
            seed=seed,
            max_words=max_words,
            keep_terms=keep_terms or None,
            languages=model_languages(self.model) if engine is not None else None,
        )
        return [(row[0].text, row[0].seed) for row in rows]

    def _engine(self):
        if self.engine is None:
            from expander.engine import create_engine
            from expander.models import resolve_adapter

            adapter = resolve_adapter(self.model, self.adapter)
            self.engine = create_engine(self.model, backend=self.backend, adapter=adapter, **self.engine_options)
            self._owns_engine = True
        return self.engine
