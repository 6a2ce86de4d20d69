"""GRPO's reward functions when the suite runs as a service (`expander reward-server`, `reward_server.url` set).

    rewards = RemoteRewards(cfg, num_generations=G)   # same .funcs / .weights / .names as RewardSuite
    GRPOTrainer(reward_funcs=rewards.funcs, ...)      # TRL runs async reward functions concurrently
    rewards.cache.wanted = lambda step: ...           # steps whose renders come back (the trainer's table/grid)

One `async def` per reward name (its `__name__` is the logged name, so TRL logs the same `rewards/<name>/...`
columns). TRL gathers them all at once on its event loop; they share ONE request per call (the first creates
it, the others await it). Each function returns its column and replays the `log_metric`/`log_extra` calls its
in-process twin made on the replica.

Failures: each attempt has `timeout_s`; connection errors, timeouts, 5xx and (after the start-up check) 404 are
retried `retries` times with exponential backoff (`backoff_s * 2**k`, each wait at most `MAX_BACKOFF_S`, +-20 %):
the defaults (1 s, 3 retries) wait 7 s in all for the service to come back, `retries: 8` 3 minutes.
Requests are idempotent (seeds are deterministic), so a retry gives the numbers the first attempt would have:
- a replica killed mid-request (the Serve proxy answers 5xx): the retry goes to a surviving replica, or waits in
  Serve's queue for the replica Serve restarts; the step completes with the same rewards as an undisturbed one;
- the whole service restarted (connection refused, then 404 while its replicas load their models): the retries
  wait for it, within the budget;
- still no answer after the last attempt: `RemoteRewardsError` naming the service, the step and the last error.
  The run stops; its last checkpoint is intact and the same command resumes from it. A reward is never
  scored 0, nor left `None` (which would train the step on fewer rows than an undisturbed run), because the
  service did not answer.
A 4xx (config mismatch, bad request) is a bug, not an outage: it raises at once.

Images: `.cache` is a `RemoteImages` (None when the rewards render nothing) that stands in for the suite's render
cache in the trainer. On the steps its `wanted(step)` names (the trainer's image table and grid steps), the
request asks for the renders back (`return_images`) and `cache.images_for` returns them; other steps ship no
pixels. The PNGs hold the render cache's 8-bit pixels, so a grid equals the in-process run's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from expander.errors import ExpanderError
from expander.rewards.config import RewardsConfig
from expander.rewards.inputs import RewardRows as _Rows
from expander.rewards.protocol import ScoreRequest, ScoreResponse, config_digest
from expander.rewards.registry import needs_images, reward_layout

__all__ = ["RemoteImages", "RemoteRewards", "RemoteRewardsError", "post_with_retries"]

logger = logging.getLogger(__name__)
RETRY_STATUS = (500, 502, 503, 504)
# Serve's proxy answers 404 for the app's routes while the app is (re)deploying: its replicas load their models.
# The trainer checked the URL at start, so a 404 later is a service coming back, not a wrong address.
OUTAGE_STATUS = (*RETRY_STATUS, 404)
MAX_BACKOFF_S = 60.0
"""The longest single wait between attempts: a service back after a long outage is used within a minute."""


def backoff_wait(backoff_s: float, attempt: int) -> float:
    """Seconds to wait before attempt `attempt` (1 = the first retry): `backoff_s * 2**(attempt-1)`, at most
    `MAX_BACKOFF_S`. With `retries` r the waits add up to `sum(backoff_wait(backoff_s, k) for k in 1..r)`."""
    return min(backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)


class RemoteRewardsError(ExpanderError, RuntimeError):
    """The reward service is unreachable (at start-up, or after a step's last retry), refuses a request, or
    serves a different rewards config."""


class RemoteImages:
    """The renders the reward service sent back, read like `RenderCache.images_for` (the trainer's table and grid).

    Attributes:
        wanted: `step -> bool`, the steps whose requests ask for the renders (default: none).
        render_seconds: the replicas' render seconds of this process's requests (the trainer's phase split).
        render_count: images received.
    """

    def __init__(self, keep_steps: int = 2):
        self.wanted: Callable[[int], bool] = lambda step: False
        self.render_seconds = 0.0
        self.render_count = 0
        self.keep_steps = keep_steps
        self._images: dict[int, dict[tuple[str, str], Any]] = {}

    def put(self, step: int, shorts: list[str], texts: list[str], pngs: list[str | None]) -> None:
        """Store a response's images (`texts`: the cleaned completions, as the trainer keys them)."""
        import base64
        import io

        from PIL import Image

        store = self._images.setdefault(step, {})
        for short, text, png in zip(shorts, texts, pngs):
            if png is None:
                store[(short, text)] = None
                continue
            with Image.open(io.BytesIO(base64.b64decode(png))) as im:
                store[(short, text)] = im.convert("RGB")
            self.render_count += 1
        for old in sorted(self._images)[: -self.keep_steps]:
            del self._images[old]

    def images_for(self, short_prompts: list[str], completions: list[str], step: int) -> list[Any]:
        """PIL images of the rows (None: no image came back for that row, or the step did not ask)."""
        store = self._images.get(step, {})
        return [store.get((short, text)) for short, text in zip(short_prompts, completions)]


class RemoteRewards:
    """Stands in for `RewardSuite` in GRPO: reward functions that score through the reward service.

    Args:
        cfg: the rewards config the service was started with (`reward_server.url` must be set).
        num_generations: GRPO group size (sets the gate weight, as in `RewardSuite`).
        check: ask the service's `/v1/info` now and fail fast on a config or reward-name mismatch.
        transport: an httpx transport for the scoring requests (tests: `httpx.MockTransport`).

    Raises:
        RemoteRewardsError: `check` and the service is unreachable or serves another config.
    """

    def __init__(
        self,
        cfg: RewardsConfig,
        num_generations: int | None = None,
        *,
        check: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        rs = cfg.reward_server
        if not rs.url:
            raise RemoteRewardsError("reward_server.url is not set")
        self.cfg, self.url = cfg, rs.url.rstrip("/")
        self.names, self.weights = reward_layout(cfg, num_generations)
        self.digest = config_digest(cfg)
        self.counts: Counter[str] = Counter()  # requests, retries, failed_requests
        self._pending: dict[tuple, tuple[asyncio.Task, set[str]]] = {}
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._transport = transport
        self.funcs = [self._func(name) for name in self.names]
        # No local renders: the service's, on the steps that ask (None when the rewards render nothing).
        self.cache: RemoteImages | None = RemoteImages() if needs_images(cfg) else None
        if check:
            self.check()

    def check(self) -> dict[str, Any]:
        """The service's `/v1/info`, checked against this config; returns it. An outage (connection refused,
        timeout, 5xx: a service still starting) is retried like a scoring request."""
        rs, error = self.cfg.reward_server, None
        for attempt in range(rs.retries + 1):
            if attempt:
                time.sleep(backoff_wait(rs.backoff_s, attempt))
            try:
                reply = httpx.get(f"{self.url}/v1/info", timeout=rs.timeout_s)
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if reply.status_code in OUTAGE_STATUS:
                error = f"HTTP {reply.status_code}: {reply.text[:200]}"
                continue
            try:
                info = reply.raise_for_status().json()
            except (httpx.HTTPError, ValueError) as exc:
                raise RemoteRewardsError(f"reward service {self.url} is not reachable: {exc}") from None
            break
        else:
            raise RemoteRewardsError(
                f"reward service {self.url} is not reachable after {rs.retries + 1} attempts: {error}"
            )
        if info.get("config_digest") != self.digest:
            raise RemoteRewardsError(
                f"reward service {self.url} serves another rewards config (digest "
                f"{str(info.get('config_digest'))[:12]} != {self.digest[:12]}): start it with the same YAML"
            )
        if info.get("names") != self.names:
            raise RemoteRewardsError(
                f"reward service {self.url} has rewards {info.get('names')}, this run {self.names}"
            )
        return info

    # -- reward functions --------------------------------------------------------------------------

    def _func(self, name: str) -> Callable:
        async def reward(prompts, completions, **kwargs):
            rows = _Rows(prompts, completions, kwargs)
            response = await self._response(name, rows)
            for key, value in response.metrics.get(name, []):
                if rows.log_metric is not None:
                    rows.log_metric(key, value)
            for key, values in response.extras.get(name, []):
                if rows.log_extra is not None:
                    rows.log_extra(key, values)
            return response.rewards[name]

        reward.__name__ = reward.__qualname__ = name
        return reward

    async def _response(self, name: str, rows: _Rows) -> ScoreResponse:
        """The one shared request of this call (created by the first function, dropped after the last)."""
        digest = hashlib.sha256("\x1f".join(rows.shorts + ["\x1e"] + rows.raw).encode()).hexdigest()
        key = (rows.step, digest)
        if key not in self._pending:
            task = asyncio.ensure_future(self._post(rows))
            self._pending[key] = (task, set())
        task, consumed = self._pending[key]
        consumed.add(name)
        if consumed >= set(self.names):
            del self._pending[key]
        response = await task
        if name == self.names[0] and rows.log_metric is not None:
            latency, retries = task.stats  # type: ignore[attr-defined]
            rows.log_metric("remote/latency_s", latency)
            rows.log_metric("remote/retries", float(retries))
            for key in ("queue", "render"):  # replica-side seconds
                rows.log_metric(f"remote/{key}_s", response.seconds.get(key, 0.0))
        return response

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:  # one client per event loop
            self._client = httpx.AsyncClient(timeout=self.cfg.reward_server.timeout_s, transport=self._transport)
            self._client_loop = loop
        return self._client

    async def _post(self, rows: _Rows) -> ScoreResponse:
        rs = self.cfg.reward_server
        want_images = self.cache is not None and bool(self.cache.wanted(rows.step))
        request = ScoreRequest(
            config_digest=self.digest,
            step=rows.step,
            shorts=rows.shorts,
            completions=rows.raw,
            request_id=uuid.uuid4().hex,
            return_images=want_images,
        ).model_dump()
        start = time.perf_counter()
        self.counts["requests"] += 1
        reply, retries, error = await post_with_retries(
            self._http(), f"{self.url}/v1/score", request, rs, retry_status=OUTAGE_STATUS
        )
        self.counts["retries"] += retries
        asyncio.current_task().stats = (time.perf_counter() - start, retries)  # type: ignore[attr-defined]
        if reply is not None:
            response = ScoreResponse.model_validate(reply)
            if self.cache is not None:
                self.cache.render_seconds += response.seconds.get("render", 0.0)
                if want_images and response.images is not None:
                    self.cache.put(rows.step, rows.shorts, rows.texts, response.images)
            return response
        self.counts["failed_requests"] += 1
        raise RemoteRewardsError(
            f"reward service {self.url} did not answer step {rows.step} ({len(rows)} rows) in {rs.retries + 1} "
            f"attempts over {time.perf_counter() - start:.0f} s (last: {error}); the run stops rather than train on "
            "unscored rows: resume from the last checkpoint once the service is back (reward_server.retries and "
            "backoff_s set how long a step waits for it)"
        )


async def post_with_retries(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    policy: Any,
    retry_status: tuple[int, ...] = RETRY_STATUS,
) -> tuple[dict[str, Any] | None, int, str | None]:
    """POST `payload` to the reward service, retrying outages (transport errors, timeouts, 5xx).

    Args:
        client: the caller's client (its timeout is the per-attempt limit).
        url: the route.
        payload: the JSON body (requests are idempotent: seeds are deterministic).
        policy: anything with `retries` and `backoff_s` (a `reward_server` config section); attempt k waits
            `backoff_wait(backoff_s, k)` (+-20 %).
        retry_status: the statuses that mean an outage (GRPO adds 404: the app redeploying after a restart).

    Returns:
        (the 200 reply's JSON, or None after the last attempt failed; retries made; the last error or None).

    Raises:
        RemoteRewardsError: any other status (a 4xx is a bug or a config mismatch, not an outage).
    """
    error = None
    for attempt in range(policy.retries + 1):
        if attempt:
            await asyncio.sleep(backoff_wait(policy.backoff_s, attempt) * random.uniform(0.8, 1.2))
        try:
            reply = await client.post(url, json=payload)
        except httpx.TransportError as exc:  # connect errors and timeouts
            error = f"{type(exc).__name__}: {exc}"
            continue
        if reply.status_code in retry_status:
            error = f"HTTP {reply.status_code}: {reply.text[:300]}"
            continue
        if reply.status_code != 200:
            raise RemoteRewardsError(
                f"reward service {url} refused the request: HTTP {reply.status_code} {reply.text[:500]}"
            )
        return reply.json(), attempt, None
    return None, policy.retries, error
