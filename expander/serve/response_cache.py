"""The response cache of `/v1/expand`: identical seeded requests are answered from memory.

Same request + same seed + same served model (name and weights revision) = same text (the engine samples each
seed on its own), so a repeat is answered without the engine, as ComfyUI and diffusers users expect when only
their image seed changed. A request without a `seed` draws a random one: it is never looked up nor stored; nor
is one with `cache: false` (run it again; tests of the engine's own determinism use it). Only successful
responses are stored (errors are not cached), in LRU order, `size` at most; 0 turns it off.
Counted in `/metrics` as `expander_response_cache_total{result="hit"|"miss"}`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict

from expander.protocol import ExpandRequest, ExpandResponse

__all__ = ["DEFAULT_RESPONSE_CACHE_SIZE", "ResponseCache"]

DEFAULT_RESPONSE_CACHE_SIZE = 1024
"""Responses kept (a few kB each)."""

# Fields that do not change the answer: how it is delivered (a stream replays the same response).
_DELIVERY_FIELDS = {"stream", "prompts", "cache"}


class ResponseCache:
    """An LRU map of seeded requests to their responses.

    Args:
        size: most responses kept; 0 = off.
        metrics: the service's `ServeMetrics` (`response_cache` counter), or None.
    """

    def __init__(self, size: int = DEFAULT_RESPONSE_CACHE_SIZE, metrics=None):
        self.size = size
        self.metrics = metrics
        self._entries: OrderedDict[str, ExpandResponse] = OrderedDict()

    @classmethod
    def from_config(cls, config, metrics=None) -> ResponseCache:
        """From `ServeConfig.response_cache_size` (absent from an older config: `DEFAULT_RESPONSE_CACHE_SIZE`)."""
        return cls(getattr(config, "response_cache_size", DEFAULT_RESPONSE_CACHE_SIZE), metrics)

    def key(self, req: ExpandRequest, model: str, revision: str) -> str | None:
        """The cache key of `req` served by `model` at `revision`; None when it must not be cached (no seed, or
        `cache: false`)."""
        if req.seed is None or not req.cache or self.size <= 0:
            return None
        fields = req.model_dump(exclude=_DELIVERY_FIELDS)
        return json.dumps([model, revision, fields], sort_keys=True, ensure_ascii=False)

    def get(self, key: str | None, started: float | None = None) -> ExpandResponse | None:
        """The stored response for `key` as a new response (its own `id`, `cached: true`, and `timings` of this
        request: no moderation or generation, total since `started`, a `time.perf_counter()`), or None."""
        if key is None:
            return None
        hit = self._entries.get(key)
        self._count("hit" if hit is not None else "miss")
        if hit is None:
            return None
        self._entries.move_to_end(key)
        total_ms = 1000 * (time.perf_counter() - started) if started is not None else 0.0
        timings = hit.timings.model_copy(update={"moderation_ms": 0.0, "generation_ms": 0.0, "total_ms": total_ms})
        update = {"id": f"exp-{uuid.uuid4().hex[:24]}", "cached": True, "timings": timings}
        return hit.model_copy(update=update, deep=True)

    def put(self, key: str | None, response: ExpandResponse) -> None:
        """Store `response` under `key` (nothing for None), evicting the least recently used beyond `size`."""
        if key is None:
            return
        self._entries[key] = response
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.response_cache.labels(result).inc()
