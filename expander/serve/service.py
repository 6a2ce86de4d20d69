"""The expansion service: model registry (base + named adapters), moderation, expansion, admission control.

HTTP-free: the app's routers turn requests into calls here and `ServiceError`s into JSON error responses.

Per request (`expand`):
1. resolve the served model name (unknown -> 404 listing the known names);
2. input moderation: the lexicon policy (`expander.safety`) on the prompt and keep_terms, plus the optional
   moderation model; a hard category -> 400 naming it, never generated;
3. `raw` creativity returns the prompt unchanged, with no model call;
4. otherwise plan the expansion (`expander.expand.plan_expansion`: the contract's messages, sampling settings,
   token budget, cleaning), sample expansion `i` with seed `seed + i` and finish it, exactly as
   `expander.expand.expand_prompts` does (same text as `expander expand`);
5. output check: an expansion that adds a sensitive category absent from the prompt (or that leaks the
   system prompt) is resampled once with seed `seed + i + REGEN_SEED_OFFSET`; if the second sample also
   fails, the request is refused (400 `output_refused`), never served;
6. keep_terms the model left out are appended verbatim (reported in `keep_terms_repaired`);
7. the constraints report (`expander.constraints.check`) and the safety verdict per expansion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from expander.engine import Generation
from expander.expand import REPETITION_PENALTY, plan_expansion
from expander.models import DEFAULT_MODEL, resolve_model
from expander.prompts import POLISH_SYSTEM_PROMPT, SYSTEM_PROMPT, PromptError, validate_prompt
from expander.safety import ModeratorUnavailable, TextModerator, added_categories, classify_text
from expander.serve.engine import AsyncGenerationBackend, EngineUnavailable, SampleRequest, create_backend, weights_revision
from expander.serve.metrics import ServeMetrics
from expander.serve.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ExpandRequest,
    ExpandResponse,
    ModelCard,
    ModelList,
)

logger = logging.getLogger(__name__)

__all__ = ["REGEN_SEED_OFFSET", "ExpanderService", "ServeConfig", "ServiceError"]

REGEN_SEED_OFFSET = 1000
"""Seed shift of the one resample after an unsafe expansion (`seed + i + offset`; reported in the response)."""

@dataclass
class ServeConfig:
    """`expander serve` settings (configs/serve.yaml; `--key value` overrides).

    Attributes:
        model: base model reference (built-in name, local HF dir or hub id).
        served_model_name: the name clients use for the base model; default the model reference's last part.
        backend: `vllm` (continuous batching; the default) or `transformers` (a batching worker thread).
        adapters: served LoRA adapters, name -> PEFT adapter directory. Each is selected by `model: <name>`.
        default_adapter: `default`: a built-in model's shipped adapter (the tuned built-in expander) is served
            too, under its directory name, and is the default model; the bare base stays selectable by its
            own name. `none`: no such adapter. A directory: that adapter, the same way.
        merge_default_adapter: when the default adapter is the only adapter, serve it as merged weights
            (made once, cached) instead of a runtime LoRA: vLLM's CPU LoRA path costs more than the model itself.
            The bare base is then not served by this server (start one with `default_adapter: none` for it).
        default_model: the name used when a request gives no `model`; default the default adapter's name if
            one is served, else the base model's name.
        host, port: where to listen. The default host is loopback: exposing the API is a deliberate choice.
        max_concurrent_requests: requests inside the service at once; the next one gets 429 (no queue).
        retry_after_s: the `Retry-After` header of a 429, in seconds.
        request_timeout_s: a request running longer is cancelled and answered 504.
        api_key_env: environment variable holding the Bearer key; unset or empty = no auth.
        moderation_model: optional text-classification model (dir or hub id) run on inputs and outputs. If
            set and it cannot be loaded, every generation request gets 503 (fail closed).
        moderation_threshold: a moderation label counts at this probability or above.
        shutdown_grace_s: on SIGTERM, in-flight requests get this long to finish.
        dtype, max_model_len, enforce_eager, max_num_seqs, max_lora_rank, gpu_memory_utilization: vLLM settings.
        batch_size: transformers backend: the most samples in one `generate` call.
        check_constraints: attach the constraints report to every expansion.
        log_level: uvicorn log level.
    """

    model: str = DEFAULT_MODEL
    served_model_name: str | None = None
    backend: Literal["vllm", "transformers"] = "vllm"
    adapters: dict[str, str] = field(default_factory=dict)
    default_adapter: str = "default"
    merge_default_adapter: bool = True
    default_model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_concurrent_requests: int = 128
    retry_after_s: int = 1
    request_timeout_s: float = 120.0
    api_key_env: str = "EXPANDER_API_KEY"
    moderation_model: str | None = None
    moderation_threshold: float = 0.5
    shutdown_grace_s: float = 30.0
    dtype: str | None = None
    max_model_len: int = 2048
    enforce_eager: bool | None = None
    max_num_seqs: int = 64
    max_lora_rank: int = 64
    gpu_memory_utilization: float = 0.85
    batch_size: int = 32
    check_constraints: bool = True
    log_level: str = "warning"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        if self.max_concurrent_requests < 1:
            raise ValueError(f"max_concurrent_requests must be >= 1, got {self.max_concurrent_requests}")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be > 0, got {self.request_timeout_s}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.default_adapter != "none":
            from expander.models import resolve_adapter

            path = resolve_adapter(str(self.model), self.default_adapter)
            if path is not None and path not in self.adapters.values():
                name = Path(path).name
                self.adapters = {name: str(path), **self.adapters}
                self.default_model = self.default_model or name
        for name, path in self.adapters.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", str(name)):
                raise ValueError(f"adapter name {name!r} must be 1-64 letters, digits or . _ : -")
            if not (Path(path) / "adapter_config.json").is_file():
                raise ValueError(f"adapters.{name}: {path!r} is not a PEFT adapter directory (no adapter_config.json)")

    def base_name(self) -> str:
        return self.served_model_name or Path(str(self.model).rstrip("/")).name

    def merged_adapter(self) -> tuple[str, str] | None:
        """(name, dir) of the default adapter when it is served merged into the base weights, else None."""
        if not self.merge_default_adapter or self.default_adapter == "none" or len(self.adapters) != 1:
            return None
        [(name, path)] = self.adapters.items()
        return (name, path) if name == self.default_model else None

    def served_model_names(self) -> tuple[str, list[str]]:
        """(the name of the engine's own weights, sorted names of the runtime LoRA adapters)."""
        merged = self.merged_adapter()
        if merged is not None:
            return merged[0], []
        return self.base_name(), sorted(self.adapters)

    def engine_weights(self, base_path: Path | str | None = None) -> tuple[Path | str, dict[str, str]]:
        """(model path the engine loads, runtime adapters): the merged weights when the default adapter is
        merged (made once per base + adapter content), else the base and every adapter.

        Args:
            base_path: the base model's resolved directory, if the caller already has it.
        """
        path = base_path or resolve_model(self.model)
        merged = self.merged_adapter()
        if merged is not None:
            from expander.models import merged_model_dir

            return merged_model_dir(path, merged[1]), {}
        return path, dict(self.adapters)

    def backend_options(self) -> dict:
        if self.backend == "vllm":
            return dict(dtype=self.dtype, max_model_len=self.max_model_len, enforce_eager=self.enforce_eager,
                        max_num_seqs=self.max_num_seqs, max_lora_rank=self.max_lora_rank,
                        gpu_memory_utilization=self.gpu_memory_utilization)
        return dict(dtype=self.dtype or "float32", batch_size=self.batch_size)


class ServiceError(Exception):
    """A request the service refuses: HTTP `status`, OpenAI-style error fields, optional headers and extras."""

    def __init__(self, status: int, message: str, type: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code,
                          **self.extra}}


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


class ExpanderService:
    """Serves expansions from one async backend. Create, `await start()`, call, `await close()`.

    Args:
        config: the serve settings.
        metrics: where to count tokens, blocks, regenerations.
        backend: an (unstarted) backend; default built from the config.
    """

    def __init__(self, config: ServeConfig, metrics: ServeMetrics | None = None,
                 backend: AsyncGenerationBackend | None = None):
        self.config = config
        self.metrics = metrics or ServeMetrics()
        self.base_name, self.adapter_names = config.served_model_names()
        if self.base_name in self.adapter_names:
            raise ValueError(f"adapter name {self.base_name!r} clashes with the base model's served name")
        self.default_model = config.default_model or self.base_name
        if self.default_model not in self.known_models():
            raise ValueError(f"default_model {self.default_model!r} is not served; known: {self.known_models()}")
        self.backend = backend
        self.model_path: Path | str | None = None
        self.adapters: dict[str, str] = {}  # runtime LoRA adapters the engine serves
        self.revisions: dict[str, str] = {}
        self.moderator: TextModerator | None = None
        self.moderation_error: str | None = None
        self.in_flight = 0
        self.created = int(time.time())
        self._constraints_check = None
        self._constraints_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resolve the model, load the moderator and start the engine (minutes for vLLM on CPU)."""
        cfg = self.config
        base_path = await asyncio.to_thread(resolve_model, cfg.model)
        base_rev = await asyncio.to_thread(weights_revision, base_path)
        merged = cfg.merged_adapter()
        self.model_path, self.adapters = await asyncio.to_thread(cfg.engine_weights, base_path)
        if merged is not None:
            # Merged weights get their own revision: same text as the runtime LoRA is not promised.
            self.revisions = {merged[0]: f"{base_rev}+{await asyncio.to_thread(weights_revision, merged[1])}.merged"}
        else:
            self.revisions = {self.base_name: base_rev}
        for name, path in self.adapters.items():
            self.revisions[name] = f"{base_rev}+{await asyncio.to_thread(weights_revision, path)}"
        if cfg.moderation_model:
            try:
                self.moderator = await asyncio.to_thread(
                    TextModerator, cfg.moderation_model, cfg.moderation_threshold
                )
            except ModeratorUnavailable as exc:
                # Fail closed: keep running so /health can say why, but serve nothing.
                self.moderation_error = str(exc)
                logger.error("%s; every generation request will get 503", exc)
        if self.backend is None:
            self.backend = create_backend(cfg.backend, self.model_path, self.adapters, **cfg.backend_options())
        await self.backend.start()
        # First use of the constraints checker loads word lists and embeddings (seconds): do it now, not in a
        # user's request.
        await asyncio.to_thread(self._constraints, "a red fox", "a red fox")
        self.metrics.engine_up.set(1)

    async def close(self) -> None:
        self.metrics.engine_up.set(0)
        if self.backend is not None:
            await self.backend.close()

    def health(self) -> tuple[bool, str, str | None]:
        """(serving?, status word, detail)."""
        if self.backend is None:
            return False, "starting", "loading the model"
        ok, why = self.backend.health()
        if not ok:
            status = "starting" if why == "starting" else "stopping" if why == "stopping" else "down"
            return False, status, why
        if self.moderation_error:
            return False, "down", self.moderation_error
        return True, "ok", None

    @contextlib.contextmanager
    def admission(self):
        """Admit a request or raise 429: at most `max_concurrent_requests` inside, and no waiting queue."""
        if self.in_flight >= self.config.max_concurrent_requests:
            self.metrics.rejected.inc()
            raise ServiceError(
                429, f"the server is at its limit of {self.config.max_concurrent_requests} concurrent requests; retry later",
                "rate_limit_exceeded", code="overloaded", headers={"Retry-After": str(self.config.retry_after_s)},
            )
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    # -- models ---------------------------------------------------------------------------------------------

    def known_models(self) -> list[str]:
        return [self.base_name] + self.adapter_names

    def resolve_name(self, name: str | None, param: str = "model") -> str | None:
        """The adapter to use for a served model name (None = base); unknown names are a 404."""
        name = name or self.default_model
        if name == self.base_name:
            return None
        if name in self.adapter_names:
            return name
        raise ServiceError(404, f"unknown model {name!r}; known models: {', '.join(self.known_models())}",
                           "not_found_error", param=param, code="model_not_found", known=self.known_models())

    def models(self) -> ModelList:
        merged = self.config.merged_adapter()
        cards = [ModelCard(id=self.base_name, created=self.created, revision=self.revisions.get(self.base_name, ""),
                           base=str(self.config.model), adapter=merged[1] if merged else None)]
        cards += [ModelCard(id=n, created=self.created, revision=self.revisions.get(n, ""), base=str(self.config.model),
                            adapter=str(self.config.adapters[n])) for n in self.adapter_names]
        return ModelList(data=cards)

    # -- moderation -----------------------------------------------------------------------------------------

    def _require_serving(self) -> None:
        if self.moderation_error:
            raise ServiceError(503, f"moderation is unavailable, so nothing is served: {self.moderation_error}",
                               "service_unavailable", code="moderation_unavailable")
        ok, _, detail = self.health()
        if not ok:
            raise ServiceError(503, f"the engine is not serving ({detail})", "service_unavailable",
                               code="engine_unavailable")

    async def _model_flags(self, texts: list[str]) -> list[list[str]]:
        if self.moderator is None:
            return [[] for _ in texts]
        try:
            return await asyncio.to_thread(self.moderator.flagged, texts)
        except ModeratorUnavailable as exc:
            raise ServiceError(503, str(exc), "service_unavailable", code="moderation_unavailable") from None

    async def moderate_input(self, text: str, param: str = "prompt") -> None:
        """Refuse (400) text in a hard category or flagged by the moderation model."""
        verdict = classify_text(text)
        categories = list(verdict.hard)
        categories += (await self._model_flags([text]))[0]
        if categories:
            for c in categories:
                self.metrics.moderation_blocks.labels("input", c).inc()
            raise ServiceError(400, f"the prompt was refused by moderation: {', '.join(categories)}",
                               "content_policy_violation", param=param, code="content_blocked", categories=categories)

    async def _output_problems(self, prompt: str, texts: list[str]) -> list[list[str]]:
        """Per text: categories it adds to the prompt, model flags, and `system_prompt_leak`."""
        flags = await self._model_flags(texts)
        out = []
        for text, model_flags in zip(texts, flags):
            problems = added_categories(prompt, text) + model_flags
            if leaks_system_prompt(text, prompt):
                problems.append("system_prompt_leak")
            out.append(problems)
        return out

    # -- expansion ------------------------------------------------------------------------------------------

    async def _sample(self, samples: list[SampleRequest]) -> list[Generation]:
        try:
            gens = await self.backend.generate(samples)
        except EngineUnavailable as exc:
            raise ServiceError(503, str(exc), "service_unavailable", code="engine_unavailable") from None
        self.metrics.tokens.labels("prompt").inc(sum(g.prompt_tokens for g in gens))
        self.metrics.tokens.labels("completion").inc(sum(g.completion_tokens for g in gens))
        return gens

    async def _expand(self, prompt: str, *, n: int, seed: int | None, creativity: str, max_words: int | None,
                      keep_terms: list[str], adapter: str | None, temperature: float | None = None,
                      top_p: float | None = None, max_new_tokens: int | None = None):
        """Sample, clean, check and (once) resample `n` expansions. Returns (texts, gens, regenerated flags)."""
        try:
            plan = plan_expansion(prompt, creativity, max_words=max_words, keep_terms=keep_terms or None)
        except PromptError as exc:
            raise ServiceError(422, str(exc), "invalid_request_error", param="prompt") from None
        ids = self.backend.chat_ids(plan.conversation)
        if len(ids) >= self.config.max_model_len - 8:
            raise ServiceError(422, f"the prompt is {len(ids)} tokens with the instructions; the model takes "
                               f"{self.config.max_model_len}", "invalid_request_error", param="prompt")
        if seed is None:
            import secrets

            seed = secrets.randbelow(2**31 - 2**20)
        new_tokens = min(max_new_tokens or plan.max_new_tokens, self.config.max_model_len - len(ids))

        def sample(s: int) -> SampleRequest:
            return SampleRequest(ids, s, plan.temperature if temperature is None else temperature,
                                 plan.top_p if top_p is None else top_p, new_tokens, REPETITION_PENALTY, adapter)

        gens = await self._sample([sample(seed + i) for i in range(n)])
        texts = [plan.finish(g.text) for g in gens]
        problems = await self._output_problems(prompt, texts)
        regenerated = [False] * n
        redo = [i for i, p in enumerate(problems) if p]
        if redo:
            self.metrics.regenerations.inc(len(redo))
            again = await self._sample([sample(seed + i + REGEN_SEED_OFFSET) for i in redo])
            again_texts = [plan.finish(g.text) for g in again]
            again_problems = await self._output_problems(prompt, again_texts)
            for i, g, t, p in zip(redo, again, again_texts, again_problems):
                if p:
                    for c in p:
                        self.metrics.moderation_blocks.labels("output", c).inc()
                    raise ServiceError(
                        400, f"expansion {i} added {', '.join(p)} twice (seeds {seed + i} and "
                        f"{seed + i + REGEN_SEED_OFFSET}); refused. Try another seed or rephrase.",
                        "content_policy_violation", code="output_refused", categories=p,
                    )
                gens[i], texts[i], regenerated[i] = g, t, True
        return texts, gens, regenerated

    def _constraints(self, prompt: str, text: str) -> dict | None:
        if not self.config.check_constraints or self._constraints_error:
            return None
        if self._constraints_check is None:
            try:
                from expander.constraints import check
            except ImportError as exc:  # the constraints module is optional at run time
                self._constraints_error = str(exc)
                logger.warning("constraints reports disabled: %s", exc)
                return None
            self._constraints_check = check
        return self._constraints_check(prompt, text).to_dict()

    async def expand(self, req: ExpandRequest) -> ExpandResponse:
        """Serve `POST /v1/expand`."""
        t0 = time.perf_counter()
        adapter = self.resolve_name(req.model)
        name = req.model or self.default_model
        self._require_serving()
        prompt = req.prompt
        await self.moderate_input(prompt)
        for term in req.keep_terms:
            await self.moderate_input(f"{prompt} {term}", param="keep_terms")
        t_mod = time.perf_counter()
        if req.creativity == "raw":
            seeds = [None if req.seed is None else req.seed + i for i in range(req.n)]
            texts, gens, regenerated = [prompt] * req.n, [None] * req.n, [False] * req.n
        else:
            texts, gens, regenerated = await self._expand(
                prompt, n=req.n, seed=req.seed, creativity=req.creativity, max_words=req.max_words,
                keep_terms=req.keep_terms, adapter=adapter,
            )
            seeds = [g.seed for g in gens]
        t_gen = time.perf_counter()
        expansions = []
        for text, gen, seed, regen in zip(texts, gens, seeds, regenerated):
            missing = [t for t in req.keep_terms if t not in text]
            if missing:
                text = f"{text.rstrip().rstrip('.')}, {', '.join(missing)}." if text else ", ".join(missing)
            report = await asyncio.to_thread(self._constraints, prompt, text)
            verdict = classify_text(text)
            expansions.append({
                "text": text,
                "seed": seed,
                "finish_reason": "raw" if gen is None else gen.finish_reason,
                "keep_terms_repaired": missing,
                "constraints": report,
                "safety": {"blocked": verdict.blocked, "categories": verdict.categories,
                           "added_categories": added_categories(prompt, text), "regenerated": regen},
            })
        prompt_tokens = sum(g.prompt_tokens for g in gens if g is not None)
        completion_tokens = sum(g.completion_tokens for g in gens if g is not None)
        t_end = time.perf_counter()
        return ExpandResponse(
            id=f"exp-{uuid.uuid4().hex[:24]}",
            model=name,
            revision=self.revisions.get(name, ""),
            backend=self.backend.backend,
            creativity=req.creativity,
            prompt=prompt,
            expansions=expansions,
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                   "total_tokens": prompt_tokens + completion_tokens},
            timings={"moderation_ms": 1000 * (t_mod - t0), "generation_ms": 1000 * (t_gen - t_mod),
                     "total_ms": 1000 * (t_end - t0)},
        )

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletionResponse:
        """Serve the OpenAI-compatible `POST /v1/chat/completions`: the last user message is the prompt."""
        if req.stream:
            raise ServiceError(400, "stream=true is not supported; expansions are returned whole", "invalid_request_error",
                               param="stream", code="unsupported")
        adapter = self.resolve_name(req.model)
        users = [m for m in req.messages if m.role == "user"]
        if not users:
            raise ServiceError(422, "messages has no user message (its text is the prompt to expand)",
                               "invalid_request_error", param="messages")
        try:
            prompt = validate_prompt(users[-1].text())
        except PromptError as exc:
            raise ServiceError(422, f"the last user message: {exc}", "invalid_request_error", param="messages") from None
        self._require_serving()
        await self.moderate_input(prompt, param="messages")
        texts, gens, _ = await self._expand(
            prompt, n=req.n, seed=req.seed, creativity=req.creativity, max_words=None, keep_terms=[], adapter=adapter,
            temperature=req.temperature, top_p=req.top_p, max_new_tokens=req.max_completion_tokens or req.max_tokens,
        )
        prompt_tokens = sum(g.prompt_tokens for g in gens)
        completion_tokens = sum(g.completion_tokens for g in gens)
        return ChatCompletionResponse(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=req.model,
            system_fingerprint=self.revisions.get(req.model, ""),
            choices=[{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": g.finish_reason}
                     for i, (t, g) in enumerate(zip(texts, gens))],
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                   "total_tokens": prompt_tokens + completion_tokens},
        )
