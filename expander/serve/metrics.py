"""Prometheus metrics of the expander API, in a registry of their own (several apps can live in one process).

| metric | type | labels |
|---|---|---|
| `expander_requests_total` | counter | `route`, `status` |
| `expander_request_latency_seconds` | histogram | `route` |
| `expander_tokens_total` | counter | `kind` (`prompt`, `completion`) |
| `expander_moderation_blocks_total` | counter | `stage` (`input`, `output`), `category` |
| `expander_regenerations_total` | counter | (an expansion added a sensitive category and was resampled) |
| `expander_cancelled_total` | counter | `reason` (`disconnect`, `timeout`) |
| `expander_rejected_total` | counter | (429: over the concurrency limit) |
| `expander_in_flight_requests` | gauge | (requests inside the service now) |
| `expander_engine_up` | gauge | (1 while the engine serves) |
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "ServeMetrics"]

# Expansions take 0.1-30 s on CPU and 50 ms - 3 s on a GPU; the buckets span both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)


class ServeMetrics:
    """All metrics of one app instance, registered in `self.registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("expander_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.latency = Histogram(
            "expander_request_latency_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.tokens = Counter("expander_tokens", "Tokens processed by the engine", ["kind"], registry=r)
        self.moderation_blocks = Counter(
            "expander_moderation_blocks", "Requests refused by moderation", ["stage", "category"], registry=r
        )
        self.regenerations = Counter(
            "expander_regenerations", "Expansions resampled because they added a sensitive category", registry=r
        )
        self.cancelled = Counter("expander_cancelled", "Generations cancelled", ["reason"], registry=r)
        self.rejected = Counter("expander_rejected", "Requests refused with 429 (over the concurrency limit)", registry=r)
        self.in_flight = Gauge("expander_in_flight_requests", "Requests being served now", registry=r)
        self.engine_up = Gauge("expander_engine_up", "1 while the generation engine serves", registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
