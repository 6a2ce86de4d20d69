"""Expand prompts through an engine under the expansion contract (used by the CLI, serving and eval).

After cleaning, keep_terms the model left out are appended verbatim (`repair_keep_terms`): `expander expand
--keep` and the API's `keep_terms` give the same text, and both report what was repaired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from expander.engine import GenerationEngine, SamplingParams
from expander.prompts import (
    DEFAULT_CREATIVITY,
    PromptError,
    build_messages,
    clean_output,
    creativity_settings,
    validate_prompt,
)

__all__ = [
    "REPETITION_PENALTY",
    "Expansion",
    "ExpansionPlan",
    "expand_prompts",
    "max_new_tokens_for",
    "plan_expansion",
    "repair_keep_terms",
]

REPETITION_PENALTY = 1.05  # mild: a 135M model loops without it; stronger starts to avoid the user's own words
TOKENS_PER_WORD = 1.6  # English prose with a BPE tokenizer; headroom so the word budget, not tokens, binds


@dataclass
class Expansion:
    """One expansion of a prompt. `raw_text` is the model's completion before cleaning; `keep_terms_repaired`
    the keep_terms it left out, appended to `text`."""

    text: str
    seed: int | None
    raw_text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    keep_terms_repaired: list[str] = field(default_factory=list)


def repair_keep_terms(text: str, keep_terms: list[str] | None) -> tuple[str, list[str]]:
    """Append the keep_terms missing from `text` (exact, case-sensitive substrings), verbatim.

    Returns:
        (the repaired text, the terms that were appended).
    """
    missing = [t for t in keep_terms or [] if t not in text]
    if missing:
        text = f"{text.rstrip().rstrip('.')}, {', '.join(missing)}." if text else ", ".join(missing)
    return text, missing


def max_new_tokens_for(max_words: int) -> int:
    return int(max_words * TOKENS_PER_WORD) + 16


@dataclass(frozen=True)
class ExpansionPlan:
    """How one prompt is expanded under the contract: the messages, the sampling settings, the token budget
    and the word cap its completions are cleaned to. The one place those are derived (CLI, serving, eval)."""

    prompt: str
    conversation: list[dict[str, str]]
    temperature: float
    top_p: float
    max_new_tokens: int
    max_words: int  # cleaning cap: the word budget, or the prompt's own length if that is longer

    def finish(self, completion: str) -> str:
        """The expansion a raw completion becomes (`expander.prompts.clean_output` under this plan's cap)."""
        return clean_output(completion, max_words=self.max_words)


def plan_expansion(
    prompt: str,
    creativity: str = DEFAULT_CREATIVITY,
    *,
    max_words: int | None = None,
    keep_terms: list[str] | None = None,
) -> ExpansionPlan | None:
    """The plan for expanding a validated `prompt`; `None` for `raw` creativity (no model call).

    Raises:
        PromptError: an unknown creativity, `max_words < 1`, or keep_terms the contract refuses.
    """
    if max_words is not None and max_words < 1:
        raise PromptError(f"max_words must be >= 1, got {max_words}")
    settings = creativity_settings(creativity)
    if settings is None:
        return None
    budget = max_words or settings.max_words
    cap = max(budget, len(prompt.split()))
    return ExpansionPlan(
        prompt=prompt,
        conversation=build_messages(prompt, creativity, max_words=budget, keep_terms=keep_terms),
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=max_new_tokens_for(cap),
        max_words=cap,
    )


def expand_prompts(
    engine: GenerationEngine | None,
    prompts: list[str],
    *,
    creativity: str = DEFAULT_CREATIVITY,
    n: int = 1,
    seed: int | None = None,
    max_words: int | None = None,
    keep_terms: list[str] | None = None,
    repetition_penalty: float = REPETITION_PENALTY,
) -> list[list[Expansion]]:
    """Expand each prompt `n` times. `creativity="raw"` returns the prompts without a model call (only missing
    keep_terms are appended, as for every expansion: `repair_keep_terms`).

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
        return [[_raw(t, None if seed is None else seed + i, keep_terms) for i in range(n)] for t in texts]
    plans = [plan_expansion(t, creativity, max_words=max_words, keep_terms=keep_terms) for t in texts]
    if engine is None:
        raise ValueError(f"creativity {creativity!r} needs an engine")
    params = SamplingParams(
        n=n,
        seed=seed,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=max((p.max_new_tokens for p in plans), default=1),  # one budget for the batch
        repetition_penalty=repetition_penalty,
    )
    outputs = engine.generate_full([p.conversation for p in plans], params)
    expansions = []
    for plan, gens in zip(plans, outputs):
        row = []
        for g in gens:
            text, repaired = repair_keep_terms(plan.finish(g.text), keep_terms)
            row.append(Expansion(text=text, seed=g.seed, raw_text=g.text, prompt_tokens=g.prompt_tokens,
                                 completion_tokens=g.completion_tokens, finish_reason=g.finish_reason,
                                 keep_terms_repaired=repaired))
        expansions.append(row)
    return expansions


def _raw(prompt: str, seed: int | None, keep_terms: list[str] | None) -> Expansion:
    text, repaired = repair_keep_terms(prompt, keep_terms)
    return Expansion(text=text, seed=seed, raw_text=prompt, keep_terms_repaired=repaired)
