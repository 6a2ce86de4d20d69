"""GRPO's reward functions when the suite runs as a service (`expander reward-server`, `reward_server.url` set).

    rewards = RemoteRewards(cfg, num_generations=G)   # same .funcs / .weights / .names as RewardSuite
    GRPOTrainer(reward_funcs=rewards.funcs, ...)      # TRL runs async reward functions concurrently
    rewards.cache.wanted = lambda step: ...           # steps whose renders come back (the trainer's table/grid)

One `async def` per reward name (its `__name__` is the logged name, so TRL logs the same `rewards/<name>/...`
columns). TRL gathers them all at once on its event loop; they share ONE request per call (the first creates
it, the others await it). Each function returns its column and replays the `log_metric`/`log_extra` calls its
in-process twin made on the replica.

Failures: each attempt has `timeout_s`; connection errors, timeouts and 5xx (a killed replica) are retried
`retries` times with exponential backoff (`backoff_s * 2**k`, +-20 %). Requests are idempotent (seeds are
deterministic), so a retry on another replica gives the same numbers. After the last attempt every reward of
the call's rows is `None` (TRL: NaN, the row is unscorable and gets advantage 0), counted in
`remote/failed_rows` and logged: a step never crashes and never scores 0 because the service did not answer.
A 4xx (config mismatch, bad request) is a bug, not an outage: it raises.

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


class RemoteRewardsError(ExpanderError, RuntimeError):
    """The reward service is unreachable at start-up, or serves a different rewards config."""


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
        self.counts: Counter[str] = Counter()  # requests, retries, failed_requests, failed_rows
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
        """The service's `/v1/info`, checked against this config; returns it."""
        try:
            info = httpx.get(f"{self.url}/v1/info", timeout=self.cfg.reward_server.timeout_s).raise_for_status().json()
        except httpx.HTTPError as exc:
            raise RemoteRewardsError(f"reward service {self.url} is not reachable: {exc}") from None
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
            if response is None:
                if rows.log_metric is not None:
                    rows.log_metric(f"rewards_none/{name}", float(len(rows)))
                return [None] * len(rows)
            for key, value in response.metrics.get(name, []):
                if rows.log_metric is not None:
                    rows.log_metric(key, value)
            for key, values in response.extras.get(name, []):
                if rows.log_extra is not None:
                    rows.log_extra(key, values)
            return response.rewards[name]

        reward.__name__ = reward.__qualname__ = name
        return reward

    async def _response(self, name: str, rows: _Rows) -> ScoreResponse | None:
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
            rows.log_metric("remote/failed_rows", 0.0 if response is not None else float(len(rows)))
            for key in ("queue", "render") if response is not None else ():  # replica-side seconds
                rows.log_metric(f"remote/{key}_s", response.seconds.get(key, 0.0))
        return response

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:  # one client per event loop
            self._client = httpx.AsyncClient(timeout=self.cfg.reward_server.timeout_s, transport=self._transport)
            self._client_loop = loop
        return self._client

    async def _post(self, rows: _Rows) -> ScoreResponse | None:
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
        reply, retries, error = await post_with_retries(self._http(), f"{self.url}/v1/score", request, rs)
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
        self.counts["failed_rows"] += len(rows)
        logger.warning(
            "reward service %s: %d rows unscored (None) after %d attempts in %.1f s: %s",
            self.url,
            len(rows),
            rs.retries + 1,
            time.perf_counter() - start,
            error,
        )
        return None


async def post_with_retries(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], policy: Any
) -> tuple[dict[str, Any] | None, int, str | None]:
    """POST `payload` to the reward service, retrying outages (transport errors, timeouts, 5xx).

    Args:
        client: the caller's client (its timeout is the per-attempt limit).
        url: the route.
        payload: the JSON body (requests are idempotent: seeds are deterministic).
        policy: anything with `retries` and `backoff_s` (a `reward_server` config section); attempt k waits
            `backoff_s * 2**(k-1)` (+-20 %).

    Returns:
        (the 200 reply's JSON, or None after the last attempt failed; retries made; the last error or None).

    Raises:
        RemoteRewardsError: any other status (a 4xx is a bug or a config mismatch, not an outage).
    """
    error = None
    for attempt in range(policy.retries + 1):
        if attempt:
            await asyncio.sleep(policy.backoff_s * 2 ** (attempt - 1) * random.uniform(0.8, 1.2))
        try:
            reply = await client.post(url, json=payload)
        except httpx.TransportError as exc:  # connect errors and timeouts
            error = f"{type(exc).__name__}: {exc}"
            continue
        if reply.status_code in RETRY_STATUS:
            error = f"HTTP {reply.status_code}: {reply.text[:300]}"
            continue
        if reply.status_code != 200:
            raise RemoteRewardsError(
                f"reward service {url} refused the request: HTTP {reply.status_code} {reply.text[:500]}"
            )
        return reply.json(), attempt, None
    return None, policy.retries, error
