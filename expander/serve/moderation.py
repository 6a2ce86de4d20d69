"""The service's moderation: what may go into the model and what may come out of it.

Two layers, both on every request: the lexicon policy (`expander.safety`: hard categories refused on input; a
sensitive category an expansion adds to its prompt refused on output) and an optional moderation model
(`expander.safety.TextModerator`, `ServeConfig.moderation_model`). The model fails closed: when it is configured
and cannot be loaded or run, nothing is served (503) rather than served unchecked. An output that quotes the
system prompt (`leaks_system_prompt`) is refused like an unsafe one.
"""

from __future__ import annotations

import asyncio
import logging
import re

from expander.prompts import POLISH_SYSTEM_PROMPT, SYSTEM_PROMPT
from expander.safety import ModeratorUnavailable, TextModerator, added_categories, classify_text
from expander.serve.errors import ServiceError
from expander.serve.metrics import ServeMetrics

logger = logging.getLogger(__name__)

__all__ = ["ServeModeration", "leaks_system_prompt"]


# Word 6-grams of the contract's system prompts: an output sharing one is quoting our instructions.
def _shingles(text: str, k: int = 6) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


_SYSTEM_SHINGLES = _shingles(SYSTEM_PROMPT.replace("{min_words}", "").replace("{max_words}", "")) | _shingles(
    POLISH_SYSTEM_PROMPT.replace("{max_words}", "")
)


def leaks_system_prompt(text: str, prompt: str = "") -> bool:
    """Whether `text` quotes the system prompt (a shared 6-word run that the user's own prompt lacks)."""
    return bool((_shingles(text) & _SYSTEM_SHINGLES) - _shingles(prompt))


class ServeModeration:
    """Input and output moderation of one service; counts what it refuses in `metrics.moderation_blocks`.

    Args:
        model: optional text-classification model (dir or hub id), loaded by `start()`.
        threshold: a model label counts at this probability or above.
    """

    def __init__(self, metrics: ServeMetrics, model: str | None = None, threshold: float = 0.5):
        self.metrics = metrics
        self.model_ref = model
        self.threshold = threshold
        self.moderator: TextModerator | None = None
        self.error: str | None = None  # why the configured model is unavailable (then nothing is served)

    async def start(self) -> None:
        """Load the moderation model, if one is configured. A failure is kept in `error`, not raised: the
        server keeps running so /health can say why, but serves nothing (`require_available`)."""
        if not self.model_ref:
            return
        try:
            self.moderator = await asyncio.to_thread(TextModerator, self.model_ref, self.threshold)
        except ModeratorUnavailable as exc:
            self.error = str(exc)
            logger.error("%s; every generation request will get 503", exc)

    def require_available(self) -> None:
        """Raise 503 when the configured moderation model is unavailable (fail closed)."""
        if self.error:
            raise ServiceError(
                503,
                f"moderation is unavailable, so nothing is served: {self.error}",
                "service_unavailable",
                code="moderation_unavailable",
            )

    async def _model_flags(self, texts: list[str]) -> list[list[str]]:
        if self.moderator is None:
            return [[] for _ in texts]
        try:
            return await asyncio.to_thread(self.moderator.flagged, texts)
        except ModeratorUnavailable as exc:
            raise ServiceError(503, str(exc), "service_unavailable", code="moderation_unavailable") from None

    async def check_input(self, text: str, param: str = "prompt") -> None:
        """Refuse (400 `content_blocked`) text in a hard category or flagged by the moderation model."""
        categories = list(classify_text(text).hard)
        categories += (await self._model_flags([text]))[0]
        if categories:
            for c in categories:
                self.metrics.moderation_blocks.labels("input", c).inc()
            raise ServiceError(
                400,
                f"the prompt was refused by moderation: {', '.join(categories)}",
                "content_policy_violation",
                param=param,
                code="content_blocked",
                categories=categories,
            )

    async def output_problems(self, prompt: str, texts: list[str]) -> list[list[str]]:
        """Per text: the categories it adds to `prompt`, the model's flags, and `system_prompt_leak`."""
        flags = await self._model_flags(texts)
        out = []
        for text, model_flags in zip(texts, flags):
            problems = added_categories(prompt, text) + model_flags
            if leaks_system_prompt(text, prompt):
                problems.append("system_prompt_leak")
            out.append(problems)
        return out

    def count_output_block(self, categories: list[str]) -> None:
        for c in categories:
            self.metrics.moderation_blocks.labels("output", c).inc()
