"""An Ollama `Modelfile` for an exported GGUF: the model's chat template as an Ollama TEMPLATE, our expansion
contract as SYSTEM, and the `medium` creativity's sampling as PARAMETERs.

TEMPLATE is derived, not hand-written: the model's own (Jinja) chat template is rendered with sentinel
system/user/assistant texts, and the literal text around each sentinel becomes the text around `{{ .System }}`,
`{{ .Prompt }}` and `{{ .Response }}`. So the prompt Ollama builds for a system prompt and one user prompt is,
character for character, the one `tokenizer.apply_chat_template(..., add_generation_prompt=True)` builds, which
is what the expander was trained and served on (checked in tests/test_export.py). The template always opens
with the system turn: the Modelfile always sets SYSTEM.
"""

from __future__ import annotations

from dataclasses import dataclass

from expander.export.errors import ExportError

__all__ = [
    "ChatTemplateParts",
    "OllamaSettings",
    "chat_template_parts",
    "modelfile",
    "ollama_settings",
    "stop_sequences",
]

_SYSTEM, _USER, _ASSISTANT = "SYSTEMxq7TEXT", "USERzk4TEXT", "ASSISTANTwv9TEXT"


@dataclass(frozen=True)
class ChatTemplateParts:
    """The literal text of a chat template around its turns:
    `before_system + SYSTEM + between + PROMPT + before_response` is the generation prompt, and
    `after_response` follows the assistant's text in a conversation's history."""

    before_system: str
    between: str
    before_response: str
    after_response: str

    def ollama_template(self) -> str:
        return (
            f"{self.before_system}{{{{ .System }}}}{self.between}{{{{ .Prompt }}}}{self.before_response}"
            f"{{{{ .Response }}}}{self.after_response}"
        )


@dataclass(frozen=True)
class OllamaSettings:
    """What the Modelfile sets besides the template: the system prompt and the sampling parameters."""

    system: str
    temperature: float
    top_p: float
    repeat_penalty: float
    num_predict: int


def chat_template_parts(tokenizer, enable_thinking: bool = False) -> ChatTemplateParts:
    """Split a HF tokenizer's chat template into the literal texts around the system, user and assistant turns.

    Raises:
        ExportError: the tokenizer has no chat template, or its template drops, reorders or rewrites the
            system or user text (no Ollama TEMPLATE of this form can match it).
    """
    from expander.models import chat_template_kwargs

    if not getattr(tokenizer, "chat_template", None):
        raise ExportError("the model's tokenizer has no chat template: an Ollama TEMPLATE cannot be derived")
    kwargs = chat_template_kwargs(tokenizer, enable_thinking)
    turns = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": _USER}]
    prompt = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False, **kwargs)
    history = tokenizer.apply_chat_template(
        [*turns, {"role": "assistant", "content": _ASSISTANT}], tokenize=False, **kwargs
    )
    if prompt.count(_SYSTEM) != 1 or prompt.count(_USER) != 1 or prompt.index(_SYSTEM) > prompt.index(_USER):
        raise ExportError("the chat template drops or reorders the system and user messages: no Ollama TEMPLATE")
    if history.count(_ASSISTANT) != 1:
        raise ExportError("the chat template drops the assistant message: no Ollama TEMPLATE")
    before_system, rest = prompt.split(_SYSTEM)
    between, before_response = rest.split(_USER)
    bos = getattr(tokenizer, "bos_token", None)
    # Ollama (llama.cpp) prepends BOS itself when the tokenizer adds one; the template must not add a second.
    if bos and before_system.startswith(bos) and _adds_bos(tokenizer):
        before_system = before_system[len(bos) :]
    return ChatTemplateParts(before_system, between, before_response, history.split(_ASSISTANT)[1])


def ollama_settings(creativity: str = "medium") -> OllamaSettings:
    """The system prompt and sampling of a creativity level, from the expansion contract (`plan_expansion`)."""
    from expander.expand import REPETITION_PENALTY, plan_expansion

    plan = plan_expansion("a red fox in snow", creativity)  # any short prompt: the system prompt is the same
    if plan is None:
        raise ExportError("creativity 'raw' calls no model: choose low, medium or high for an Ollama model")
    return OllamaSettings(
        system=plan.conversation[0]["content"],
        temperature=plan.temperature,
        top_p=plan.top_p,
        repeat_penalty=REPETITION_PENALTY,
        num_predict=plan.max_new_tokens,
    )


def modelfile(
    gguf_name: str, parts: ChatTemplateParts, settings: OllamaSettings, stop: list[str], header: str = ""
) -> str:
    """The text of a Modelfile for the GGUF `gguf_name` (a file beside the Modelfile).

    Raises:
        ExportError: a template or system text that holds `\"\"\"` (Modelfile strings cannot escape it).
    """
    template, system = parts.ollama_template(), settings.system
    for label, text in (("TEMPLATE", template), ("SYSTEM", system)):
        if '"""' in text:
            raise ExportError(f'the {label} text holds """, which a Modelfile cannot quote')
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{template}"""',
        f'SYSTEM """{system}"""',
        f"PARAMETER temperature {settings.temperature}",
        f"PARAMETER top_p {settings.top_p}",
        f"PARAMETER repeat_penalty {settings.repeat_penalty}",
        f"PARAMETER num_predict {settings.num_predict}",
    ]
    lines += [f'PARAMETER stop "{s}"' for s in stop]
    return "\n".join(lines) + "\n"


def stop_sequences(tokenizer, parts: ChatTemplateParts) -> list[str]:
    """Where a reply ends: the eos token, and the turn-closing token of the template (`<|im_end|>`)."""
    stops = []
    for text in (getattr(tokenizer, "eos_token", None), parts.after_response.strip()):
        if text and text not in stops and not any(c.isspace() for c in text) and '"' not in text:
            stops.append(text)
    return stops


def _adds_bos(tokenizer) -> bool:
    bos_id = getattr(tokenizer, "bos_token_id", None)
    return bos_id is not None and tokenizer("a")["input_ids"][:1] == [bos_id]
