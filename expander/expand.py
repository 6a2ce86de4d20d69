"""Expand prompts through an engine under the expansion contract (used by the CLI, serving and eval)."""

from __future__ import annotations

from dataclasses import dataclass

from expander.engine import GenerationEngine, SamplingParams
from expander.prompts import (
    DEFAULT_CREATIVITY,
    PromptError,
    build_messages,
    clean_output,
    creativity_settings,
    validate_prompt,
)

__all__ = ["Expansion", "expand_prompts", "max_new_tokens_for"]

TOKENS_PER_WORD = 1.6  # English prose with a BPE tokenizer; headroom so the word budget, not tokens, binds


@dataclass
class Expansion:
    """One expansion of a prompt. `raw_text` is the model's completion before cleaning."""

    text: str
    seed: int | None
    raw_text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


def max_new_tokens_for(max_words: int) -> int:
    return int(max_words * TOKENS_PER_WORD) + 16


def expand_prompts(
    engine: GenerationEngine | None,
    prompts: list[str],
    *,
    creativity: str = DEFAULT_CREATIVITY,
    n: int = 1,
    seed: int | None = None,
    max_words: int | None = None,
    keep_terms: list[str] | None = None,
    repetition_penalty: float = 1.05,
) -> list[list[Expansion]]:
    """Expand each prompt `n` times. `creativity="raw"` returns the prompts unchanged without a model call.

    Raises:
        PromptError: an empty or too long prompt, an unknown creativity, `n < 1`, `max_words < 1`.
    """
    if n < 1:
        raise PromptError(f"n must be >= 1, got {n}")
    if max_words is not None and max_words < 1:
        raise PromptError(f"max_words must be >= 1, got {max_words}")
    texts = [validate_prompt(p) for p in prompts]
    settings = creativity_settings(creativity)
    if settings is None:
        return [[Expansion(text=t, seed=None if seed is None else seed + i, raw_text=t) for i in range(n)] for t in texts]
    if engine is None:
        raise ValueError(f"creativity {creativity!r} needs an engine")
    budget = max_words or settings.max_words
    conversations = [build_messages(t, creativity, max_words=budget, keep_terms=keep_terms) for t in texts]
    params = SamplingParams(
        n=n,
        seed=seed,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=max_new_tokens_for(max([budget] + [len(t.split()) for t in texts])),
        repetition_penalty=repetition_penalty,
    )
    outputs = engine.generate_full(conversations, params)
    return [
        [
            Expansion(
                text=clean_output(g.text, max_words=max(budget, len(t.split()))),
                seed=g.seed,
                raw_text=g.text,
                prompt_tokens=g.prompt_tokens,
                completion_tokens=g.completion_tokens,
                finish_reason=g.finish_reason,
            )
            for g in gens
        ]
        for t, gens in zip(texts, outputs)
    ]
