"""`EngineSupervisor`: the engine's state behind /health, and what the server does when the engine dies.

States (`expander.serve.metrics.ENGINE_STATES`, exported as `expander_engine_state`; /health is 200 only while
`serving`):

| state | /health | when |
|---|---|---|
| `starting` | 503 `starting` (`down` and the error, if it failed) | the first start runs, warm-up included |
| `serving` | 200 `ok` | the engine answers requests |
| `restarting` | 503 `down`, `restarting (n/N): <cause>` | the engine died; a new one is being built |
| `dead` | 503 `down`, `engine dead: <cause>; exiting (...)` | it will not come back here: the process is exiting |
| `stopping` | 503 `stopping` | SIGTERM: in-flight requests finish, then the engine closes |

A death is noticed by polling `backend.health()` every `POLL_S` (a few attribute reads): vLLM's monitor thread
marks the engine dead within a second of its engine-core process exiting, and the transformers worker records
its own end. By then the requests in flight have failed with `EngineUnavailable` (503 `engine_unavailable` with
`Retry-After`, which `expander.client` retries). Then, by `ServeConfig.on_engine_death`:

* `restart`: wait `engine_restart_backoff_s * 2**(n-1)` s, then `backend.restart()`; at most
  `engine_restart_attempts` restarts in a row (the count resets once a restarted engine has served `STABLE_S`).
  The cause and each attempt are logged; `expander_engine_deaths_total{cause}` and
  `expander_engine_restarts_total{cause}` count them.
* `exit`, or the attempts spent: state `dead`, and `on_fatal(ENGINE_DEAD_EXIT_CODE)`, which the app turns into a
  graceful stop and that exit status, so a supervisor (systemd, a container runtime) starts a fresh process.

While restarting, `retry_after()` tells clients when the engine should be back (the last start's duration less
the time spent so far, never under `retry_after_s`), so a client's few retries can span a restart.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from expander.serve.backends import AsyncGenerationBackend
from expander.serve.config import ServeConfig
from expander.serve.errors import ServiceError
from expander.serve.metrics import ServeMetrics

logger = logging.getLogger(__name__)

__all__ = ["ENGINE_DEAD_EXIT_CODE", "POLL_S", "STABLE_S", "EngineSupervisor"]

ENGINE_DEAD_EXIT_CODE = 75
"""The process's exit status when its engine is dead for good: EX_TEMPFAIL ("temporary failure; retrying may
succeed"), non-zero, so systemd's `Restart=on-failure` and container restart policies start a new server."""

STABLE_S = 300.0
"""A restarted engine that has served this long no longer counts against `engine_restart_attempts`."""

POLL_S = 0.25
"""Seconds between two looks at the engine's health."""


class EngineSupervisor:
    """Holds the engine's state and restarts a dead engine or gives up, by the config's `on_engine_death`.

    Create with the service, set `on_fatal` (the app does: stop, then exit with the status it is given), call
    `watch(backend, start_s)` once the engine serves, `await close()` on shutdown.

    Attributes:
        state: one of `ENGINE_STATES`; `detail`: why it is not serving (None while serving).
        exit_code: `ENGINE_DEAD_EXIT_CODE` once the engine is dead for good, else None.
        restarts_in_row: restarts since the engine last served `STABLE_S` in a row.
    """

    def __init__(self, config: ServeConfig, metrics: ServeMetrics):
        self.policy = config.on_engine_death
        self.attempts = config.engine_restart_attempts
        self.backoff_s = config.engine_restart_backoff_s
        self.retry_after_s = config.retry_after_s
        self.metrics = metrics
        self.backend: AsyncGenerationBackend | None = None
        self.on_fatal: Callable[[int], None] | None = None
        self.exit_code: int | None = None
        self.restarts_in_row = 0
        self.start_s = 0.0  # how long the engine's last start took
        self.back_at = 0.0  # while restarting: when (monotonic) the engine should serve again
        self.serving_since = 0.0
        self.start_failed_with: str | None = None
        self._task: asyncio.Task | None = None
        self._set("starting", "loading the model")

    def _set(self, state: str, detail: str | None = None) -> None:
        self.state, self.detail = state, detail
        self.metrics.engine_state.state(state)
        self.metrics.engine_up.set(1 if state == "serving" else 0)
        if state == "serving":
            self.serving_since = time.monotonic()

    # -- lifecycle ------------------------------------------------------------------------------------------

    def watch(self, backend: AsyncGenerationBackend, start_s: float) -> None:
        """The engine serves (it took `start_s` seconds to start): watch it from now on."""
        self.backend, self.start_s = backend, start_s
        self.metrics.engine_unfinished.set_function(backend.engine_unfinished)
        self._set("serving")
        self._task = asyncio.create_task(self._watch())

    def start_failed(self, exc: BaseException) -> None:
        """The first start raised: /health says why (503 `down`), not `starting` for ever."""
        self.start_failed_with = f"the start failed: {type(exc).__name__}: {exc}"

    async def close(self) -> None:
        """Stop watching (shutdown): a restart under way is abandoned."""
        if self.state != "dead":
            self._set("stopping", "shutting down")
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- what clients see -----------------------------------------------------------------------------------

    def health(self, backend: AsyncGenerationBackend | None) -> tuple[bool, str, str | None]:
        """(serving?, /health status word, detail) of the service's `backend` (None until it is built)."""
        if self.state in ("restarting", "dead"):
            return False, "down", self.detail
        if self.state == "stopping":
            return False, "stopping", self.detail
        if backend is not None and backend.error:  # the engine failed to start
            return False, "down", backend.error
        if self.state == "starting":  # 200 only once the start is complete, warm-up included
            return False, "down" if self.start_failed_with else "starting", self.start_failed_with or self.detail
        ok, why = backend.health()  # a death not yet handled says so
        if ok:
            return True, "ok", None
        return False, why if why in ("starting", "stopping") else "down", why

    def retry_after(self) -> int:
        """Seconds a refused client should wait: until the engine should be back while it restarts, else
        `retry_after_s`."""
        back_at = self.back_at if self.state == "restarting" else 0.0
        if self.state == "serving" and self.policy == "restart" and self.backend and not self.backend.health()[0]:
            back_at = time.monotonic() + self.backoff_s + self.start_s  # died a moment ago: a restart is coming
        return max(self.retry_after_s, math.ceil(back_at - time.monotonic()))

    def unavailable(self, message: str) -> ServiceError:
        """The 503 for a request the engine cannot serve now, with `Retry-After`."""
        return ServiceError(
            503,
            message,
            "service_unavailable",
            code="engine_unavailable",
            headers={"Retry-After": str(self.retry_after())},
        )

    # -- supervision ----------------------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            if self.backend.health()[0]:
                if self.restarts_in_row and time.monotonic() - self.serving_since >= STABLE_S:
                    self.restarts_in_row = 0
                continue
            if self.backend.stopping:
                return
            if not await self._recover():
                return

    async def _recover(self) -> bool:
        """The engine died: restart it (True once it serves again) or give up (False: the process exits)."""
        label, cause = self.backend.death_cause()
        self.metrics.engine_deaths.labels(label).inc()
        logger.error("the %s engine died: %s", self.backend.backend, cause)
        if self.policy == "exit":
            self._give_up(cause, "on_engine_death is exit")
            return False
        failed = ""
        while self.restarts_in_row < self.attempts:
            self.restarts_in_row += 1
            n, delay = self.restarts_in_row, self.backoff_s * 2 ** (self.restarts_in_row - 1)
            self.back_at = time.monotonic() + delay + self.start_s
            self._set("restarting", f"restarting ({n}/{self.attempts}): {cause}{failed}")
            logger.warning("restarting the engine in %.3g s (attempt %d/%d)", delay, n, self.attempts)
            await asyncio.sleep(delay)
            began = time.monotonic()
            try:
                await self.backend.restart()
            except Exception as exc:  # the next attempt, or giving up, decides
                logger.exception("engine restart %d/%d failed", n, self.attempts)
                failed = f"; restart {n} failed: {type(exc).__name__}: {exc}"
                continue
            self.start_s = time.monotonic() - began
            self.metrics.engine_restarts.labels(label).inc()
            self._set("serving")
            logger.warning(
                "the engine serves again after restart %d/%d (%.1f s to start; it had died: %s)",
                n,
                self.attempts,
                self.start_s,
                cause,
            )
            return True
        self._give_up(cause + failed, f"{self.attempts} restart attempts spent")
        return False

    def _give_up(self, cause: str, why: str) -> None:
        self.exit_code = ENGINE_DEAD_EXIT_CODE
        self._set("dead", f"engine dead: {cause}; exiting ({why})")
        logger.error(
            "the engine is dead (%s; %s): stopping, then exiting with status %d for a supervisor to restart the server",
            cause,
            why,
            self.exit_code,
        )
        if self.on_fatal is not None:
            self.on_fatal(self.exit_code)
