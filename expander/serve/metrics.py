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
| `expander_engine_state` | enum | `expander_engine_state`: 1 for the current one of `ENGINE_STATES` |
| `expander_engine_deaths_total` | counter | `cause` (`SIGKILL`, `exit_1`, `engine_error`, `worker_thread`) |
| `expander_engine_restarts_total` | counter | `cause`: restarts after a death of that cause |
| `expander_engine_unfinished_requests` | gauge | (samples the engine holds now; drops when a client leaves) |
| `expander_phase_seconds` | summary | `route`, `phase`: wall time of each phase of a served request (`PhaseClock`) |
| `expander_response_cache_total` | counter | `result` (`hit`, `miss`): seeded `/v1/expand` requests looked up |
| `expander_shaped_total` | counter | `target`: expansions shaped for an image model (`target` field) |

The phases (`expander.serve.service` charges them): `input` (prompt validation, input moderation, language),
`template` (the expansion plan and the chat template's token ids), `engine` (waiting for and sampling the
completions), `output` (cleaning, the output safety check, a resample if one is needed), `report` (/v1/expand's
constraints report and safety verdict per expansion, and its shaping for a `target`), `response` (the response
object). Their sum against `expander_request_latency_seconds` is what HTTP, validation and serialisation cost.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "ENGINE_STATES", "PhaseClock", "ServeMetrics"]

ENGINE_STATES = ("starting", "serving", "restarting", "dead", "stopping")
"""The engine's states (`expander.serve.supervisor.EngineSupervisor.state`); /health is 200 only in `serving`."""

# Expansions take 0.1-30 s on CPU and 50 ms - 3 s on a GPU; the buckets span both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)


class ServeMetrics:
    """All metrics of one app instance, registered in `self.registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "expander_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
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
        self.rejected = Counter(
            "expander_rejected", "Requests refused with 429 (over the concurrency limit)", registry=r
        )
        self.in_flight = Gauge("expander_in_flight_requests", "Requests being served now", registry=r)
        self.engine_up = Gauge("expander_engine_up", "1 while the generation engine serves", registry=r)
        self.engine_state = Enum(
            "expander_engine_state", "The engine's state (expander.serve.supervisor)", states=ENGINE_STATES, registry=r
        )
        self.engine_deaths = Counter("expander_engine_deaths", "Engine deaths by cause", ["cause"], registry=r)
        self.engine_restarts = Counter(
            "expander_engine_restarts", "Engine restarts after a death, by its cause", ["cause"], registry=r
        )
        self.engine_unfinished = Gauge(
            "expander_engine_unfinished_requests", "Samples the engine holds now (read at scrape time)", registry=r
        )
        self.response_cache = Counter(
            "expander_response_cache",
            "Seeded /v1/expand requests looked up in the response cache",
            ["result"],
            registry=r,
        )
        self.shaped = Counter("expander_shaped", "Expansions shaped for a target image model", ["target"], registry=r)
        self.phase = Summary(
            "expander_phase_seconds", "Wall time of each phase of a served request", ["route", "phase"], registry=r
        )

    def observe_phases(self, route: str, clock: PhaseClock) -> None:
        for phase, seconds in clock.phases.items():
            self.phase.labels(route, phase).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class PhaseClock:
    """Splits one request's wall time into named phases: `lap(phase)` charges the time since the previous lap
    (or the clock's start) to `phase`. Seconds per phase in `phases`."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.phases: dict[str, float] = {}

    def lap(self, phase: str) -> float:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self.last
        self.last = now
        return now
