"""Request and response models of the expander API (pydantic): `/v1/expand` and the OpenAI-compatible subset.

These classes are the API's contract, shared by the server (`expander.serve`) and the typed client
(`expander.client`), which is why they live below both: FastAPI validates requests against them (422 naming
the field on any mismatch) and publishes them in `/openapi.json`; the client parses responses into them.
`/v1/expand` is strict (unknown fields are errors); `/v1/chat/completions` ignores OpenAI parameters it does not
use, so stock clients keep working.

The validators raise plain `ValueError`: that is pydantic's protocol for a rejected value (it becomes a
`ValidationError`, answered 422), not an error that escapes to a user as such.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from expander.engine import MAX_SEED  # room for seed + i and the regeneration offset inside a 31-bit seed
from expander.prompts import CREATIVITY_LEVELS, DEFAULT_CREATIVITY, PromptError, validate_prompt
from expander.targets import TARGETS

__all__ = [
    "MAX_KEEP_TERMS",
    "MAX_BATCH",
    "MAX_N",
    "MAX_WORDS_LIMIT",
    "ChatChoice",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatMessage",
    "ErrorBody",
    "ErrorResponse",
    "BatchItem",
    "ExpandBatchResponse",
    "ExpandRequest",
    "ExpandResponse",
    "ExpansionOut",
    "HealthResponse",
    "LanguageOut",
    "ModelCard",
    "ModelList",
    "ShapedOut",
    "Timings",
    "Usage",
]

MAX_N = 8
MAX_BATCH = 64
MAX_WORDS_LIMIT = 400
MAX_KEEP_TERMS = 16
MAX_KEEP_TERM_CHARS = 100
MAX_CHAT_TOKENS = 1024
MAX_NEGATIVE_PROMPT_CHARS = 2000

Creativity = Literal[tuple(CREATIVITY_LEVELS)]  # type: ignore[valid-type]


def _checked_prompt(value: str) -> str:
    try:
        return validate_prompt(value)
    except PromptError as exc:
        raise ValueError(str(exc)) from None


_MISSING = object()


class ExpandRequest(BaseModel):
    """`POST /v1/expand`: expand one short prompt `n` times, or each of a batch of `prompts`."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"prompt": "a red fox in snow", "n": 2, "seed": 7}]},
    )

    prompt: str | None = Field(
        None, description="The user's short prompt (1-2000 characters after stripping).", max_length=20000
    )
    prompts: list[str] | None = Field(
        None,
        min_length=1,
        max_length=MAX_BATCH,
        description=f"A batch (instead of `prompt`): up to {MAX_BATCH} "
        "prompts, each validated and answered on its own (`results`, in order); the other fields apply to each.",
    )
    stream: bool = Field(
        False,
        description="Server-sent events: `expansion.chunk` events with the text, then the "
        "whole response as the last event, then `[DONE]`. The text is checked whole first "
        "(safety, verification), so the stream starts once every expansion has passed.",
    )
    n: int = Field(1, ge=1, le=MAX_N, description="Number of expansions; expansion i uses seed + i.")
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Seed of the first expansion; omitted = random (reported back)."
    )
    creativity: Creativity = Field(  # type: ignore[valid-type]
        DEFAULT_CREATIVITY, description="`raw` returns the prompt unchanged with no model call; low/medium/high."
    )
    keep_terms: list[str] = Field(
        default_factory=list, max_length=MAX_KEEP_TERMS, description="Terms that must appear verbatim in every output."
    )
    max_words: int | None = Field(None, ge=1, le=MAX_WORDS_LIMIT, description="Word budget of each expansion.")
    model: str | None = Field(None, description="A served model name (see /v1/models); default the server's default.")
    candidates: int | None = Field(
        None,
        ge=1,
        le=MAX_N,
        description="Verified expansion: samples per expansion, the best that keeps the "
        "prompt's hard constraints and adds no subject is returned; default the server's `candidates`.",
    )
    fallback: bool | None = Field(
        None,
        description="Faithful fallback: verify every expansion and, when no sample keeps the prompt's hard "
        "constraints, return a text built from the prompt and the best sample (`fallback: true` on it); false "
        "returns the sample as drawn. Default the server's `fallback` (on).",
    )
    language: str = Field(
        "auto",
        description="Language to write in: `auto` (the prompt's) or an ISO 639-1 code the model declares.",
        pattern=r"^(auto|[a-z]{2})$",
    )
    strict_language: bool = Field(
        False, description="422 instead of the unchanged prompt when the model cannot expand the prompt's language."
    )
    cache: bool = Field(
        True,
        description="With a `seed`: answer an identical request answered before from the server's response cache "
        "(`cached: true`). false: run the engine again and store nothing. A request without a seed is never cached.",
    )
    target: str | None = Field(
        None,
        description=f"Shape each expansion for an image model ({', '.join(TARGETS)}): `shaped` in each expansion "
        "holds the prompt within that model's token limit, a `prompt_2` for a second CLIP encoder, the negative "
        "prompt and a suggested size. An unknown name is a 400 listing the choices. Omitted: no shaping.",
    )
    negative_prompt: str | None = Field(
        None,
        max_length=MAX_NEGATIVE_PROMPT_CHARS,
        description="With `target`: your own negative prompt, kept first in the shaped one (which adds what the "
        "prompt excludes); dropped for targets that take none.",
    )
    width: int | None = Field(
        None, description="With `target`: the image width you will use (a multiple of 16; with `height`)."
    )
    height: int | None = Field(
        None, description="With `target`: the image height you will use (a multiple of 16; with `width`)."
    )

    @model_validator(mode="before")
    @classmethod
    def _mark_missing_prompt(cls, data):
        # A body with neither field is a missing `prompt` (the 422 names that field, not the body).
        if isinstance(data, dict) and "prompt" not in data and "prompts" not in data:
            data = {**data, "prompt": _MISSING}
        return data

    @field_validator("prompt", mode="before")
    @classmethod
    def _prompt_given(cls, value):
        if value is _MISSING:
            raise ValueError("`prompt` is required (or `prompts`, for a batch)")
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | None) -> str | None:
        return None if value is None else _checked_prompt(value)

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:  # each prompt is checked on its own in the service: one bad one fails only itself
            if len(value) > 20000:
                raise ValueError("a prompts entry is over 20000 characters")
        return values

    @model_validator(mode="after")
    def _one_prompt_field(self) -> ExpandRequest:
        if (self.prompt is None) == (self.prompts is None):
            raise ValueError("give exactly one of `prompt` (one prompt) or `prompts` (a batch)")
        if self.prompts is not None and self.stream:
            raise ValueError("`stream` takes one `prompt`, not a batch of `prompts`")
        if self.target is None and (
            self.negative_prompt is not None or self.width is not None or self.height is not None
        ):
            raise ValueError("`negative_prompt`, `width` and `height` shape the output for a `target`: give one")
        return self

    @field_validator("keep_terms")
    @classmethod
    def _keep_terms(cls, terms: list[str]) -> list[str]:
        cleaned = []
        for term in terms:
            term = term.strip()
            if not term:
                raise ValueError("keep_terms may not contain empty terms")
            if len(term) > MAX_KEEP_TERM_CHARS:
                raise ValueError(f"a keep_terms entry is {len(term)} characters; the limit is {MAX_KEEP_TERM_CHARS}")
            cleaned.append(term)
        return cleaned


class Violation(BaseModel):
    constraint: str
    reason: str


class ConstraintsReport(BaseModel):
    """What the short prompt pins down, checked against one expansion (`expander.constraints.check`)."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    score: float | None = None
    violated: list[dict] = Field(default_factory=list)


class SafetyOut(BaseModel):
    """The text safety verdict of one expansion (`expander.safety.classify_text`)."""

    blocked: bool
    categories: list[str]
    added_categories: list[str] = Field(
        description="Sensitive categories absent from the prompt (always empty when served)."
    )
    regenerated: bool = Field(description="The first sample added a category and was replaced by a second one.")


class LanguageOut(BaseModel):
    """The prompt's detected language (`expander.language.detect_language`)."""

    code: str = Field(description="ISO 639-1 code, or `und` when undetermined (a lone word or name).")
    confidence: float
    method: str = Field(description="`words` (English-word share), `lingua` (statistical detector) or `none`.")
    supported: bool = Field(description="Whether the served model declares this language.")


class ShapedOut(BaseModel):
    """One expansion shaped for the request's `target` (`expander.targets.shape`)."""

    target: str
    prompt: str = Field(description="The expansion within the target encoder's token limit (cut at a sentence end).")
    prompt_2: str | None = Field(
        description="SDXL/SD3: the text for the second CLIP encoder, at most 77 CLIP tokens; null for the others."
    )
    negative_prompt: str | None = Field(
        description="Your negative prompt plus what the prompt excludes (`no cars` -> `cars`); "
        "null where the target takes none (krea2-turbo, flux)."
    )
    aspect_ratio: str | None = Field(description="`W:H` from your width/height or the prompt; null: no reason given.")
    width: int | None = Field(description="Pixels, a multiple of 16, about the target's native area.")
    height: int | None
    tokens: int = Field(description="Tokens of `prompt` with the target's tokenizer, special tokens included.")
    token_limit: int
    tokenizer: str = Field(description="The tokenizer that counted `tokens`.")
    shortened: bool = Field(description="Whether the expansion had to be cut to fit `token_limit`.")
    prompt_2_tokens: int | None = None
    size_reason: str | None = Field(None, description="The prompt's words that gave the size, or `given`.")


class ExpansionOut(BaseModel):
    text: str
    seed: int | None = Field(description="The seed that produced this text (null for `raw` without a seed).")
    finish_reason: Literal["stop", "length", "raw", "language_unsupported"] = Field(
        description="`language_unsupported`: the prompt's language is not one the model can expand; the text "
        "is the prompt, unchanged (no model call)."
    )
    attempts: int = Field(1, description="Samples drawn for this expansion (verified expansion draws `candidates`).")
    verified: bool | None = Field(
        None,
        description="Null when nothing was verified (`candidates` 1 and `fallback` off); true when the returned "
        "text keeps the prompt's hard constraints and adds no subject; false = no sample did and no fallback "
        "could be built, the best available is returned with its report.",
    )
    fallback: bool = Field(
        False,
        description="True when no sample kept the prompt and the text is the faithful fallback: the prompt and "
        "the best sample's sentences that keep it.",
    )
    keep_terms_repaired: list[str] = Field(
        default_factory=list, description="keep_terms the model left out, appended so every term is present."
    )
    constraints: ConstraintsReport | None = Field(description="null when the constraints module is unavailable.")
    safety: SafetyOut
    shaped: ShapedOut | None = Field(None, description="The expansion shaped for the request's `target`, if any.")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Timings(BaseModel):
    """Milliseconds spent in each stage of this request."""

    moderation_ms: float
    generation_ms: float
    total_ms: float


class ExpandResponse(BaseModel):
    id: str
    object: Literal["expansion"] = "expansion"
    model: str = Field(description="The served model name that produced the expansions.")
    revision: str = Field(
        description="Content hash of the model (and adapter) weights: same revision + request + seed = same text."
    )
    backend: str
    creativity: str
    prompt: str
    language: LanguageOut
    expansions: list[ExpansionOut]
    usage: Usage
    timings: Timings
    cached: bool = Field(
        False,
        description="Served from the response cache: an identical request with the same `seed` was answered "
        "before (never for a request without a seed).",
    )


class BatchItem(BaseModel):
    """One prompt of a batch: its response, or the error it alone got (the same body as an error response)."""

    index: int
    status: int = Field(description="The HTTP status this prompt would have got alone (200 = `response`).")
    response: ExpandResponse | None = None
    error: ErrorBody | None = None


class ExpandBatchResponse(BaseModel):
    object: Literal["expansion.batch"] = "expansion.batch"
    results: list[BatchItem] = Field(description="One per prompt, in the request's order.")
    succeeded: int
    failed: int


# ------------------------------------------------------------------------------------------------
# OpenAI-compatible subset


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict] | None = None

    def text(self) -> str:
        """The message text; list content keeps only its text parts."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return " ".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`: the last user message is the short prompt; the reply is its expansion.

    Other OpenAI parameters are accepted and ignored. `stream=true` answers in OpenAI's chunk format once the
    expansion has passed the output checks (`stream_options.include_usage` adds the usage chunk).
    """

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    n: int = Field(1, ge=1, le=MAX_N)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Overrides the creativity level's temperature.")
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1, le=MAX_CHAT_TOKENS, description="Upper bound on generated tokens.")
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_CHAT_TOKENS)
    stream: bool = False
    stream_options: dict | None = Field(None, description='`{"include_usage": true}`: a last chunk with the usage.')
    creativity: Literal["low", "medium", "high"] = Field(DEFAULT_CREATIVITY, description="Extension: creativity level.")


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatChoiceMessage
    finish_reason: Literal["stop", "length", "language_unsupported"]


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "expander"
    revision: str
    base: str
    adapter: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class HealthResponse(BaseModel):
    status: Literal["ok", "starting", "down", "stopping"]
    backend: str
    model: str
    in_flight: int
    detail: str | None = None


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None

    model_config = ConfigDict(extra="allow")


class ErrorResponse(BaseModel):
    """Every error, OpenAI-style: `{"error": {"message", "type", "param", "code", ...}}`."""

    error: ErrorBody


BatchItem.model_rebuild()  # ErrorBody is defined below it
