"""What a reward function is given: TRL's inputs, parsed once per call.

`prompts`/`completions` are plain strings or TRL's conversational form (lists of `{"role", "content"}`
messages): the SHORT prompt is the last user message's content (a `short_prompt` dataset column, when present,
takes precedence), the completion is the assistant message's content. Completions are cleaned with
`expander.prompts.clean_output` (the contract's cleaning, the one serving applies) before they are rendered or
judged, but not cut to a word budget as serving's `ExpansionPlan.finish` cuts them: the policy is judged on
everything it wrote. `trainer_state.global_step` (or a `step` kwarg) decides the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from expander.prompts import clean_output

__all__ = ["RewardRows", "completion_text", "short_prompt_text", "step_of"]


def _message_content(message: Any) -> str:
    content = message.get("content", "")
    if isinstance(content, list):  # multimodal content parts: keep the text ones
        content = " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    return str(content)


def short_prompt_text(prompt: Any) -> str:
    """The user's short prompt: the string itself, or the last user message of a conversation."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)):
        for message in reversed(prompt):
            if isinstance(message, dict) and message.get("role") == "user":
                return _message_content(message)
        # Our datasets build every conversation with a user turn: a missing one is a bug in the caller.
        raise ValueError("conversational prompt has no user message")
    raise TypeError(f"prompt must be a string or a list of messages, got {type(prompt).__name__}")


def completion_text(completion: Any) -> str:
    """The completion text: the string itself, or the assistant message(s) of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)):
        parts = [
            _message_content(m) for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        ]
        return "\n".join(parts)
    raise TypeError(f"completion must be a string or a list of messages, got {type(completion).__name__}")


def step_of(kwargs: dict[str, Any]) -> int:
    """The training step of a call: `trainer_state.global_step`, else the `step` kwarg, else 0."""
    state = kwargs.get("trainer_state")
    if state is not None and getattr(state, "global_step", None) is not None:
        return int(state.global_step)
    return int(kwargs.get("step", 0) or 0)


class RewardRows:
    """One reward call's inputs, parsed once: `shorts` (the short prompts), `raw` (the completions as
    written), `texts` (cleaned), `step`, and TRL's `log_metric`/`log_extra` callbacks when it passes them."""

    def __init__(self, prompts: Sequence[Any], completions: Sequence[Any], kwargs: dict[str, Any]):
        if len(prompts) != len(completions):
            # TRL (or `score_rows`) passes aligned lists: a mismatch is a bug in the caller, not user input.
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        shorts = kwargs.get("short_prompt")
        if isinstance(shorts, (list, tuple)) and len(shorts) == len(prompts):
            self.shorts = [str(s) for s in shorts]
        else:
            self.shorts = [short_prompt_text(p).strip() for p in prompts]
        self.raw = [completion_text(c) for c in completions]
        # An empty cleaned text has no image (image rewards None, the image safety gate fails closed).
        self.texts = [clean_output(c) for c in self.raw]
        self.step = step_of(kwargs)
        self.log_metric = kwargs.get("log_metric")
        self.log_extra = kwargs.get("log_extra")

    def __len__(self) -> int:
        return len(self.shorts)
