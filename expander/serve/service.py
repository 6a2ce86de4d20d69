"""The expansion service: the `/v1/expand` and `/v1/chat/completions` handlers over one async backend, with
moderation and admission control. Its settings are `expander.serve.config.ServeConfig`; the names it serves
are `expander.serve.models.ServedModels`.

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
6. keep_terms the model left out are appended verbatim (`expander.expand.repair_keep_terms`, as in
   `expander expand`; reported in `keep_terms_repaired`);
7. the constraints report (`expander.constraints.check`, with the subjects an expansion adds) and the safety
   verdict per expansion.

Two guards of the expansion contract run around step 4 (`expander.expand` documents both): a prompt in a
language the model does not declare comes back unchanged (`finish_reason: language_unsupported`, or 422 with
`strict_language`), and with `candidates > 1` each expansion is the best of that many samples drawn in the same
batch (verified: keeps the hard constraints, adds no subject; `attempts` and `verified` say what happened).

A batch (`prompts: [...]`) runs these steps for each prompt on its own, but draws every prompt's samples in one
engine call (`SampleBatch`). Each request's time per step is in `expander_phase_seconds` (`PhaseClock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import re
import time
import uuid

from expander.engine import SEED_HEADROOM, Generation, candidate_seed, draw_seed
from expander.errors import MissingExtraError
from expander.expand import REPETITION_PENALTY, plan_expansion, rank_candidates, repair_keep_terms
from expander.language import LanguageGuess, detect_language, supports
from expander.models import model_languages, resolve_model
from expander.prompts import POLISH_SYSTEM_PROMPT, SYSTEM_PROMPT, PromptError, validate_prompt
from expander.safety import ModeratorUnavailable, TextModerator, added_categories, classify_text
from expander.serve.backends import AsyncGenerationBackend, EngineUnavailable, SampleRequest, create_backend
from expander.serve.config import ServeConfig
from expander.serve.errors import ServiceError
from expander.serve.metrics import PhaseClock, ServeMetrics
from expander.serve.models import ServedModels
from expander.serve.protocol import (
    MAX_N,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ExpandBatchResponse,
    ExpandRequest,
    ExpandResponse,
    ModelList,
)

logger = logging.getLogger(__name__)

__all__ = ["REGEN_SEED_OFFSET", "ExpanderService", "leaks_system_prompt"]

REGEN_SEED_OFFSET = 1000
"""Seed shift of the one resample after an unsafe expansion (`seed + i + offset`; reported in the response)."""
assert MAX_N + REGEN_SEED_OFFSET <= SEED_HEADROOM, "seed + i + REGEN_SEED_OFFSET must stay below 2**31"


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


class SampleBatch:
    """Makes the first engine call of each of `size` concurrent expansions one engine call.

    Each expansion of a batch runs the single-prompt path on its own (so it is validated, moderated, checked and
    answered alone) inside a `slot()`. Its first `_sample` hands its samples here instead of to the engine; once
    every expansion has either handed in or left without sampling (an error, `raw`, an unsupported language), all
    samples go to the backend in one `generate`: one transformers batch instead of a first batch of whoever came
    first, and for vLLM every request enters the scheduler in the same step. Later calls (a resample after a failed
    output check) go straight to the engine.
    """

    def __init__(self, size: int, backend: AsyncGenerationBackend):
        self.backend = backend
        self.open = size  # expansions that may still hand in samples
        self.parts: list[tuple[list[SampleRequest], asyncio.Future]] = []
        self.call: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def slot(self):
        """Run one expansion of the batch inside this: its first `_sample` joins the batch's engine call."""
        token = _BATCH_SLOT.set([self])
        try:
            yield
        finally:
            if _BATCH_SLOT.get():  # left without sampling
                _BATCH_SLOT.get().clear()
                self._leave()
            _BATCH_SLOT.reset(token)

    async def submit(self, samples: list[SampleRequest]) -> list[Generation]:
        future = asyncio.get_running_loop().create_future()
        self.parts.append((samples, future))
        self._leave()
        return await future

    def _leave(self) -> None:
        self.open -= 1
        if self.open == 0 and self.parts:
            self.call = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        flat = [s for samples, _ in self.parts for s in samples]
        try:
            gens = await self.backend.generate(flat)
        except BaseException as exc:
            for _, future in self.parts:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else EngineUnavailable("cancelled"))
            raise
        start = 0
        for samples, future in self.parts:
            if not future.done():
                future.set_result(gens[start : start + len(samples)])
            start += len(samples)

    async def close(self) -> None:
        """Cancel the engine call if it still runs (the batch request was cancelled)."""
        if self.call is not None and not self.call.done():
            self.call.cancel()
        if self.call is not None:
            await asyncio.gather(self.call, return_exceptions=True)


# The batch the current expansion belongs to, while it has not sampled yet (a one-item list, emptied when used).
_BATCH_SLOT: contextvars.ContextVar[list[SampleBatch]] = contextvars.ContextVar("expander_batch_slot", default=[])


class ExpanderService:
    """Serves expansions from one async backend. Create, `await start()`, call, `await close()`.

    Args:
        config: the serve settings.
        metrics: where to count tokens, blocks, regenerations.
        backend: an (unstarted) backend; default built from the config.

    Raises:
        ServedModelError: the config's adapters or default model cannot be served (see `ServedModels`).
    """

    def __init__(
        self, config: ServeConfig, metrics: ServeMetrics | None = None, backend: AsyncGenerationBackend | None = None
    ):
        self.config = config
        self.metrics = metrics or ServeMetrics()
        self.models = ServedModels.from_config(config)
        self.backend = backend
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
        await asyncio.to_thread(self.models.load_revisions, base_path)
        model_path, adapters = await asyncio.to_thread(self.models.engine_weights, base_path)
        if cfg.moderation_model:
            try:
                self.moderator = await asyncio.to_thread(TextModerator, cfg.moderation_model, cfg.moderation_threshold)
            except ModeratorUnavailable as exc:
                # Fail closed: keep running so /health can say why, but serve nothing.
                self.moderation_error = str(exc)
                logger.error("%s; every generation request will get 503", exc)
        if self.backend is None:
            self.backend = create_backend(
                cfg.backend, model_path, adapters, enable_thinking=cfg.enable_thinking, **cfg.backend_options()
            )
        await self.backend.start()
        # First use of the constraints checker loads word lists and embeddings (seconds): do it now, not in a
        # user's request.
        await asyncio.to_thread(self._constraints, "a red fox", "a red fox")
        # Everything loaded so far lives as long as the server: move it out of the collector's sight, so the
        # oldest generation's collections do not walk millions of static objects (torch, vLLM, the constraints
        # word lists) while requests wait; vLLM's own server does the same after its start-up.
        gc.collect()
        gc.freeze()
        self.metrics.engine_up.set(1)

    async def close(self) -> None:
        self.metrics.engine_up.set(0)
        if self.backend is not None:
            await self.backend.close()
        gc.unfreeze()  # an in-process app (tests, embedding) lets its objects be collected again

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
                429,
                f"the server is at its limit of {self.config.max_concurrent_requests} concurrent requests; retry later",
                "rate_limit_exceeded",
                code="overloaded",
                headers={"Retry-After": str(self.config.retry_after_s)},
            )
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    # -- models ---------------------------------------------------------------------------------------------

    def list_models(self) -> ModelList:
        """Serve `GET /v1/models`."""
        return self.models.model_list(self.created)

    # -- moderation -----------------------------------------------------------------------------------------

    def _require_serving(self) -> None:
        if self.moderation_error:
            raise ServiceError(
                503,
                f"moderation is unavailable, so nothing is served: {self.moderation_error}",
                "service_unavailable",
                code="moderation_unavailable",
            )
        ok, _, detail = self.health()
        if not ok:
            raise ServiceError(
                503, f"the engine is not serving ({detail})", "service_unavailable", code="engine_unavailable"
            )

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
            raise ServiceError(
                400,
                f"the prompt was refused by moderation: {', '.join(categories)}",
                "content_policy_violation",
                param=param,
                code="content_blocked",
                categories=categories,
            )

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
        slot = _BATCH_SLOT.get()
        try:
            if slot:  # the first engine call of a batch's expansion joins the batch's one call
                gens = await slot.pop().submit(samples)
            else:
                gens = await self.backend.generate(samples)
        except EngineUnavailable as exc:
            raise ServiceError(503, str(exc), "service_unavailable", code="engine_unavailable") from None
        self.metrics.tokens.labels("prompt").inc(sum(g.prompt_tokens for g in gens))
        self.metrics.tokens.labels("completion").inc(sum(g.completion_tokens for g in gens))
        return gens

    async def _expand(
        self,
        prompt: str,
        *,
        n: int,
        seed: int | None,
        creativity: str,
        max_words: int | None,
        keep_terms: list[str],
        adapter: str | None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_new_tokens: int | None = None,
        candidates: int = 1,
        language: str | None = None,
        clock: PhaseClock | None = None,
    ):
        """Sample (k candidates each when verifying), clean, check and (once) resample `n` expansions.
        `clock`: charged the `template`, `engine`, `verify` and `output` phases.

        Returns:
            (texts, gens, regenerated flags, verified flags (None when not verifying), completion tokens spent).
        """
        try:
            plan = plan_expansion(
                prompt, creativity, max_words=max_words, keep_terms=keep_terms or None, language=language
            )
        except PromptError as exc:
            raise ServiceError(422, str(exc), "invalid_request_error", param="prompt") from None
        ids = self.backend.chat_ids(plan.conversation)
        if len(ids) >= self.config.max_model_len - 8:
            raise ServiceError(
                422,
                f"the prompt is {len(ids)} tokens with the instructions; the model takes {self.config.max_model_len}",
                "invalid_request_error",
                param="prompt",
            )
        if seed is None:
            seed = draw_seed()
        thinking = self.config.thinking_budget if self.config.enable_thinking else 0  # stripped by plan.finish
        new_tokens = min((max_new_tokens or plan.max_new_tokens) + thinking, self.config.max_model_len - len(ids))

        def sample(s: int) -> SampleRequest:
            return SampleRequest(
                ids,
                s,
                plan.temperature if temperature is None else temperature,
                plan.top_p if top_p is None else top_p,
                new_tokens,
                REPETITION_PENALTY,
                adapter,
            )

        clock = clock or PhaseClock()
        clock.lap("template")
        drawn = await self._sample([sample(candidate_seed(seed + i, j)) for i in range(n) for j in range(candidates)])
        clock.lap("engine")
        spent = sum(g.completion_tokens for g in drawn)
        verified: list[bool | None] = [None] * n
        if candidates == 1:
            gens = drawn
        else:

            def clean(raw: str) -> str:
                return repair_keep_terms(plan.finish(raw), keep_terms)[0]

            gens = []
            for i in range(n):
                group = drawn[i * candidates : (i + 1) * candidates]
                j, verified[i], _ = await asyncio.to_thread(rank_candidates, prompt, group, clean)
                gens.append(group[j])
            clock.lap("verify")
        texts = [plan.finish(g.text) for g in gens]
        problems = await self._output_problems(prompt, texts)
        clock.lap("output")
        regenerated = [False] * n
        redo = [i for i, p in enumerate(problems) if p]
        if redo:
            self.metrics.regenerations.inc(len(redo))
            clock.lap("output")
            again = await self._sample([sample(seed + i + REGEN_SEED_OFFSET) for i in redo])
            clock.lap("engine")
            spent += sum(g.completion_tokens for g in again)
            again_texts = [plan.finish(g.text) for g in again]
            again_problems = await self._output_problems(prompt, again_texts)
            for i, g, t, p in zip(redo, again, again_texts, again_problems):
                if p:
                    for c in p:
                        self.metrics.moderation_blocks.labels("output", c).inc()
                    raise ServiceError(
                        400,
                        f"expansion {i} added {', '.join(p)} twice (seeds {seed + i} and "
                        f"{seed + i + REGEN_SEED_OFFSET}); refused. Try another seed or rephrase.",
                        "content_policy_violation",
                        code="output_refused",
                        categories=p,
                    )
                gens[i], texts[i], regenerated[i] = g, t, True
            clock.lap("output")
        return texts, gens, regenerated, verified, spent

    # -- languages ------------------------------------------------------------------------------------------

    def languages(self) -> tuple[str, ...]:
        """The languages the served model can expand (`ServeConfig.languages`, else the model's declaration)."""
        return model_languages(self.config.model, self.config.languages)

    async def _language(self, prompt: str, requested: str, strict: bool) -> tuple[LanguageGuess, bool, str | None]:
        """(the prompt's language, whether the model can expand it, the language to write in).

        Raises:
            ServiceError: 422 for a requested language the model does not declare, or (`strict`) a prompt in one.
        """
        langs = self.languages()
        guess = await asyncio.to_thread(detect_language, prompt)  # the first non-English prompt loads lingua
        if requested != "auto" and not supports(langs, LanguageGuess(requested, 1.0, "request")):
            raise ServiceError(
                422,
                f"language {requested!r} is not one this model expands ({', '.join(langs)})",
                "invalid_request_error",
                param="language",
                code="language_unsupported",
            )
        ok = supports(langs, guess)
        if not ok and strict:
            raise ServiceError(
                422,
                f"the prompt is in {guess.code!r}, which this model does not expand "
                f"({', '.join(langs)}); nothing was generated",
                "invalid_request_error",
                param="prompt",
                code="language_unsupported",
                language=guess.to_dict(),
            )
        write_in = requested if requested != "auto" else guess.code if guess.code not in ("und", "en") else None
        return guess, ok, write_in

    def _constraints(self, prompt: str, text: str) -> dict | None:
        if not self.config.check_constraints or self._constraints_error:
            return None
        if self._constraints_check is None:
            try:
                from expander.constraints import check
            except ImportError as exc:  # the constraints extra is optional at run time
                missing = (
                    exc
                    if isinstance(exc, MissingExtraError)
                    else MissingExtraError(
                        "the constraints report",
                        "constraints",
                        exc,
                        hint="serving without it (or set check_constraints: false)",
                    )
                )
                self._constraints_error = str(missing)
                logger.warning("%s", missing)
                return None
            self._constraints_check = check
        return self._constraints_check(prompt, text).to_dict()

    async def expand_batch(self, req: ExpandRequest) -> ExpandBatchResponse:
        """Serve `POST /v1/expand` with `prompts`: every prompt is validated and expanded on its own (an error
        answers that prompt only), and their samples are drawn in one engine call (`SampleBatch`)."""
        batch = SampleBatch(len(req.prompts), self.backend)

        async def one(prompt: str) -> dict:
            try:
                async with batch.slot():
                    item = req.model_copy(update={"prompt": validate_prompt(prompt), "prompts": None})
                    return {"status": 200, "response": await self.expand(item)}
            except PromptError as exc:
                return {
                    "status": 422,
                    "error": ServiceError(422, str(exc), "invalid_request_error", param="prompt").body()["error"],
                }
            except ServiceError as exc:
                return {"status": exc.status, "error": exc.body()["error"]}

        try:
            results = await asyncio.gather(*(one(p) for p in req.prompts))
        finally:
            await batch.close()
        ok = sum(r["status"] == 200 for r in results)
        return ExpandBatchResponse(
            results=[{"index": i, **r} for i, r in enumerate(results)], succeeded=ok, failed=len(results) - ok
        )

    async def expand(self, req: ExpandRequest) -> ExpandResponse:
        """Serve `POST /v1/expand` for one `prompt`."""
        clock = PhaseClock()
        adapter = self.models.resolve(req.model)
        name = req.model or self.models.default_model
        self._require_serving()
        prompt = req.prompt
        await self.moderate_input(prompt)
        for term in req.keep_terms:
            await self.moderate_input(f"{prompt} {term}", param="keep_terms")
        guess, supported, write_in = await self._language(prompt, req.language, req.strict_language)
        t_mod = clock.lap("input")
        k = req.candidates or self.config.candidates
        verified: list[bool | None] = [None] * req.n
        spent = 0
        if req.creativity == "raw" or not supported:
            seeds = [None if req.seed is None else req.seed + i for i in range(req.n)]
            texts, gens, regenerated = [prompt] * req.n, [None] * req.n, [False] * req.n
            finish = "raw" if req.creativity == "raw" else "language_unsupported"
            attempts = 0
        else:
            seed = req.seed if req.seed is not None else draw_seed()
            texts, gens, regenerated, verified, spent = await self._expand(
                prompt,
                n=req.n,
                seed=seed,
                creativity=req.creativity,
                max_words=req.max_words,
                keep_terms=req.keep_terms,
                adapter=adapter,
                candidates=k,
                language=write_in,
                clock=clock,
            )
            # Expansion i reports seed + i (with the same `candidates` it reproduces), or its resample's seed.
            seeds = [g.seed if regen else seed + i for i, (g, regen) in enumerate(zip(gens, regenerated))]
            finish, attempts = None, k
        t_gen = clock.last
        expansions = []
        for text, gen, seed, regen, ver in zip(texts, gens, seeds, regenerated, verified):
            text, missing = repair_keep_terms(text, req.keep_terms)
            report = await asyncio.to_thread(self._constraints, prompt, text)
            verdict = classify_text(text)
            expansions.append(
                {
                    "text": text,
                    "seed": seed,
                    "finish_reason": finish or gen.finish_reason,
                    "attempts": attempts,
                    "verified": ver,
                    "keep_terms_repaired": missing,
                    "constraints": report,
                    "safety": {
                        "blocked": verdict.blocked,
                        "categories": verdict.categories,
                        "added_categories": added_categories(prompt, text),
                        "regenerated": regen,
                    },
                }
            )
        prompt_tokens = sum(g.prompt_tokens for g in gens if g is not None)
        completion_tokens = spent
        t_end = clock.lap("report")
        response = ExpandResponse(
            id=f"exp-{uuid.uuid4().hex[:24]}",
            model=name,
            revision=self.models.revisions.get(name, ""),
            backend=self.backend.backend,
            creativity=req.creativity,
            prompt=prompt,
            language={**guess.to_dict(), "supported": supported},
            expansions=expansions,
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            timings={
                "moderation_ms": 1000 * (t_mod - clock.start),
                "generation_ms": 1000 * (t_gen - t_mod),
                "total_ms": 1000 * (t_end - clock.start),
            },
        )
        clock.lap("response")
        self.metrics.observe_phases("/v1/expand", clock)
        return response

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletionResponse:
        """Serve the OpenAI-compatible `POST /v1/chat/completions`: the last user message is the prompt."""
        clock = PhaseClock()
        adapter = self.models.resolve(req.model)
        users = [m for m in req.messages if m.role == "user"]
        if not users:
            raise ServiceError(
                422,
                "messages has no user message (its text is the prompt to expand)",
                "invalid_request_error",
                param="messages",
            )
        try:
            prompt = validate_prompt(users[-1].text())
        except PromptError as exc:
            raise ServiceError(
                422, f"the last user message: {exc}", "invalid_request_error", param="messages"
            ) from None
        self._require_serving()
        await self.moderate_input(prompt, param="messages")
        guess, supported, write_in = await self._language(prompt, "auto", False)
        clock.lap("input")
        if not supported:  # never unrelated text: the prompt comes back as it is
            return ChatCompletionResponse(
                id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
                created=int(time.time()),
                model=req.model,
                system_fingerprint=self.models.revisions.get(req.model, ""),
                choices=[
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": prompt},
                        "finish_reason": "language_unsupported",
                    }
                    for i in range(req.n)
                ],
                usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            )
        texts, gens, _, _, completion_tokens = await self._expand(
            prompt,
            n=req.n,
            seed=req.seed,
            creativity=req.creativity,
            max_words=None,
            keep_terms=[],
            adapter=adapter,
            temperature=req.temperature,
            top_p=req.top_p,
            max_new_tokens=req.max_completion_tokens or req.max_tokens,
            candidates=self.config.candidates,
            language=write_in,
            clock=clock,
        )
        prompt_tokens = sum(g.prompt_tokens for g in gens)
        response = ChatCompletionResponse(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=req.model,
            system_fingerprint=self.models.revisions.get(req.model, ""),
            choices=[
                {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": g.finish_reason}
                for i, (t, g) in enumerate(zip(texts, gens))
            ],
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        )
        clock.lap("response")
        self.metrics.observe_phases("/v1/chat/completions", clock)
        return response
