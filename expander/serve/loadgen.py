"""Closed-loop load generation for the expander API, for any OpenAI-compatible chat server (vLLM's own, to compare
with) and for our engine alone (used by benchmarks/serve_load.py).

`clients` concurrent clients each send `requests_per_client` requests one after another (the next when the
previous returns). Request `k` of client `c` expands prompt `(c * requests_per_client + k) % len(prompts)`
with seed `c * 1000 + k`, so the HTTP runs, the chat runs and the engine run do the same work.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from expander.engine import SampleRequest
from expander.expand import NO_REPEAT_NGRAM, REPETITION_PENALTY, plan_expansion
from expander.serve.backends import AsyncGenerationBackend

__all__ = [
    "LOAD_PROMPTS",
    "LoadResult",
    "chat_request",
    "run_batch_vs_singles",
    "run_chat_load",
    "run_engine_load",
    "run_http_load",
]

LOAD_PROMPTS = [
    "a red fox in snow",
    "a lighthouse at dusk",
    "a bowl of ramen",
    "an old man reading in a library",
    "a cyberpunk street at night",
    "a watercolor of a heron",
    "three cats on a sofa",
    "a robot watering plants",
    "a mountain lake at sunrise",
    "a vintage car in the rain",
    "a bakery window with croissants",
    "a knight's helmet on a table",
    "a desert caravan",
    "a jellyfish in dark water",
    "a treehouse in autumn",
    'a poster that says "OPEN LATE"',
]


@dataclass
class LoadResult:
    """One load run. Latencies in seconds; throughput in requests and completion tokens per second."""

    label: str
    requests: int
    errors: int
    wall_s: float
    req_per_s: float
    tok_per_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    completion_tokens: int
    error_kinds: dict[str, int] = field(default_factory=dict)  # "HTTP 503: <body start>" or the exception type

    def to_dict(self) -> dict:
        return asdict(self)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _summarise(label, latencies, errors, tokens, wall, error_kinds=None) -> LoadResult:
    n = len(latencies) + errors
    return LoadResult(
        label,
        n,
        errors,
        wall,
        len(latencies) / wall,
        tokens / wall,
        statistics.median(latencies) if latencies else float("nan"),
        _percentile(latencies, 95),
        _percentile(latencies, 99),
        tokens,
        dict(error_kinds or {}),
    )


def _error_kind(reply) -> str:
    """`HTTP <status> <error code>: <message start>` of an OpenAI-style error body, else the body's start."""
    try:
        error = reply.json()["error"]
        return f"HTTP {reply.status_code} {error.get('code') or error.get('type')}: {str(error.get('message'))[:120]}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"HTTP {reply.status_code}: {reply.text[:160]}"


def _work(clients: int, per_client: int):
    for c in range(clients):
        yield c, [((c * per_client + k) % len(LOAD_PROMPTS), c * 1000 + k) for k in range(per_client)]


async def _closed_loop(
    base_url: str,
    path: str,
    body,
    *,
    clients: int,
    requests_per_client: int,
    api_key: str | None,
    timeout: float,
    label: str,
) -> LoadResult:
    """`clients` closed-loop clients POSTing `body(prompt_idx, seed)` to `path`; any non-200 is an error;
    throughput counts the replies' `usage.completion_tokens`."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    latencies: list[float] = []
    errors = 0
    kinds: Counter[str] = Counter()
    tokens = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits, headers=headers) as http:

        async def client(jobs):
            nonlocal errors, tokens
            for prompt_idx, seed in jobs:
                t0 = time.perf_counter()
                try:
                    r = await http.post(path, json=body(prompt_idx, seed))
                except httpx.HTTPError as exc:
                    errors += 1
                    kinds[type(exc).__name__] += 1
                    continue
                if r.status_code != 200:
                    errors += 1
                    kinds[_error_kind(r)] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                tokens += r.json()["usage"]["completion_tokens"]

        start = time.perf_counter()
        await asyncio.gather(*(client(jobs) for _, jobs in _work(clients, requests_per_client)))
        wall = time.perf_counter() - start
    return _summarise(label, latencies, errors, tokens, wall, kinds)


async def run_http_load(
    base_url: str,
    *,
    clients: int = 64,
    requests_per_client: int = 4,
    max_words: int = 40,
    creativity: str = "medium",
    api_key: str | None = None,
    timeout: float = 600,
) -> LoadResult:
    """Drive `POST /v1/expand` with closed-loop clients; any non-200 counts as an error."""

    def body(prompt_idx: int, seed: int) -> dict:
        return {"prompt": LOAD_PROMPTS[prompt_idx], "seed": seed, "max_words": max_words, "creativity": creativity}

    return await _closed_loop(
        base_url,
        "/v1/expand",
        body,
        clients=clients,
        requests_per_client=requests_per_client,
        api_key=api_key,
        timeout=timeout,
        label="http",
    )


def chat_request(prompt_idx: int, seed: int, *, model: str, max_tokens: int = 80, creativity: str = "medium") -> dict:
    """The OpenAI chat request of the chat workload, the same body for the expander and for vLLM's own server:
    the contract's messages (system prompt + the short prompt, as `plan_expansion` builds them), the creativity
    level's temperature and top-p, the seed, a `max_tokens` budget and the contract's repetition penalty (a vLLM
    sampling extension; the expander applies the same value on its own and ignores the field). vLLM's server has
    no repeat guard (`expander.engine.repeat_guard`), so the texts differ where the expander's would have looped."""
    plan = plan_expansion(LOAD_PROMPTS[prompt_idx], creativity)
    return {
        "model": model,
        "messages": plan.conversation,
        "seed": seed,
        "max_tokens": max_tokens,
        "temperature": plan.temperature,
        "top_p": plan.top_p,
        "repetition_penalty": REPETITION_PENALTY,
    }


async def run_chat_load(
    base_url: str,
    *,
    model: str,
    clients: int = 64,
    requests_per_client: int = 4,
    max_tokens: int = 80,
    creativity: str = "medium",
    api_key: str | None = None,
    timeout: float = 600,
    label: str = "chat",
) -> LoadResult:
    """Drive `POST /v1/chat/completions` (any OpenAI-compatible server) with closed-loop clients sending
    `chat_request` bodies; any non-200 counts as an error."""

    def body(prompt_idx: int, seed: int) -> dict:
        return chat_request(prompt_idx, seed, model=model, max_tokens=max_tokens, creativity=creativity)

    return await _closed_loop(
        base_url,
        "/v1/chat/completions",
        body,
        clients=clients,
        requests_per_client=requests_per_client,
        api_key=api_key,
        timeout=timeout,
        label=label,
    )


async def run_batch_vs_singles(
    base_url: str,
    *,
    prompts: int = 32,
    max_words: int = 40,
    creativity: str = "medium",
    api_key: str | None = None,
    timeout: float = 600,
) -> dict[str, LoadResult]:
    """The same `prompts` prompts as one `prompts: [...]` request and as that many concurrent single requests;
    each run's throughput counts expansions per second; any failure is an error. The two runs use different
    seeds, so per-text caches (the constraints check's) favour neither; run it after a warm-up (the HTTP load)."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    texts = [LOAD_PROMPTS[i % len(LOAD_PROMPTS)] for i in range(prompts)]
    common = {"max_words": max_words, "creativity": creativity}
    limits = httpx.Limits(max_connections=prompts, max_keepalive_connections=prompts)
    out = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits, headers=headers) as http:
        start = time.perf_counter()
        r = await http.post("/v1/expand", json={"prompts": texts, "seed": 0, **common})
        wall = time.perf_counter() - start
        items = r.json()["results"] if r.status_code == 200 else []
        ok = [i["response"] for i in items if i["status"] == 200]
        out["batch"] = _summarise(
            "batch", [wall] * len(ok), prompts - len(ok), sum(x["usage"]["completion_tokens"] for x in ok), wall
        )

        async def single(text):
            return await http.post("/v1/expand", json={"prompt": text, "seed": 1, **common})

        start = time.perf_counter()
        replies = await asyncio.gather(*(single(t) for t in texts), return_exceptions=True)
        wall = time.perf_counter() - start
        ok = [x.json() for x in replies if isinstance(x, httpx.Response) and x.status_code == 200]
        out["singles"] = _summarise(
            "singles", [wall] * len(ok), prompts - len(ok), sum(x["usage"]["completion_tokens"] for x in ok), wall
        )
    return out


async def run_engine_load(
    backend: AsyncGenerationBackend,
    *,
    clients: int = 64,
    requests_per_client: int = 4,
    max_words: int = 40,
    creativity: str = "medium",
    adapter: str | None = None,
) -> LoadResult:
    """The same workload straight on a started backend: same messages, seeds and token budget, no HTTP,
    no moderation, no cleaning, no constraints report. `adapter`: the LoRA the API's default model uses."""
    plans = [plan_expansion(p, creativity, max_words=max_words) for p in LOAD_PROMPTS]
    ids = [backend.chat_ids(plan.conversation) for plan in plans]
    latencies: list[float] = []
    errors = 0
    kinds: Counter[str] = Counter()
    tokens = 0

    async def client(jobs):
        nonlocal errors, tokens
        for prompt_idx, seed in jobs:
            t0 = time.perf_counter()
            plan = plans[prompt_idx]
            sample = SampleRequest(
                ids[prompt_idx],
                seed,
                plan.temperature,
                plan.top_p,
                plan.max_new_tokens,
                REPETITION_PENALTY,
                adapter,
                no_repeat_ngram=NO_REPEAT_NGRAM,  # the server decodes with the repeat guard: so does this arm
            )
            try:
                [gen] = await backend.generate([sample])
            except Exception as exc:  # noqa: BLE001 - counted and named, the load goes on
                errors += 1
                kinds[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1
                continue
            latencies.append(time.perf_counter() - t0)
            tokens += gen.completion_tokens

    start = time.perf_counter()
    await asyncio.gather(*(client(jobs) for _, jobs in _work(clients, requests_per_client)))
    return _summarise("engine", latencies, errors, tokens, time.perf_counter() - start, kinds)
