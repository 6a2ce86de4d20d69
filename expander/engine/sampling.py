"""What to draw and what comes back, shared by the offline engines and the serve backends: sampling settings,
seeds, one sample to draw (`SampleRequest`) and one completion (`Generation`).

Seeds: expansion `i` of a conversation is sampled with seed `seed + i`, on its own random stream, in every
backend. So `n=4, seed=1000` gives the same four texts as four calls with seeds 1000..1003, whatever else is in
the batch, and the same seed + backend + input reproduce the same text.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from expander.engine.repeat_guard import check_size
from expander.errors import ConfigError

__all__ = [
    "CANDIDATE_SEED_STRIDE",
    "MAX_SEED",
    "SEED_HEADROOM",
    "Conversation",
    "Generation",
    "SampleRequest",
    "SamplingParams",
    "candidate_seed",
    "draw_seed",
    "finish_reason",
]

Conversation = list[dict[str, str]]

SEED_HEADROOM = 1024
"""Room kept above a drawn seed: expansion `i` uses `seed + i`, and the server's one resample after an unsafe
expansion uses `seed + i + expander.serve.service.REGEN_SEED_OFFSET`; all of it stays a 31-bit seed."""
MAX_SEED = 2**31 - 1 - SEED_HEADROOM
"""The largest first seed a caller may give (the API validates against it) or `draw_seed` returns."""

CANDIDATE_SEED_STRIDE = 1_000_003
"""Distance between the seeds of a completion's candidates: a prime far above any `n` and the server's
regeneration offset, so no candidate shares a seed with another completion of the same request."""


def draw_seed() -> int:
    """A random first seed in `[0, MAX_SEED]`, for a request that gives none (it is reported back)."""
    return secrets.randbelow(MAX_SEED + 1)


def candidate_seed(seed: int, j: int) -> int:
    """The seed of candidate `j` of the completion seeded `seed` (candidate 0 is `seed` itself)."""
    return seed if j == 0 else (seed + j * CANDIDATE_SEED_STRIDE) % 2**31


@dataclass
class SamplingParams:
    """How to sample. `temperature == 0` is greedy decoding (then every seed gives the same text).

    Attributes:
        n: completions per conversation.
        seed: seed of the first completion; completion `i` uses `seed + i`. `None` draws a random seed
            (reported back in `Generation.seed`, so any output can be reproduced).
        max_new_tokens: upper bound on generated tokens (generation also stops at EOS).
        candidates: samples drawn per completion (verified expansion picks one of them): completion `i`'s
            candidate `j` uses `candidate_seed(seed + i, j)`, so candidate 0 is the plain completion and a
            completion's candidates do not depend on `n`. `generate_full` returns `n * candidates` generations
            per conversation, completion-major.
        no_repeat_ngram: the repeat guard (`expander.engine.repeat_guard`): no run of this many tokens is
            written twice in one sample's output; 0 = off.

    Raises:
        ConfigError: a value out of range (they come from configs and requests).
    """

    n: int = 1
    seed: int | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    candidates: int = 1
    no_repeat_ngram: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {self.candidates}")
        check_size(self.no_repeat_ngram)

    def seeds(self) -> list[int]:
        """The seed of every sample: completion-major, `candidates` per completion."""
        base = self.seed if self.seed is not None else draw_seed()
        return [candidate_seed(base + i, j) for i in range(self.n) for j in range(self.candidates)]


@dataclass(frozen=True)
class SampleRequest:
    """One completion to sample: chat-template token ids plus sampling settings, with its own seed.

    The unit every backend draws: the offline engines turn conversations x `SamplingParams.seeds()` into these,
    the server builds them per request; both hand them to the same batched `generate` / vLLM request code.
    """

    prompt_ids: tuple[int, ...]
    seed: int
    temperature: float
    top_p: float
    max_new_tokens: int
    repetition_penalty: float = 1.0
    adapter: str | None = None  # a served adapter name; None = the base model (or the engine's merged adapter)
    # The exclusion guard (`expander.engine.exclusion_guard`): words kept out of the output outside a negation,
    # and the prompt's own words built on them ("windowless"). Empty: no guard.
    excluded: tuple[str, ...] = ()
    compounds: tuple[str, ...] = ()
    # The repeat guard (`expander.engine.repeat_guard`): no run of this many tokens twice in the output; 0 = off.
    no_repeat_ngram: int = 0

    def batch_key(self) -> tuple:
        """Samples with equal keys can share a transformers `generate` call (the guards are per row)."""
        return (self.temperature, self.top_p, self.max_new_tokens, self.repetition_penalty, self.adapter)


@dataclass
class Generation:
    """One completion: its text, the seed that produced it and token counts."""

    text: str
    seed: int
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS) or "length" (hit max_new_tokens)


def finish_reason(reason: str | None) -> str:
    """An engine's finish reason as ours: `"length"` when the token budget ran out, else `"stop"`."""
    return "length" if reason == "length" else "stop"
