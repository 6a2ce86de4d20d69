"""`GenerationEngine`: the offline interface, chat conversations in, completions out.

The conversation-to-samples step (chat ids, seeds, the token budget) and the regrouping of the results are
written once here; a backend only draws a flat list of `SampleRequest`s (`draw`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from expander.engine.sampling import Conversation, Generation, SampleRequest, SamplingParams
from expander.engine.tokenizer import chat_ids

__all__ = ["Guard", "GenerationEngine"]

Guard = tuple[tuple[str, ...], tuple[str, ...]]
"""An exclusion guard: (excluded words, the prompt's own words built on them); `((), ())` is none."""


@dataclass
class GenerationEngine(ABC):
    """Turns chat conversations into completions. Subclasses set `tokenizer` and implement `draw` and `close`."""

    model: str
    model_path: Path | str
    adapter: str | None = None
    enable_thinking: bool = False
    thinking_budget: int = 1024
    backend: str = field(init=False, default="")

    @abstractmethod
    def draw(self, samples: list[SampleRequest]) -> list[Generation]:
        """Sample every request (each with its own seed); results in input order."""

    @abstractmethod
    def close(self) -> None:
        """Release the model (and the vLLM engine process)."""

    def token_budget(self, params: SamplingParams) -> int:
        """New tokens a sample may use: the expansion's budget, plus `thinking_budget` when thinking is on (the
        thinking text is stripped afterwards, so it must not eat the description's budget)."""
        return params.max_new_tokens + (self.thinking_budget if self.enable_thinking else 0)

    def conversation_ids(self, conversation: Conversation) -> list[int]:
        return chat_ids(self.tokenizer, conversation, self.enable_thinking)

    def samples(
        self, conversation: Conversation, params: SamplingParams, guard: Guard = ((), ())
    ) -> list[SampleRequest]:
        """The `n * candidates` samples of one conversation, completion-major (`SamplingParams.seeds`).
        `guard`: (excluded words, compounds) of the exclusion guard (`expander.engine.exclusion_guard`)."""
        ids = tuple(self.conversation_ids(conversation))
        budget = self.token_budget(params)
        excluded, compounds = (tuple(x) for x in guard)
        return [
            SampleRequest(
                ids,
                seed,
                params.temperature,
                params.top_p,
                budget,
                params.repetition_penalty,
                excluded=excluded,
                compounds=compounds,
                no_repeat_ngram=params.no_repeat_ngram,
            )
            for seed in params.seeds()  # one seed draw per conversation when `params.seed` is None
        ]

    def generate_full(
        self, conversations: list[Conversation], params: SamplingParams, guards: list[Guard] | None = None
    ) -> list[list[Generation]]:
        """One list of `params.n * params.candidates` generations per conversation, in input order. `guards`:
        one exclusion guard per conversation (`samples`); None: no guard."""
        guards = guards or [((), ())] * len(conversations)
        if len(guards) != len(conversations):  # a caller's bug
            raise ValueError(f"{len(guards)} guards for {len(conversations)} conversations")
        samples = [s for conv, g in zip(conversations, guards) for s in self.samples(conv, params, g)]
        gens = self.draw(samples)
        per = params.n * params.candidates
        return [gens[i * per : (i + 1) * per] for i in range(len(conversations))]

    def generate(self, conversations: list[Conversation], params: SamplingParams) -> list[list[str]]:
        """Texts only: one list of `params.n` texts per conversation."""
        return [[g.text for g in gens] for gens in self.generate_full(conversations, params)]

    def __enter__(self) -> GenerationEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
