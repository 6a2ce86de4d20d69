"""The expansion service: the `/v1/expand` and `/v1/chat/completions` handlers over one async backend, with
moderation and admission control. Its settings are `expander.serve.config.ServeConfig`; the names it serves
are `expander.serve.models.ServedModels`.

HTTP-free: the app's routers turn requests into calls here and `ServiceError`s into JSON error responses.

Per request (`expand`):
1. resolve the served model name (unknown -> 404 listing the known names);
2. input moderation (`expander.serve.moderation`): the lexicon policy on the prompt and keep_terms, plus the
   optional moderation model; a hard category -> 400 naming it, never generated;
3. `raw` creativity returns the prompt unchanged, with no model call;
4. otherwise plan the expansion (`expander.expand.plan_expansion`: the contract's messages, sampling settings,
   token budget, cleaning), sample expansion `i` with seed `seed + i` and keep one sample per expansion with
   `expander.expand.select_candidates`, exactly as `expander.expand.expand_prompts` does (same text as
   `expander expand`);
5. output check: an expansion that adds a sensitive category absent from the prompt (or that leaks the
   system prompt) is resampled once with seed `seed + i + REGEN_SEED_OFFSET`; if the second sample also
   fails, the request is refused (400 `output_refused`), never served;
6. keep_terms the model left out are appended verbatim (`expander.expand.repair_keep_terms`, as in
   `expander expand`; reported in `keep_terms_repaired`);
7. the constraints report (`expander.constraints.check`, with the subjects an expansion adds) and the safety
   verdict per expansion (`expander.serve.expansion_outputs`);
8. with a `target`, each expansion shaped for that image model (`expander.serve.shaping`; an unknown target
   or a bad width/height is refused with 400 before step 2). A seeded request identical to one answered before
   is served from `expander.serve.response_cache` before step 2.

Two guards of the expansion contract run around step 4 (`expander.expand` documents both): a prompt in a
language the model does not declare comes back unchanged (`finish_reason: language_unsupported`, or 422 with
`strict_language`), and with `candidates > 1` each expansion is the best of that many samples drawn in the same
batch (verified: keeps the hard constraints, adds no subject; `attempts` and `verified` say what happened, and
a resampled expansion is verified on its own text).

A batch (`prompts: [...]`) runs these steps for each prompt on its own, but draws every prompt's samples in one
engine call (`expander.serve.sample_batch`). Each request's time per step is in `expander_phase_seconds`
(`PhaseClock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from dataclasses import dataclass

from expander.engine import SEED_HEADROOM, Generation, SampleRequest, candidate_seed, draw_seed
from expander.expand import (
    REPETITION_PENALTY,
    CandidateChoice,
    plan_expansion,
    select_candidates,
)
from expander.language import detect_language
from expander.models import model_languages, resolve_model
from expander.prompts import PromptError, validate_prompt
from expander.protocol import (
    MAX_N,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ExpandBatchResponse,
    ExpandRequest,
    ExpandResponse,
    ModelList,
)
from expander.serve.backends import AsyncGenerationBackend, EngineUnavailable, create_backend
from expander.serve.config import ServeConfig
from expander.serve.errors import ServiceError
from expander.serve.expansion_outputs import expansion_outputs
from expander.serve.metrics import PhaseClock, ServeMetrics
from expander.serve.models import ServedModels
from expander.serve.moderation import ServeModeration
from expander.serve.request_checks import ConstraintsReporter, FallbackSetting, language_decision
from expander.serve.response_cache import ResponseCache
from expander.serve.sample_batch import SampleBatch, draw_samples
from expander.serve.shaping import TargetShaper
from expander.serve.supervisor import EngineSupervisor

logger = logging.getLogger(__name__)

__all__ = ["REGEN_SEED_OFFSET", "ExpanderService"]

REGEN_SEED_OFFSET = 1000
"""Seed shift of the one resample after an unsafe expansion (`seed + i + offset`; reported in the response)."""
assert MAX_N + REGEN_SEED_OFFSET <= SEED_HEADROOM, "seed + i + REGEN_SEED_OFFSET must stay below 2**31"


@dataclass
class _Drawn:
    """One expansion as sampled and checked: the kept sample, its cleaned text (keep_terms not yet repaired)
    and whether it is the resample after a refused output."""

    choice: CandidateChoice
    text: str
    regenerated: bool = False


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
        self.moderation = ServeModeration(self.metrics, config.moderation_model, config.moderation_threshold)
        self.in_flight = 0
        self.created = int(time.time())
        self.constraints_report = ConstraintsReporter(config.check_constraints)
        self.supervisor = EngineSupervisor(config, self.metrics)  # engine state; restarts a dead engine, or exits
        self.shaper = TargetShaper.from_config(config, self.metrics)
        self.response_cache = ResponseCache.from_config(config, self.metrics)
        self.fallback = FallbackSetting(config.fallback)  # a request's `fallback` overrides its default
        if config.exclusion_guard:  # asked for outright: refuse to start without the checker it reads
            from expander.constraints import require_constraints

            require_constraints("the server's `exclusion_guard: true`", hint="or set exclusion_guard: false")

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resolve the model, load the moderator and start the engine (minutes for vLLM on CPU)."""
        cfg = self.config
        base_path = await asyncio.to_thread(resolve_model, cfg.model)
        await asyncio.to_thread(self.models.load_revisions, base_path)
        model_path, adapters = await asyncio.to_thread(self.models.engine_weights, base_path)
        await self.moderation.start()  # fail closed: a failure leaves /health saying why, and nothing served
        if self.backend is None:
            self.backend = create_backend(
                cfg.backend, model_path, adapters, enable_thinking=cfg.enable_thinking, **cfg.backend_options()
            )
        began = time.monotonic()
        await self.backend.start()
        start_s = time.monotonic() - began
        # First use of the constraints checker loads word lists and embeddings (seconds): do it now, not in a
        # user's request.
        await asyncio.to_thread(self.constraints_report, "a red fox", "a red fox")
        # Everything loaded so far lives as long as the server: move it out of the collector's sight, so the
        # oldest generation's collections do not walk millions of static objects (torch, vLLM, the constraints
        # word lists) while requests wait; vLLM's own server does the same after its start-up.
        gc.collect()
        gc.freeze()
        self.supervisor.watch(self.backend, start_s)

    async def close(self) -> None:
        await self.supervisor.close()
        if self.backend is not None:
            await self.backend.close()
        gc.unfreeze()  # an in-process app (tests, embedding) lets its objects be collected again

    def health(self) -> tuple[bool, str, str | None]:
        """(serving?, status word, detail): the engine's (`EngineSupervisor.health`), then the moderator's."""
        ok, status, detail = self.supervisor.health(self.backend)
        if not ok:
            return ok, status, detail
        if self.moderation.error:
            return False, "down", self.moderation.error
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

    def languages(self) -> tuple[str, ...]:
        """The languages the served model can expand (`ServeConfig.languages`, else the model's declaration)."""
        return model_languages(self.config.model, self.config.languages)

    # -- expansion ------------------------------------------------------------------------------------------

    def _require_serving(self) -> None:
        self.moderation.require_available()
        ok, _, detail = self.health()
        if not ok:
            raise self.supervisor.unavailable(f"the engine is not serving ({detail})")  # 503 with Retry-After

    async def _sample(self, samples: list[SampleRequest]) -> list[Generation]:
        """Draw on the engine (through the request's `SampleBatch`, if it is part of a batch) and count tokens."""
        try:
            gens = await draw_samples(self.backend, samples)
        except EngineUnavailable as exc:  # e.g. the engine died under this request: retryable (503)
            raise self.supervisor.unavailable(str(exc)) from None
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
        fallback: bool = False,
    ):
        """Sample (`candidates` each: verified expansion), select, clean, check and (once) resample `n` expansions.
        `clock`: charged the `template`, `engine`, `verify` and `output` phases.

        Returns:
            (one `_Drawn` per expansion, completion tokens spent on every sample drawn).
        """
        try:
            # Off the event loop: the exclusion guard's word lists run the checker's extraction (and the first
            # emptiness prompt builds its person and animal list: 0.13 s here, once).
            plan = await asyncio.to_thread(
                plan_expansion,
                prompt,
                creativity,
                max_words=max_words,
                keep_terms=keep_terms or None,
                language=language,
                exclusion_guard=self.config.exclusion_guard,
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
                excluded=plan.excluded,
                compounds=plan.compounds,
                no_repeat_ngram=self.config.no_repeat_ngram,
            )

        async def select(gens: list[Generation], k: int) -> list[CandidateChoice]:
            if candidates == 1 and not fallback:
                return select_candidates(plan, gens, k)
            # Verifying runs the constraints checker (CPU-bound): off the event loop. A resample (k = 1) is
            # verified too, so `verified` always describes the returned text.
            choices = await asyncio.to_thread(select_candidates, plan, gens, k, verify=True, fallback=fallback)
            clock.lap("verify")
            return choices

        clock = clock or PhaseClock()
        clock.lap("template")
        drawn = await self._sample([sample(candidate_seed(seed + i, j)) for i in range(n) for j in range(candidates)])
        clock.lap("engine")
        spent = sum(g.completion_tokens for g in drawn)
        out = [_Drawn(c, plan.finish(c.generation.text)) for c in await select(drawn, candidates)]
        problems = await self.moderation.output_problems(prompt, [d.text for d in out])
        clock.lap("output")
        redo = [i for i, p in enumerate(problems) if p]
        if redo:
            self.metrics.regenerations.inc(len(redo))
            again = await self._sample([sample(seed + i + REGEN_SEED_OFFSET) for i in redo])
            clock.lap("engine")
            spent += sum(g.completion_tokens for g in again)
            again_choices = await select(again, 1)  # moderated as returned: the fallback's text, if it was one
            again_texts = [plan.finish(c.generation.text) for c in again_choices]
            again_problems = await self.moderation.output_problems(prompt, again_texts)
            for i, p in zip(redo, again_problems):
                if p:
                    self.moderation.count_output_block(p)
                    raise ServiceError(
                        400,
                        f"expansion {i} added {', '.join(p)} twice (seeds {seed + i} and "
                        f"{seed + i + REGEN_SEED_OFFSET}); refused. Try another seed or rephrase.",
                        "content_policy_violation",
                        code="output_refused",
                        categories=p,
                    )
            clock.lap("output")
            for i, choice, t in zip(redo, again_choices, again_texts):
                out[i] = _Drawn(choice, t, regenerated=True)
        return out, spent

    # -- handlers -------------------------------------------------------------------------------------------

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
        self.shaper.check(req)
        fallback = self.fallback.for_request(req.fallback)
        cache_key = self.response_cache.key(req, name, self.models.revisions.get(name, ""))
        if (cached := self.response_cache.get(cache_key, clock.start)) is not None:
            return cached  # an identical seeded request was answered: same text, no engine call
        self._require_serving()
        prompt = req.prompt
        await self.moderation.check_input(prompt)
        for term in req.keep_terms:
            await self.moderation.check_input(f"{prompt} {term}", param="keep_terms")
        guess = await asyncio.to_thread(detect_language, prompt)  # the first non-English prompt loads lingua
        supported, write_in = language_decision(self.languages(), guess, req.language, req.strict_language)
        t_mod = clock.lap("input")
        k = req.candidates or self.config.candidates
        spent = 0
        if req.creativity == "raw" or not supported:
            seeds = [None if req.seed is None else req.seed + i for i in range(req.n)]
            drawn: list[_Drawn | None] = [None] * req.n
            finish = "raw" if req.creativity == "raw" else "language_unsupported"
            attempts = 0
        else:
            seed = req.seed if req.seed is not None else draw_seed()
            drawn, spent = await self._expand(
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
                fallback=fallback,
            )
            # Expansion i reports seed + i (with the same `candidates` it reproduces), or its resample's seed.
            seeds = [d.choice.generation.seed if d.regenerated else seed + i for i, d in enumerate(drawn)]
            finish, attempts = None, k
        t_gen = clock.last
        expansions = await expansion_outputs(
            prompt,
            drawn,
            seeds,
            finish=finish,
            attempts=attempts,
            keep_terms=req.keep_terms,
            constraints_report=self.constraints_report,
            check_constraints=self.config.check_constraints,
        )
        await self.shaper.attach(req, expansions)
        prompt_tokens = sum(d.choice.generation.prompt_tokens for d in drawn if d is not None)
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
        self.response_cache.put(cache_key, response)
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
        await self.moderation.check_input(prompt, param="messages")
        guess = await asyncio.to_thread(detect_language, prompt)
        supported, write_in = language_decision(self.languages(), guess)
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
        drawn, completion_tokens = await self._expand(
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
            fallback=self.fallback.default,
        )
        prompt_tokens = sum(d.choice.generation.prompt_tokens for d in drawn)
        response = ChatCompletionResponse(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=req.model,
            system_fingerprint=self.models.revisions.get(req.model, ""),
            choices=[
                {
                    "index": i,
                    "message": {"role": "assistant", "content": d.text},
                    "finish_reason": d.choice.generation.finish_reason,
                }
                for i, d in enumerate(drawn)
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
